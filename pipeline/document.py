"""The record every stage of the prep job passes along, and the dead-letter record.

Documents travel through Beam as plain dicts (cheap to pickle, no custom coder), built only
through `make_document` so every stage can rely on the same keys:

    id        stable 16-hex-digit hash of (source name, original location)
    text      the document's text
    source    the source's unique name from the spec
    role      the source's role (conversations, webpages, books, code, wikipedia, news, ...)
    lang      ISO 639 code from language ID ('' until that stage runs)
    meta      JSON-serialisable dict: url/path, line number, programming language, lang score...

A dead letter records input that could not become a document: where it was and why.
"""

from __future__ import annotations

import hashlib
from typing import Any

Document = dict[str, Any]
DeadLetter = dict[str, Any]

DEAD_LETTER_EXCERPT_CHARS = 200


def document_id(source: str, location: str) -> str:
    """A stable id: the same source name and original location always give the same id."""
    digest = hashlib.blake2b(f"{source}\x00{location}".encode("utf-8"), digest_size=8)
    return digest.hexdigest()


def make_document(
    *, source: str, role: str, location: str, text: str, meta: dict[str, Any] | None = None
) -> Document:
    """Builds a document; `location` is where it came from (path, path:line, url...)."""
    meta = dict(meta or {})
    meta.setdefault("location", location)
    return {
        "id": document_id(source, location),
        "text": text,
        "source": source,
        "role": role,
        "lang": "",
        "meta": meta,
    }


def make_dead_letter(*, source: str, file: str, position: str | int, reason: str,
                     excerpt: str | bytes = "") -> DeadLetter:
    """Records malformed input: which file, where in it (line, record, byte offset) and why."""
    if isinstance(excerpt, bytes):
        excerpt = excerpt[:DEAD_LETTER_EXCERPT_CHARS].decode("utf-8", errors="backslashreplace")
    return {
        "source": source,
        "file": file,
        "position": str(position),
        "reason": reason,
        "excerpt": excerpt[:DEAD_LETTER_EXCERPT_CHARS],
    }


def is_dead_letter(record: dict[str, Any]) -> bool:
    return "reason" in record and "file" in record and "text" not in record
