"""Near-duplicate deduplication across all sources: MinHash-LSH candidates, verified pairs,
distributed connected components, one keeper per cluster.

    docs ─► node key (keeper priority) ─► shingles ─► MinHash ─► band keys
         │      ─► GroupByKey(band) ─► candidate pairs ─► Distinct
         ├─► text by node ─► join with pair ends ─► GroupByKey(pair)
         │      ─► verify (Jaccard; code: edit similarity)
         │      ─► ConnectedComponents (large/small-star)
         └─► join with labels by node ─► kept docs / rejected `dedup.near`
                                          (+ members of the example clusters)

Prose and code never meet: the band key starts with a family byte. Documents with no shingle
(empty after canonicalisation) and documents whose signature fails for any reason are never
near-duplicates (and are counted). Every grouping step reads its group as a stream; no step
collects pairs, signatures or edges on one worker (see candidates.py and components.py for the
two places where that takes care).
"""

from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.counting import DropCounter
from pipeline.dedup import minhash, stats
from pipeline.dedup.candidates import bucket_pairs
from pipeline.dedup.code_body import code_body
from pipeline.dedup.components import ConnectedComponents
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.exact import duplicate_record
from pipeline.dedup.keeper import id_of, priority_key
from pipeline.dedup.verify import edit_similarity, prose_similarity
from pipeline.step_runner import REJECTED

NAMESPACE = "dedup"
MEMBERS = "members"
PROSE, CODE = 0, 1


def family(doc: dict[str, Any], code_sources: frozenset[str]) -> int:
    return CODE if doc["role"] == "code" or doc["source"] in code_sources else PROSE


def compared_text(doc: dict[str, Any], fam: int) -> str:
    """What near dedup compares: prose whole, code without its licence header."""
    return code_body(doc["text"]) if fam == CODE else doc["text"]


class _BandKeysFn(beam.DoFn):
    def __init__(self, config: DedupConfig, code_sources: frozenset[str]):
        self.near = config.near
        self.code_sources = code_sources

    def setup(self):
        self.bands, self.rows = self.near.bands_rows()
        self.documents = Metrics.counter(NAMESPACE, "near.documents_hashed")
        self.empty = Metrics.counter(NAMESPACE, "near.documents_without_shingles")
        self.errors = Metrics.counter(NAMESPACE, "near.signature_errors")

    def process(self, element) -> Iterator[tuple[bytes, str]]:
        node, doc = element
        try:
            fam = family(doc, self.code_sources)
            shingles = minhash.shingles(compared_text(doc, fam), self.near.shingle,
                                        self.near.ngram)
            if shingles.size == 0:
                self.empty.inc()
                return
            sig = minhash.signature(shingles, self.near.num_perm, self.near.seed)
            keys = minhash.band_keys(sig, self.bands, self.rows, fam)
        except Exception:  # a document that cannot be hashed is kept, never dropped
            self.errors.inc()
            return
        self.documents.inc()
        for key in keys:
            yield key, node


