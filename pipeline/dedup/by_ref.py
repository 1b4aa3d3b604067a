"""Exact and near dedup on references: the decisions of exact.py and near.py, taken on small
records while the documents stay in the stash (pipeline/stash.py; issue 21).

Each document's reference is a tuple made while it is stashed (`dedup_ref`):
(node, exact key, band keys, family, id). The node (`stash.node_name`) is the keeper priority
key followed by where the document is (source, unit, position, chunk location), so nodes sort
as keepers do and a decision on a node needs no join back to its document. Band keys are 8-byte
hashes of near.py's band keys, concatenated (a false bucket-mate from a hash collision is
removed by verification like any LSH false positive).

    refs ─► GroupByKey(exact key) ─► keeper = smallest node; other copies -> drop records
    kept ─► (band key, 8-byte handle) ─► GroupByKey(band) ─► candidate pairs of handles
         ─► join with (handle, node) ─► GroupByKey(pair) ─► verify: both texts read by
            reference ─► ConnectedComponents on nodes ─► node != label -> drop record

Drop records are `((source, unit), ("drop", position, location, (reason, kept id, kept
source or None)))`, joined with the documents per input unit (pipeline/by_reference.py). Only
the few documents shown as examples in the report are read back for their first line.
Tie-break: exact.py breaks ties of the priority key by (source, text, meta); here by (source,
unit, position). Ties need equal ids and equal 8-hex text digests.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from pipeline import progress, shuffle_meter, stash
from pipeline.counting import DropCounter
from pipeline.dedup import minhash, stats
from pipeline.dedup.canonical import exact_key
from pipeline.dedup.components import ConnectedComponents
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.keeper import id_of, priority_key
from pipeline.dedup.near import CODE, _BucketPairsFn, compared_text, family
from pipeline.dedup.verify import edit_similarity, prose_similarity
from pipeline.packed_shuffle import PackedGroupByKey

NAMESPACE = "dedup"
DROPS, STATS, SIZES, MEMBERS = "drops", "stats", "sizes", "members"


def dedup_ref(doc: dict[str, Any], loc: tuple[str, int, int], config: DedupConfig,
              code_sources: frozenset[str]) -> tuple:
    """(node, exact key, band keys, family, id) of a document, while its text is at hand."""
    unit, pos = stash.place(doc)
    node = stash.node_name(priority_key(doc, config), doc["source"], unit, pos, loc)
    exact = None
    if config.exact is not None:
        try:
            exact = exact_key(doc["text"], config.exact)
        except Exception:  # as exact.py: such a document is left alone
            exact = b"unkeyed\x00" + str(doc.get("id")).encode("utf-8", "surrogatepass")
    bands, fam = b"", 0
    if config.near is not None:
        near = config.near
        fam = family(doc, code_sources)
        try:
            shingles = minhash.shingles(compared_text(doc, fam), near.shingle, near.ngram)
            if shingles.size:
                b, r = near.bands_rows()
                sig = minhash.signature(shingles, near.num_perm, near.seed)
                bands = b"".join(hashlib.blake2b(k, digest_size=8).digest()
                                 for k in minhash.band_keys(sig, b, r, fam))
        except Exception:  # a document that cannot be hashed is kept, never dropped
            bands = None
    return node, exact, bands, fam, doc["id"]


def _drop(node: str, reason: str, kept_id: str, kept_source: str | None):
    _, source, unit, pos, loc = stash.parse_node(node)
    return (source, unit), ("drop", pos, loc, (reason, kept_id, kept_source))


def _members(nodes: list[str], reader: stash.ChunkReader) -> list[dict[str, Any]]:
    """Report members of a few nodes, their first lines read by reference."""
    out = []
    for node in nodes:
        priority, source, _, _, loc = stash.parse_node(node)
        doc = reader.read(*loc)
        out.append({"key": priority, "id": doc["id"], "source": source, "role": doc["role"],
                    "first_line": stats.first_line(doc["text"])})
    return out


class _KeepOneFn(beam.DoFn):
    def __init__(self, directory: str):
        self.directory = directory
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.drops = DropCounter("dedup")
        self.groups = Metrics.counter(NAMESPACE, "exact.groups")
        self.removed = Metrics.counter(NAMESPACE, "exact.removed")
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element) -> Iterator[Any]:
        key, refs = element
        best, size = None, 0
        for ref in refs:
            size += 1
            if best is None or ref[0] < best[0]:
                best = ref
        if size == 1:
            yield best
            return
        self.groups.inc()
        kept_source = stash.parse_node(best[0])[1]
        shown: list[str] = []
        for ref in refs:
            node = ref[0]
            if node == best[0]:
                yield ref
            else:
                self.removed.inc()
                self.drops.dropped(stash.parse_node(node)[1], "dedup.exact", None)
                yield beam.pvalue.TaggedOutput(DROPS, _drop(node, "dedup.exact", best[4],
                                                            kept_source))
            shown = heapq.nsmallest(stats.MEMBERS_SHOWN, shown + [node])
        reader = stash.ChunkReader(self.directory)
        try:
            members = _members(shown, reader)
        finally:
            reader.close()
        yield beam.pvalue.TaggedOutput(SIZES, size)
        yield beam.pvalue.TaggedOutput(STATS, stats.example(size, stats.sample_order(key),
                                                            members))


class ExactDedupRefs(beam.PTransform):
    """refs -> (kept refs, drop records, group summary: one dict)."""

    def __init__(self, directory: str, label: str = "exact"):
        super().__init__(label=label)
        self.directory = directory

    def expand(self, refs):
        if isinstance(refs, beam.PCollection):
            refs = [refs]
        keyed = [pcoll | f"Key{i}" >> beam.Map(
            lambda r: (r[1], (r[0], r[2], r[3], None, r[4]))) for i, pcoll in enumerate(refs)]
        out = (
            tuple(keyed)  # a tuple of PCollections; a list would be taken as data to Create
            | "Group" >> PackedGroupByKey("dedup.exact")
            | "KeepOne" >> beam.ParDo(_KeepOneFn(self.directory)).with_outputs(
                DROPS, STATS, SIZES, main="kept")
        )
        kept = out.kept | "Reshape" >> beam.Map(lambda r: (r[0], None, r[1], r[2], r[4]))
        summary = (out[SIZES], out[STATS]) | "Summary" >> stats.SummarizeGroups()
        return kept, out[DROPS], summary


def handle(node: str) -> bytes:
    return hashlib.blake2b(node.encode("utf-8", "surrogatepass"), digest_size=8).digest()


PACKED_BYTES = 1 << 16  # a bundle sends a partition's band records on past this size
_BAND_RECORD = np.dtype([("key", ">u8"), ("handle", ">u8")])


class _PackBandKeysFn(beam.DoFn):
    """refs -> (partition, packed records): every (8-byte band key, 8-byte handle) pair is
    a 16-byte record, gathered per bundle and partition (the key's first byte). The shuffle
    then moves a few large elements instead of one small element per band and document, each
    of which Beam's local runner would hold as Python objects."""

    def __init__(self):
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.documents = Metrics.counter(NAMESPACE, "near.documents_hashed")
        self.empty = Metrics.counter(NAMESPACE, "near.documents_without_shingles")
        self.errors = Metrics.counter(NAMESPACE, "near.signature_errors")
        self.ticker = progress.Ticker(self.progress_dir)

    def start_bundle(self):
        self.buffers: dict[int, bytearray] = {}

    def process(self, ref):
        bands = ref[2]
        if bands is None:
            self.errors.inc()
            return
        if not bands:
            self.empty.inc()
            return
        self.documents.inc()
        h = handle(ref[0])
        for i in range(0, len(bands), 8):
            partition = bands[i]
            buffer = self.buffers.get(partition)
            if buffer is None:
                buffer = self.buffers[partition] = bytearray()
            buffer += bands[i:i + 8]
            buffer += h
            if len(buffer) >= PACKED_BYTES:
                yield partition, bytes(buffer)
                buffer.clear()

    def finish_bundle(self):
        for partition, buffer in self.buffers.items():
            if buffer:
                yield GlobalWindows.windowed_value((partition, bytes(buffer)))
        self.buffers = {}
        self.ticker.flush()


class _PackedBucketPairsFn(_BucketPairsFn):
    """(partition, [packed records]) -> the candidate pairs of every bucket (records with one
    band key) of two or more members; records are sorted with numpy, not grouped in Python."""

    def process(self, element):
        _, blobs = element
        records = np.frombuffer(b"".join(blobs), dtype=_BAND_RECORD)
        keys = records["key"].astype(np.uint64)
        handles = records["handle"].astype(np.uint64)
        order = np.lexsort((handles, keys))
        keys, handles = keys[order], handles[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)]
        shared = (ends - starts) >= 2
        for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
            key = int(keys[start]).to_bytes(8, "big")
            members = [h.to_bytes(8, "big") for h in handles[start:end].tolist()]
            yield from super().process((key, members))


