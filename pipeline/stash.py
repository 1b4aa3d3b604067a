"""The prep job's document stash: documents parked on disk so that only references to them
cross a shuffle (issue 21).

Documents reach the corpus stages in bundles. `StashFn` appends each one to a chunk file of its
own bundle and input unit (`<stash>/<chunk id>.chunk`, a random 64-bit id in 16 hex digits, so
that 8 bytes name a chunk) and writes, when the chunk closes, its index (`<chunk id>.index`:
kind, position in the unit, location and id of each record). Decisions (dedup, the quality
sample) are taken on small records; the documents are read back by reference where a decision
needs a text (a candidate pair, a sampled document) and, per input unit, when the unit's
outputs are written. A chunk file holds length-prefixed pickles and is written once, closed
before its id leaves the bundle, and deleted with the job's staging folder. Chunk ids are
random because they only need to be unique; no output name or byte depends on them.
"""

from __future__ import annotations

import collections
import pickle
import secrets
import struct
from typing import Any, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

AT = "_at"  # a document's place in its source: (input unit index, record index in the unit)
STASH = "_stash"
_LENGTH = struct.Struct("<Q")


def stash_dir(staging_root: str) -> str:
    return FileSystems.join(staging_root, STASH)


def place(doc: dict[str, Any]) -> tuple[int, int]:
    """(unit, position) of a document or rejected record; a clear error when it has none."""
    try:
        unit, pos = doc[AT]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"document {doc.get('id')!r} of source {doc.get('source')!r} has no '{AT}' "
            "(its input unit and position): a corpus stage built a new document or rejected "
            "record without copying it (use dict(doc, ...) and "
            "pipeline.step_runner.rejected_record)") from None
    return int(unit), int(pos)


def chunk_name(chunk_id: int) -> str:
    """A chunk's file name in the stash, from its 64-bit id."""
    return f"{chunk_id:016x}.chunk"


class ChunkWriter:
    """Appends pickled records to one chunk file; a record's location is known when it is
    appended. `chunk_id`: random, 64 bits (a collision needs ~4e9 chunks in one job)."""

    def __init__(self, directory: str):
        self.chunk_id = secrets.randbits(64)
        self.name = chunk_name(self.chunk_id)  # relative to the stash: short references
        self.path = FileSystems.join(directory, self.name)
        self.count = 0
        self._file = None
        self._offset = 0

    def append(self, record: Any) -> tuple[str, int, int]:
        """Writes `record`; returns its location (chunk name relative to the stash, offset,
        length)."""
        if self._file is None:
            self._file = FileSystems.create(self.path,
                                            compression_type=CompressionTypes.UNCOMPRESSED)
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_LENGTH.pack(len(data)))
        self._file.write(data)
        offset = self._offset + _LENGTH.size
        self._offset = offset + len(data)
        self.count += 1
        return self.name, offset, len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def write_index(directory: str, chunk_id: int, entries: list) -> None:
    """A chunk's index: what the unit's rejoin needs of each record, (kind, position in the
    unit, location, id), read instead of one shuffled entry per record."""
    path = FileSystems.join(directory, f"{chunk_id:016x}.index")
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))


def read_index(directory: str, chunk_id: int) -> list:
    path = FileSystems.join(directory, f"{chunk_id:016x}.index")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return pickle.loads(f.read())


def read_at(path: str, offset: int, length: int, handle=None) -> Any:
    """One record by reference (`handle`: an open file of `path` to reuse)."""
    f = handle or FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        f.seek(offset)
        data = f.read(length)
    finally:
        if handle is None:
            f.close()
    if len(data) != length:
        raise IOError(f"{path}: stash record at {offset} is cut short")
    return pickle.loads(data)


class OpenFiles:
    """The most recently used `keep` files, open for reading by path: readers by reference
    touch thousands of chunks and side files, a few records each; reopening a file per record
    would cost more than the read."""

    def __init__(self, keep: int):
        self.keep = keep
        self._open: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def get(self, path: str):
        handle = self._open.pop(path, None)
        if handle is None:
            if len(self._open) >= self.keep:
                self._open.popitem(last=False)[1].close()
            handle = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._open[path] = handle  # most recently used last
        return handle

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()


class ChunkReader:
    """Reads records by location (chunk name relative to `directory`, offset, length), keeping
    the most recently used `keep` chunks open."""

    def __init__(self, directory: str, keep: int = 64):
        self.directory = directory
        self._files = OpenFiles(keep)

    def read(self, name: str, offset: int, length: int) -> Any:
        path = FileSystems.join(self.directory, name)
        return read_at(path, offset, length, self._files.get(path))

    def close(self) -> None:
        self._files.close()


def iter_chunk(path: str) -> Iterator[Any]:
    """Every record of a chunk in order (tests, inspection)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while True:
            head = f.read(_LENGTH.size)
            if not head:
                return
            (n,) = _LENGTH.unpack(head)
            yield pickle.loads(f.read(n))


SEP = "\x00"


def node_name(priority: str, source: str, unit: int, pos: int, loc: tuple[str, int, int]) -> str:
    """A dedup node: the keeper priority key first (so nodes sort as keepers do; ties, which
    need equal ids and text digests, go to the earlier (source, unit, position)), then where
    the document is, so a decision on the node needs no join back to the document."""
    name, offset, length = loc
    return SEP.join((priority, source, f"{unit:06d}", f"{pos:09d}", name, str(offset),
                     str(length)))


def parse_node(node: str) -> tuple[str, str, int, int, tuple[str, int, int]]:
    """(priority key, source, unit, position, location) of a node_name."""
    priority, source, unit, pos, name, offset, length = node.rsplit(SEP, 6)
    return priority, source, int(unit), int(pos), (name, int(offset), int(length))
