"""C4's line and page rules (Raffel et al. 2020), with datatrove 0.10's C4QualityFilter semantics.

Each line (`str.splitlines()`, then stripped) goes through these steps in order; the first that
fails removes the line and is counted in `lines_removed`:
1. a word (whitespace-separated) longer than `max_word_length` -> "c4.too_long_word";
2. Wikipedia-style citations ("[1]", "[edit]", "[citation needed]") are deleted (the line is not
   re-stripped afterwards, as in datatrove);
3. the line must end in . ? ! " or ' and not in "..." -> "c4.no_terminal_punct";
4. at least `min_words_per_line` words, counted *before* citation removal -> "c4.too_few_words";
5. "lorem ipsum" anywhere in the line drops the page -> "c4.lorem_ipsum";
6. "javascript" in the line -> "c4.javascript";
7. "{" in the line drops the page -> "c4.curly_bracket";
8. a cookie / terms-of-use / privacy-policy phrase -> "c4.policy".
So, as in TFDS and datatrove, "lorem ipsum" and "{" drop a page only on a line that survived
steps 1-4 (a "{" on a code line without final punctuation does not). Kept lines are joined with
newlines. The page is dropped with "c4.too_few_sentences" when the kept lines hold fewer than
`min_sentences` sentences; each kept line's sentences are counted the way spaCy's rule-based
sentencizer (datatrove's English splitter) counts them: a new sentence starts at the first
non-punctuation token after a sentence-final token such as "." "!" "?".

Paragraphs, not display lines (`unwrap`, on by default): hard-wrapped text is regrouped into
paragraphs first (pipeline/rules/paragraphs.py) and each paragraph is judged as one line; a kept
paragraph keeps its original lines, a removed one counts all of its lines in `lines_removed`
(and their bytes in `bytes_removed`). Text with one paragraph per line is unchanged by this.
`unwrap: false` judges display lines, as datatrove does.

Languages (the document's, from language ID): terminal punctuation comes from the language's
profile (the ideographic full stop for Japanese and Chinese), and for languages written without
spaces words are character-class segments and a sentence is counted per terminal mark. The
javascript and policy phrases are English; they rarely occur in other languages' text.

Differences from datatrove: `min_sentences` defaults to 3, as in TFDS's C4 code and our spec,
where datatrove follows the paper's 5; set `min_sentences: 5` to reproduce datatrove exactly.
`min_words_per_line` is datatrove's (and the paper's) 3; TFDS's code uses 5. Sentence-splitting
mode (`split_paragraph=False`) is not offered. A page left with no lines is dropped
("c4.too_few_sentences", or "c4.empty" when sentence counting is disabled). A dropped page's
RuleResult carries the original text and the lines counted before the drop.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.document_step import TextRule
from pipeline.rules import languages
from pipeline.rules.base import RuleResult
from pipeline.rules.paragraphs import paragraphs
from pipeline.rules.words import SENTENCE_TERMINALS, split_words

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCTUATION = (".", "?", "!", '"', "'")
_ELLIPSIS = "..."
_PIECES = re.compile(r"\S+|\s+")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                     "use of cookies", "use cookies")


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(c).startswith("P") for c in token)


def count_sentences(line: str) -> int:
    """Sentences in `line` as spaCy's sentencizer splits them. Whitespace other than a single
    space between words is a token of its own for spaCy, and such a token after a full stop
    starts a sentence too."""
    count = 0
    after_terminal = False
    for piece in _PIECES.findall(line):
        if piece[0].isspace():
            tokens: tuple[str, ...] | list[str] = () if piece == " " else (" ",)
        else:
            tokens = split_words(piece)
        for token in tokens:
            if count == 0:
                count = 1
            if token in SENTENCE_TERMINALS:
                after_terminal = True
            elif after_terminal and not _is_punct(token):
                count += 1
                after_terminal = False
    return count


class C4Rules(TextRule):
    """Removes non-sentence lines and drops pages that are boilerplate or too short."""

    name = "c4"
    language_aware = True  # called as rule(text, lang)

    def __init__(self, *, remove_citations: bool = True, filter_no_terminal_punct: bool = True,
                 min_sentences: int = 3, min_words_per_line: int = 3,
                 max_word_length: int = 1000, filter_lorem_ipsum: bool = True,
                 filter_javascript: bool = True, filter_curly_bracket: bool = True,
                 filter_policy: bool = True, unwrap: bool = True):
        self.unwrap = bool(unwrap)
        self.remove_citations = bool(remove_citations)
        self.filter_no_terminal_punct = bool(filter_no_terminal_punct)
        self.min_sentences = int(min_sentences)  # <= 0 disables
        self.min_words_per_line = int(min_words_per_line)  # <= 0 disables
        self.max_word_length = int(max_word_length)  # <= 0 disables
        self.filter_lorem_ipsum = bool(filter_lorem_ipsum)
        self.filter_javascript = bool(filter_javascript)
        self.filter_curly_bracket = bool(filter_curly_bracket)
        self.filter_policy = bool(filter_policy)

    def _line_verdict(self, line: str, prof: languages.LanguageProfile | None = None
                      ) -> tuple[str, str | None]:
        """(the line after citation removal, None to keep it or the failed check's name)."""
        words = line.split() if prof is None else languages.words_of(line, prof)
        end_punctuation = _END_PUNCTUATION if prof is None else prof.terminal_punctuation
        if self.max_word_length > 0 and max(map(len, words), default=0) > self.max_word_length:
            return line, "too_long_word"
        if self.remove_citations and "[" in line:
            line = _CITATION.sub("", line)
        if self.filter_no_terminal_punct and (not line.endswith(end_punctuation)
                                              or line.endswith(_ELLIPSIS)):
            return line, "no_terminal_punct"
        if len(words) < self.min_words_per_line:
            return line, "too_few_words"
        lower = line.lower()
        if self.filter_lorem_ipsum and "lorem ipsum" in lower:
            return line, "lorem_ipsum"
        if self.filter_javascript and "javascript" in lower:
            return line, "javascript"
        if self.filter_curly_bracket and "{" in line:
            return line, "curly_bracket"
        if self.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
            return line, "policy"
        return line, None

    def __call__(self, text: str, lang: str | None = None) -> RuleResult:
        prof = languages.profile(lang)
        lines = text.splitlines()
        units = (paragraphs(lines, prof.terminal_punctuation) if self.unwrap
                 else [[line] for line in lines])
        kept: list[str] = []
        removed: dict[str, int] = {}
        removed_bytes: dict[str, int] = {}
        examples: dict[str, str] = {}
        sentences = 0
        for unit in units:
            stripped = [line.strip() for line in unit]
            judged, failed = self._line_verdict(" ".join(stripped), prof)
            if failed in ("lorem_ipsum", "curly_bracket"):
                return RuleResult(text, f"{self.name}.{failed}", removed, removed_bytes)
            if failed is not None:
                key = f"{self.name}.{failed}"
                removed[key] = removed.get(key, 0) + len(unit)
                removed_bytes[key] = (removed_bytes.get(key, 0)
                                      + sum(len(line.encode("utf-8")) + 1 for line in unit))
                examples.setdefault(key, "\n".join(unit))
                continue
            if sentences < self.min_sentences:  # counting stops once the page has enough
                sentences += _sentences(judged, prof)
            if len(unit) == 1:
                kept.append(judged)  # citations removed, as datatrove does
            elif self.remove_citations:
                kept.extend(_CITATION.sub("", line) if "[" in line else line
                            for line in stripped)
            else:
                kept.extend(stripped)
        if sentences < self.min_sentences:
            return RuleResult(text, f"{self.name}.too_few_sentences", removed, removed_bytes)
        cleaned = "\n".join(kept).strip()
        if not cleaned:
            return RuleResult(text, f"{self.name}.empty", removed, removed_bytes)
        return RuleResult(cleaned, None, removed, removed_bytes, removed_examples=examples)


_CJK_SENTENCE_END = re.compile(r"[。！？!?]+")


def _sentences(line: str, prof: languages.LanguageProfile) -> int:
    if prof.segmented:
        return max(1, len(_CJK_SENTENCE_END.findall(line)))
    return count_sentences(line)