class _AttachNodeFn(beam.DoFn):
    """(handle, [("node", node, fam), ("pair", (a, b)), ...]) -> ((a, b), (node, fam))."""

    def process(self, element):
        _, values = element
        payload = None
        for value in values:
            if value[0] == "node":
                payload = (value[1], value[2])
                break
        if payload is None:
            return
        for value in values:
            if value[0] == "pair":
                yield value[1], payload


class _VerifyFn(beam.DoFn):
    """Reads the two texts of a candidate pair by reference and decides."""

    def __init__(self, config: DedupConfig, directory: str):
        self.near = config.near
        self.directory = directory
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.candidates = Metrics.counter(NAMESPACE, "near.candidate_pairs")
        self.duplicates = Metrics.counter(NAMESPACE, "near.verified_pairs")
        self.rejected = Metrics.counter(NAMESPACE, "near.false_positive_pairs")
        self.ticker = progress.Ticker(self.progress_dir)

    def start_bundle(self):
        self.reader = stash.ChunkReader(self.directory)

    def finish_bundle(self):
        self.reader.close()
        self.ticker.flush()

    def _text(self, node: str, fam: int) -> str:
        return compared_text(self.reader.read(*stash.parse_node(node)[4]), fam)

    def process(self, element):
        _, ends = element
        by_node = {}
        for node, fam in ends:
            by_node.setdefault(node, fam)
        if len(by_node) != 2:
            return
        (node_a, fam_a), (node_b, fam_b) = sorted(by_node.items())
        self.candidates.inc()
        self.ticker.tick("candidate pairs")
        text_a, text_b = self._text(node_a, fam_a), self._text(node_b, fam_b)
        if fam_a == CODE and fam_b == CODE:
            cutoff = self.near.code_edit_similarity
            similar = edit_similarity(text_a, text_b, cutoff) >= cutoff
        else:
            similar = prose_similarity(text_a, text_b, self.near.shingle,
                                       self.near.ngram) >= self.near.threshold
        if similar:
            self.duplicates.inc()
            self.ticker.tick("verified pairs")
            yield node_a, node_b
        else:
            self.rejected.inc()


