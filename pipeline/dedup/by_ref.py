"""Exact and near dedup on references: the decisions of exact.py and near.py, taken on small
records while the documents stay in the stash (pipeline/stash.py; issue 21).

A reference ("ref") is a dict made by `doc_ref` while the document is stashed: where it is
(`loc`: chunk, offset, length; `unit`, `pos`), who it is (`id`, `source`, `role`, `node`: its
keeper priority key, `first`: its first line for the report's examples) and what dedup needs
(`exact`: the digest of its canonical text, `order`: the tie-break of the keeper rule, `fam`
and `bands`: its near-dedup family and LSH band keys, hashed to 8 bytes). Only refs cross the
exact group, the LSH buckets, the pair joins and the label join. Verification reads the two
texts of a candidate pair by reference. The output is the kept refs, one drop record per
removed copy (`((source, unit), ("drop", pos, loc, (reason, kept id, kept source or None)))`),
and the
same summaries as the document-carrying transforms.

Tie-break: exact.py breaks ties of the priority key by (source, text, meta); here by (source,
blake2b of text, blake2b of meta). Both tie only on identical documents; they can pick a
different keeper only among copies that share id, 8-hex text digest and source, i.e. never for
distinct ids.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import progress, shuffle_meter, stash
from pipeline.dedup import minhash, stats
from pipeline.dedup.canonical import exact_key
from pipeline.dedup.components import ConnectedComponents
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.keeper import id_of, priority_key
from pipeline.dedup.near import CODE, _BucketPairsFn, compared_text, family
from pipeline.dedup.verify import edit_similarity, prose_similarity
from pipeline.stages import metrics_namespace

NAMESPACE = "dedup"
DROPS, STATS, SIZES, MEMBERS = "drops", "stats", "sizes", "members"


def _digest(data: str) -> bytes:
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def dedup_fields(doc: dict[str, Any], config: DedupConfig,
                 code_sources: frozenset[str]) -> dict[str, Any]:
    """What exact and near dedup need of a document, computed while its text is at hand."""
    node = priority_key(doc, config)
    out: dict[str, Any] = {"node": node, "first": stats.first_line(doc["text"])}
    if config.exact is not None:
        try:
            out["exact"] = exact_key(doc["text"], config.exact)
        except Exception:  # as exact.py: such a document is left alone
            out["exact"] = b"unkeyed\x00" + str(doc.get("id")).encode("utf-8", "surrogatepass")
        out["order"] = (node, doc["source"], _digest(doc["text"]),
                        _digest(json.dumps(doc["meta"], sort_keys=True, default=str)))
    if config.near is not None:
        near = config.near
        fam = family(doc, code_sources)
        out["fam"] = fam
        out["bands"] = None
        try:
            shingles = minhash.shingles(compared_text(doc, fam), near.shingle, near.ngram)
            if shingles.size:
                bands, rows = near.bands_rows()
                sig = minhash.signature(shingles, near.num_perm, near.seed)
                out["bands"] = [hashlib.blake2b(k, digest_size=8).digest()
                                for k in minhash.band_keys(sig, bands, rows, fam)]
            else:
                out["bands"] = ()
        except Exception:  # a document that cannot be hashed is kept, never dropped
            out["bands"] = None
    return out


def _drop(ref: dict[str, Any], reason: str, kept_id: str, kept_source: str | None):
    return (ref["source"], ref["unit"]), ("drop", ref["pos"], ref["loc"],
                                          (reason, kept_id, kept_source))


def _member(ref: dict[str, Any], key: str) -> dict[str, Any]:
    return {"key": key, "id": ref["id"], "source": ref["source"], "role": ref["role"],
            "first_line": ref["first"]}


class _DropCounter:
    def __init__(self, reason: str):
        self.reason = reason
        self.per_source: dict[str, Any] = {}

    def inc(self, source: str) -> None:
        counter = self.per_source.get(source)
        if counter is None:
            counter = self.per_source[source] = Metrics.counter(
                metrics_namespace(source), f"drop.{self.reason}")
        counter.inc()


class _KeepOneFn(beam.DoFn):
    def __init__(self):
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.drops = _DropCounter("dedup.exact")
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
            if best is None or ref["order"] < best["order"]:
                best = ref
        self.ticker.tick("dedup exact groups")
        if size == 1:
            yield best
            return
        self.groups.inc()
        members = []
        for ref in refs:
            if ref["loc"] == best["loc"]:
                yield ref
            else:
                self.removed.inc()
                self.drops.inc(ref["source"])
                yield beam.pvalue.TaggedOutput(DROPS, _drop(ref, "dedup.exact", best["id"],
                                                            best["source"]))
            members.append(_member(ref, ref["order"][0]))
            if len(members) > 4 * stats.MEMBERS_SHOWN:
                members = sorted(members, key=lambda m: m["key"])[:stats.MEMBERS_SHOWN]
        yield beam.pvalue.TaggedOutput(SIZES, size)
        yield beam.pvalue.TaggedOutput(STATS, stats.example(size, stats.sample_order(key),
                                                            members))


class ExactDedupRefs(beam.PTransform):
    """refs -> (kept refs, drop records, group summary: one dict)."""

    def __init__(self, label: str = "exact"):
        super().__init__(label=label)

    def expand(self, refs):
        keyed = refs | "Key" >> beam.Map(lambda r: (r["exact"], r))
        out = (
            shuffle_meter.metered(keyed, "dedup.exact")
            | "Group" >> beam.GroupByKey()
            | "KeepOne" >> beam.ParDo(_KeepOneFn()).with_outputs(DROPS, STATS, SIZES,
                                                                  main="kept")
        )
        summary = (out[SIZES], out[STATS]) | "Summary" >> stats.SummarizeGroups()
        return out.kept, out[DROPS], summary


class _BandKeysFn(beam.DoFn):
    def __init__(self):
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.documents = Metrics.counter(NAMESPACE, "near.documents_hashed")
        self.empty = Metrics.counter(NAMESPACE, "near.documents_without_shingles")
        self.errors = Metrics.counter(NAMESPACE, "near.signature_errors")
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, ref):
        bands = ref["bands"]
        if bands is None:
            self.errors.inc()
            return
        if not bands:
            self.empty.inc()
            return
        self.documents.inc()
        self.ticker.tick("documents hashed")
        for key in bands:
            yield key, ref["node"]


class _AttachLocFn(beam.DoFn):
    """(node, [("loc", loc, fam), ("pair", (a, b)), ...]) -> ((a, b), (node, loc, fam))."""

    def process(self, element):
        node, values = element
        payload = None
        for value in values:
            if value[0] == "loc":
                payload = (node, value[1], value[2])
                break
        if payload is None:
            return
        for value in values:
            if value[0] == "pair":
                yield value[1], payload


class _VerifyFn(beam.DoFn):
    """Reads the two texts of a candidate pair by reference and decides."""

    def __init__(self, config: DedupConfig):
        self.near = config.near
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.candidates = Metrics.counter(NAMESPACE, "near.candidate_pairs")
        self.duplicates = Metrics.counter(NAMESPACE, "near.verified_pairs")
        self.rejected = Metrics.counter(NAMESPACE, "near.false_positive_pairs")
        self.ticker = progress.Ticker(self.progress_dir)

    def start_bundle(self):
        self.reader = stash.ChunkReader()

    def finish_bundle(self):
        self.reader.close()
        self.ticker.flush()

    def _text(self, loc, fam: int) -> str:
        return compared_text(self.reader.read(*loc), fam)

    def process(self, element):
        pair, ends = element
        by_node = {}
        for node, loc, fam in ends:
            by_node.setdefault(node, (loc, fam))
        if len(by_node) != 2:
            return
        (loc_a, fam_a), (loc_b, fam_b) = by_node[pair[0]], by_node[pair[1]]
        self.candidates.inc()
        self.ticker.tick("candidate pairs")
        text_a, text_b = self._text(loc_a, fam_a), self._text(loc_b, fam_b)
        if fam_a == CODE and fam_b == CODE:
            cutoff = self.near.code_edit_similarity
            similar = edit_similarity(text_a, text_b, cutoff) >= cutoff
        else:
            similar = prose_similarity(text_a, text_b, self.near.shingle,
                                       self.near.ngram) >= self.near.threshold
        if similar:
            self.duplicates.inc()
            self.ticker.tick("verified pairs")
            yield pair
        else:
            self.rejected.inc()


class _ApplyLabelsFn(beam.DoFn):
    def __init__(self, config: DedupConfig):
        self.config = config
        self._selected: frozenset[str] | None = None
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.drops = _DropCounter("dedup.near")
        self.removed = Metrics.counter(NAMESPACE, "near.removed")
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element, selected):
        if self._selected is None:
            self._selected = frozenset(selected)
        node, values = element
        label = None
        for value in values:
            if value[0] == "label":
                label = value[1]
        for value in values:
            if value[0] != "ref":
                continue
            ref = value[1]
            if label is not None and label in self._selected:
                yield beam.pvalue.TaggedOutput(MEMBERS, (label, _member(ref, node)))
            if label is None or label == node:
                if label is not None:
                    self.ticker.tick("clusters")
                yield ref
            else:
                self.removed.inc()
                self.drops.inc(ref["source"])
                yield beam.pvalue.TaggedOutput(DROPS, _drop(
                    ref, "dedup.near", id_of(label, self.config), None))


def _example(element):
    root, members = element
    size = sum(1 for _ in members)
    return stats.example(size, stats.sample_order(root), members)


def _strip(ref: dict[str, Any]) -> dict[str, Any]:
    """What the label join needs of a ref (not its band keys)."""
    return {k: v for k, v in ref.items() if k not in ("bands", "exact", "order")}


class NearDedupRefs(beam.PTransform):
    """refs -> (kept refs, drop records, cluster summary: one dict)."""

    def __init__(self, config: DedupConfig, label: str = "near"):
        super().__init__(label=label)
        if config.near is None:
            raise ValueError("near dedup is switched off in this config")
        self.config = config

    def expand(self, refs):
        config, near = self.config, self.config.near
        banded = refs | "BandKeys" >> beam.ParDo(_BandKeysFn())
        pairs = (
            shuffle_meter.metered(banded, "dedup.near.buckets")
            | "Buckets" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(_BucketPairsFn(near.max_bucket_exhaustive,
                                                            near.bucket_anchors))
        )
        pairs = (shuffle_meter.metered(pairs, "dedup.near.distinct_pairs")
                 | "DistinctPairs" >> beam.Distinct())
        locs = refs | "Locs" >> beam.Map(lambda r: (r["node"], ("loc", r["loc"], r["fam"])))
        ends = pairs | "PairEnds" >> beam.FlatMap(
            lambda p: [(p[0], ("pair", p)), (p[1], ("pair", p))])
        by_node = (locs, ends) | "LocsAndEnds" >> beam.Flatten()
        attached = (shuffle_meter.metered(by_node, "dedup.near.by_node")
                    | "ByNode" >> beam.GroupByKey()
                    | "AttachLoc" >> beam.ParDo(_AttachLocFn()))
        edges = (shuffle_meter.metered(attached, "dedup.near.by_pair")
                 | "ByPair" >> beam.GroupByKey()
                 | "Verify" >> beam.ParDo(_VerifyFn(config)))
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
        joined = ((refs | "RefValues" >> beam.Map(lambda r: (r["node"], ("ref", _strip(r)))),
                   labels | "LabelValues" >> beam.Map(lambda kv: (kv[0], ("label", kv[1]))))
                  | "RefsAndLabels" >> beam.Flatten())
        applied = (
            shuffle_meter.metered(joined, "dedup.near.labels")
            | "JoinLabels" >> beam.GroupByKey()
            | "Apply" >> beam.ParDo(_ApplyLabelsFn(config),
                                    selected=beam.pvalue.AsList(selected)).with_outputs(
                DROPS, MEMBERS, main="kept")
        )
        examples = (applied[MEMBERS]
                    | "ExampleMembers" >> beam.GroupByKey()
                    | "Examples" >> beam.Map(_example))
        summary = ((sizes_by_root | "Sizes" >> beam.Values(), examples)
                   | "Summary" >> stats.SummarizeGroups())
        return applied.kept, applied[DROPS], summary
