"""Text normalisation, the first per-document stage: every later rule sees clean, canonical text.

Steps in execution order, each switchable:
1. fix_mojibake: ftfy repairs text decoded with the wrong codec ("cafÃ©" -> "café"). It sees
   the raw text, because control characters, NBSP and NEL are often part of the mojibake it
   must recognise (a UTF-8 em dash read as Latin-1 is "â" + U+0080 + U+0094). Only non-ASCII
   lines are given to it (ASCII cannot be mojibake, and ftfy is slow), and only its encoding
   repairs are on: fix_encoding, restore_byte_a0, replace_lossy_sequences,
   decode_inconsistent_utf8, fix_c1_controls (C1 characters become the cp1252 punctuation they
   stand for, so a stray NEL becomes "…") and fix_surrogates (pairs joined, lone ones U+FFFD).
   Everything that would change correctly encoded text is off: HTML unescaping (also not
   idempotent: "&amp;amp;" would lose a level per pass), terminal-escape and control removal and
   line-break fixing (done below, for all text alike), ligature, width and quote folding
   (content changes, NFKC-like) and ftfy's own normalisation (NFC is done below).
2. whitespace, line breaks: every line break str.splitlines() knows (CRLF, CR, VT, FF, FS/GS/RS,
   NEL, U+2028, U+2029) becomes "\\n", before step 3 so that a form feed still ends a line.
3. strip_control: removes category Cc except "\\n" and "\\t", lone UTF-16 surrogates (they
   cannot be written as UTF-8), and invisible junk that means nothing in running text: BOM /
   zero-width no-break space U+FEFF, zero-width space U+200B, word joiner U+2060 and soft
   hyphen U+00AD. Zero-width (non-)joiners U+200C/U+200D and bidi marks are kept: Persian,
   Indic scripts and emoji sequences need them.
4. nfc: Unicode NFC.
5. whitespace, layout: trailing whitespace goes from every line, runs of 3+ newlines become one
   blank line, leading and trailing blank lines go. For prose (keep_indentation=False) every run
   of horizontal whitespace (tabs, NBSP, all Unicode spaces) becomes one space and lines lose
   their leading spaces; for code (keep_indentation=True) indentation is kept exactly.

Idempotence, normalize(normalize(x)) == normalize(x), holds by construction. Steps 2-5 (`_base`)
are idempotent, and the result is checked to be a fixed point of ftfy too: ftfy works line by
line and every line it returns is a fixed point of it, so only lines that `_base` changed
afterwards (and that are not ASCII) are shown to ftfy again; if ftfy would still change one
(`_base` can create mojibake-like sequences, e.g. by deleting a control character between two
letters), ftfy and `_base` are applied again until nothing changes. This converges in practice
(each effective ftfy round shortens the text or removes C1 characters) and is capped at
_MAX_FTFY_ROUNDS rounds.
"""

from __future__ import annotations

import re
import unicodedata

import ftfy

from pipeline.document_step import TextRule
from pipeline.rules.base import RuleResult

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=True,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)
_MAX_FTFY_ROUNDS = 8
_FTFY_SEGMENT = 1_000_000  # ftfy's max_decode_length: longer lines are fixed in pieces
_SEGMENT = re.compile(r"[^\n]*\n|[^\n]+")

_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_JUNK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff\ud800-\udfff]+")
# runs of horizontal whitespace that are not already a single U+0020
_HORIZONTAL_SPACE = re.compile(r" [^\S\n]+|[^\S\n ][^\S\n]*")
_SPACE_AROUND_NEWLINE = re.compile(r" \n ?|\n ")
_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def _segments(text: str):
    """The pieces ftfy.fix_text fixes independently: lines with their newline, cut every
    _FTFY_SEGMENT characters."""
    for match in _SEGMENT.finditer(text):
        segment = match.group()
        if len(segment) <= _FTFY_SEGMENT:
            yield segment
        else:
            for start in range(0, len(segment), _FTFY_SEGMENT):
                yield segment[start:start + _FTFY_SEGMENT]


def _fix_segment(segment: str, fixed_points: set[str]) -> str:
    fixed = ftfy.fix_and_explain(segment, _FTFY_CONFIG).text
    fixed_points.add(fixed)
    return fixed


def _fix_mojibake(text: str, fixed_points: set[str]) -> str:
    """ftfy.fix_text with our configuration, skipping ASCII lines (ASCII is never mojibake)
    and remembering its outputs."""
    if text.isascii():
        return text
    return "".join(s if s.isascii() or s in fixed_points else _fix_segment(s, fixed_points)
                   for s in _segments(text))


def _join_surrogates(match: re.Match) -> str:
    return match.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le")


class Normalizer(TextRule):
    """Canonicalises a document's text; drops it ("normalize.empty") when nothing is left."""

    name = "normalize"

    def __init__(self, *, nfc: bool = True, fix_mojibake: bool = True,
                 strip_control: bool = True, whitespace: bool = True,
                 keep_indentation: bool = False):
        self.nfc = bool(nfc)
        self.fix_mojibake = bool(fix_mojibake)
        self.strip_control = bool(strip_control)
        self.whitespace = bool(whitespace)
        self.keep_indentation = bool(keep_indentation)

    def _base(self, text: str) -> str:
        """Every step but ftfy; idempotent on its own. Each regex pass is guarded by cheap
        substring tests, so text that is already clean costs a few C-level scans."""
        # Without \n and \t, printable text has no controls, no format characters, no line
        # separators and no spaces but U+0020: nothing for the first two steps to do.
        plain = text.replace("\n", "").replace("\t", "").isprintable()
        if self.whitespace and not plain:
            text = _LINE_BREAK.sub("\n", text)
        if self.strip_control and not plain:
            if not text.isascii():
                text = _SURROGATE_PAIR.sub(_join_surrogates, text)
            text = _JUNK.sub("", text)
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        if self.whitespace:
            text = self._tidy_whitespace(text, plain)
        return text

    def _tidy_whitespace(self, text: str, plain: bool) -> str:
        if self.keep_indentation:
            if not plain or " \n" in text or "\t\n" in text:
                text = _TRAILING_SPACE.sub("", text)
            if "\n\n\n" in text:
                text = _BLANK_LINES.sub("\n\n", text)
            return text.rstrip().lstrip("\n")
        if not plain or "\t" in text or "  " in text:
            text = _HORIZONTAL_SPACE.sub(" ", text)
        if " \n" in text or "\n " in text:
            text = _SPACE_AROUND_NEWLINE.sub("\n", text)
        if "\n\n\n" in text:
            text = _BLANK_LINES.sub("\n\n", text)
        return text.strip(" \n")

    def normalize(self, text: str) -> str:
        if not self.fix_mojibake:
            return self._base(text)
        fixed_points: set[str] = set()  # lines ftfy returned, which it leaves unchanged
        text = self._base(_fix_mojibake(text, fixed_points))
        for _ in range(_MAX_FTFY_ROUNDS):
            if text.isascii():
                break
            suspects = [s for s in _segments(text) if s not in fixed_points and not s.isascii()]
            if all(_fix_segment(s, fixed_points) == s for s in suspects):
                break
            text = self._base(_fix_mojibake(text, fixed_points))
        return text

    def __call__(self, text: str) -> RuleResult:
        text = self.normalize(text)
        return RuleResult(text, None if text else f"{self.name}.empty")
