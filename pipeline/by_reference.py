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
from apache_beam.transforms.window import GlobalWindows

from pipeline import progress, stash
from pipeline.counting import DropCounter
from pipeline.dedup.by_ref import EXACT_KEY_BYTES, MAX_ROWS, RefPacker, SidecarRows
from pipeline.dedup.exact import duplicate_record
from pipeline.step_runner import REJECTED

EXACT_KEYS, CHUNKS = "exact_keys", "chunks"
_MAX_OPEN = 32


class StashFn(beam.DoFn):
    """doc | rejected record (with `kind` "doc" | "rej") -> unit entries ((source, unit),
    (kind, position, location, id)); when `dedup_config` is given, also the packed exact keys
    of the documents (EXACT_KEYS, with exact dedup on) and the id of every closed chunk that
    holds documents, whose side file has what dedup needs of them (CHUNKS;
    pipeline/dedup/by_ref.py)."""

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
        self.writers: dict[tuple[str, int], tuple[stash.ChunkWriter, SidecarRows | None]] = {}
        self.exact_keys = RefPacker(EXACT_KEY_BYTES)

    def _writer(self, source: str, unit: int) -> Iterator[Any]:
        """Makes (source, unit)'s chunk the most recently used open one; yields the ids of
        chunks it closes."""
        key = (source, unit)
        entry = self.writers.pop(key, None)
        if entry is not None and entry[0].count >= MAX_ROWS:
            yield from self._close(entry)
            entry = None
        if entry is None:
            if len(self.writers) >= _MAX_OPEN:  # close the least recently used chunk
                yield from self._close(self.writers.pop(next(iter(self.writers))))
            sidecar = None
            if self.dedup_config is not None:
                sidecar = SidecarRows(self.dedup_config, self.code_sources, source, unit)
            entry = (stash.ChunkWriter(self.directory), sidecar)
        self.writers[key] = entry  # most recently used last

    def _close(self, entry) -> Iterator[Any]:
        writer, sidecar = entry
        writer.close()
        if sidecar is not None and sidecar.rows:
            sidecar.write(self.directory, writer.chunk_id)
            yield beam.pvalue.TaggedOutput(CHUNKS, writer.chunk_id)

    def finish_bundle(self):
        window = GlobalWindows.windowed_value
        for entry in self.writers.values():
            for tagged in self._close(entry):
                yield beam.pvalue.TaggedOutput(tagged.tag, window(tagged.value))
        self.writers = {}
        for packed in self.exact_keys.flush():
            yield beam.pvalue.TaggedOutput(EXACT_KEYS, packed)
        self.ticker.flush()

    def process(self, record, kind: str) -> Iterator[Any]:
        """`kind`: "doc" for documents, "rej" for rejected records."""
        unit, pos = stash.place(record)
        source = record["source"]
        if kind == "rej" and self.keep_rejected is not None \
                and not self.keep_rejected(record["id"]):
            return
        yield from self._writer(source, unit)
        writer, sidecar = self.writers[(source, unit)]
        loc = writer.append(record)
        if kind == "rej":
            yield (source, unit), ("rej", pos, loc, record["id"])
            return
        if sidecar is not None:
            row, exact = sidecar.add(record, loc)
            if exact is not None:
                for packed in self.exact_keys.add(exact[:8], writer.chunk_id, row):
                    yield beam.pvalue.TaggedOutput(EXACT_KEYS, packed)
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
