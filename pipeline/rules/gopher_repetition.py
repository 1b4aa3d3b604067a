"""Gopher repetition rules (Rae et al. 2021, Table A1), with datatrove 0.10's semantics.

What is measured, as datatrove's `GopherRepetitionFilter` does it (checks in this order, the
first failure names the reason):
- paragraphs: `text.strip()` split on runs of 2+ newlines; lines: `text` split on runs of
  newlines. A duplicate is every occurrence after the first; the fractions are duplicates /
  element count and duplicate characters / `len(text)`. Paragraphs are checked before lines.
- top n-gram (n = 2, 3, 4): the most frequent word n-gram (ties: the first seen) times its
  length with single spaces between words, over `len(text)`;
- duplicated n-grams (n = 5..10): scanning left to right, an n-gram already seen adds its
  characters (words concatenated without spaces) and the scan jumps past it; otherwise it
  is remembered and the scan moves one word. Total over `len(text)`.
Lines without a letter or a digit (table borders such as `+------+`, `=====` underlines) and
words without one (`|`, `+---+`, `-`) are formatting, not repeated content: in the default mode
they are left out of the duplicate-line fractions and the n-grams (Debian Reference sections
with ASCII tables were dropped for repeating their borders); `word_definition: datatrove`
counts them, as datatrove does.
Words follow the quality rule's `word_definition`: whitespace-separated (the Gopher paper;
character-class segments for languages written without spaces, so Japanese and Chinese
n-grams are n-grams of words, not of whole lines) by default, or datatrove's spaCy-compatible
tokens (`split_words`) with `word_definition: datatrove`. Reasons:
dup_para_frac, dup_para_char_frac, dup_line_frac, dup_line_char_frac, top_<n>_gram,
dup_<n>_gram, and empty for an empty text.

Speed: duplicates are counted with sets and `len`; n-grams are word tuples counted by C-level
`Counter`/`dict`; the top-n-gram count is skipped when the highest count an n-gram can have
(that of its shorter prefix) times the longest n-gram stays within the threshold; the
duplicated-n-gram scan only visits positions where the smallest checked n-gram repeats, and only
when the characters those repeats can cover exceed the threshold. Clean text thus costs one
tokenisation, one Counter and one dict of 5-grams.

Known difference: datatrove keys duplicated n-grams by their words concatenated without spaces,
we key them by word tuples. They differ only when two different word sequences of the same
length concatenate to the same string ("a bc" vs "ab c"), which needs compensating shifts of
word boundaries inside identical characters; it did not occur in our agreement runs.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter

from pipeline.document_step import TextRule
from pipeline.rules import languages
from pipeline.rules.base import RuleResult
from pipeline.rules.gopher_quality import WORD_DEFINITIONS
from pipeline.rules.words import split_words

_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"\n+")
_PUNCTUATION_WORD = re.compile(r"(?<!\S)[^\w\s]+(?!\S)")  # a whole word of punctuation
# The same in one C-level scan each (identical results): the whitespace-separated words that
# hold a word character (all but the punctuation words), and the lines (maximal runs between
# newlines) that hold a letter or a digit.
_WORD_WITH_WORD_CHAR = re.compile(r"(?<!\S)\S*?\w\S*")
_LINE_WITH_LETTER_OR_DIGIT = re.compile(r"^(?=[^\n]*?[^\W_])[^\n]*", re.M)

TOP_N_GRAMS = ((2, 0.2), (3, 0.18), (4, 0.16))
DUP_N_GRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


def _duplicates(elements: list[str]) -> tuple[int, int]:
    """(occurrences after the first, their characters)."""
    distinct = set(elements)
    return (len(elements) - len(distinct),
            sum(map(len, elements)) - sum(map(len, distinct)))


class _Words:
    """A document's words with what every n-gram check needs, computed once."""

    def __init__(self, words: list[str]):
        self.words = words
        self.cum = list(itertools.accumulate(map(len, words), initial=0))
        self._max_counts: dict[int, int] = {}  # n -> count of the most frequent n-gram
        self._base: dict[int, tuple[list[int], list[int]]] = {}

    def n_grams(self, n: int) -> list[tuple[str, ...]]:
        return list(zip(*(self.words[i:] for i in range(n)), strict=False))

    def chars(self, n: int) -> list[int]:
        """Characters of the words of the n-gram starting at each position (no spaces)."""
        return list(map(operator.sub, self.cum[n:], self.cum[:len(self.cum) - n]))

    def top_n_gram_chars(self, n: int, size: int, frac: float) -> int | None:
        """Characters covered by the most frequent n-gram (ties: the first seen): its count
        times its length with spaces; None when the text has no n-gram. Returns 0 early when
        even the longest n-gram at the highest count it could have stays within `frac`."""
        chars = self.chars(n)
        if not chars:
            return None
        # An n-gram is never more frequent than its m-gram prefix (m < n).
        max_count = min([c for m, c in self._max_counts.items() if m <= n], default=len(chars))
        if max_count * (max(chars) + n - 1) / size <= frac:
            return 0
        counts = Counter(self.n_grams(n))
        best = max(counts.values())
        self._max_counts[n] = best
        first = next(g for g, c in counts.items() if c == best)
        return best * (sum(map(len, first)) + n - 1)

    def _shared_positions(self, base_n: int) -> tuple[list[int], list[int]]:
        """(positions whose base_n-gram occurred earlier, positions whose base_n-gram occurs
        more than once), both sorted. Only these can hold a repeated n-gram for n >= base_n,
        or an earlier occurrence of one."""
        if base_n not in self._base:
            grams = self.n_grams(base_n)
            count = len(grams)
            first_seen = dict(zip(reversed(grams), range(count - 1, -1, -1), strict=True))
            if len(first_seen) == count:
                self._base[base_n] = ([], [])
            else:
                repeated = set(range(count)).difference(first_seen.values())
                firsts = {first_seen[grams[j]] for j in repeated}
                self._base[base_n] = (sorted(repeated), sorted(repeated | firsts))
        return self._base[base_n]

    def too_many_duplicated(self, n: int, size: int, frac: float, base_n: int) -> bool:
        """Whether datatrove's greedy scan finds more than `frac` of `size` characters in
        repeated n-grams: left to right, a repeated n-gram counts its characters and the
        scan jumps past it; any other n-gram is remembered and the scan moves one word.
        `base_n` (<= n) is the smallest n checked: an n-gram can only repeat where its
        base_n-gram prefix repeats, so all work is confined to those positions."""
        repeated_base, shared = self._shared_positions(base_n)
        cum, last = self.cum, len(self.words) - n
        # Upper bound: the scan counts disjoint n-grams that start at repeat positions, so at
        # most the characters of all words such n-grams could cover.
        covered, covered_to = 0, 0
        for j in repeated_base:
            if j > last:
                break
            start = j if j > covered_to else covered_to
            covered_to = j + n
            covered += cum[covered_to] - cum[start]
        if covered / size <= frac:
            return False
        words = self.words
        grams = {q: tuple(words[q:q + n]) for q in shared if q <= last}
        first_seen: dict[tuple[str, ...], int] = {}
        repeated_at = []
        for q, gram in grams.items():
            if first_seen.setdefault(gram, q) != q:
                repeated_at.append(q)
        if sum(cum[j + n] - cum[j] for j in repeated_at) / size <= frac:
            return False
        # Replay the scan over repeat positions only: a repeat counts unless the scan jumped
        # over every earlier occurrence, which happens only to first occurrences inside a
        # jump; those are tracked in `unseen` until the scan next meets that n-gram.
        unseen: set[tuple[str, ...]] = set()
        counted = 0
        skip_until = 0
        for j in repeated_at:
            if j < skip_until:
                continue
            gram = grams[j]
            if gram in unseen:
                unseen.discard(gram)
                continue
            counted += cum[j + n] - cum[j]
            if counted / size > frac:
                return True
            skip_until = j + n
            for k in range(j + 1, skip_until):
                other = grams.get(k)
                if other is not None and first_seen[other] == k:
                    unseen.add(other)
        return counted / size > frac


