"""Readers: turn a source's raw files into documents and dead letters.

The prep job calls, on the driver,

    units = plan_units(source)        # sorted ReadUnits; raises ReaderError early

and then, on workers, for each unit,

    for record in read_unit(unit, source):   # documents and dead letters
        ...

One module per format (see READERS): jsonl, parquet, text_dir, code_dir, wet, warc, tfds. Files are
found and opened through Beam's FileSystems, so local paths, gs:// and the other Beam filesystems
all work; files.py describes how patterns match.
"""

from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

from pipeline.document import DeadLetter, Document
from pipeline.readers import code_dir, jsonl, parquet, text_dir, tfds, warc, wet
from pipeline.readers.base import ReaderError, ReadUnit
from pipeline.spec import SourceSpec

__all__ = ["READERS", "Reader", "ReaderError", "ReadUnit", "plan_units", "read_unit"]


class Reader(NamedTuple):
    plan: Callable[[SourceSpec], list[ReadUnit]]
    read: Callable[[ReadUnit, SourceSpec], Iterator[Document | DeadLetter]]


READERS: dict[str, Reader] = {
    "jsonl": Reader(jsonl.plan, jsonl.read),
    "parquet": Reader(parquet.plan, parquet.read),
    "text_dir": Reader(text_dir.plan, text_dir.read),
    "code_dir": Reader(code_dir.plan, code_dir.read),
    "wet": Reader(wet.plan, wet.read),
    "warc": Reader(warc.plan, warc.read),
    "tfds": Reader(tfds.plan, tfds.read),
}


def _reader(source: SourceSpec) -> Reader:
    try:
        return READERS[source.format]
    except KeyError:
        raise ReaderError(f"source '{source.name}': no reader for format '{source.format}' "
                          f"(readers: {', '.join(READERS)})") from None


def plan_units(source: SourceSpec) -> list[ReadUnit]:
    """Every unit of work of a source, in a deterministic order (driver side).

    Raises ReaderError, naming the source and the pattern, when a pattern matches nothing or the
    dataset is not there, so the job fails before it starts.
    """
    units = _reader(source).plan(source)
    if not units:
        raise ReaderError(f"source '{source.name}': nothing to read")
    return sorted(units, key=lambda u: (u.display, u.start, u.path))


def read_unit(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    """The documents and dead letters of one unit (worker side)."""
    if unit.source != source.name:
        raise ReaderError(f"unit of source '{unit.source}' ({unit.display}) read with the spec "
                          f"of source '{source.name}'")
    return _reader(source).read(unit, source)
