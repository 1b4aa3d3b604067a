"""The true similarity of a candidate pair: LSH only proposes, this decides.

Prose: Jaccard similarity of the two documents' shingle sets (the same shingles the signatures
were computed from), so a false positive of the LSH stage never removes a document.
Code: normalised Levenshtein similarity 1 - distance / max(len a, len b) on the texts (PaLM
deduplicated code by edit distance), computed by rapidfuzz's bit-parallel C++ implementation
with a score cutoff, after a length check that rules most pairs out for free (the distance is at
least the difference of the lengths).
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from pipeline.dedup import minhash


def edit_similarity(a: str, b: str, cutoff: float = 0.0) -> float:
    """1 - Levenshtein(a, b) / max(len); 0.0 when below `cutoff` (not computed in full)."""
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    if min(len(a), len(b)) / longest < cutoff:
        return 0.0
    return Levenshtein.normalized_similarity(a, b, score_cutoff=cutoff)


def prose_similarity(a: str, b: str, shingle: str, ngram: int) -> float:
    return minhash.jaccard(minhash.shingles(a, shingle, ngram), minhash.shingles(b, shingle, ngram))
