"""Gopher quality rules (Rae et al. 2021, Table A1), per language, with two word definitions.

`word_definition: whitespace` (the default) counts words as the Gopher paper does: whitespace-
separated, punctuation attached ("cliff," is one word with a letter); languages written without
spaces are segmented by character class (pipeline/rules/languages.py). On real technical prose
(manuals, man pages) the >= 80 %-alphabetic check then passes what a reader would call prose,
where datatrove's token count fails most of it: a comma or a "--" of its own is a word without
a letter there. Stop words and which checks run come from the document's language
(`LanguageProfile`): the stop-word list is the language's own, the check is skipped for a language
without one, and mean word length is skipped for segmented languages; skipped checks are
listed in the RuleResult and counted. Stop words match whole words in any case.

`word_definition: datatrove` reproduces datatrove 0.10.1's GopherQualityFilter for English
exactly (the language is then ignored, as datatrove's English filter does). Words come from
`pipeline.rules.words.split_words` (datatrove's spaCy tokens). Semantics matched:
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
import re

from pipeline.document_step import TextRule
from pipeline.rules import languages
from pipeline.rules.base import RuleResult
from pipeline.rules.words import chunk_tokens, split_words, word_counts

__all__ = ["GopherQuality", "STOP_WORDS", "split_words", "WORD_DEFINITIONS"]

STOP_WORDS = languages.PROFILES["en"].stop_words
WORD_DEFINITIONS = ("whitespace", "datatrove")


_WHITESPACE = re.compile(r"\s")
_STOP_WORD_PREFIX_CHARS = 2000


class GopherQuality(TextRule):
    """Drops documents failing Gopher's quality heuristics; the first failing check names
    the reason ("gopher_quality.<check>"), checks running in datatrove's order."""

    name = "gopher_quality"
    language_aware = True  # called as rule(text, lang)

    def __init__(self, *, min_words: int = 50, max_words: int = 100_000,
                 min_avg_word_length: float = 3.0, max_avg_word_length: float = 10.0,
                 max_symbol_word_ratio: float = 0.1, max_bullet_lines_ratio: float = 0.9,
                 max_ellipsis_lines_ratio: float = 0.3, min_alpha_word_ratio: float = 0.8,
                 min_stop_words: int = 2, stop_words: tuple = (),
                 word_definition: str = "whitespace"):
        """`stop_words` given explicitly replaces every language's list (and is used for
        every document, whatever its language)."""
        self.min_words = int(min_words)
        self.max_words = int(max_words)
        self.min_avg_word_length = float(min_avg_word_length)
        self.max_avg_word_length = float(max_avg_word_length)
        self.max_symbol_word_ratio = float(max_symbol_word_ratio)
        self.max_bullet_lines_ratio = float(max_bullet_lines_ratio)
        self.max_ellipsis_lines_ratio = float(max_ellipsis_lines_ratio)
        self.min_alpha_word_ratio = float(min_alpha_word_ratio)
        self.min_stop_words = int(min_stop_words)
        if word_definition not in WORD_DEFINITIONS:
            raise ValueError(f"word_definition '{word_definition}' is not one of "
                             f"{', '.join(WORD_DEFINITIONS)}")
        self.word_definition = word_definition
        self.custom_stop_words = tuple(stop_words)
        self.stop_words = frozenset(stop_words or STOP_WORDS)
        # stop words that are a token of their own when they are a whole chunk
        self._plain_stop_words = frozenset(w for w in self.stop_words if chunk_tokens(w) == (w,))
        self._patterns: dict[tuple[str, ...], object] = {}

    def _stop_words_for(self, prof: languages.LanguageProfile) -> tuple[str, ...]:
        return self.custom_stop_words or prof.stop_words

    def check(self, text: str, lang: str | None = None) -> tuple[str | None, tuple[str, ...]]:
        """(the name of the first failing check or None, the checks skipped for the language)."""
        if self.word_definition == "datatrove":
            return self.check_datatrove(text), ()
        prof = languages.profile(lang)
        skipped = []
        words = languages.words_of(text, prof)
        n_words = len(words)
        if n_words < self.min_words or n_words == 0:
            return "word_count_low", ()
        if n_words > self.max_words:
            return "word_count_high", ()
        if prof.segmented:
            skipped.append("avg_word_length")
        else:
            avg_length = sum(map(len, words)) / n_words
            if avg_length < self.min_avg_word_length:
                return "avg_word_length_low", ()
            if avg_length > self.max_avg_word_length:
                return "avg_word_length_high", ()
        if text.count("#") / n_words > self.max_symbol_word_ratio:
            return "symbol_word_ratio", ()
        if (text.count("...") + text.count("…")) / n_words > self.max_symbol_word_ratio:
            return "symbol_word_ratio", ()
        lines = text.splitlines()
        bullets = sum(1 for line in lines if line.lstrip().startswith(("•", "-")))
        if bullets / len(lines) > self.max_bullet_lines_ratio:
            return "bullet_lines", tuple(skipped)
        ellipses = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
        if ellipses / len(lines) > self.max_ellipsis_lines_ratio:
            return "ellipsis_lines", tuple(skipped)
        if (n_words - languages.count_letterless(words)) / n_words < self.min_alpha_word_ratio:
            return "alpha_word_ratio", tuple(skipped)
        stop_words = self._stop_words_for(prof)
        if not stop_words:
            skipped.append("stop_words")
        elif self._count_stop_words_in(text, words, stop_words, prof) < self.min_stop_words:
            return "stop_words", tuple(skipped)
        return None, tuple(skipped)

    def _count_stop_words_in(self, text: str, words: list[str], stop_words: tuple[str, ...],
                             prof: languages.LanguageProfile) -> int:
        if prof.segmented:
            return len(set(stop_words).intersection(words))
        pattern = self._patterns.get(stop_words)
        if pattern is None:
            pattern = self._patterns[stop_words] = languages.stop_word_pattern(stop_words)
        # Nearly every page has its stop words in its first lines: look there first and scan
        # the whole text only when they are not enough. The prefix ends at a whitespace
        # character, so its matches are exactly the whole text's matches before that point
        # (stop words hold no whitespace): the count is exact below `min_stop_words` and a
        # lower bound at or above it, and the check's outcome is that of the full scan.
        cut = _WHITESPACE.search(text, _STOP_WORD_PREFIX_CHARS)
        if cut is not None and not any(map(_WHITESPACE.search, stop_words)):
            found = len(set(map(str.lower, pattern.findall(text, 0, cut.start()))))
            if found >= self.min_stop_words:
                return found
        return len(set(map(str.lower, pattern.findall(text))))

    def check_datatrove(self, text: str) -> str | None:
        """datatrove 0.10.1's checks and semantics (English tokens), the first failing one."""
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

    def __call__(self, text: str, lang: str | None = None) -> RuleResult:
        failed, skipped = self.check(text, lang)
        return RuleResult(text, None if failed is None else f"{self.name}.{failed}",
                          skipped=tuple(f"{self.name}.{c}" for c in skipped))
