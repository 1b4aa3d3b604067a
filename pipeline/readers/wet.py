"""Common Crawl WET files (`.warc.wet`, `.wet`, optionally gzipped): extracted plain text.

Each WARC record of type "conversion" is one document; warcinfo and other records are skipped.

text      the record's block, decoded as UTF-8 strictly, as is
location  WARC-Record-ID (else WARC-Target-URI, else '<display>@<byte offset>')
meta      path, url (WARC-Target-URI), date (WARC-Date)

Dead letters: a conversion record whose text is empty or not UTF-8 (position = its byte offset),
and the damage listed in warcfile (corrupt or truncated file, empty file).
"""

from __future__ import annotations

from typing import Iterator

from pipeline.document import DeadLetter, Document
from pipeline.readers import files, warcfile
from pipeline.readers.base import ReadUnit, dead_letter, document
from pipeline.spec import SourceSpec


def plan(source: SourceSpec):
    return files.plan_files(source)


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    for item in warcfile.iter_records(unit, source, lambda r: r.rec_type == "conversion"):
        if not isinstance(item, warcfile.WarcRecord):
            yield item
            continue
        try:
            text = item.payload.decode("utf-8")
        except UnicodeDecodeError as e:
            yield dead_letter(source, unit, item.offset,
                              f"conversion record {item.record_id}: invalid UTF-8 at byte "
                              f"{e.start} of its text", excerpt=item.payload[e.start:e.start + 100])
            continue
        if not text.strip():
            yield dead_letter(source, unit, item.offset,
                              f"conversion record {item.record_id} has no text")
            continue
        yield document(source, warcfile.location_of(unit, item), text,
                       warcfile.record_meta(unit, item))
