"""Shingles, MinHash signatures and LSH band keys, vectorised with numpy.

This is the project's one k-gram hashing module (decontamination uses it too). Shingles are
hashed without a Python loop over words or characters:
- word n-grams: each word's UTF-8 bytes are a polynomial in an odd multiplier (arithmetic
  modulo 2^64), summed per word with one `np.add.reduceat`; n consecutive word hashes are then
  combined with n vector operations (`kgram_series`);
- character n-grams: the code points (UTF-32) combined the same way.
Hashes go through the splitmix64 finaliser so that shingle values are well spread.

A signature is min over shingles of h_k(x) = ((a_k * x + b_k) mod 2^64) >> 32 for num_perm
seeded (a_k odd, b_k) pairs: the multiply-shift universal family, computed for blocks of
shingles at a time so memory stays bounded for any document length.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Iterator, Sequence

import numpy as np

from pipeline.dedup.canonical import shingle_text

_M64 = (1 << 64) - 1
_P = 0x100000001B3                # FNV-64 prime: odd, so invertible modulo 2^64
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


_POWERS_OF_P: np.ndarray = np.ones(1, dtype=np.uint64)


def _powers_of_p(n: int) -> np.ndarray:
    """_P ** i (mod 2^64) for i < n, grown on demand (n is the longest word seen)."""
    global _POWERS_OF_P
    if _POWERS_OF_P.size < n:
        _POWERS_OF_P = _powers(_P, max(n, 2 * _POWERS_OF_P.size))
    return _POWERS_OF_P[:n]


def hash_words(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """One uint64 per word, the word being the bytes data[start:start + length]: the
    polynomial sum((byte + 1) * _P ** offset) over its bytes, xor its length, through
    splitmix64. Used for dedup's shingles and decontamination's n-grams alike."""
    if not starts.size:
        return EMPTY
    word_start = np.cumsum(lengths) - lengths          # offset of each word in `letters`
    offset = np.arange(int(word_start[-1] + lengths[-1])) - np.repeat(word_start, lengths)
    letters = data[np.repeat(starts, lengths) + offset].astype(np.uint64) + np.uint64(1)
    terms = letters * _powers_of_p(int(lengths.max()))[offset]
    return splitmix64(np.add.reduceat(terms, word_start) ^ lengths.astype(np.uint64))


def word_hashes(canonical: str) -> np.ndarray:
    """One uint64 per space-separated word of an already canonical text (single spaces)."""
    data = np.frombuffer(canonical.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    if data.size == 0:
        return EMPTY
    spaces = np.flatnonzero(data == 32)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [data.size]))
    keep = ends > starts
    return hash_words(data, starts[keep], ends[keep] - starts[keep])


def kgram_series(units: np.ndarray, lengths: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (k, hashes of every run of k consecutive units) for each k in `lengths`.

    The hash of k units extends the one of k - 1 units by one multiply-add (a different odd
    multiplier per position), so all lengths up to the longest cost one pass each."""
    wanted = set(lengths)
    acc = units
    for k in range(1, max(lengths) + 1):
        if k > 1:
            acc = acc[:-1] * np.uint64(_WORD_MULT[(k - 1) % len(_WORD_MULT)]) + units[k - 1:]
        if k in wanted:
            yield k, splitmix64(acc ^ np.uint64(k))
        if not acc.size:
            return


def _combine(units: np.ndarray, ngram: int) -> np.ndarray:
    """Hashes of every run of `ngram` consecutive units (all units when there are fewer)."""
    if units.size == 0:
        return EMPTY
    n = min(ngram, units.size)
    return next(hashes for k, hashes in kgram_series(units, [n]) if k == n)


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
