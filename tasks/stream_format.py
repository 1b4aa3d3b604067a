"""The materialised training stream's on-disk format, and its random-access reader.

A stream directory (written by `python -m tasks.materialize`):

    manifest.json                               what it holds (see tasks/materialize.py)
    rows-00000-of-00004.array_record ...        ArrayRecord files written with group_size:1

Row i of the stream is record i of the concatenation of the shard files, in shard order (the
manifest lists each file's row count). A record is one packed row of `sequence_length` tokens:
`sequence_length` little-endian int32 token ids followed by `sequence_length` uint8 source
indices (position in manifest["sources"]) -- no pickle, readable by any language.

The reader is Grain's ArrayRecordDataSource (random access by record index; opening a stream
reads each file's index, never its rows), so reading rows [a, a + n) costs the same for any a.
Riegeli checks each chunk's hash whenever it is read; a failure is raised as
`file_checksums.DataCorrupt` naming the file and the record. The manifest lists each file's size
and CRC32C for `python -m launch.data_verify`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from pipeline import file_checksums

MANIFEST = "manifest.json"
FORMAT = "palm-packed-rows/1"
TOKEN_DTYPE, SOURCE_DTYPE = np.dtype("<i4"), np.dtype("u1")
MAX_SOURCES = 255
WRITER_OPTIONS = "group_size:1"  # every record its own chunk: any one is read alone


class StreamError(ValueError):
    pass


def shard_name(shard: int, num_shards: int) -> str:
    return f"rows-{shard:05d}-of-{num_shards:05d}.array_record"


def encode_row(tokens: np.ndarray, sources: np.ndarray) -> bytes:
    return (np.asarray(tokens, TOKEN_DTYPE).tobytes()
            + np.asarray(sources, SOURCE_DTYPE).tobytes())


def decode_rows(records: Sequence[bytes], sequence_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens [n, L] int32, sources [n, L] uint8) of n records, in one numpy pass."""
    width = sequence_length * (TOKEN_DTYPE.itemsize + SOURCE_DTYPE.itemsize)
    raw = np.frombuffer(b"".join(records), np.uint8).reshape(len(records), width)
    split = sequence_length * TOKEN_DTYPE.itemsize
    tokens = raw[:, :split].copy().view(TOKEN_DTYPE).astype(np.int32)
    return tokens, raw[:, split:].copy()


def write_shard(path: str, records: Sequence[bytes]) -> None:
    """One ArrayRecord shard at a local `path`, group_size:1 so that any record is read alone."""
    from array_record.python.array_record_module import ArrayRecordWriter

    writer = ArrayRecordWriter(path, WRITER_OPTIONS)
    for record in records:
        writer.write(record)
    writer.close()


def write_synthetic(stream_dir: str, tokens: np.ndarray, sources: np.ndarray,
                    source_names: Sequence[str], rows_per_shard: int, eos_id: int = 1) -> dict:
    """A stream of given rows in this format, without a Mixture (tests and benchmarks: the
    reader and loader do not care where rows came from)."""
    os.makedirs(stream_dir, exist_ok=True)
    rows, length = tokens.shape
    num_shards = max(1, -(-rows // rows_per_shard))
    shards = []
    for shard in range(num_shards):
        lo, hi = shard * rows_per_shard, min(rows, (shard + 1) * rows_per_shard)
        name = shard_name(shard, num_shards)
        write_shard(os.path.join(stream_dir, name),
                    [encode_row(tokens[i], sources[i]) for i in range(lo, hi)])
        size, crc = file_checksums.crc32c_of(os.path.join(stream_dir, name))
        shards.append({"file": name, "rows": hi - lo, "bytes": size, "crc32c": crc})
    counts = np.bincount(sources.ravel(), minlength=len(source_names))
    manifest = {"format": FORMAT, "mixture": "synthetic", "task_name": "synthetic.stream",
                "sequence_length": length, "rows": rows, "tokens": int(tokens.size),
                "eos_id": eos_id, "seed": None, "shards": shards,
                "sources": [{"task": n, "tokens": int(c), "token_share": float(c / tokens.size)}
                            for n, c in zip(source_names, counts)]}
    with open(os.path.join(stream_dir, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def read_manifest(stream_dir: str) -> dict:
    path = os.path.join(stream_dir, MANIFEST)
    if "://" in path:  # gs:// and other remote file systems; TensorFlow only when needed
        import tensorflow as tf

        exists, opener = tf.io.gfile.exists, tf.io.gfile.GFile
    else:
        exists, opener = os.path.exists, open
    if not exists(path):
        raise StreamError(f"{stream_dir!r} is not a materialised stream: no {MANIFEST} (write "
                          f"one with python -m tasks.materialize)")
    with opener(path, "r") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise StreamError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


class StreamReader:
    """Rows of a materialised stream by index: `read(start, count)`."""

    def __init__(self, stream_dir: str):
        import grain.python as grain

        self.stream_dir = stream_dir
        self.manifest = read_manifest(stream_dir)
        self.sequence_length = int(self.manifest["sequence_length"])
        self.sources = list(self.manifest["sources"])
        self._paths = [os.path.join(stream_dir, s["file"]) for s in self.manifest["shards"]]
        self._starts = np.cumsum([0] + [int(s["rows"]) for s in self.manifest["shards"]])
        try:
            self._source = grain.ArrayRecordDataSource(self._paths)
        except RuntimeError as e:  # a damaged index (the file's end): name the file
            for path in self._paths:
                try:
                    grain.ArrayRecordDataSource([path])
                except RuntimeError as damage:
                    raise file_checksums.DataCorrupt(path, "the record index",
                                                     str(damage)) from None
            raise file_checksums.DataCorrupt(stream_dir, "the record index", str(e)) from None
        self.num_rows = len(self._source)
        if self.num_rows != int(self.manifest["rows"]):
            raise StreamError(f"{stream_dir}: the shard files hold {self.num_rows} rows, the "
                              f"manifest says {self.manifest['rows']} (an incomplete copy?)")

    def __len__(self) -> int:
        return self.num_rows

    def read(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, sources) of rows [start, start + count)."""
        if start < 0 or count < 0 or start + count > self.num_rows:
            raise StreamError(
                f"rows [{start}, {start + count}) are outside the stream {self.stream_dir!r}, "
                f"which holds {self.num_rows} rows ({self.num_rows * self.sequence_length:,} "
                f"tokens): materialise a larger --token_budget for this many steps")
        if count == 0:
            return (np.zeros([0, self.sequence_length], np.int32),
                    np.zeros([0, self.sequence_length], np.uint8))
        try:
            records = self._source.__getitems__(range(start, start + count))
        except RuntimeError as e:  # Riegeli's chunk hash (checked on every read) failed
            raise self._damage(start, count, e) from None
        return decode_rows(records, self.sequence_length)

    def _damage(self, start: int, count: int, error: Exception) -> file_checksums.DataCorrupt:
        """The first row of [start, start + count) that fails to read, as file and record
        (rows are re-read one by one: only after a failure)."""
        bad, detail = start, str(error)
        for row in range(start, start + count):
            try:
                self._source[row]
            except RuntimeError as e:
                bad, detail = row, str(e)
                break
        shard = int(np.searchsorted(self._starts, bad, side="right")) - 1
        return file_checksums.DataCorrupt(
            self._paths[shard], f"record {bad - int(self._starts[shard])} (stream row {bad})",
            detail)
