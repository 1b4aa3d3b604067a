"""Fixed-width records packed for a shuffle: byte columns, then zlib (issue 21).

The records a bundle sends through prep's shuffles (band keys and handles, exact keys, paragraph
counts) are fixed-width rows of bytes whose columns differ in entropy: hash bytes are random,
but a chunk slot, the high bytes of a row number or of a count hardly change. Stored column by
column (all first bytes, then all second bytes, ...) and compressed with zlib at level 1, those
columns cost almost nothing and the random ones cost what they are: a band record of 9 bytes
crosses as about 6.
"""

from __future__ import annotations

import zlib

import numpy as np


def pack_columns(rows: np.ndarray) -> bytes:
    """(m, width) uint8 rows -> compressed column-major bytes."""
    return zlib.compress(np.ascontiguousarray(rows.T).tobytes(), 1)


def unpack_columns(data: bytes, width: int) -> np.ndarray:
    """pack_columns' inverse: the (m, width) uint8 rows."""
    raw = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    if raw.size % width:
        raise ValueError(f"packed columns of {raw.size} bytes are not rows of {width}")
    return raw.reshape(width, -1).T
