"""Connected components in Beam (large-star/small-star) against a plain union-find, on
adversarial graphs (long chains in the worst order, stars, singletons, one giant component)
and on random graphs."""

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.dedup.components import ConnectedComponents, reference_components, simulate


def _name(graph, i):
    return f"{graph}:{i:06d}"


def _adversarial_graphs():
    rng = random.Random(0)
    graphs = {}
    # A chain whose node order follows the chain: min-label propagation needs n rounds here.
    graphs["chain_sorted"] = [(_name("a", i), _name("a", i + 1)) for i in range(2000)]
    order = list(range(1000))
    rng.shuffle(order)
    graphs["chain_random"] = [(_name("b", order[i]), _name("b", order[i + 1]))
                              for i in range(999)]
    graphs["star"] = [(_name("c", 0), _name("c", i)) for i in range(1, 1000)]
    graphs["star_centre_largest"] = [(_name("d", 1000), _name("d", i)) for i in range(1000)]
    graphs["singletons"] = [(_name("e", 2 * i), _name("e", 2 * i + 1)) for i in range(500)]
    giant = [(_name("f", rng.randrange(1500)), _name("f", rng.randrange(1500)))
             for _ in range(3000)]
    graphs["giant"] = [e for e in giant if e[0] != e[1]]
    return graphs


def test_beam_components_equal_union_find_on_adversarial_graphs():
    graphs = _adversarial_graphs()
    edges = [e for g in graphs.values() for e in g]
    expected = reference_components(edges)
    # The pure-Python run of the same rounds says how many this graph needs.
    labels, rounds = simulate(edges)
    assert labels == expected
    assert rounds <= 14, rounds
    with TestPipeline() as p:
        got = (p | beam.Create(edges) | ConnectedComponents(rounds=14))
        assert_that(got, equal_to(sorted(expected.items())))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.lists(
    st.tuples(st.integers(0, n), st.integers(0, n)), max_size=3 * n)))
def test_star_rounds_equal_union_find_on_random_graphs(pairs):
    edges = [(f"{a:03d}", f"{b:03d}") for a, b in pairs]
    labels, _ = simulate(edges)
    assert labels == reference_components(edges)


def test_unconverged_rounds_split_but_never_merge():
    chain = [(_name("g", i), _name("g", i + 1)) for i in range(500)]
    other = [(_name("h", i), _name("h", i + 1)) for i in range(10)]
    truth = reference_components(chain + other)
    with TestPipeline() as p:
        got = p | beam.Create(chain + other) | ConnectedComponents(rounds=1)
        assert_that(got, lambda labels: _check_within_components(labels, truth))


def _check_within_components(labels, truth):
    labels = dict(labels)
    assert set(labels) == set(truth)
    for node, label in labels.items():
        assert truth[label] == truth[node]  # a label is always in the node's own component
        assert label <= node
