"""A seqio Mixture whose rates give every Task its weight's share of TOKENS (PaLM Table 2).

seqio samples examples at the Mixture's rates; here each Task's rate is weight / mean tokens per
example, measured at the sequence length the dataset is asked for (every document is split into
sequence-length pieces by the Tasks, so the mean depends on it). Rates are callables, so they are
computed when a dataset is built (not at registration, which Beam workers also do) and then
memoised per length. Any seqio client -- `get_dataset`, `get_rate`, the cache job's logging --
sees the same rates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import seqio

from tasks import mixture_rates
from tasks.token_stats import LengthHistogram, length_histogram

log = logging.getLogger("tasks")


class TokenWeightedMixture(seqio.Mixture):
    """`seqio.Mixture` with token-true rates. `token_weights` maps task name -> weight (relative);
    `histogram_fn(task_name)` returns a Task's document-length histogram (train split);
    `sequence_length` is the length rates are computed at until a dataset names another one."""

    def __init__(self, name: str, tasks: Sequence[str], *, token_weights: Mapping[str, float],
                 histogram_fn, sequence_length: int | None = None, **kwargs):
        self.token_weights = mixture_rates.normalise(token_weights)
        self.sequence_length = sequence_length
        self._histogram_fn = histogram_fn
        self._histograms: dict[str, LengthHistogram] = {}
        self._rates: dict[int | None, dict[str, float]] = {}
        super().__init__(name, [(t, self._rate) for t in tasks], **kwargs)

    def histogram(self, task_name: str) -> LengthHistogram:
        if task_name not in self._histograms:
            self._histograms[task_name] = self._histogram_fn(task_name)
        return self._histograms[task_name]

    def mean_tokens(self, sequence_length: int | None) -> dict[str, float]:
        return {n: mixture_rates.mean_tokens_per_example(self.histogram(n).lengths,
                                                         self.histogram(n).counts, sequence_length)
                for n in self.token_weights}

    def rates_at(self, sequence_length: int | None) -> dict[str, float]:
        if sequence_length not in self._rates:
            self._rates[sequence_length] = mixture_rates.token_true_rates(
                self.token_weights, self.mean_tokens(sequence_length))
            log.info("mixture %s: token-true rates at length %s: %s", self.name, sequence_length,
                     {k: round(v, 5) for k, v in self._rates[sequence_length].items()})
        return self._rates[sequence_length]

    def _rate(self, task: seqio.Task) -> float:
        return self.rates_at(self.sequence_length)[task.name]

    def get_dataset(self, sequence_length: Mapping[str, int] | None = None, *args, **kwargs):
        if sequence_length and sequence_length.get("targets"):
            self.sequence_length = int(sequence_length["targets"])
        return super().get_dataset(sequence_length, *args, **kwargs)


def register(name: str, spec, sequence_length: int | None) -> None:
    """Registers the TokenWeightedMixture of a MixtureSpec (its Tasks must be registered)."""
    weights = {spec.task_name(s.name): s.weight for s in spec.sources if s.weight > 0}

    def histogram_fn(task_name: str) -> LengthHistogram:
        return length_histogram(task_name, spec.data_dir, task_name[len(spec.name) + 1:],
                                spec.vocabulary)

    seqio.MixtureRegistry.add(name, list(weights), mixture_cls=TokenWeightedMixture,
                              token_weights=weights, histogram_fn=histogram_fn,
                              sequence_length=sequence_length)


def rate_table(name: str, sequence_length: int | None) -> list[dict] | None:
    """Rows of weight, rate, mean tokens per example and expected token share per Task of a
    registered TokenWeightedMixture at `sequence_length` (None for any other Task or Mixture)."""
    provider = seqio.get_mixture_or_task(name)
    if not isinstance(provider, TokenWeightedMixture):
        return None
    return mixture_rates.mixture_table(provider.token_weights, provider.rates_at(sequence_length),
                                       provider.mean_tokens(sequence_length))
