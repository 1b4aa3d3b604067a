"""Beam plumbing shared by the stages: the rejected record, counters, routing by source, and
the transform that runs a per-document step (pipeline/document_step.py).

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
from pipeline.document import Document

REJECTED = "rejected"
REMOVED_LINES = "removed_lines"
LINE_EXAMPLES_PER_REASON = 3
LINE_EXAMPLE_CHARS = 400


def metrics_namespace(source: str) -> str:
    return f"prep.{source}"


def rejected_record(doc: Document, reason: str) -> dict[str, Any]:
    """What an audit needs to see of a rejected document: which rule, and the text it saw."""
    record = {"id": doc["id"], "source": doc["source"], "role": doc["role"], "reason": reason,
              "lang": doc["lang"], "meta": doc["meta"], "text": doc["text"]}
    if "_at" in doc:  # the input unit and position (pipeline/stash.py), for the writer
        record["_at"] = doc["_at"]
    return record


class _Counters:
    """Lazily created Beam counters, one per (namespace, name)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._counters: dict[str, Any] = {}

    def inc(self, name: str, n: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(self.namespace, name)
        counter.inc(n)


class SourceCounters:
    """`_Counters` per source (namespace `prep.<source>`), for stages that see every source."""

    def __init__(self):
        self._by_source: dict[str, _Counters] = {}

    def __call__(self, source: str) -> _Counters:
        counters = self._by_source.get(source)
        if counters is None:
            counters = self._by_source[source] = _Counters(metrics_namespace(source))
        return counters


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


class RouteBySource(beam.DoFn):
    """Tags the documents of the sources in `apply_to` (every source when None) with `tag`, for a
    corpus stage that applies to some sources only; the others go to the main output untouched."""

    def __init__(self, tag: str, apply_to: tuple[str, ...] | None):
        self.tag = tag
        self.apply_to = None if apply_to is None else frozenset(apply_to)

    def process(self, doc: Document):
        if self.apply_to is None or doc["source"] in self.apply_to:
            yield beam.pvalue.TaggedOutput(self.tag, doc)
        else:
            yield doc


class _ApplyStepFn(beam.DoFn):
    def __init__(self, source: str, step: Any):
        self.source = source
        self.step = step
        self.counters: _Counters | None = None
        self.line_examples: RemovedLineSampler | None = None
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.counters = _Counters(metrics_namespace(self.source))
        self.line_examples = RemovedLineSampler()
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, doc: Document) -> Iterator[Any]:
        started = time.perf_counter()
        outcome = self.step.apply(doc)
        # Time spent in the step, for the per-stage throughput in the job's summary.
        self.counters.inc(f"step_us.{self.step.name}",
                          int((time.perf_counter() - started) * 1e6))
        self.counters.inc(f"step_docs.{self.step.name}")
        self.ticker.tick(self.step.name)
        for name, n in outcome.stats.items():
            self.counters.inc(name, n)
        if outcome.drop_reason is None:
            if outcome.removed_examples:
                yield from self.line_examples.candidates(outcome.doc, outcome.removed_examples)
            yield outcome.doc
            return
        size = len(outcome.doc["text"].encode("utf-8"))
        self.counters.inc(f"drop.{outcome.drop_reason}")
        self.counters.inc("drop_bytes", size)
        self.counters.inc(f"drop_bytes.{outcome.drop_reason}", size)
        self.counters.inc(f"drop_lines.{outcome.drop_reason}",
                          outcome.doc["text"].count("\n") + 1)
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
