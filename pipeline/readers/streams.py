"""Byte streams for readers: opening through Beam's FileSystems, streaming decompression that
notices truncation, and splitting into lines.

Files are always opened *uncompressed* through FileSystems (Beam's own AUTO decompression would
hide where a broken stream failed); gzip and zstd are decoded here, chunk by chunk, so memory stays
bounded and a corrupt or truncated stream raises `StreamError` after everything before the damage
has been yielded. Multi-member gzip and multi-frame zstd files are read to the end.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Iterable, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CHUNK_BYTES = 1 << 20
# Compressed input is fed to the decompressor in slices this big, so that when it fails, the
# output of everything before the failing slice has already been handed on.
FEED_BYTES = 1 << 14
# Frames written with `zstd --long=31` need a window this large; the default limit rejects them.
ZSTD_MAX_WINDOW = 1 << 31


class StreamError(Exception):
    """A compressed stream is corrupt or ends early. `offset` is the compressed byte offset
    (to the resolution of one read chunk) where it was noticed."""

    def __init__(self, reason: str, offset: int, partial: bytes = b""):
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.partial = partial


def open_raw(path: str) -> BinaryIO:
    """Opens a file on any Beam filesystem (local, gs://, s3://...) without decompressing it."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def compression_of(path: str) -> str | None:
    """'gzip', 'zstd' or None, decided by the file name's extension."""
    lower = path.lower()
    if lower.endswith((".gz", ".gzip")):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def raw_chunks(f: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    while True:
        chunk = f.read(size)
        if not chunk:
            return
        yield chunk


def decompress(chunks: Iterable[bytes], compression: str | None) -> Iterator[bytes]:
    if compression is None:
        return iter(chunks)
    if compression == "gzip":
        return _gunzip(chunks)
    if compression == "zstd":
        return _unzstd(chunks)
    raise ValueError(f"unknown compression {compression!r}")


def _slices(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if len(chunk) <= FEED_BYTES:
            yield chunk
        else:
            view = memoryview(chunk)
            for i in range(0, len(chunk), FEED_BYTES):
                yield bytes(view[i:i + FEED_BYTES])


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    consumed = 0
    member = None  # the decompressor of the gzip member being read; None between members
    for chunk in _slices(chunks):
        consumed += len(chunk)
        data = chunk
        while data:
            if member is None:
                if not data.strip(b"\x00"):  # zero padding after the last member is allowed
                    break
                member = zlib.decompressobj(wbits=31)
            try:
                out = member.decompress(data)
            except zlib.error as e:
                raise StreamError(f"corrupt gzip stream: {e}", consumed) from None
            if out:
                yield out
            if member.eof:
                data = member.unused_data
                member = None
            else:
                data = b""
    if member is not None:
        try:
            tail = member.flush()
        except zlib.error:
            tail = b""
        if tail:
            yield tail
        raise StreamError("truncated gzip stream: the file ends inside a compressed member",
                          consumed)


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    consumed = 0
    frame = None  # the decompressor of the frame being read; None between frames
    for chunk in _slices(chunks):
        consumed += len(chunk)
        data = chunk
        while data:
            if frame is None:
                frame = decompressor.decompressobj()
            try:
                out = frame.decompress(data)
            except zstandard.ZstdError as e:
                raise StreamError(f"corrupt zstd stream: {e}", consumed) from None
            if out:
                yield out
            if frame.eof:
                data = frame.unused_data
                frame = None
            else:
                data = b""
    if frame is not None:
        raise StreamError("truncated zstd stream: the file ends inside a compressed frame",
                          consumed)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Splits a byte stream on b'\\n' (the newline is dropped, a trailing b'\\r' is kept).

    A `StreamError` from `chunks` is re-raised after the complete lines before it, with the
    incomplete line it interrupted in `partial`.
    """
    pending = b""
    try:
        for chunk in chunks:
            if pending:
                chunk = pending + chunk
            lines = chunk.split(b"\n")
            pending = lines.pop()
            yield from lines
    except StreamError as e:
        e.partial = pending
        raise
    if pending:
        yield pending


class ChunkReader:
    """A minimal read-only file object over an iterator of byte chunks (for warcio).

    An exception from the iterator is raised only once every byte before it has been read, so a
    consumer reading ahead in blocks still gets all the records before the damage.
    """

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""
        self._start = 0  # how much of _buffer has been read already
        self._position = 0
        self._error: BaseException | None = None

    def _fill(self) -> bool:
        if self._error is not None:
            return False
        try:
            chunk = next(self._chunks, None)
        except Exception as e:  # noqa: BLE001 - re-raised by read() at the point of damage
            self._error = e
            return False
        if chunk is None:
            return False
        self._buffer = self._buffer[self._start:] + chunk
        self._start = 0
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            out = self._buffer[self._start:]
            self._buffer, self._start = b"", 0
        else:
            while len(self._buffer) - self._start < size and self._fill():
                pass
            out = self._buffer[self._start:self._start + size]
            self._start += len(out)
        if not out and size != 0 and self._error is not None:
            error, self._error = self._error, None
            self._chunks = iter(())
            raise error
        self._position += len(out)
        return out

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._chunks = iter(())
