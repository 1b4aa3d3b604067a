"""C4-style removal of lines that recur across many documents of a source (boilerplate).

Navigation bars, footers, cookie banners and forum signatures repeat verbatim across pages.
Hard-wrapped text (manuals, man pages) is judged by paragraph, not display line: a wrapped line
inside a standard sentence recurs across documents without being boilerplate.
Two passes over the text find them without holding it anywhere (issue 21):

    docs ─► ParkFn: each document appended to a chunk file on disk (pipeline/stash.py), its
            distinct paragraph keys (8 bytes) counted per bundle; out: chunk paths, and the
            counts packed per partition (the key's first byte)
    packed counts ─► per partition: sum per key ─► keys in at least `min_documents` documents
    chunk paths ─► StripChunkFn: reads its chunk back record by record and strips the
            frequent paragraphs (they come in as a side input)

Only keys and counts cross a shuffle. The documents wait for the frequent keys on disk, not in
the runner: a side input computed from the same documents would otherwise hold every text of
the source until it is ready. A document left empty is dropped as "boilerplate.empty".
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from typing import Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from pipeline import progress, shuffle_meter, stash
from pipeline.counting import DropCounter
from pipeline.document import Document
from pipeline.document_step import DocumentStep
from pipeline.packed_columns import pack_columns, unpack_columns
from pipeline.rules.paragraphs import paragraphs
from pipeline.step_runner import REJECTED, REMOVED_LINES, RemovedLineSampler, rejected_record

NAME = "boilerplate"
REASON = "boilerplate.repeated_line"
EMPTY = "boilerplate.empty"
LINE_KEYS = "line_keys"
CHUNK_BYTES = 64 << 20  # a parked chunk is closed past this size, so chunks spread over workers
MAX_COUNTED_KEYS = 1 << 18  # distinct keys a bundle counts before it sends its counts on


class Boilerplate(DocumentStep):
    """The boilerplate step; it needs every document of the source at once, so it brings its
    own Beam expansion (`transform`) instead of a per-document `apply`.

    min_documents: a line is boilerplate when it occurs in at least this many documents.
    min_line_chars: shorter lines ("Thanks!", "}") are never considered, they recur naturally.
    """

    name = NAME

    def __init__(self, *, min_documents: int = 3, min_line_chars: int = 20):
        if min_documents < 2:
            raise ValueError("boilerplate.min_documents must be at least 2")
        self.min_documents = min_documents
        self.min_line_chars = min_line_chars

    def transform(self, source: str, scratch_dir: str | None = None) -> "RemoveBoilerplate":
        return RemoveBoilerplate(source, min_documents=self.min_documents,
                                 min_line_chars=self.min_line_chars, scratch_dir=scratch_dir)


def line_key(line: str) -> bytes:
    """8-byte digest of a line without its surrounding whitespace."""
    return hashlib.blake2b(line.strip().encode("utf-8"), digest_size=8).digest()


def units(text: str) -> list[list[str]]:
    """The text's paragraphs (pipeline/rules/paragraphs.py): a hard-wrapped paragraph is one
    unit, so a wrapped line that happens to recur in other documents (the middle of a standard
    sentence) is never cut out of its sentence; text with one paragraph per line is unchanged."""
    return paragraphs(text.split("\n"))


def unit_text(unit: list[str]) -> str:
    return " ".join(line.strip() for line in unit)


def distinct_line_keys(text: str, min_line_chars: int) -> set[bytes]:
    """Digests of the text's paragraphs (one line each, unless the text is hard-wrapped)."""
    keys = set()
    for unit in units(text):
        joined = unit_text(unit)
        if len(joined) >= min_line_chars:
            keys.add(line_key(joined))
    return keys


class _ParkFn(beam.DoFn):
    """The first pass: documents -> chunk files (main output: a chunk's path once it is
    closed) and LINE_KEYS: packed (paragraph key, documents of this bundle that have it).
    Its time counts for the step; its documents are counted once, by the second pass."""

    def __init__(self, source: str, directory: str, min_line_chars: int):
        self.source = source
        self.directory = directory
        self.min_line_chars = min_line_chars

    def setup(self):
        self.counts = DropCounter(NAME)

    def start_bundle(self):
        self.writer: stash.ChunkWriter | None = None
        self.keys: Counter[bytes] = Counter()

    def process(self, doc: Document) -> Iterator:
        started = time.perf_counter()
        if self.writer is None:
            self.writer = stash.ChunkWriter(self.directory)
        _, offset, length = self.writer.append(doc)
        self.keys.update(distinct_line_keys(doc["text"], self.min_line_chars))
        self.counts.timed(self.source, started, documents=0)
        if offset + length >= CHUNK_BYTES:
            yield self._close()
        if len(self.keys) >= MAX_COUNTED_KEYS:
            yield from self._counted()

    def _close(self) -> str:
        self.writer.close()
        path, self.writer = self.writer.path, None
        return path

    def _counted(self) -> Iterator:
        keys, self.keys = self.keys, Counter()
        for partition, packed in pack_counts(keys):
            yield beam.pvalue.TaggedOutput(LINE_KEYS, (partition, packed))

    def finish_bundle(self):
        window = GlobalWindows.windowed_value
        if self.writer is not None:
            yield window(self._close())
        for tagged in self._counted():
            yield beam.pvalue.TaggedOutput(tagged.tag, window(tagged.value))


