"""Folders of text files: every file is one document.

Paths name folders (or globs of folders, or single files); files are found recursively, filtered
by `source.extensions` when given (e.g. [".txt", ".md"]); hidden files and folders are skipped.

text      the whole file, decoded as UTF-8 strictly (a leading BOM is dropped)
location  the file's path relative to the pattern's root (its display path)
meta      path

Dead letters (position = byte offset): unreadable file, empty (or whitespace-only) file, binary
file (a NUL byte in the first 8 KB), invalid UTF-8, a file over MAX_FILE_BYTES (one document is
held in memory whole; nothing that large is prose).
"""

from __future__ import annotations

from typing import Any, Iterator

from pipeline.document import DeadLetter, Document
from pipeline.readers import files
from pipeline.readers.base import ReadUnit, dead_letter, document
from pipeline.readers.streams import open_raw
from pipeline.spec import SourceSpec

MAX_FILE_BYTES = 64 << 20
BINARY_SNIFF_BYTES = 8192


def plan(source: SourceSpec):
    return files.plan_files(source, folders=True)


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    yield read_whole_file(unit, source, {"path": unit.display})


def read_whole_file(unit: ReadUnit, source: SourceSpec,
                    meta: dict[str, Any]) -> Document | DeadLetter:
    """One file as one document (shared with code_dir)."""
    try:
        with open_raw(unit.path) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        return dead_letter(source, unit, 0, f"unreadable file: {e}")
    if not data:
        return dead_letter(source, unit, 0, "empty file")
    if len(data) > MAX_FILE_BYTES:
        return dead_letter(source, unit, MAX_FILE_BYTES,
                           f"file larger than {MAX_FILE_BYTES >> 20} MiB, the limit for one "
                           "document", excerpt=data[:200])
    nul = data.find(b"\x00", 0, BINARY_SNIFF_BYTES)
    if nul >= 0:
        return dead_letter(source, unit, nul,
                           f"binary file (NUL byte in the first {BINARY_SNIFF_BYTES // 1024} KB)",
                           excerpt=data[:200])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return dead_letter(source, unit, e.start, f"invalid UTF-8 at byte {e.start}: {e.reason}",
                           excerpt=data[max(0, e.start - 100):e.start + 100])
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return dead_letter(source, unit, 0, "empty file: only whitespace")
    return document(source, unit.display, text, meta)
