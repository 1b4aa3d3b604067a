"""Report and console sentences whose figures must agree with the JSON beside them."""

from __future__ import annotations

from pipeline.dedup import stats


def _components(changes: list[tuple[int, int]], rounds_run: int) -> dict:
    counters = {}
    for i, (large, small) in enumerate(changes):
        counters[f"components.round_{i:02d}.large"] = large
        counters[f"components.round_{i:02d}.small"] = small
    return stats.component_rounds(counters, rounds_run)


def test_component_rounds_read_as_the_rounds_run():
    # Every configured round runs (rounds_run: 12 in the JSON); the sentence must not say
    # "after 0 of 12 rounds" when none changed anything.
    words = stats.rounds_in_words(_components([], 12))
    assert "none of the 12 rounds run changed a label" in words
    assert "after 0" not in words
    words = stats.rounds_in_words(_components([(5, 2), (1, 0), (0, 0)], 12))
    assert words == ("connected components converged: 2 of the 12 rounds run changed labels, "
                     "the last 10 changed none")
    words = stats.rounds_in_words(_components([(1, 1)] * 3, 3))
    assert words == "connected components NOT converged: all 3 rounds run changed labels"