_COUNTED = np.dtype([("key", "V7"), ("n", "<u4")])  # a key's bytes after its partition byte


def pack_counts(counts: Counter) -> Iterator[tuple[int, bytes]]:
    """(first byte of the key, packed records: the key's other 7 bytes and a little-endian
    uint32 count, by columns, pipeline/packed_columns.py) per partition: a bundle's counts
    cross the shuffle as a few large elements, not one per distinct paragraph (the runner
    would hold each as Python objects)."""
    by_partition: dict[int, tuple[bytearray, list[int]]] = {}
    for key, n in counts.items():
        keys, ns = by_partition.setdefault(key[0], (bytearray(), []))
        keys += key[1:]
        ns.append(n)
    for partition, (keys, ns) in by_partition.items():
        records = np.empty(len(ns), dtype=_COUNTED)
        records["key"] = np.frombuffer(bytes(keys), dtype="V7")
        records["n"] = ns
        yield partition, pack_columns(records.view(np.uint8).reshape(len(ns), -1))


def frequent_keys(element, min_documents: int) -> Iterator[bytes]:
    """(partition, [packed counts]) -> the keys counted in at least `min_documents`
    documents in all (np.unique and a weighted bincount over the partition)."""
    partition, packs = element
    records = np.concatenate([unpack_columns(p, _COUNTED.itemsize) for p in packs]) \
        if packs else np.zeros((0, _COUNTED.itemsize), dtype=np.uint8)
    records = np.ascontiguousarray(records).view(_COUNTED).ravel()
    key_bytes = np.frombuffer(records["key"].tobytes(), dtype=np.uint8).reshape(-1, 7)
    keys = np.full(len(records), partition, dtype=np.uint64)
    for i in range(7):
        keys = (keys << np.uint64(8)) | key_bytes[:, i].astype(np.uint64)
    unique, inverse = np.unique(keys, return_inverse=True)
    totals = np.bincount(inverse, weights=records["n"], minlength=len(unique))
    for key in unique[totals >= min_documents].tolist():
        yield int(key).to_bytes(8, "big")


class _StripFn(beam.DoFn):
    def __init__(self, source: str, min_line_chars: int):
        self.source = source
        self.min_line_chars = min_line_chars
        self._frequent: frozenset[bytes] | None = None
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.counts = DropCounter(NAME)
        self.line_examples = RemovedLineSampler()
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, path: str, frequent) -> Iterator:
        for doc in stash.iter_chunk(path):
            started = time.perf_counter()
            outputs = list(self._strip(doc, frequent))  # timed before they move downstream
            self.counts.timed(self.source, started)
            yield from outputs

    def _strip(self, doc: Document, frequent) -> Iterator:
        self.ticker.tick("boilerplate")
        if self._frequent is None:  # the side input is the same for the whole run
            self._frequent = frozenset(frequent)
        if not self._frequent:
            yield doc
            return
        kept, removed, removed_bytes, example = [], 0, 0, None
        for unit in units(doc["text"]):
            joined = unit_text(unit)
            if len(joined) >= self.min_line_chars and line_key(joined) in self._frequent:
                removed += len(unit)
                removed_bytes += sum(len(line.encode("utf-8")) + 1 for line in unit)
                example = example or "\n".join(unit)
            else:
                kept.extend(unit)
        if not removed:
            yield doc
            return
        self.counts.removed_lines(self.source, REASON, removed, removed_bytes)
        text = "\n".join(kept).strip("\n")
        if not text.strip():
            # The removed lines are counted above; the drop counts what was left of the text.
            self.counts.dropped(self.source, EMPTY, text)
            yield beam.pvalue.TaggedOutput(REJECTED, rejected_record(doc, EMPTY))
            return
        yield from self.line_examples.candidates(doc, {REASON: example})
        yield dict(doc, text=text)


class RemoveBoilerplate(beam.PTransform):
    """Returns (documents without boilerplate lines, rejected records, removed-line example
    candidates). `scratch_dir`: where the documents wait for the frequent keys (a folder the
    job deletes with its staging files)."""

    def __init__(self, source: str, min_documents: int = 3, min_line_chars: int = 20,
                 scratch_dir: str | None = None):
        super().__init__(label=f"{source}/boilerplate")
        if not scratch_dir:
            raise ValueError("boilerplate needs a scratch folder to park the documents in")
        self.source = source
        self.config = Boilerplate(min_documents=min_documents, min_line_chars=min_line_chars)
        self.directory = FileSystems.join(scratch_dir, NAME)

    def expand(self, docs):
        min_chars, min_docs = self.config.min_line_chars, self.config.min_documents
        parked = docs | "Park" >> beam.ParDo(
            _ParkFn(self.source, self.directory, min_chars)).with_outputs(LINE_KEYS,
                                                                          main="chunks")
        frequent = (
            shuffle_meter.metered(parked[LINE_KEYS], f"{self.source}.boilerplate.line_keys")
            | "ByPartition" >> beam.GroupByKey()
            | "Frequent" >> beam.FlatMap(frequent_keys, min_docs)
        )
        out = (parked.chunks
               | "Spread" >> beam.Reshuffle()
               | "Strip" >> beam.ParDo(_StripFn(self.source, min_chars),
                                       frequent=beam.pvalue.AsList(frequent)
                                       ).with_outputs(REJECTED, REMOVED_LINES, main="kept"))
        return out.kept, out[REJECTED], out[REMOVED_LINES]
