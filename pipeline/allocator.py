"""glibc's allocator, told to hand big buffers back to the system (issue 21).

By default glibc raises its mmap threshold each time a large block is freed, up to 32 MB: after
a few big temporaries (a featurised chunk, a packed shuffle buffer, a batch of texts) every
block under that size comes from the heap, where freed space is kept and fragments. A Beam
worker then keeps the high-water mark of everything it ever held. With the threshold fixed at
1 MiB, blocks of that size and up are mapped and unmapped on their own. Measured on the 60 MB
demo corpus: peak RSS of the prep process tree 3.08 -> 2.81 GB, wall time unchanged (64 KiB
saved 100 MB more but cost 16 % of the wall time).
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def return_big_buffers(threshold: int = MMAP_THRESHOLD) -> None:
    """This process from now on, and every process it starts (Beam's SDK workers read the
    variable when they start); a user's own MALLOC_MMAP_THRESHOLD_ is kept. No effect
    outside glibc."""
    value = os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(threshold))
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, int(value))
    except (OSError, AttributeError, ValueError):  # not glibc, or a value glibc ignores too
        return
