"""Documents by reference between the per-document steps and the writers (issue 21).

    per-source docs, rejected ─► StashFn (map: chunk files; refs out)
        refs ─► corpus decisions on refs (dedup: pipeline/dedup/by_ref.py)
        refs of kept docs + refs of rejected + drop records ─► GroupByKey((source, unit))
             ─► RejoinFn (map per input unit: reads its documents back, in input order)
             ─► map-only corpus stages ─► per-unit writers (pipeline/writers.py)

Only references (a few hundred bytes per document) cross the group by unit; the texts go
disk -> the rejoining worker. Every document and rejected record carries `_at` = (input unit
index, record index in the unit) from the reader on, so the writer knows its unit.
"""

from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import progress, stash
from pipeline.counting import DropCounter
from pipeline.dedup.by_ref import dedup_ref
from pipeline.dedup.exact import duplicate_record
from pipeline.step_runner import REJECTED

REJECTED_REFS = "rejected_refs"
DEDUP_REFS = "dedup_refs"
_MAX_OPEN = 32


class StashFn(beam.DoFn):
    """doc | rejected record (with `kind` "doc" | "rej") -> unit entries ((source, unit),
    (kind, position, location, id)), and the documents' dedup references (DEDUP_REFS) when
    `dedup_config` is given."""

    def __init__(self, directory: str, dedup_config: Any = None,
                 code_sources: frozenset[str] = frozenset(), keep_rejected=None):
        self.directory = directory
        self.dedup_config = dedup_config
        self.code_sources = code_sources
        self.keep_rejected = keep_rejected
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.ticker = progress.Ticker(self.progress_dir)
        self.stashed = Metrics.counter("stash", "documents")

    def start_bundle(self):
        self.writers: dict[tuple[str, int], stash.ChunkWriter] = {}

    def _writer(self, source: str, unit: int) -> stash.ChunkWriter:
        key = (source, unit)
        writer = self.writers.pop(key, None)
        if writer is None:
            if len(self.writers) >= _MAX_OPEN:  # close the least recently used chunk
                oldest = next(iter(self.writers))
                self.writers.pop(oldest).close()
            writer = stash.ChunkWriter(self.directory, source, unit)
        self.writers[key] = writer  # most recently used last
        return writer

    def finish_bundle(self):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
        self.ticker.flush()

    def process(self, record, kind: str) -> Iterator[Any]:
        """`kind`: "doc" for documents, "rej" for rejected records."""
        unit, pos = stash.place(record)
        source = record["source"]
        if kind == "rej":
            if self.keep_rejected is not None and not self.keep_rejected(record["id"]):
                return
            loc = self._writer(source, unit).append(record)
            yield (source, unit), ("rej", pos, loc, record["id"])
            return
        loc = self._writer(source, unit).append(record)
        if self.dedup_config is not None:
            yield beam.pvalue.TaggedOutput(DEDUP_REFS, dedup_ref(
                record, loc, self.dedup_config, self.code_sources))
            self.ticker.tick("documents hashed")
        self.stashed.inc()
        self.ticker.tick("stashed")
        yield (source, unit), ("doc", pos, loc, record["id"])


def kept_refs(element, directory: str) -> Iterator[dict[str, Any]]:
    """A unit's group -> {source, id, loc (full path)} of each document no decision dropped
    (what a stage samples by reference, pipeline/quality_classifier.py)."""
    (source, _unit), entries = element
    entries = list(entries)
    dropped = {e[1] for e in entries if e[0] == "drop"}
    for entry in entries:
        if entry[0] == "doc" and entry[1] not in dropped:
            name, offset, length = entry[2]
            yield {"source": source, "id": entry[3],
                   "loc": (FileSystems.join(directory, name), offset, length)}


class RejoinFn(beam.DoFn):
    """((source, unit), entries) -> the unit's kept documents (main) and rejected records
    (REJECTED), read back from the stash in input order."""

    def __init__(self, directory: str):
        self.directory = directory
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.ticker = progress.Ticker(self.progress_dir)
        self.dedup_counts = DropCounter("dedup")

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element, ready=()) -> Iterator[Any]:
        """`ready`: a side input the caller makes this step wait on (pipeline/prep.py)."""
        (_source, _unit), entries = element
        drops = {e[1]: e for e in entries if e[0] == "drop"}
        items = sorted((drops.get(e[1], e) for e in entries if e[0] != "drop"),
                       key=lambda e: (e[1], e[0]))
        reader = stash.ChunkReader(self.directory)
        try:
            for entry in items:
                kind, loc = entry[0], entry[2]
                record = reader.read(*loc)
                if kind == "rej":
                    yield beam.pvalue.TaggedOutput(REJECTED, record)
                    continue
                self.ticker.tick("rejoined")
                if kind == "doc":
                    yield record
                else:  # "drop": a copy removed by dedup (its document counted there)
                    reason, kept_id, kept_source = entry[3]
                    self.dedup_counts.dropped_size(record["source"], reason, record["text"])
                    yield beam.pvalue.TaggedOutput(REJECTED, duplicate_record(
                        record, reason, kept_id, kept_source))
        finally:
            reader.close()
