"""The `dedup:` section of the sources spec, as validated values (parsed in pipeline/spec.py).

    dedup:
      keep: smallest_id            # which copy of a group survives: smallest_id,
                                   # preferred_role (role_preference order) or quality_score
      role_preference: [books, wikipedia, news, webpages, conversations, code]
      exact: {lowercase: true, collapse_whitespace: true, strip_punctuation: false}
      near: {shingle: word, ngram: 5, num_perm: 128, threshold: 0.8, bands: null, rows: null,
             seed: 1, code_edit_similarity: 0.85, false_positive_weight: 0.05,
             false_negative_weight: 0.95, max_bucket_exhaustive: 50, bucket_anchors: 8,
             component_rounds: 12}

`exact: false` / `near: false` switch one half off; `dedup: false` switches both off. An absent
section means both on with these defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.dedup.lsh_params import optimal_bands_rows

KEEP_RULES = ("smallest_id", "preferred_role", "quality_score")
SHINGLES = ("word", "char")
DEFAULT_ROLE_PREFERENCE = ("books", "wikipedia", "news", "webpages", "conversations", "code")


@dataclasses.dataclass(frozen=True)
class ExactConfig:
    """How text is normalised before hashing: two documents whose normalised texts are equal
    are exact duplicates."""

    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False


@dataclasses.dataclass(frozen=True)
class NearConfig:
    """MinHash-LSH candidates, verified by true similarity.

    threshold: a candidate pair is a duplicate when the Jaccard similarity of its shingle sets
        is at least this (prose); code pairs need normalised Levenshtein similarity of at least
        `code_edit_similarity` instead (PaLM deduplicated code by edit distance).
    bands/rows: LSH layout; null derives them from threshold and the two weights
        (pipeline/dedup/lsh_params.py). Recall-heavy weights by default: false positives are
        removed by verification, false negatives are duplicates that stay.
    max_bucket_exhaustive: buckets up to this size compare all their pairs; in a larger bucket
        every member is compared with `bucket_anchors` anchor members only (linear, not
        quadratic, in the bucket's size; see pipeline/dedup/candidates.py).
    component_rounds: large-star/small-star rounds unrolled into the pipeline for connected
        components; a run that needed more reports it (counter and report) instead of
        merging wrongly: unconverged components are split, never over-merged.
    """

    shingle: str = "word"
    ngram: int = 5
    num_perm: int = 128
    threshold: float = 0.8
    bands: int | None = None
    rows: int | None = None
    seed: int = 1
    code_edit_similarity: float = 0.85
    false_positive_weight: float = 0.05
    false_negative_weight: float = 0.95
    max_bucket_exhaustive: int = 50
    bucket_anchors: int = 8
    component_rounds: int = 12

    def bands_rows(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands_rows(self.threshold, self.num_perm, self.false_positive_weight,
                                  self.false_negative_weight)


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    keep: str = "smallest_id"
    role_preference: tuple[str, ...] = DEFAULT_ROLE_PREFERENCE
    exact: ExactConfig | None = dataclasses.field(default_factory=ExactConfig)
    near: NearConfig | None = dataclasses.field(default_factory=NearConfig)

    @property
    def enabled(self) -> bool:
        return self.exact is not None or self.near is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"keep": self.keep, "role_preference": list(self.role_preference),
                                "exact": dataclasses.asdict(self.exact) if self.exact else False,
                                "near": False}
        if self.near is not None:
            bands, rows = self.near.bands_rows()
            data["near"] = dict(dataclasses.asdict(self.near), effective_bands=bands,
                                effective_rows=rows)
        return data


DISABLED = DedupConfig(exact=None, near=None)