class _ApplyLabelsFn(beam.DoFn):
    """(node, label) of every node in a verified pair -> drop records (node != label) and
    the members of the example clusters."""

    def __init__(self, config: DedupConfig):
        self.config = config
        self._selected: frozenset[str] | None = None
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.drops = DropCounter("dedup")
        self.removed = Metrics.counter(NAMESPACE, "near.removed")
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element, selected):
        if self._selected is None:
            self._selected = frozenset(selected)
        node, label = element
        if label in self._selected:
            yield beam.pvalue.TaggedOutput(MEMBERS, (label, node))
        if label == node:
            self.ticker.tick("clusters")
            return
        self.removed.inc()
        self.drops.dropped(stash.parse_node(node)[1], "dedup.near", None)
        keeper = id_of(stash.parse_node(label)[0], self.config)
        yield _drop(node, "dedup.near", keeper, None)


class _ExampleFn(beam.DoFn):
    def __init__(self, directory: str):
        self.directory = directory

    def process(self, element):
        root, nodes = element
        nodes = list(nodes)
        reader = stash.ChunkReader(self.directory)
        try:
            members = _members(heapq.nsmallest(stats.MEMBERS_SHOWN, nodes), reader)
        finally:
            reader.close()
        yield stats.example(len(nodes), stats.sample_order(stash.parse_node(root)[0]), members)


