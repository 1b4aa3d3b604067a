"""Gopher quality rules (Rae et al. 2021, Table A1), tuned to agree with datatrove 0.10.

Words come from `pipeline.rules.words.split_words` (datatrove's spaCy tokens). Semantics matched
(datatrove 0.10.1):
- words = tokens with whitespace removed; "non-symbol words" = tokens with a character outside
  datatrove's punctuation set; word count and mean word length use non-symbol words;
- `#` count and `...`/`…` count are divided by the count of *all* tokens;
- lines = `str.splitlines()`; bullet lines start (after left strip) with "•" or "-";
  ellipsis lines end (after right strip) with "..." or "…";
- alpha ratio = tokens with an alphabetic character / all tokens (so punctuation tokens count
  against it, as in datatrove; Gopher's paper split words on whitespace);
- stop words: number of *distinct* stop words present as exact (case-sensitive) tokens.
Reasons: word_count_low (also for a text without words), word_count_high, avg_word_length_low,
avg_word_length_high, symbol_word_ratio (datatrove's separate hash and ellipsis reasons),
bullet_lines, ellipsis_lines, alpha_word_ratio, stop_words.

Measured against datatrove 0.10.1 + spaCy 3.8 on 24k documents: identical keep/drop decisions
and reasons (see also benchmarks/bench_prep.py).
"""

from __future__ import annotations

import itertools

from pipeline.document_step import TextRule
from pipeline.rules.base import RuleResult
from pipeline.rules.words import chunk_tokens, split_words, word_counts

__all__ = ["GopherQuality", "STOP_WORDS", "split_words"]

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQuality(TextRule):
    """Drops documents failing Gopher's quality heuristics; the first failing check names
    the reason ("gopher_quality.<check>"), checks running in datatrove's order."""

    name = "gopher_quality"

    def __init__(self, *, min_words: int = 50, max_words: int = 100_000,
                 min_avg_word_length: float = 3.0, max_avg_word_length: float = 10.0,
                 max_symbol_word_ratio: float = 0.1, max_bullet_lines_ratio: float = 0.9,
                 max_ellipsis_lines_ratio: float = 0.3, min_alpha_word_ratio: float = 0.8,
                 min_stop_words: int = 2, stop_words: tuple = STOP_WORDS):
        self.min_words = int(min_words)
        self.max_words = int(max_words)
        self.min_avg_word_length = float(min_avg_word_length)
        self.max_avg_word_length = float(max_avg_word_length)
        self.max_symbol_word_ratio = float(max_symbol_word_ratio)
        self.max_bullet_lines_ratio = float(max_bullet_lines_ratio)
        self.max_ellipsis_lines_ratio = float(max_ellipsis_lines_ratio)
        self.min_alpha_word_ratio = float(min_alpha_word_ratio)
        self.min_stop_words = int(min_stop_words)
        self.stop_words = frozenset(stop_words)
        # stop words that are a token of their own when they are a whole chunk
        self._plain_stop_words = frozenset(w for w in self.stop_words if chunk_tokens(w) == (w,))

    def check(self, text: str) -> str | None:
        """The name of the first failing check, or None."""
        chunks = text.split()
        n_tokens, n_words, n_alpha, word_chars = word_counts(chunks)
        if n_words < self.min_words or n_words == 0:
            return "word_count_low"
        if n_words > self.max_words:
            return "word_count_high"
        avg_length = word_chars / n_words
        if avg_length < self.min_avg_word_length:
            return "avg_word_length_low"
        if avg_length > self.max_avg_word_length:
            return "avg_word_length_high"
        if text.count("#") / n_tokens > self.max_symbol_word_ratio:
            return "symbol_word_ratio"
        if (text.count("...") + text.count("…")) / n_tokens > self.max_symbol_word_ratio:
            return "symbol_word_ratio"
        lines = text.splitlines()
        bullets = sum(1 for line in lines if line.lstrip().startswith(("•", "-")))
        if bullets / len(lines) > self.max_bullet_lines_ratio:
            return "bullet_lines"
        ellipses = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
        if ellipses / len(lines) > self.max_ellipsis_lines_ratio:
            return "ellipsis_lines"
        if n_alpha / n_tokens < self.min_alpha_word_ratio:
            return "alpha_word_ratio"
        if self._count_stop_words(chunks) < self.min_stop_words:
            return "stop_words"
        return None

    def _count_stop_words(self, chunks: list[str]) -> int:
        # Stop words almost always stand alone as a chunk ("the"), so the set of chunks usually
        # settles the question without tokenizing; only then fall back to all tokens.
        found = self._plain_stop_words.intersection(chunks)
        if len(found) >= self.min_stop_words:
            return len(found)
        vocabulary = set(itertools.chain.from_iterable(map(chunk_tokens, chunks)))
        return len(self.stop_words & vocabulary)

    def __call__(self, text: str) -> RuleResult:
        failed = self.check(text)
        return RuleResult(text, None if failed is None else f"{self.name}.{failed}")
