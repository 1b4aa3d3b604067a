"""JSON Lines: plain, gzip (`.gz`) or zstd (`.zst`), one JSON object per line.

text      `source.text_field` (a non-empty string)
location  the `source.id_field` value when configured and present, else '<display>:<line>'
          (1-based line number)
meta      path, line, url (from `source.url_field` when configured and present)

Blank lines are skipped. Every other line that cannot become a document is one dead letter
(position = line number): undecodable UTF-8 (each line is decoded strictly on its own), broken
JSON, a value that is not an object, a missing / non-string / empty text field, or text with
unpaired surrogate escapes. A corrupt or truncated gzip/zstd stream gives one dead letter at the
line it broke (documents before it are kept); an empty file, or one with only blank lines, gives
"empty file"; a file that cannot be opened gives "unreadable file".

gzip checks integrity only with the CRC at the end of each member, so damaged deflate data can
decode into garbage lines before the damage is noticed: those lines are still validated one by
one (most become "invalid JSON" dead letters) and the stream error follows them. zstd notices
most damage in the block it hits.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from pipeline.document import DeadLetter, Document
from pipeline.readers import files
from pipeline.readers.base import ReadUnit, dead_letter, document, id_value, type_name, url_value
from pipeline.readers.streams import (
    StreamError,
    compression_of,
    decompress,
    iter_lines,
    open_raw,
    raw_chunks,
)
from pipeline.spec import SourceSpec

_SURROGATE = re.compile("[\ud800-\udfff]")


def plan(source: SourceSpec):
    return files.plan_files(source)


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    try:
        raw = open_raw(unit.path)
    except OSError as e:
        yield dead_letter(source, unit, 0, f"unreadable file: {e}")
        return
    line_no = 0
    total_bytes = 0
    produced = False
    with raw:
        lines = iter_lines(decompress(raw_chunks(raw), compression_of(unit.path)))
        try:
            for line_no, line in enumerate(lines, 1):
                total_bytes += len(line) + 1
                record = _line_record(unit, source, line_no, line)
                if record is not None:
                    produced = True
                    yield record
        except StreamError as e:
            line_no += 1
            yield dead_letter(source, unit, line_no,
                              f"{e.reason} (noticed near compressed byte {e.offset}; "
                              f"{line_no - 1} complete line(s) before it were read)",
                              excerpt=e.partial)
            return
        except OSError as e:
            yield dead_letter(source, unit, line_no + 1, f"read error: {e}")
            return
    if total_bytes == 0:
        yield dead_letter(source, unit, 0, "empty file")
    elif not produced:
        yield dead_letter(source, unit, 0, "empty file: only blank lines")


def _line_record(unit: ReadUnit, source: SourceSpec, line_no: int,
                 line: bytes) -> Document | DeadLetter | None:
    if not line.strip():
        return None
    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return dead_letter(source, unit, line_no,
                           f"invalid UTF-8 at byte {e.start} of the line: {e.reason}",
                           excerpt=line)
    if line_no == 1 and decoded.startswith("\ufeff"):
        decoded = decoded[1:]
    try:
        record: Any = json.loads(decoded)
    except json.JSONDecodeError as e:
        return dead_letter(source, unit, line_no,
                           f"invalid JSON: {e.msg} at column {e.colno}", excerpt=decoded)
    except (ValueError, RecursionError) as e:
        return dead_letter(source, unit, line_no, f"invalid JSON: {e}", excerpt=decoded)
    if not isinstance(record, dict):
        return dead_letter(source, unit, line_no,
                           f"line is a JSON {type_name(record)}, not an object", excerpt=decoded)
    field = source.text_field
    if field not in record:
        names = ", ".join(sorted(map(str, record))[:20]) or "none"
        return dead_letter(source, unit, line_no,
                           f"missing text field '{field}' (fields: {names})", excerpt=decoded)
    text = record[field]
    if not isinstance(text, str):
        return dead_letter(source, unit, line_no,
                           f"text field '{field}' is a {type_name(text)}, not a string",
                           excerpt=decoded)
    if not text.strip():
        return dead_letter(source, unit, line_no, f"text field '{field}' is empty",
                           excerpt=decoded)
    if _SURROGATE.search(text):
        return dead_letter(source, unit, line_no,
                           f"text field '{field}' contains unpaired surrogate escapes "
                           "(not valid Unicode)", excerpt=decoded)
    location = None
    if source.id_field:
        location = id_value(record.get(source.id_field))
    if location is None:
        location = f"{unit.display}:{line_no}"
    meta: dict[str, Any] = {"path": unit.display, "line": line_no}
    if source.url_field:
        url = url_value(record.get(source.url_field))
        if url is not None:
            meta["url"] = url
    return document(source, location, text, meta)
