"""Token-true mixing rates: the arithmetic that turns token weights into seqio example rates.

PaLM's weights are shares of tokens; seqio's Mixture samples *examples* at its rates. A task
whose examples hold m tokens on average, sampled at rate r, delivers a token share of
r * m / sum(r' * m'); choosing r = w / m makes that share the weight w. At a sequence length L
the Tasks split every document into ceil(n / L) examples, so m is measured at L, from a histogram
of document lengths (tasks/token_stats.py).

Pure numpy/python: no seqio, no TensorFlow (launch.plan and the inspect tool use it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class MixtureRateError(ValueError):
    pass


def examples_at_length(lengths: np.ndarray, counts: np.ndarray, sequence_length: int | None) -> int:
    """Examples a Task yields from documents of `lengths` tokens (`counts` of each) when every
    document is split into pieces of at most `sequence_length` tokens (None: not split)."""
    lengths, counts = np.asarray(lengths, np.int64), np.asarray(counts, np.int64)
    if sequence_length is None:
        return int(counts.sum())
    if sequence_length < 1:
        raise MixtureRateError(f"sequence length must be >= 1, got {sequence_length}")
    pieces = np.maximum((lengths + sequence_length - 1) // sequence_length, 1)
    return int((pieces * counts).sum())


def mean_tokens_per_example(lengths: np.ndarray, counts: np.ndarray,
                            sequence_length: int | None) -> float:
    """Mean tokens per example at `sequence_length` (0.0 for a task with no tokens)."""
    tokens = int((np.asarray(lengths, np.int64) * np.asarray(counts, np.int64)).sum())
    examples = examples_at_length(lengths, counts, sequence_length)
    return tokens / examples if examples and tokens else 0.0


def normalise(weights: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(weights.values()))
    if total <= 0:
        raise MixtureRateError("the weights sum to zero")
    return {name: float(w) / total for name, w in weights.items()}


def token_true_rates(weights: Mapping[str, float],
                     mean_tokens: Mapping[str, float]) -> dict[str, float]:
    """Example rates giving each task its weight's share of tokens: weight / mean tokens per
    example (normalised to sum to 1). A weighted task with no tokens is an error."""
    missing = sorted(set(weights) - set(mean_tokens))
    if missing:
        raise MixtureRateError(f"no token statistics for task(s) {missing}")
    empty = sorted(n for n, w in weights.items() if w > 0 and mean_tokens[n] <= 0)
    if empty:
        raise MixtureRateError(f"task(s) {empty} have a positive weight but no tokens in their "
                               f"train split: drop them from the spec or give them data")
    raw = {n: (w / mean_tokens[n] if w > 0 else 0.0) for n, w in normalise(weights).items()}
    return normalise(raw)


def expected_token_shares(rates: Mapping[str, float],
                          mean_tokens: Mapping[str, float]) -> dict[str, float]:
    """Token share each task gets when examples are sampled at `rates`."""
    return normalise({n: r * mean_tokens[n] for n, r in rates.items()})


def mixture_table(weights: Mapping[str, float], rates: Mapping[str, float],
                  mean_tokens: Mapping[str, float]) -> list[dict[str, float | str]]:
    """Rows of (task, weight, rate, mean tokens per example, expected token share), for display:
    weight and expected share agree when the rates are token-true."""
    shares = expected_token_shares(rates, mean_tokens)
    weights = normalise(weights)
    return [{"task": n, "weight": weights[n], "rate": float(rates[n]),
             "mean_tokens_per_example": float(mean_tokens[n]), "expected_token_share": shares[n]}
            for n in sorted(weights)]


def format_mixture_table(rows: list[dict], sequence_length: int | None) -> str:
    """The weight / rate / expected token share table the inspect tool prints."""
    at = f"at sequence length {sequence_length}" if sequence_length else "whole documents"
    lines = [f"mixing rates ({at}; rate = weight / mean tokens per example)",
             f"{'task':<32} {'weight':>8} {'rate':>8} {'tok/example':>12} {'token share':>12}"]
    for r in rows:
        lines.append(f"{r['task']:<32} {r['weight']:>8.4f} {r['rate']:>8.4f} "
                     f"{r['mean_tokens_per_example']:>12.1f} {r['expected_token_share']:>12.4f}")
    return "\n".join(lines)
