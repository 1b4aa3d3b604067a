"""Candidate pairs from one LSH bucket, with a linear bound for big buckets.

Documents that share a band key land in one bucket. A bucket of m members has m(m-1)/2 pairs;
a few buckets hold thousands of members (templated pages, licence headers, generated files),
and listing all their pairs would be quadratic in the worst place. So:

- m <= max_exhaustive (default 50, at most 1,225 pairs): every pair;
- larger: every member is paired with the bucket's `anchors` members that have the smallest
  hash of (band key, member): at most anchors * m pairs, and a different anchor set in every
  band (the hash is salted with the band key). A real cluster of near-duplicates stays
  connected through its anchors; what can be missed is a pair that is similar to each other
  but to none of the anchors in any band they share. Such buckets are counted
  (`near.capped_buckets`, `near.pairs_not_listed`) and shown in the report.

The members are read as a stream (up to three passes over Beam's re-iterable group), never
held in a list beyond `max_exhaustive`, and the pairs do not depend on the order in which the
runner delivers them: same input, same pairs.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Iterable, Iterator


def anchors_of(bucket_key: bytes, members: Iterable[str], k: int) -> list[str]:
    """The k distinct members with the smallest salted hash (order-independent)."""
    heap: list[tuple[bytes, str]] = []  # max-heap of the k smallest, via negated digests
    chosen: dict[str, bytes] = {}
    for member in members:
        if member in chosen:
            continue
        raw = member if isinstance(member, bytes) else member.encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(bucket_key + raw, digest_size=8).digest()
        if len(heap) < k:
            heapq.heappush(heap, (_negate(digest), member))
            chosen[member] = digest
        elif _negate(digest) > heap[0][0]:
            _, dropped = heapq.heapreplace(heap, (_negate(digest), member))
            del chosen[dropped]
            chosen[member] = digest
    return sorted(m for _, m in heap)


def _negate(digest: bytes) -> bytes:
    return bytes(255 - b for b in digest)


def bucket_pairs(bucket_key: bytes, members: Iterable[str], max_exhaustive: int,
                 anchors: int) -> tuple[Iterator[tuple[str, str]], int, bool]:
    """(pairs (a < b), bucket size, capped?) for one bucket; `members` may be read 3 times."""
    head: list[str] = []
    size = 0
    for member in members:
        size += 1
        if size <= max_exhaustive:
            head.append(member)
    if size < 2:
        return iter(()), size, False
    if size <= max_exhaustive:
        distinct = sorted(set(head))
        return ((a, b) for i, a in enumerate(distinct) for b in distinct[i + 1:]), size, False
    chosen = anchors_of(bucket_key, members, anchors)

    def anchored() -> Iterator[tuple[str, str]]:
        for member in members:
            for anchor in chosen:
                if member != anchor:
                    yield (member, anchor) if member < anchor else (anchor, member)

    return anchored(), size, True
