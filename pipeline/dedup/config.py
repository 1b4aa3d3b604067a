"""The `dedup:` section of the sources spec, as validated values (parsed by
pipeline/dedup/stage.py).

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
section (or a null value) means the default: both on with these values. The classes are the
section's pydantic models (pipeline/validation.py) and the configs the dedup transforms use.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pipeline.dedup.lsh_params import optimal_bands_rows
from pipeline.validation import (
    Bool,
    Int,
    KeyProblem,
    Number,
    PositiveInt,
    SpecModel,
    StrList,
    switch,
)

KEEP_RULES = ("smallest_id", "preferred_role", "quality_score")
SHINGLES = ("word", "char")
DEFAULT_ROLE_PREFERENCE = ("books", "wikipedia", "news", "webpages", "conversations", "code")


class ExactConfig(SpecModel):
    """How text is normalised before hashing: two documents whose normalised texts are equal
    are exact duplicates."""

    lowercase: Bool = True
    collapse_whitespace: Bool = True
    strip_punctuation: Bool = False


class NearConfig(SpecModel):
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

    shingle: Literal["word", "char"] = "word"
    ngram: PositiveInt = 5
    num_perm: PositiveInt = 128
    threshold: Number = Field(0.8, gt=0.0, le=1.0)
    bands: PositiveInt | None = None
    rows: PositiveInt | None = None
    seed: Int = 1
    code_edit_similarity: Number = Field(0.85, gt=0.0, le=1.0)
    false_positive_weight: Number = Field(0.05, ge=0.0)
    false_negative_weight: Number = Field(0.95, ge=0.0)
    max_bucket_exhaustive: PositiveInt = 50
    bucket_anchors: PositiveInt = 8
    component_rounds: PositiveInt = 12

    @model_validator(mode="after")
    def _layout(self) -> "NearConfig":
        if (self.bands is None) != (self.rows is None):
            raise KeyProblem("bands" if self.bands is None else "rows",
                             "give both bands and rows, or neither (then they are derived from "
                             "threshold and num_perm)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise KeyProblem("bands", f"bands x rows = {self.bands * self.rows} exceeds "
                                      f"num_perm = {self.num_perm}")
        if self.bands is None and self.threshold >= 1.0:
            raise KeyProblem("threshold", "a threshold of 1.0 cannot derive bands and rows; "
                                          "give them explicitly")
        return self

    def bands_rows(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands_rows(self.threshold, self.num_perm, self.false_positive_weight,
                                  self.false_negative_weight)


class DedupConfig(SpecModel):
    keep: Literal["smallest_id", "preferred_role", "quality_score"] = "smallest_id"
    role_preference: StrList = DEFAULT_ROLE_PREFERENCE
    exact: switch(ExactConfig) = ExactConfig()
    near: switch(NearConfig) = NearConfig()

    @model_validator(mode="after")
    def _distinct_roles(self) -> "DedupConfig":
        if len(set(self.role_preference)) != len(self.role_preference):
            raise KeyProblem("role_preference", "a role is listed twice")
        return self

    @property
    def enabled(self) -> bool:
        return self.exact is not None or self.near is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"keep": self.keep, "role_preference": list(self.role_preference),
                                "exact": self.exact.model_dump() if self.exact else False,
                                "near": False}
        if self.near is not None:
            bands, rows = self.near.bands_rows()
            data["near"] = dict(self.near.model_dump(), effective_bands=bands,
                                effective_rows=rows)
        return data


DISABLED = DedupConfig(exact=None, near=None)
