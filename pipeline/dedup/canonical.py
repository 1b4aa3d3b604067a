"""Canonical text: what two documents must share to count as the same text.

Exact dedup hashes the canonical form under the spec's options (case, whitespace, punctuation);
near dedup shingles the canonical form with all three on. Every step is one C-level call per
document (str.lower, str.split/join, one regex substitution), never a loop over characters.
"""

from __future__ import annotations

import hashlib

import regex

from pipeline.dedup.config import ExactConfig

_PUNCTUATION = regex.compile(r"\p{P}+")


def canonical_text(text: str, *, lowercase: bool, collapse_whitespace: bool,
                   strip_punctuation: bool) -> str:
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = _PUNCTUATION.sub("", text)
    if collapse_whitespace:
        text = " ".join(text.split())
    return text


def exact_key(text: str, config: ExactConfig) -> bytes:
    """16-byte digest of the canonical text (collisions: ~2^-64 for a billion documents)."""
    canonical = canonical_text(text, lowercase=config.lowercase,
                               collapse_whitespace=config.collapse_whitespace,
                               strip_punctuation=config.strip_punctuation)
    return hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def shingle_text(text: str) -> str:
    """Lower case, no punctuation, single spaces: the text near dedup shingles."""
    return canonical_text(text, lowercase=True, collapse_whitespace=True, strip_punctuation=True)
