"""Shingles, MinHash signatures and LSH band keys, vectorised with numpy.

Shingles are hashed without a Python loop over words or characters:
- word n-grams: the canonical text's UTF-8 bytes get a polynomial prefix hash (one cumsum);
  each word's hash is a difference of two prefixes times an inverse power (arithmetic modulo
  2^64, where every odd multiplier is invertible); n consecutive word hashes are then combined
  with n vector operations;
- character n-grams: the code points (UTF-32) combined the same way.
Hashes go through the splitmix64 finaliser so that shingle values are well spread.

A signature is min over shingles of h_k(x) = ((a_k * x + b_k) mod 2^64) >> 32 for num_perm
seeded (a_k odd, b_k) pairs: the multiply-shift universal family, computed for blocks of
shingles at a time so memory stays bounded for any document length.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from pipeline.dedup.canonical import shingle_text

_M64 = (1 << 64) - 1
_P = 0x100000001B3                # FNV-64 prime: odd, so invertible modulo 2^64
_P_INV = pow(_P, -1, 1 << 64)
_WORD_MULT = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
              0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9)
_BLOCK = 2048                     # shingles per block when taking the minimum
EMPTY = np.zeros(0, dtype=np.uint64)


def splitmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _powers(base: int, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint64)
    out[0] = 1
    if n > 1:
        out[1:] = np.cumprod(np.full(n - 1, base, dtype=np.uint64))
    return out


def word_hashes(canonical: str) -> np.ndarray:
    """One uint64 per space-separated word of an already canonical text (single spaces)."""
    data = np.frombuffer(canonical.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    if data.size == 0:
        return EMPTY
    n = data.size
    spaces = np.flatnonzero(data == 32)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [n]))
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum((data.astype(np.uint64) + np.uint64(1)) * _powers(_P, n), out=prefix[1:])
    words = (prefix[ends] - prefix[starts]) * _powers(_P_INV, n)[starts]
    return splitmix64(words ^ (ends - starts).astype(np.uint64))


def _combine(units: np.ndarray, ngram: int) -> np.ndarray:
    """Hashes of every run of `ngram` consecutive units (all units when there are fewer)."""
    if units.size == 0:
        return EMPTY
    n = min(ngram, units.size)
    m = units.size - n + 1
    out = np.zeros(m, dtype=np.uint64)
    for j in range(n):
        out = out * np.uint64(_WORD_MULT[j % len(_WORD_MULT)]) + units[j:j + m]
    return splitmix64(out ^ np.uint64(n))


def shingles(text: str, kind: str = "word", ngram: int = 5) -> np.ndarray:
    """Sorted distinct uint64 shingle hashes of a document (empty for an empty text)."""
    canonical = shingle_text(text)
    if kind == "word":
        units = word_hashes(canonical)
    elif kind == "char":
        units = splitmix64(np.frombuffer(canonical.encode("utf-32-le", "surrogatepass"),
                                         dtype=np.uint32).astype(np.uint64))
    else:
        raise ValueError(f"unknown shingle kind {kind!r}; expected 'word' or 'char'")
    return np.unique(_combine(units, ngram))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct shingle arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): num_perm odd multipliers and offsets, from a seeded generator."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2)
    return a, b


def signature(shingle_hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """num_perm uint32 minimum hashes (all 0xFFFFFFFF for an empty set)."""
    a, b = permutations(num_perm, seed)
    sig = np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint64)
    for start in range(0, shingle_hashes.size, _BLOCK):
        block = shingle_hashes[start:start + _BLOCK, None]
        hashed = (block * a[None, :] + b[None, :]) >> np.uint64(32)
        np.minimum(sig, hashed.min(axis=0), out=sig)
    return sig.astype(np.uint32)


def band_keys(sig: np.ndarray, bands: int, rows: int, family: int) -> list[bytes]:
    """One key per band: family byte, band index, 8-byte digest of the band's rows."""
    out = []
    for band in range(bands):
        rows_bytes = sig[band * rows:(band + 1) * rows].tobytes()
        digest = hashlib.blake2b(rows_bytes, digest_size=8).digest()
        out.append(bytes((family,)) + band.to_bytes(2, "big") + digest)
    return out


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))