class _BucketPairsFn(beam.DoFn):
    def __init__(self, max_exhaustive: int, anchors: int):
        self.max_exhaustive = max_exhaustive
        self.anchors = anchors

    def setup(self):
        self.buckets = Metrics.counter(NAMESPACE, "near.buckets_with_pairs")
        self.capped = Metrics.counter(NAMESPACE, "near.capped_buckets")
        self.not_listed = Metrics.counter(NAMESPACE, "near.pairs_not_listed")

    def process(self, element):
        key, members = element
        pairs, size, capped = bucket_pairs(key, members, self.max_exhaustive, self.anchors)
        if size < 2:
            return
        self.buckets.inc()
        if capped:
            self.capped.inc()
            self.not_listed.inc(size * (size - 1) // 2 - size * self.anchors)
        yield from pairs


class _AttachTextFn(beam.DoFn):
    """(node, [("text", text, family), ("pair", (a, b)), ...])
    -> ((a, b), (node, text, family)) for each pair of the node."""

    def process(self, element):
        node, values = element
        payload = None
        for value in values:
            if value[0] == "text":
                payload = (node, value[1], value[2])
                break
        if payload is None:
            return
        for value in values:
            if value[0] == "pair":
                yield value[1], payload


class _VerifyFn(beam.DoFn):
    def __init__(self, config: DedupConfig):
        self.near = config.near

    def setup(self):
        self.candidates = Metrics.counter(NAMESPACE, "near.candidate_pairs")
        self.duplicates = Metrics.counter(NAMESPACE, "near.verified_pairs")
        self.rejected = Metrics.counter(NAMESPACE, "near.false_positive_pairs")

    def process(self, element):
        pair, ends = element
        by_node = {}
        for node, text, fam in ends:
            by_node.setdefault(node, (text, fam))
        if len(by_node) != 2:
            return
        (text_a, fam_a), (text_b, fam_b) = by_node[pair[0]], by_node[pair[1]]
        self.candidates.inc()
        if fam_a == CODE and fam_b == CODE:
            cutoff = self.near.code_edit_similarity
            similar = edit_similarity(text_a, text_b, cutoff) >= cutoff
        else:
            similar = prose_similarity(text_a, text_b, self.near.shingle,
                                       self.near.ngram) >= self.near.threshold
        if similar:
            self.duplicates.inc()
            yield pair
        else:
            self.rejected.inc()


class _ApplyLabelsFn(beam.DoFn):
    def __init__(self, config: DedupConfig):
        self.config = config
        self._selected: frozenset[str] | None = None

    def setup(self):
        self.counts = DropCounter("dedup")
        self.removed = Metrics.counter(NAMESPACE, "near.removed")

    def process(self, element, selected):
        if self._selected is None:
            self._selected = frozenset(selected)
        node, values = element
        label = None
        for value in values:
            if value[0] == "label":
                label = value[1]
        for value in values:
            if value[0] != "doc":
                continue
            doc = value[1]
            if label is not None and label in self._selected:
                yield beam.pvalue.TaggedOutput(MEMBERS, (label, stats.member_info(node, doc)))
            if label is None or label == node:
                yield doc
            else:
                self.removed.inc()
                self.counts.dropped(doc["source"], "dedup.near", doc["text"])
                keeper = id_of(label, self.config)
                yield beam.pvalue.TaggedOutput(
                    REJECTED, duplicate_record(doc, "dedup.near", keeper))


def _example(element):
    root, members = element
    size = sum(1 for _ in members)
    return stats.example(size, stats.sample_order(root), members)


class NearDedup(beam.PTransform):
    """docs -> (kept docs, rejected records, cluster summary: one dict)."""

    def __init__(self, config: DedupConfig, code_sources: frozenset[str] = frozenset(),
                 label: str = "dedup/near"):
        super().__init__(label=label)
        if config.near is None:
            raise ValueError("near dedup is switched off in this config")
        self.config = config
        self.code_sources = frozenset(code_sources)

    def expand(self, docs):
        config, near = self.config, self.config.near
        nodes = docs | "Node" >> beam.Map(lambda d: (priority_key(d, config), d))
        pairs = (
            nodes
            | "BandKeys" >> beam.ParDo(_BandKeysFn(config, self.code_sources))
            | "Buckets" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(_BucketPairsFn(near.max_bucket_exhaustive,
                                                            near.bucket_anchors))
            | "DistinctPairs" >> beam.Distinct()
        )
        code_sources = self.code_sources
        texts = nodes | "Texts" >> beam.Map(lambda kv: (kv[0], (
            "text", compared_text(kv[1], family(kv[1], code_sources)),
            family(kv[1], code_sources))))
        ends = pairs | "PairEnds" >> beam.FlatMap(
            lambda p: [(p[0], ("pair", p)), (p[1], ("pair", p))])
        edges = (
            (texts, ends)
            | "TextsAndEnds" >> beam.Flatten()
            | "ByNode" >> beam.GroupByKey()
            | "AttachText" >> beam.ParDo(_AttachTextFn())
            | "ByPair" >> beam.GroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(config))
        )
        labels = edges | "Components" >> ConnectedComponents(near.component_rounds)

        sizes_by_root = (
            labels
            | "ByLabel" >> beam.Map(lambda kv: (kv[1], 1))
            | "ClusterSizes" >> beam.CombinePerKey(sum)
            | "Clusters" >> beam.Filter(lambda kv: kv[1] >= 2)
        )
        sample = sizes_by_root | "SampleClusters" >> beam.combiners.Top.Of(
            stats.EXAMPLES, key=lambda kv: stats.sample_order(kv[0]), reverse=True)
        largest = sizes_by_root | "LargestClusters" >> beam.combiners.Top.Of(
            stats.LARGEST, key=lambda kv: (kv[1], stats.sample_order(kv[0])))
        selected = ((sample, largest)
                    | "Selected" >> beam.Flatten()
                    | "SelectedRoots" >> beam.FlatMap(lambda kvs: [k for k, _ in kvs]))

        applied = (
            (nodes | "DocValues" >> beam.Map(lambda kv: (kv[0], ("doc", kv[1]))),
             labels | "LabelValues" >> beam.Map(lambda kv: (kv[0], ("label", kv[1]))))
            | "DocsAndLabels" >> beam.Flatten()
            | "JoinLabels" >> beam.GroupByKey()
            | "Apply" >> beam.ParDo(_ApplyLabelsFn(config),
                                    selected=beam.pvalue.AsList(selected)).with_outputs(
                REJECTED, MEMBERS, main="kept")
        )
        examples = (applied[MEMBERS]
                    | "ExampleMembers" >> beam.GroupByKey()
                    | "Examples" >> beam.Map(_example))
        summary = ((sizes_by_root | "Sizes" >> beam.Values(), examples)
                   | "Summary" >> stats.SummarizeGroups())
        return applied.kept, applied[REJECTED], summary
