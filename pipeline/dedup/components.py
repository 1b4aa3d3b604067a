"""Connected components in Beam: alternating large-star / small-star rounds.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). Nodes are totally
ordered strings (here: keeper priority keys, so a component's minimum node is its keeper).
Each half-round groups the edge list by node and rewrites the edges around every node:

    large-star at u: m = min(N(u) + {u}); every neighbour v > u gets the edge (v, m)
    small-star at u: m = min({v in N(u): v <= u} + {u}); every such v != m, and u itself,
                     gets the edge (., m)

Both keep each component connected and never join two components; the number of edges
(counted with multiplicity) never grows. When neither half-round changes anything, every
component is a star around its minimum node. The rounds are unrolled into the pipeline graph
(Beam has no loops); each counts the nodes it changed (`components.round_NN.<half>`), so a run
that needed more rounds says so. If rounds run out before convergence, every node still gets
a label inside its own component (the smallest node of its neighbourhood): the worst case is a
component split into a few clusters (duplicates kept), never two components merged.

Nothing here gathers the graph on one worker: every step is a GroupByKey by node whose values
are read as a stream (twice: the minimum first, then the rewrites), so a hub node with millions
of neighbours needs no more memory than one with two.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import progress, shuffle_meter

NAMESPACE = "dedup"
Edge = tuple[str, str]


def large_star(u: str, neighbours: Iterable[str]) -> tuple[Iterator[Edge], bool]:
    """Edges emitted at u, and whether anything changed at u. `neighbours` is read twice."""
    m = u
    has_larger = False
    for v in neighbours:
        if v < m:
            m = v
        if v > u:
            has_larger = True
    changed = has_larger and m < u
    return ((v, m) for v in neighbours if v > u), changed


def small_star(u: str, neighbours: Iterable[str]) -> tuple[Iterator[Edge], bool]:
    """Edges emitted at u, and whether anything changed at u. `neighbours` is read twice."""
    m = u
    first_smaller = None
    distinct_smaller = False
    for v in neighbours:
        if v < u:
            if first_smaller is None:
                first_smaller = v
            elif v != first_smaller:
                distinct_smaller = True
            if v < m:
                m = v

    def edges() -> Iterator[Edge]:
        if m == u:
            return
        for v in neighbours:
            if v < u and v != m:
                yield (v, m)
        yield (u, m)

    return edges(), distinct_smaller


def _both_directions(edge: Edge) -> Iterator[Edge]:
    a, b = edge
    if a != b:
        yield a, b
        yield b, a


class _StarFn(beam.DoFn):
    def __init__(self, kind: str, round_index: int):
        self.kind = kind
        self.counter_name = f"components.round_{round_index:02d}.{kind}"
        self.progress_name = f"components round {round_index + 1}"
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.changed = Metrics.counter(NAMESPACE, self.counter_name)
        self.step = large_star if self.kind == "large" else small_star
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element):
        u, neighbours = element
        self.ticker.tick(self.progress_name)
        edges, changed = self.step(u, neighbours)
        if changed:
            self.changed.inc()
        yield from edges


class ConnectedComponents(beam.PTransform):
    """Undirected edges (a, b) -> (node, label) for every node that has an edge, where label is
    the smallest node of its component (once converged) and label == node for that node."""

    def __init__(self, rounds: int = 12, label: str | None = None):
        super().__init__(label=label)
        if rounds < 1:
            raise ValueError("rounds must be at least 1")
        self.rounds = rounds

    def expand(self, edges):
        for i in range(self.rounds):
            for kind in ("large", "small"):
                adjacent = edges | f"R{i:02d}{kind.title()}Adjacent" >> beam.FlatMap(
                    _both_directions)
                edges = (
                    shuffle_meter.metered(adjacent, f"dedup.components.r{i:02d}.{kind}")
                    | f"R{i:02d}{kind.title()}Group" >> beam.GroupByKey()
                    | f"R{i:02d}{kind.title()}Star" >> beam.ParDo(_StarFn(kind, i))
                )
        # label(u) = min(u, smallest neighbour): the star centre, or a node of u's own
        # component when the rounds ran out. CombinePerKey(min) is combined before the shuffle.
        return (
            edges
            | "LabelCandidates" >> beam.FlatMap(_label_candidates)
            | "Label" >> beam.CombinePerKey(min)
        )


def _label_candidates(edge: Edge) -> Iterator[Edge]:
    a, b = edge
    yield a, a
    yield a, b
    yield b, b
    yield b, a


def reference_components(edges: Iterable[Edge]) -> dict[str, str]:
    """Plain union-find on one machine: node -> smallest node of its component (tests only).
    Self-loops are ignored, as in the pipeline (they carry no information)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        if a == b:
            continue
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def simulate(edges: Iterable[Edge], max_rounds: int = 1000) -> tuple[dict[str, str], int]:
    """The same rounds in plain Python (tests, round-count studies): labels, rounds used."""
    from collections import defaultdict

    edges = [e for e in edges if e[0] != e[1]]
    nodes = {x for e in edges for x in e}
    for r in range(max_rounds):
        any_change = False
        for step in (large_star, small_star):
            adj: dict[str, list[str]] = defaultdict(list)
            for a, b in edges:
                adj[a].append(b)
                adj[b].append(a)
            new = []
            for u, ns in adj.items():
                out, changed = step(u, ns)
                any_change |= changed
                new.extend(out)
            edges = [e for e in new if e[0] != e[1]]
        if not any_change:
            break
    labels = {u: u for u in nodes}
    for a, b in edges:
        labels[a] = min(labels[a], b)
        labels[b] = min(labels[b], a)
    return labels, r + 1
