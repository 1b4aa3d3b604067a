"""Reading WARC files record by record with warcio, noticing damage warcio lets pass.

Shared by the `warc` and `wet` readers. Gzip is recognised by its magic bytes (whatever the file
is called) and decoded here rather than by warcio: warcio silently drops a record whose gzip
member is cut short, while this layer reports it. So record offsets are byte offsets in the
decompressed stream.

Damage gives one dead letter (position = byte offset, in the decompressed stream, of the record it
hit; a gzip error also gives the compressed offset) and ends the file,
since a WARC cannot be resynchronised safely; the records before it are kept:
  * a corrupt or truncated gzip stream;
  * a record warcio cannot parse (not WARC, broken headers);
  * a record whose block is shorter than its Content-Length, or bytes after the last record that
    do not make one (a truncated file);
  * a record not followed by the blank lines that end a WARC record (its Content-Length is wrong;
    this one is reported and reading goes on, as warcio does).
An empty file, or one without a single record, is "empty file".
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Iterator

from pipeline.document import DeadLetter
from pipeline.readers.base import ReadUnit, dead_letter
from pipeline.readers.streams import (
    CHUNK_BYTES,
    ChunkReader,
    StreamError,
    decompress,
    open_raw,
    raw_chunks,
)
from pipeline.spec import SourceSpec

MAX_PAYLOAD_BYTES = 32 << 20


@dataclasses.dataclass
class WarcRecord:
    offset: int
    type: str
    record_id: str | None
    target_uri: str | None
    date: str | None
    http_status: str | None
    content_type: str | None  # the HTTP Content-Type for HTTP records, else the WARC one
    payload: bytes  # the HTTP body (transfer- and content-decoded) or the record block


def content_type_of(record: Any) -> str | None:
    if record.http_headers is not None:
        return record.http_headers.get_header("Content-Type")
    return record.rec_headers.get_header("Content-Type")


def iter_records(unit: ReadUnit, source: SourceSpec,
                 want: Callable[[Any], bool]) -> Iterator[WarcRecord | DeadLetter]:
    """The records `want(warcio_record)` selects, with payloads, and dead letters for damage."""
    from warcio.archiveiterator import WARCIterator
    from warcio.bufferedreaders import ChunkedDataException
    from warcio.exceptions import ArchiveLoadFailed
    from warcio.limitreader import LimitReader
    from warcio.statusandheaders import StatusAndHeadersParserException

    structural = (ArchiveLoadFailed, StatusAndHeadersParserException, StreamError, OSError,
                  ValueError, EOFError)
    try:
        raw = open_raw(unit.path)
    except OSError as e:
        yield dead_letter(source, unit, 0, f"unreadable file: {e}")
        return
    with raw:
        try:
            first = raw.read(CHUNK_BYTES)
        except OSError as e:
            yield dead_letter(source, unit, 0, f"unreadable file: {e}")
            return
        if not first:
            yield dead_letter(source, unit, 0, "empty file")
            return
        chunks = itertools.chain([first], raw_chunks(raw))
        if first[:2] == b"\x1f\x8b":
            chunks = decompress(chunks, "gzip")
        stream = ChunkReader(chunks)
        archive = WARCIterator(stream)
        records = iter(archive)
        seen = 0
        previous_offset = None
        while True:
            errors_before = archive.err_count
            try:
                record = next(records)
            except StopIteration:
                record = None
            except structural as e:
                yield dead_letter(source, unit, archive.offset,
                                  f"corrupt WARC (record at byte {archive.offset}): "
                                  f"{_describe(e)}", excerpt=getattr(e, "partial", b""))
                return
            if archive.err_count > errors_before and previous_offset is not None:
                yield dead_letter(source, unit, previous_offset,
                                  "WARC record not followed by the blank lines that end a record "
                                  "(its Content-Length is probably wrong)")
            if record is None:
                break
            seen += 1
            offset = previous_offset = archive.offset
            wanted = want(record)
            payload = None
            if wanted:
                try:
                    payload = record.content_stream().read(MAX_PAYLOAD_BYTES + 1)
                except StreamError as e:
                    yield dead_letter(source, unit, offset,
                                      f"corrupt WARC (record at byte {offset}): {_describe(e)}")
                    return
                except (ChunkedDataException, OSError, ValueError, EOFError) as e:
                    yield dead_letter(source, unit, offset,
                                      f"cannot decode the record's HTTP payload: {_describe(e)}")
            # Read the rest of the block (always: a truncated record must be noticed even when
            # it is one the caller does not want).
            try:
                while record.raw_stream.read(CHUNK_BYTES):
                    pass
            except structural as e:
                yield dead_letter(source, unit, offset,
                                  f"corrupt WARC (record at byte {offset}): {_describe(e)}")
                return
            block = record.raw_stream
            if isinstance(block, LimitReader) and block.limit > 0:
                yield dead_letter(source, unit, offset,
                                  f"truncated WARC record: the file ends {block.limit} bytes "
                                  "before the end its Content-Length gives")
                return
            if payload is None:
                continue
            if len(payload) > MAX_PAYLOAD_BYTES:
                yield dead_letter(source, unit, offset, f"record payload larger than "
                                                        f"{MAX_PAYLOAD_BYTES >> 20} MiB")
                continue
            headers = record.rec_headers
            yield WarcRecord(
                offset=offset,
                type=record.rec_type,
                record_id=headers.get_header("WARC-Record-ID"),
                target_uri=headers.get_header("WARC-Target-URI"),
                date=headers.get_header("WARC-Date"),
                http_status=(record.http_headers.get_statuscode()
                             if record.http_headers is not None else None),
                content_type=content_type_of(record),
                payload=payload,
            )
        if not seen:
            yield dead_letter(source, unit, 0, "empty file: no WARC records")
        elif stream.tell() > archive.offset:
            # warcio ends quietly when the file stops inside a record's headers.
            yield dead_letter(source, unit, archive.offset,
                              f"truncated WARC record: the file ends inside the headers of the "
                              f"record at byte {archive.offset} "
                              f"({stream.tell() - archive.offset} bytes left unread)")


def location_of(unit: ReadUnit, record: WarcRecord) -> str:
    return record.record_id or record.target_uri or f"{unit.display}@{record.offset}"


def record_meta(unit: ReadUnit, record: WarcRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {"path": unit.display}
    if record.target_uri:
        meta["url"] = record.target_uri
    if record.date:
        meta["date"] = record.date
    return meta


def _describe(error: BaseException) -> str:
    if isinstance(error, StreamError):
        return f"{error.reason} (near compressed byte {error.offset})"
    text = str(error).strip().replace("\n", " ")
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__