class NearDedupRefs(beam.PTransform):
    """refs (after exact dedup; one PCollection or several) -> (drop records, cluster
    summary: one dict)."""

    def __init__(self, config: DedupConfig, directory: str, label: str = "near"):
        super().__init__(label=label)
        if config.near is None:
            raise ValueError("near dedup is switched off in this config")
        self.config = config
        self.directory = directory

    def expand(self, refs):
        config, near = self.config, self.config.near
        refs = [refs] if isinstance(refs, beam.PCollection) else list(refs)
        banded = [pcoll | f"BandKeys{i}" >> beam.ParDo(_PackBandKeysFn())
                  for i, pcoll in enumerate(refs)]
        banded = banded[0] if len(banded) == 1 else banded | "AllBandKeys" >> beam.Flatten()
        pairs = (
            shuffle_meter.metered(banded, "dedup.near.buckets")
            | "Buckets" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(_PackedBucketPairsFn(near.max_bucket_exhaustive,
                                                                  near.bucket_anchors))
        )
        pairs = (shuffle_meter.metered(pairs, "dedup.near.distinct_pairs")
                 | "DistinctPairs" >> beam.Distinct())
        nodes = [pcoll | f"Nodes{i}" >> beam.Map(lambda r: (handle(r[0]), ("node", r[0], r[3])))
                 for i, pcoll in enumerate(refs)]
        ends = pairs | "PairEnds" >> beam.FlatMap(
            lambda p: [(p[0], ("pair", p)), (p[1], ("pair", p))])
        attached = ((*nodes, ends)
                    | "ByHandle" >> PackedGroupByKey("dedup.near.by_handle")
                    | "AttachNode" >> beam.ParDo(_AttachNodeFn()))
        edges = (shuffle_meter.metered(attached, "dedup.near.by_pair")
                 | "ByPair" >> beam.GroupByKey()
                 | "Verify" >> beam.ParDo(_VerifyFn(config, self.directory)))
        labels = edges | "Components" >> ConnectedComponents(near.component_rounds)

        sizes_by_root = (
            labels
            | "ByLabel" >> beam.Map(lambda kv: (kv[1], 1))
            | "ClusterSizes" >> beam.CombinePerKey(sum)
            | "Clusters" >> beam.Filter(lambda kv: kv[1] >= 2)
        )
        order = lambda kv: stats.sample_order(stash.parse_node(kv[0])[0])  # noqa: E731
        sample = sizes_by_root | "SampleClusters" >> beam.combiners.Top.Of(
            stats.EXAMPLES, key=order, reverse=True)
        largest = sizes_by_root | "LargestClusters" >> beam.combiners.Top.Of(
            stats.LARGEST, key=lambda kv: (kv[1], order(kv)))
        selected = ((sample, largest)
                    | "Selected" >> beam.Flatten()
                    | "SelectedRoots" >> beam.FlatMap(lambda kvs: [k for k, _ in kvs]))
        applied = labels | "Apply" >> beam.ParDo(
            _ApplyLabelsFn(config), selected=beam.pvalue.AsList(selected)).with_outputs(
                MEMBERS, main="drops")
        examples = (applied[MEMBERS]
                    | "ExampleMembers" >> beam.GroupByKey()
                    | "Examples" >> beam.ParDo(_ExampleFn(self.directory)))
        summary = ((sizes_by_root | "Sizes" >> beam.Values(), examples)
                   | "Summary" >> stats.SummarizeGroups())
        return applied.drops, summary
