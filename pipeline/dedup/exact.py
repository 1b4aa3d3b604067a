"""Exact deduplication across all sources: one copy per canonical text.

Every document is keyed by the digest of its canonical text (pipeline/dedup/canonical.py) and
grouped; the group's keeper is the document with the smallest priority key
(pipeline/dedup/keeper.py), the others become rejected records with reason `dedup.exact` and
`meta.duplicate_of` naming the keeper. The group is read as a stream twice (find the keeper,
then route every member), so even a text repeated millions of times needs no more memory on a
worker than the runner's paging of one group.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import shuffle_meter
from pipeline.dedup import stats
from pipeline.dedup.canonical import exact_key
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.keeper import priority_key
from pipeline.stages import REJECTED, metrics_namespace, rejected_record

NAMESPACE = "dedup"
STATS = "stats"
SIZES = "sizes"


def full_order(doc: dict[str, Any], config: DedupConfig) -> tuple[str, str, str, str]:
    """Priority key, then everything else, so that only identical documents tie."""
    return (priority_key(doc, config), doc["source"], doc["text"],
            json.dumps(doc["meta"], sort_keys=True, default=str))


def duplicate_record(doc: dict[str, Any], reason: str, kept_id: str,
                     kept_source: str | None = None) -> dict[str, Any]:
    """The rejected record of a removed copy; its meta names the kept document."""
    record = rejected_record(doc, reason)
    meta = dict(doc["meta"], duplicate_of=kept_id)
    if kept_source is not None:
        meta["duplicate_of_source"] = kept_source
    record["meta"] = meta
    return record


class _KeyFn(beam.DoFn):
    def __init__(self, config: DedupConfig):
        self.config = config

    def setup(self):
        self.errors = Metrics.counter(NAMESPACE, "exact.key_errors")

    def process(self, doc):
        try:
            key = exact_key(doc["text"], self.config.exact)
        except Exception:  # never expected (text is a str); such a document is left alone
            self.errors.inc()
            key = b"unkeyed\x00" + str(doc.get("id")).encode("utf-8", "surrogatepass")
        yield key, doc


class _KeepOneFn(beam.DoFn):
    def __init__(self, config: DedupConfig):
        self.config = config

    def setup(self):
        self.per_source: dict[str, Any] = {}
        self.groups = Metrics.counter(NAMESPACE, "exact.groups")
        self.removed = Metrics.counter(NAMESPACE, "exact.removed")

    def _count_drop(self, source: str) -> None:
        counter = self.per_source.get(source)
        if counter is None:
            counter = self.per_source[source] = Metrics.counter(
                metrics_namespace(source), "drop.dedup.exact")
        counter.inc()

    def process(self, element) -> Iterator[Any]:
        key, docs = element
        best, size = None, 0
        for doc in docs:
            size += 1
            order = full_order(doc, self.config)
            if best is None or order < best[0]:
                best = (order, doc["id"], doc["source"])
        if size == 1:
            yield from docs
            return
        self.groups.inc()
        kept_done = False
        members = []
        for doc in docs:
            order = full_order(doc, self.config)
            if not kept_done and order == best[0]:
                kept_done = True
                yield doc
            else:
                self.removed.inc()
                self._count_drop(doc["source"])
                yield beam.pvalue.TaggedOutput(REJECTED, duplicate_record(
                    doc, "dedup.exact", best[1], best[2]))
            members.append(stats.member_info(order[0], doc))
            if len(members) > 4 * stats.MEMBERS_SHOWN:  # keep the sample bounded
                members = sorted(members, key=lambda m: m["key"])[:stats.MEMBERS_SHOWN]
        yield beam.pvalue.TaggedOutput(SIZES, size)
        yield beam.pvalue.TaggedOutput(STATS, stats.example(size, stats.sample_order(key),
                                                            members))


class ExactDedup(beam.PTransform):
    """docs -> (kept docs, rejected records, group summary: one dict)."""

    def __init__(self, config: DedupConfig, label: str = "dedup/exact"):
        super().__init__(label=label)
        self.config = config

    def expand(self, docs):
        keyed = docs | "Key" >> beam.ParDo(_KeyFn(self.config))
        out = (
            shuffle_meter.metered(keyed, "dedup.exact.documents")
            | "Group" >> beam.GroupByKey()
            | "KeepOne" >> beam.ParDo(_KeepOneFn(self.config)).with_outputs(
                REJECTED, STATS, SIZES, main="kept")
        )
        summary = (out[SIZES], out[STATS]) | "Summary" >> stats.SummarizeGroups()
        return out.kept, out[REJECTED], summary
