"""Documents by reference between the per-document steps and the writers (issue 21).

    per-source docs, rejected ─► StashFn (map: chunk files and their indexes; chunk ids out)
        chunk side files ─► corpus decisions on references (dedup: pipeline/dedup/by_ref.py)
        one ("chunk", id) per chunk + drop records ─► GroupByKey((source, unit))
             ─► RejoinFn (map per input unit: reads its chunks' indexes and documents back,
                in input order)
             ─► map-only corpus stages ─► per-unit writers (pipeline/writers.py)

Only chunk ids and the drop records cross the group by unit; what the rejoin needs of each
record (kind, position, location, id) waits in the chunk's index file, and the texts go disk ->
the rejoining worker. Every document and rejected record carries `_at` = (input unit index,
record index in the unit) from the reader on, so the writer knows its unit.
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
# A chunk closes after this many records: its index entries and dedup rows wait in the
# worker's memory until then, and a bundle can hold a whole source.
RECORDS_PER_CHUNK = min(4096, MAX_ROWS)


class _OpenChunk:
    """A chunk being written: its file, its index entries, dedup's side rows (or None)."""

    def __init__(self, directory: str, sidecar: SidecarRows | None):
        self.writer = stash.ChunkWriter(directory)
        self.sidecar = sidecar
        self.entries: list[tuple] = []


class StashFn(beam.DoFn):
    """doc | rejected record (with `kind` "doc" | "rej") -> one unit entry ((source, unit),
    ("chunk", chunk id)) per chunk written; when `dedup_config` is given, also the packed exact keys
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
        self.writers: dict[tuple[str, int], _OpenChunk] = {}
        self.exact_keys = RefPacker(EXACT_KEY_BYTES)

    def _writer(self, source: str, unit: int) -> Iterator[Any]:
        """Makes (source, unit)'s chunk the most recently used open one; yields the ids of
        chunks it closes."""
        key = (source, unit)
        entry = self.writers.pop(key, None)
        if entry is not None and entry.writer.count >= RECORDS_PER_CHUNK:
            yield from self._close(key, entry)
            entry = None
        if entry is None:
            if len(self.writers) >= _MAX_OPEN:  # close the least recently used chunk
                oldest = next(iter(self.writers))
                yield from self._close(oldest, self.writers.pop(oldest))
            sidecar = None
            if self.dedup_config is not None:
                sidecar = SidecarRows(self.dedup_config, self.code_sources, source, unit)
            entry = _OpenChunk(self.directory, sidecar)
        self.writers[key] = entry  # most recently used last

    def _close(self, key: tuple[str, int], chunk: _OpenChunk) -> Iterator[Any]:
        chunk.writer.close()
        chunk_id = chunk.writer.chunk_id
        stash.write_index(self.directory, chunk_id, chunk.entries)
        yield key, ("chunk", chunk_id)
        if chunk.sidecar is not None and chunk.sidecar.rows:
            chunk.sidecar.write(self.directory, chunk_id)
            yield beam.pvalue.TaggedOutput(CHUNKS, chunk_id)

    def finish_bundle(self):
        window = GlobalWindows.windowed_value
        for key, chunk in self.writers.items():
            for out in self._close(key, chunk):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, window(out.value))
                else:
                    yield window(out)
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
        chunk = self.writers[(source, unit)]
        loc = chunk.writer.append(record)
        chunk.entries.append((kind, pos, loc, record["id"]))
        if kind == "rej":
            return
        if chunk.sidecar is not None:
            row, exact = chunk.sidecar.add(record, loc)
            if exact is not None:
                for packed in self.exact_keys.add(exact[:8], chunk.writer.chunk_id, row):
                    yield beam.pvalue.TaggedOutput(EXACT_KEYS, packed)
            self.ticker.tick("documents hashed")
        self.stashed.inc()
        self.ticker.tick("stashed")


def unit_entries(values, directory: str) -> list[tuple]:
    """A unit's group -> its records' entries (kind, position, location, id), read from its
    chunks' indexes, and its drop records."""
    entries = []
    for value in values:
        if value[0] == "chunk":
            entries += stash.read_index(directory, value[1])
        else:
            entries.append(value)
    return entries


def kept_refs(element, directory: str) -> Iterator[dict[str, Any]]:
    """A unit's group -> {source, id, loc (full path)} of each document no decision dropped
    (what a stage samples by reference, pipeline/quality_classifier.py)."""
    (source, _unit), values = element
    entries = unit_entries(values, directory)
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
        (_source, _unit), values = element
        entries = unit_entries(values, self.directory)
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
