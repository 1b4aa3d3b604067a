"""Rows by reference: what tasks.materialize shuffles instead of rows (issue 21).

Documents are spilled once, per read unit, to a flat little-endian int32 file (random access
by token offset). A packed row is then a few SEGMENTs -- pieces of document copies -- and the
shards gather their rows' tokens from the spill files by random access, as Grain reads by
index. `pack_segments` lays a packing group's copies end to end and cuts them into rows;
`SpillReader.row` turns a row's segments back into its tokens and source indices.
"""

from __future__ import annotations

import os

import numpy as np

from tasks import stream_format
from tasks.stream_format import StreamError

SPILL_DIR = "_spill"


SEGMENT = np.dtype([("unit", "<u4"), ("offset", "<u8"), ("length", "<u4"), ("source", "u1"),
                    ("eos", "u1")])
"""A row's piece of one document copy: `length` tokens from token offset `offset` of read unit
`unit`'s spill file, from source `source`; `eos` = 1: its last token becomes EOS (a cut copy's
end). A row is a few of these (bytes of a numpy array): what the row shuffle moves."""


def spill_path(staging: str, unit: int) -> str:
    return os.path.join(staging, SPILL_DIR, f"unit-{unit:05d}.int32")


def pack_segments(copies: list, sequence_length: int) -> tuple[list[np.ndarray], int]:
    """Rows of a packing group from its copies, by reference: the copies (sort key, (source,
    unit, offset, tokens, cut)) are joined in key order and split every `sequence_length`
    tokens; returns each full row's SEGMENT array, and the tokens of the last partial row
    (dropped)."""
    copies = sorted(copies, key=lambda c: c[0])
    total = sum(c[1][3] for c in copies)
    num_rows = total // sequence_length
    rows, current, filled = [], [], 0
    for _, (source, unit, offset, length, cut) in copies:
        start = 0
        while start < length and len(rows) < num_rows:
            take = min(length - start, sequence_length - filled)
            ends = start + take == length
            current.append((unit, offset + start, take, source, int(cut and ends)))
            start, filled = start + take, filled + take
            if filled == sequence_length:
                rows.append(np.array(current, SEGMENT))
                current, filled = [], 0
    return rows, total - num_rows * sequence_length


class SpillReader:
    """Token ranges of the spill files by random access (pread locally, seek+read remotely),
    one open file per unit."""

    def __init__(self, staging: str):
        self.staging = staging
        self._files: dict[int, object] = {}

    def read(self, unit: int, offset: int, length: int) -> np.ndarray:
        size = stream_format.TOKEN_DTYPE.itemsize
        path = spill_path(self.staging, unit)
        if "://" in path:
            import tensorflow as tf

            if unit not in self._files:
                self._files[unit] = tf.io.gfile.GFile(path, "rb")
            f = self._files[unit]
            f.seek(offset * size)
            data = f.read(length * size)
        else:
            if unit not in self._files:
                self._files[unit] = os.open(path, os.O_RDONLY)
            data = os.pread(self._files[unit], length * size, offset * size)
        if len(data) != length * size:
            raise StreamError(f"{path}: short read at token {offset} (the spill file was "
                                   f"changed or truncated while the job ran)")
        return np.frombuffer(data, stream_format.TOKEN_DTYPE)

    def row(self, segments: np.ndarray, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, sources) of one row from its SEGMENT array."""
        tokens = np.concatenate([self.read(int(s["unit"]), int(s["offset"]), int(s["length"]))
                                 for s in segments])
        ends = np.cumsum(segments["length"])
        tokens[ends[segments["eos"] == 1] - 1] = eos_id
        return tokens, np.repeat(segments["source"], segments["length"])

    def close(self) -> None:
        for f in self._files.values():
            if isinstance(f, int):
                os.close(f)
            else:
                f.close()
        self._files = {}
