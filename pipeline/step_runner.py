"""Runs the per-document steps (pipeline/document_step.py) in Beam, with the plumbing that the
corpus stages share: the rejected record, counters, routing by source.

Each per-document step is its own PTransform (Beam fuses consecutive ones into one worker step,
so the split costs little) with three outputs: kept documents, rejected records and a few
examples of the lines a line rule removed (`RemovedLineSampler`). Every drop,
removed line, redaction and identified language is counted with a Beam counter in the
namespace `prep.<source>`; the job's manifest and report are built from those counters.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import progress
from pipeline.counting import DropCounter, SourceCounters, metrics_namespace
from pipeline.document import Document

__all__ = ["REJECTED", "REMOVED_LINES", "ApplyStep", "CountDocuments", "RemovedLineSampler",
           "SelectLineExamples", "split_by_source", "SourceCounters", "example_rank",
           "metrics_namespace", "rejected_record"]

REJECTED = "rejected"
REMOVED_LINES = "removed_lines"
LINE_EXAMPLES_PER_REASON = 3
LINE_EXAMPLE_CHARS = 400


def rejected_record(doc: Document, reason: str) -> dict[str, Any]:
    """What an audit needs to see of a rejected document: which rule, and the text it saw."""
    record = {"id": doc["id"], "source": doc["source"], "role": doc["role"], "reason": reason,
              "lang": doc["lang"], "meta": doc["meta"], "text": doc["text"]}
    if "_at" in doc:  # the input unit and position (pipeline/stash.py), for the writer
        record["_at"] = doc["_at"]
    return record


def example_rank(doc_id: str, reason: str) -> int:
    """A fixed pseudo-random rank per (document, reason): the examples kept are those of
    smallest rank, the same on every run and runner whatever the bundling."""
    digest = hashlib.blake2b(f"{reason}\0{doc_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class RemovedLineSampler:
    """Per worker, the candidates for the examples of removed lines: for each reason, only a
    document whose rank beats the worker's k-th smallest so far is emitted (a bounded heap), so
    a worker emits O(k log n) candidates, not one per document; the global k smallest are
    always among them, and `SelectLineExamples` picks them."""

    def __init__(self, k: int = LINE_EXAMPLES_PER_REASON):
        self.k = k
        self._heaps: dict[str, list[int]] = {}

    def candidates(self, doc: Document, examples) -> Iterator[Any]:
        for reason, lines in examples.items():
            rank = example_rank(doc["id"], reason)
            heap = self._heaps.setdefault(reason, [])
            if len(heap) == self.k and -heap[0] <= rank:
                continue
            heapq.heappush(heap, -rank)
            if len(heap) > self.k:
                heapq.heappop(heap)
            yield beam.pvalue.TaggedOutput(REMOVED_LINES, (reason, {
                "rank": rank, "id": doc["id"], "lang": doc.get("lang"),
                "lines": lines.count("\n") + 1, "excerpt": lines[:LINE_EXAMPLE_CHARS]}))


class SelectLineExamples(beam.PTransform):
    """(reason, candidate) pairs -> one dict reason -> the k candidates of smallest rank."""

    def __init__(self, k: int = LINE_EXAMPLES_PER_REASON, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def expand(self, candidates):
        return (candidates
                | beam.combiners.Top.PerKey(self.k, key=lambda c: c["rank"], reverse=True)
                | beam.combiners.ToDict())


def split_by_source(batch: list[Document], apply_to: frozenset[str] | None
                    ) -> tuple[list[Document], list[Document]]:
    """(documents of the sources in `apply_to` (every source when None), the others): a
    corpus stage that applies to some sources passes the others through its own batch step,
    since a Flatten of two branches would make Beam's local runner hold every text (issue 21)."""
    if apply_to is None:
        return batch, []
    mine, others = [], []
    for doc in batch:
        (mine if doc["source"] in apply_to else others).append(doc)
    return mine, others


class _ApplyStepFn(beam.DoFn):
    def __init__(self, source: str, step: Any):
        self.source = source
        self.step = step
        self.counts: DropCounter | None = None
        self.line_examples: RemovedLineSampler | None = None
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.counts = DropCounter(self.step.name)
        self.line_examples = RemovedLineSampler()
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, doc: Document) -> Iterator[Any]:
        started = time.perf_counter()
        outcome = self.step.apply(doc)
        # Time spent in the step, for the per-step throughput in the job's summary.
        self.counts.timed(self.source, started)
        self.ticker.tick(self.step.name)
        for name, n in outcome.stats.items():
            self.counts.inc(self.source, name, n)
        if outcome.drop_reason is None:
            if outcome.removed_examples:
                yield from self.line_examples.candidates(outcome.doc, outcome.removed_examples)
            yield outcome.doc
            return
        self.counts.dropped(self.source, outcome.drop_reason, outcome.doc["text"])
        yield beam.pvalue.TaggedOutput(REJECTED, rejected_record(outcome.doc,
                                                                 outcome.drop_reason))


class ApplyStep(beam.PTransform):
    """One per-document step (pipeline/document_step.py) for one source: each document goes
    through `step.apply`. Returns (kept documents, rejected records, removed-line example
    candidates)."""

    def __init__(self, source: str, step: Any):
        super().__init__(label=f"{source}/{step.name}")
        self.source = source
        self.step = step

    def expand(self, docs):
        out = docs | beam.ParDo(_ApplyStepFn(self.source, self.step)).with_outputs(
            REJECTED, REMOVED_LINES, main="kept")
        return out.kept, out[REJECTED], out[REMOVED_LINES]


class CountDocuments(beam.PTransform):
    """Counts documents and UTF-8 bytes under `<prefix>_docs` / `<prefix>_bytes`."""

    def __init__(self, source: str, prefix: str):
        super().__init__(label=f"{source}/count_{prefix}")
        self.source = source
        self.prefix = prefix

    def expand(self, docs):
        return docs | beam.ParDo(_CountFn(self.source, self.prefix))


class _CountFn(beam.DoFn):
    def __init__(self, source: str, prefix: str):
        self.source = source
        self.prefix = prefix
        self.progress_dir = progress.current_dir()

    def setup(self):
        ns = metrics_namespace(self.source)
        self.docs = Metrics.counter(ns, f"{self.prefix}_docs")
        self.bytes = Metrics.counter(ns, f"{self.prefix}_bytes")
        self.ticker = progress.Ticker(self.progress_dir)
        self.stage = "read" if self.prefix == "in" else self.prefix

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, doc: Document):
        self.ticker.tick(self.stage)
        self.docs.inc()
        self.bytes.inc(len(doc["text"].encode("utf-8")))
        yield doc
