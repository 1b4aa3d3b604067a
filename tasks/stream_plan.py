"""The stream's plan, pure arithmetic shared by the driver and the Beam steps of
tasks/materialize.py: each source's token quota (weight x budget), the hash-bucket cut of the
partial epoch, and which copies of a document the stream takes, keyed by seeded hashes."""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from tasks.stream_format import StreamError


class MaterializeError(StreamError):
    pass


def hash64(*parts) -> int:
    """A seeded, platform-independent 64-bit hash (documents and rows, never tokens)."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(),
                                         digest_size=8).digest(), "little")


# ---------------------------------------------------------------------------------------------
# The plan (driver side, pure arithmetic)

@dataclasses.dataclass(frozen=True)
class SourcePlan:
    task: str
    index: int
    weight: float
    tokens_available: int
    quota: float

    @property
    def epochs(self) -> float:
        return self.quota / self.tokens_available

    @property
    def full_epochs(self) -> int:
        return int(math.floor(self.epochs))

    @property
    def partial_tokens(self) -> float:
        return self.quota - self.full_epochs * self.tokens_available


def plan_sources(weights: dict[str, float], tokens: dict[str, int],
                 stream_tokens: float) -> list[SourcePlan]:
    """Token quota per source: weight x `stream_tokens`. A weighted source with no tokens can
    deliver nothing: an error naming it."""
    total = sum(weights.values())
    empty = sorted(n for n, w in weights.items() if w > 0 and tokens.get(n, 0) <= 0)
    if empty:
        raise MaterializeError(f"source(s) {empty} have a positive weight but no tokens in their "
                               f"train split: give them data, or drop them from the mixture")
    return [SourcePlan(task, i, w / total, int(tokens[task]), w / total * stream_tokens)
            for i, (task, w) in enumerate(sorted(weights.items())) if w > 0]


def partial_cut(histogram: np.ndarray, needed: float) -> tuple[int, float]:
    """(bucket, fraction): documents hashed below `bucket` are taken whole, those in it keep
    `fraction` of their tokens, those above none; together `needed` tokens (within rounding)."""
    if needed <= 0:
        return 0, 0.0
    cumulative = np.cumsum(histogram, dtype=np.float64)
    bucket = int(np.searchsorted(cumulative, needed, side="left"))
    if bucket >= len(histogram):
        return len(histogram), 0.0
    before = cumulative[bucket - 1] if bucket else 0.0
    return bucket, float((needed - before) / histogram[bucket])


def _bucket(seed: int, task: str, key: str) -> int:
    return hash64(seed, "partial", task, key) >> (64 - 16)


def _copy_lengths(task: str, key: str, length: int, plans: dict[str, SourcePlan],
                  cuts: dict[str, tuple[int, float]], seed: int):
    """Every copy of a document the stream takes: floor(epochs) whole copies, plus the partial
    epoch's (whole, cut or none by hash bucket). Yields (sort key, source index, tokens kept,
    cut): a cut copy keeps its first `tokens kept` tokens and ends in EOS."""
    plan = plans[task]
    for copy in range(plan.full_epochs):
        yield hash64(seed, "copy", task, key, copy), plan.index, length, False
    bucket, fraction = cuts.get(task, (0, 0.0))
    mine = _bucket(seed, task, key)
    if mine < bucket:
        yield hash64(seed, "copy", task, key, plan.full_epochs), plan.index, length, False
    elif mine == bucket and fraction > 0:
        keep = int(round(fraction * length))
        if keep > 0:
            yield hash64(seed, "copy", task, key, plan.full_epochs), plan.index, keep, True


def _copies(doc, plans: dict[str, SourcePlan], cuts: dict[str, tuple[int, float]], seed: int,
            eos_id: int):
    """`_copy_lengths` applied to a document's tokens (task, key, tokens): yields (sort key,
    source index, tokens) -- what the copies hold (tests and references)."""
    task, key, tokens = doc
    for copy_key, index, keep, cut in _copy_lengths(task, key, len(tokens), plans, cuts, seed):
        out = tokens[:keep].copy() if cut else tokens
        if cut:
            out[-1] = eos_id  # a cut document still ends its segment
        yield copy_key, index, out


def _copy_refs(ref, plans, cuts, seed: int):
    """A document reference's copies as (sort key, (source, unit, offset, tokens kept, cut))."""
    task, key, unit, offset, length = ref
    for copy_key, index, keep, cut in _copy_lengths(task, key, length, plans, cuts, seed):
        yield copy_key, (index, unit, offset, keep, cut)
