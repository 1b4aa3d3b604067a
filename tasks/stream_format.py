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
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

MANIFEST = "manifest.json"
FORMAT = "palm-packed-rows/1"
TOKEN_DTYPE, SOURCE_DTYPE = np.dtype("<i4"), np.dtype("u1")
MAX_SOURCES = 255


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


def read_manifest(stream_dir: str) -> dict:
    import tensorflow as tf

    path = os.path.join(stream_dir, MANIFEST)
    if not tf.io.gfile.exists(path):
        raise StreamError(f"{stream_dir!r} is not a materialised stream: no {MANIFEST} (write "
                          f"one with python -m tasks.materialize)")
    with tf.io.gfile.GFile(path, "r") as f:
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
        paths = [os.path.join(stream_dir, s["file"]) for s in self.manifest["shards"]]
        self._source = grain.ArrayRecordDataSource(paths)
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
        records = self._source.__getitems__(range(start, start + count))
        return decode_rows(records, self.sequence_length)
