"""Display lines back into paragraphs, for rules that judge one paragraph per line (C4).

C4's line rules assume each line is a paragraph, as in Common Crawl's WET extraction. Plain-text
manuals, man pages, mailing-list archives and text/plain pages are hard-wrapped at ~72-80
columns: judged line by line, a sentence's middle lines "lack terminal punctuation" and are
deleted, leaving fragments. `paragraphs` regroups the lines first.

Two consecutive lines belong to one paragraph when the break between them was made by the
wrapper, not the author: the line before does not end a sentence (a break after a sentence's
end may stay: each part is then whole sentences), the first word of the next line would not
have fitted on the line before (its length + a space + that word exceeds the text's wrap
width), the two lines have the same indentation (or the next continues a list item's hanging
indent), and the next line does not start a list item. The wrap width is the 90th percentile of the
non-blank line lengths; a
text whose lines are longer than `MAX_WRAP_WIDTH` at that percentile is taken as one paragraph
per line and left alone, so WET-style pages are judged exactly as before.
"""

from __future__ import annotations

import re

MAX_WRAP_WIDTH = 160
_LIST_ITEM = re.compile(r"(?:[-*•+◦‣]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def wrap_width(lines: list[str]) -> int:
    """The 90th percentile of non-blank line lengths (0 when there are none)."""
    lengths = sorted(len(line.rstrip()) for line in lines if line.strip())
    if not lengths:
        return 0
    return lengths[(len(lengths) - 1) * 9 // 10]


def paragraphs(lines: list[str], terminals: tuple[str, ...] = (".", "?", "!", '"', "'")
               ) -> list[list[str]]:
    """Consecutive groups of `lines` that form one paragraph each (in order, every line once)."""
    width = wrap_width(lines)
    if width == 0 or width > MAX_WRAP_WIDTH:
        return [[line] for line in lines]
    groups: list[list[str]] = []
    body_indent = -1  # indentation that continues the current paragraph
    previous = ""
    for line in lines:
        stripped = line.strip()
        if groups and stripped and previous.strip() and _continues(previous, line, width,
                                                                   body_indent, terminals):
            groups[-1].append(line)
        else:
            groups.append([line])
            item = _LIST_ITEM.match(line.lstrip())
            body_indent = _indent(line) + (item.end() if item else 0)
        previous = line
    return groups


def _continues(previous: str, line: str, width: int, body_indent: int,
               terminals: tuple[str, ...]) -> bool:
    if previous.rstrip().endswith(terminals):
        return False
    indent = _indent(line)
    if indent != body_indent and indent != _indent(previous):
        return False
    body = line.lstrip()
    if _LIST_ITEM.match(body):
        return False
    first_word = body.split(None, 1)[0]
    return len(previous.rstrip()) + 1 + len(first_word) > width
