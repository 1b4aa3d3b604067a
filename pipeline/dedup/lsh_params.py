"""Bands x rows for MinHash-LSH from a Jaccard threshold.

A pair with Jaccard similarity s shares at least one of b bands of r rows with probability
P(s) = 1 - (1 - s^r)^b (the LSH "S-curve"). For a threshold t, the false-positive area is the
integral of P over [0, t] (dissimilar pairs that become candidates) and the false-negative area
the integral of 1 - P over [t, 1] (similar pairs that never meet). `optimal_bands_rows` picks the
(b, r) with b * r <= num_perm that minimises their weighted sum: the calculation datasketch's
`_optimal_param` popularised, integrated here with scipy.

Because every candidate pair is verified afterwards with its true similarity, a false positive
only costs a verification while a false negative is a duplicate that stays: the engine's default
weights favour recall (see pipeline/dedup/config.py).
"""

from __future__ import annotations

import functools


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """Probability that a pair of Jaccard similarity s shares at least one band."""
    return 1.0 - (1.0 - s ** rows) ** bands


def false_positive_area(threshold: float, bands: int, rows: int) -> float:
    from scipy import integrate  # here: its import costs every Beam worker ~0.4 CPU s

    area, _ = integrate.quad(lambda s: candidate_probability(s, bands, rows), 0.0, threshold)
    return area


def false_negative_area(threshold: float, bands: int, rows: int) -> float:
    from scipy import integrate

    area, _ = integrate.quad(lambda s: 1.0 - candidate_probability(s, bands, rows),
                             threshold, 1.0)
    return area


@functools.lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                       false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising fp_weight * FP area + fn_weight * FN area, b * r <= num_perm.

    Ties (equal cost to 1e-12) go to fewer bands, then fewer rows, so the answer is stable.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be positive, got {num_perm}")
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            cost = (false_positive_weight * false_positive_area(threshold, bands, rows)
                    + false_negative_weight * false_negative_area(threshold, bands, rows))
            if best is None or cost < best[0] - 1e-12:
                best = (cost, bands, rows)
    assert best is not None
    return best[1], best[2]
