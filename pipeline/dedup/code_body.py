"""What near dedup compares of a source file: its code, without the licence header on top.

Files of one project often share a long leading licence or copyright comment; an `__init__.py`
may be little else. Compared whole, two such files look near-identical although their code
differs, and one is removed. So before shingling and before the edit-distance check, code loses
its leading block of: a shebang line, encoding cookies, comment lines (`#`, `//`, `--`, `;`,
`%`), `/* ... */` block comments, and a leading docstring ('''/\"\"\") that names a copyright
or licence. What remains is compared; a file that is nothing but a header then has no
shingles and is left to exact dedup (identical files are still removed there).
"""

from __future__ import annotations

import re

_LEADING = re.compile(
    r"""(?:
        \s+                                   # blank lines and indentation
      | \#![^\n]*(?:\n|\Z)                    # shebang
      | (?:\#|//|--|;|%)[^\n]*(?:\n|\Z)       # a comment line
      | /\*.*?\*/                             # a block comment
    )""",
    re.VERBOSE | re.DOTALL,
)
_DOCSTRING = re.compile(r'[rRuU]?("""|\'\'\')(.*?)\1', re.DOTALL)
_LICENCE_WORDS = re.compile(r"(?i)licen[cs]e|copyright|spdx|all rights reserved|\(c\)")


def code_body(text: str) -> str:
    """`text` without its leading comment and licence header."""
    position = 0
    while True:
        match = _LEADING.match(text, position)
        if match is None or match.end() == position:
            docstring = _DOCSTRING.match(text, position)
            if docstring is None or not _LICENCE_WORDS.search(docstring.group(2)):
                return text[position:]
            position = docstring.end()
            continue
        position = match.end()
