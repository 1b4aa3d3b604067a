"""Token arithmetic of a mixture: epochs per source for a token budget, and token counts read
from seqio's cache statistics. A library for the inspector (tasks/inspect_mixture.py) and the
capacity planner (launch/plan.py); it needs neither seqio nor TensorFlow.

Epochs for a token budget: a source of normalised weight w holding n tokens is read
w * budget / n times; sources read more than `max_epochs` times are over-repeated.
"""

from __future__ import annotations

import json
import math
import os
from typing import Sequence

EOS_NOTE = "targets tokens including the EOS appended to every example"


class MixtureStatsError(ValueError):
    """Token counts or weights that cannot give epochs; the message says which source."""


def epochs_per_source(weights: dict[str, float], tokens: dict[str, float],
                      token_budget: float) -> dict[str, float]:
    """How many times each source is read when `token_budget` tokens are drawn at `weights`.

    Weights are normalised here; a source with no tokens but a positive weight would be read
    infinitely often (inf), one with weight 0 never (0).
    """
    missing = sorted(set(weights) - set(tokens))
    if missing:
        raise MixtureStatsError(f"no token count for source(s) {missing}")
    total = sum(weights.values())
    if total <= 0:
        raise MixtureStatsError("the weights sum to zero")
    out = {}
    for name, weight in weights.items():
        share = weight / total * token_budget
        if share == 0:
            out[name] = 0.0
        elif tokens[name] <= 0:
            out[name] = math.inf
        else:
            out[name] = share / tokens[name]
    return out


def over_repeated(epochs: dict[str, float], max_epochs: float) -> list[str]:
    return [name for name, e in epochs.items() if e > max_epochs]


def cached_token_counts(cache_dir: str, task_names: Sequence[str],
                        split: str = "train") -> dict[str, dict[str, int]]:
    """task -> {examples, tokens} from seqio's stats.<split>.json files under `cache_dir`,
    without registering anything (the file layout is <cache_dir>/<task>/stats.<split>.json).

    `tokens` includes one EOS per example, which the tasks append after the cache step.
    """
    out = {}
    for name in task_names:
        path = os.path.join(cache_dir, *name.split(":"), f"stats.{split}.json")
        if not os.path.exists(path):
            raise MixtureStatsError(f"no seqio cache stats for task {name!r}: {path} does not "
                                    f"exist (run python -m tasks.cache --output_cache_dir "
                                    f"{cache_dir})")
        with open(path, encoding="utf-8") as f:
            stats = json.load(f)
        # seqio writes no token counts for an empty split.
        out[name] = {"examples": int(stats["examples"]),
                     "tokens": int(stats.get("targets_tokens", 0)) + int(stats["examples"])}
    return out