class GopherRepetition(TextRule):
    """Drops documents dominated by repeated lines, paragraphs or n-grams."""

    name = "gopher_repetition"
    language_aware = True  # called as rule(text, lang)

    def __init__(self, *, dup_line_frac: float = 0.3, dup_para_frac: float = 0.3,
                 dup_line_char_frac: float = 0.2, dup_para_char_frac: float = 0.2,
                 top_n_grams: tuple = TOP_N_GRAMS, dup_n_grams: tuple = DUP_N_GRAMS,
                 word_definition: str = "whitespace"):
        if word_definition not in WORD_DEFINITIONS:
            raise ValueError(f"word_definition '{word_definition}' is not one of "
                             f"{', '.join(WORD_DEFINITIONS)}")
        self.word_definition = word_definition
        self.dup_line_frac = float(dup_line_frac)
        self.dup_para_frac = float(dup_para_frac)
        self.dup_line_char_frac = float(dup_line_char_frac)
        self.dup_para_char_frac = float(dup_para_char_frac)
        # YAML gives lists of lists; normalise to (int, float) pairs.
        self.top_n_grams = tuple((int(n), float(f)) for n, f in top_n_grams)
        self.dup_n_grams = tuple((int(n), float(f)) for n, f in dup_n_grams)
        if any(n < 1 for n, _ in self.top_n_grams + self.dup_n_grams):
            raise ValueError("n-gram sizes must be at least 1")
        self._base_n = min((n for n, _ in self.dup_n_grams), default=1)

    def _words(self, text: str, lang: str | None) -> list[str]:
        if self.word_definition == "datatrove":
            return split_words(text)
        prof = languages.profile(lang)
        if not prof.segmented:  # words_of would split on whitespace
            return _WORD_WITH_WORD_CHAR.findall(text)
        return languages.words_of(_PUNCTUATION_WORD.sub(" ", text), prof)

    def check(self, text: str, lang: str | None = None) -> str | None:
        """The name of the first failing check, or None."""
        if not text:
            return "empty"
        size = len(text)
        paragraphs = _PARAGRAPH_BREAK.split(text.strip())
        count, chars = _duplicates(paragraphs)
        if count / len(paragraphs) > self.dup_para_frac:
            return "dup_para_frac"
        if chars / size > self.dup_para_char_frac:
            return "dup_para_char_frac"
        if self.word_definition != "datatrove":
            lines = _LINE_WITH_LETTER_OR_DIGIT.findall(text)
        else:
            lines = _LINE_BREAK.split(text)
        count, chars = _duplicates(lines)
        if lines and count / len(lines) > self.dup_line_frac:
            return "dup_line_frac"
        if chars / size > self.dup_line_char_frac:
            return "dup_line_char_frac"
        words = _Words(self._words(text, lang))
        for n, frac in self.top_n_grams:
            chars = words.top_n_gram_chars(n, size, frac)
            if chars is not None and chars / size > frac:
                return f"top_{n}_gram"
        for n, frac in self.dup_n_grams:
            if words.too_many_duplicated(n, size, frac, self._base_n):
                return f"dup_{n}_gram"
        return None

    def __call__(self, text: str, lang: str | None = None) -> RuleResult:
        failed = self.check(text, lang)
        return RuleResult(text, None if failed is None else f"{self.name}.{failed}")
