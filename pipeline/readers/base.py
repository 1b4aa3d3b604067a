"""What every reader shares: the unit of work, the error type, and record builders.

A `ReadUnit` names one file (or one TFDS sub-split) of a source. The driver makes them with
`plan_units`; Beam ships them to workers, which turn each into documents and dead letters with
`read_unit`. `display` is the unit's location relative to the root of the pattern that found it,
so a document's location, and therefore its id, does not depend on where the corpus is on disk.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pipeline.document import DeadLetter, Document, make_dead_letter, make_document
from pipeline.spec import SourceSpec


class ReaderError(ValueError):
    """A source that cannot be read at all: the message names the source and the pattern."""


@dataclasses.dataclass(frozen=True, order=True)
class ReadUnit:
    """One file (or one TFDS sub-split) of a source, read by one worker call.

    source   the source's name (read_unit checks it matches the spec it is given)
    display  location of the file relative to its pattern's root, e.g. 'part-0/a.jsonl.gz';
             for TFDS '<dataset>/<split>'
    path     the absolute path or URL handed to Beam's FileSystems; for TFDS the sub-split,
             e.g. 'train[0:1000]'
    start    for TFDS, the split-wide index of the sub-split's first example; else 0
    size     file size in bytes from the planner's listing (-1 when unknown)
    """

    source: str
    display: str
    path: str
    start: int = 0
    size: int = -1


def dead_letter(source: SourceSpec, unit: ReadUnit, position: str | int, reason: str,
                excerpt: str | bytes = "") -> DeadLetter:
    return make_dead_letter(source=source.name, file=unit.display, position=position,
                            reason=reason, excerpt=excerpt)


def document(source: SourceSpec, location: str, text: str, meta: dict[str, Any]) -> Document:
    return make_document(source=source.name, role=source.role, location=location, text=text,
                         meta=meta)


def id_value(value: Any) -> str | None:
    """The location given by a record's id field, or None when it has no usable id."""
    if value is None or isinstance(value, float) and value != value:  # missing or NaN
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    return text if text else None


def url_value(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def type_name(value: Any) -> str:
    """JSON-ish name of a value's type, for reasons like "text field 'text' is a number"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__
