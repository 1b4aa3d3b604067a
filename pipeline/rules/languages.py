"""What the quality and repetition rules need to know about a language, and how its words are cut.

Gopher's rules were written for English: a stop-word list, a mean word length of 3-10
characters, words separated by spaces. FineWeb-2 adapts each to the language (its own stop
words, its own word splitter, thresholds where the field has them); datatrove's filters take a
`language`. Here each language has a `LanguageProfile`:

- stop_words: the language's most frequent function words (the Gopher check asks for at least
  `min_stop_words` distinct ones). Empty when we have no sound list: the check is then skipped
  for that language, and the skip is counted ("skipped.gopher_quality.stop_words.<lang>").
- segmented: the language is written without spaces between words (Japanese, Chinese, Thai).
  Words then come from character-class segmentation: runs of one script (hiragana, katakana,
  Han, other letters and digits) are words, CJK punctuation separates them; Chinese Han runs
  are cut into single characters (a Han character is close to a morpheme; a dictionary
  segmenter would do better, and is not needed for counting-based rules). Mean word length has
  no meaning for such segments, so that check is skipped for segmented languages.
- terminal_punctuation: what ends a sentence, for C4's line rule (the ideographic full stop
  "。" in Japanese and Chinese).

A document whose language is not known (language ID off, or "unknown") is judged as English,
which is what the rules did before they knew about languages. A known language without a
profile keeps every check that needs no word list and skips the stop-word check.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["LanguageProfile", "profile", "words_of", "PROFILES"]

LATIN_TERMINALS = (".", "?", "!", '"', "'")
CJK_TERMINALS = LATIN_TERMINALS + ("。", "！", "？", "」", "』", "）")


@dataclasses.dataclass(frozen=True)
class LanguageProfile:
    code: str
    stop_words: tuple[str, ...] = ()
    segmented: bool = False
    split_han: bool = False
    terminal_punctuation: tuple[str, ...] = LATIN_TERMINALS

    @property
    def has_stop_words(self) -> bool:
        return bool(self.stop_words)


# Function words from the usual frequency lists of each language (articles, prepositions,
# conjunctions, the copula); English keeps Gopher's eight. Kept short on purpose: the check
# asks whether a text is running prose, so only words every paragraph of prose contains.
PROFILES: dict[str, LanguageProfile] = {p.code: p for p in (
    LanguageProfile("en", ("the", "be", "to", "of", "and", "that", "have", "with")),
    LanguageProfile("de", ("der", "die", "das", "und", "zu", "in", "den", "von", "mit", "ist",
                           "nicht", "sich", "ein", "eine")),
    LanguageProfile("fr", ("le", "la", "les", "de", "des", "et", "un", "une", "en", "du",
                           "est", "que", "pour", "dans")),
    LanguageProfile("es", ("el", "la", "los", "las", "de", "que", "y", "en", "un", "una",
                           "por", "con", "para", "es")),
    LanguageProfile("it", ("il", "la", "di", "che", "e", "un", "una", "per", "in", "non",
                           "del", "della", "con", "è")),
    LanguageProfile("pt", ("o", "a", "os", "as", "de", "que", "e", "do", "da", "em", "um",
                           "uma", "para", "com")),
    LanguageProfile("nl", ("de", "het", "een", "en", "van", "in", "is", "dat", "op", "te",
                           "met", "voor", "zijn", "niet")),
    # Japanese particles and auxiliaries that stand between content words as their own
    # hiragana run after segmentation.
    LanguageProfile("ja", ("の", "に", "は", "を", "が", "で", "と", "も", "へ", "から", "です",
                           "ます", "する", "した"),
                    segmented=True, terminal_punctuation=CJK_TERMINALS),
    LanguageProfile("zh", ("的", "是", "在", "了", "和", "有", "不", "这", "我", "也", "就",
                           "人", "都", "一"),
                    segmented=True, split_han=True, terminal_punctuation=CJK_TERMINALS),
    # Thai is written without spaces and has no word list here: segmented, no stop words.
    LanguageProfile("th", segmented=True),
)}
DEFAULT = PROFILES["en"]
UNKNOWN_LANGUAGES = ("", "unknown", None)


def profile(lang: str | None) -> LanguageProfile:
    """The profile for an ISO 639 code; English for an unknown language; an empty profile
    (no stop words, whitespace words) for a known language we have no settings for."""
    if lang in UNKNOWN_LANGUAGES:
        return DEFAULT
    found = PROFILES.get(lang)
    if found is not None:
        return found
    base = lang.split("-", 1)[0].split("_", 1)[0]
    return PROFILES.get(base) or LanguageProfile(base)


_HIRAGANA = "\u3041-\u309f"
_KATAKANA = "\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u3006\u3007"
_THAI = "\u0e00-\u0e7f"
# CJK symbols and punctuation, fullwidth punctuation: separators, never words.
_CJK_PUNCT = ("\u3000-\u3004\u3008-\u3020\u3030-\u303f"
              "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65")
_OTHER = rf"[^\s{_HIRAGANA}{_KATAKANA}{_HAN}{_THAI}{_CJK_PUNCT}]+"
_SEGMENTS = re.compile(rf"[{_HIRAGANA}]+|[{_KATAKANA}]+|[{_HAN}]+|[{_THAI}]+|{_OTHER}")
_SEGMENTS_HAN_CHARS = re.compile(rf"[{_HIRAGANA}]+|[{_KATAKANA}]+|[{_HAN}]|[{_THAI}]+|{_OTHER}")


def words_of(text: str, prof: LanguageProfile) -> list[str]:
    """Words as the Gopher paper counts them: whitespace-separated (punctuation stays attached),
    or character-class segments for languages written without spaces."""
    if not prof.segmented:
        return text.split()
    return (_SEGMENTS_HAN_CHARS if prof.split_han else _SEGMENTS).findall(text)


# A word without any letter: every character is punctuation, a digit, a symbol or "_".
_NO_LETTER_WORD = re.compile(r"(?<!\S)(?:(?![^\W\d_])\S)+(?!\S)")


def count_letterless(words: list[str]) -> int:
    """How many of `words` contain no letter (one C-level regex scan over them)."""
    return len(_NO_LETTER_WORD.findall(" ".join(words)))


def stop_word_pattern(stop_words: tuple[str, ...]) -> re.Pattern:
    """Matches a stop word as a whole word, any case, punctuation around it allowed."""
    alternatives = "|".join(map(re.escape, sorted(stop_words, key=len, reverse=True)))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
