"""Exact and near dedup on references: the decisions of exact.py and near.py, taken on small
records while the documents stay in the stash (pipeline/stash.py; issue 21).

While a document is stashed, `SidecarRows` notes what dedup needs of it in a side file of its
chunk (`<chunk id>.dedup`): place, priority key, exact key, family, band keys. A document is
then named by a handle, (chunk id, row), from which any worker finds its node
(`Sidecars.lookup`) and its text; nothing else about a document crosses a shuffle:

    exact keys ─► packed (7 key bytes, handle) records per partition ─► sort ─► groups of 2+:
        rows read from the side files, keeper = smallest node; other copies -> drop records
    chunks + exact drops ─► per chunk: band keys of the kept rows ─► packed (5 key bytes,
        handle) records ─► sort ─► candidate pairs of handles ─► distinct ─► verify: nodes
        and texts read by handle ─► ConnectedComponents on nodes ─► node != label -> drops

A record is 7 + 4 or 5 + 4 bytes, about 9 or 6 once packed by columns (`RefPacker`). The node
(`stash.node_name`) is the keeper priority key followed by where the document is, so nodes
sort as keepers do and a decision on a node needs no join back to its document. A band key
travels as its first 6 bytes (the partition byte and 5 more): keys that agree there but differ
only make a candidate pair that verification rejects, like any LSH false positive, about
(16 N)^2 / 2^49 pairs for N documents (0.5 at a million, 4,500 at 100 million). An exact key
travels as 8 bytes and groups are split by the full 16 read from the side files.

Drop records are `((source, unit), ("drop", position, location, (reason, kept id, kept
source or None)))`, joined with the documents per input unit (pipeline/by_reference.py). Only
the few documents shown as examples in the report are read back for their first line.
Tie-break: exact.py breaks ties of the priority key by (source, text, meta); here by (source,
unit, position). Ties need equal ids and equal 8-hex text digests.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import pickle
import struct
from typing import Any, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
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
from pipeline.packed_columns import pack_columns, unpack_columns
from pipeline.packed_shuffle import PackedGroupByKey

NAMESPACE = "dedup"
DROPS, STATS, SIZES, MEMBERS, DROPPED = "drops", "stats", "sizes", "members", "dropped"
EXACT_KEY_BYTES, BAND_KEY_BYTES = 7, 5  # sent after the partition byte
MAX_ROWS = 1 << 24  # rows of one chunk: a handle's row is 3 bytes in a pack
PACKED_BYTES = 1 << 16  # a bundle sends a partition's records on past this size
_POS, _OFFSET, _LENGTH, _PRIORITY, _ID, _EXACT, _FAMILY, _BANDS = range(8)


def sidecar_name(chunk_id: int) -> str:
    return f"{chunk_id:016x}.dedup"


class SidecarRows:
    """What dedup needs of each document of one chunk, gathered while it is stashed and
    written next to the chunk when it closes. `add` returns the document's row and its
    16-byte exact key (None with exact dedup off)."""

    def __init__(self, config: DedupConfig, code_sources: frozenset[str], source: str,
                 unit: int):
        self.config = config
        self.code_sources = code_sources
        self.source, self.unit = source, unit
        self.rows: list[tuple] = []

    def add(self, doc: dict[str, Any], loc: tuple[str, int, int]) -> tuple[int, bytes | None]:
        config = self.config
        exact = None
        if config.exact is not None:
            try:
                exact = exact_key(doc["text"], config.exact)
            except Exception:  # as exact.py: such a document is left alone
                unkeyed = b"unkeyed\x00" + str(doc.get("id")).encode("utf-8", "surrogatepass")
                exact = hashlib.blake2b(unkeyed, digest_size=16).digest()
        bands, fam = b"", 0
        if config.near is not None:
            near = config.near
            fam = family(doc, self.code_sources)
            try:
                shingles = minhash.shingles(compared_text(doc, fam), near.shingle, near.ngram)
                if shingles.size:
                    b, r = near.bands_rows()
                    sig = minhash.signature(shingles, near.num_perm, near.seed)
                    bands = b"".join(hashlib.blake2b(k, digest_size=8).digest()
                                     for k in minhash.band_keys(sig, b, r, fam))
            except Exception:  # a document that cannot be hashed is kept, never dropped
                bands = None
        _, pos = stash.place(doc)
        self.rows.append((pos, loc[1], loc[2], priority_key(doc, config), doc["id"], exact,
                          fam, bands))
        return len(self.rows) - 1, exact

    def write(self, directory: str, chunk_id: int) -> None:
        """The side file: row count and header length (two little-endian uint32), the
        header (source, unit), the rows' byte offsets (n + 1 uint64), the pickled rows: any
        row is one seek and one read away."""
        rows = [pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL) for r in self.rows]
        header = pickle.dumps((self.source, self.unit), protocol=pickle.HIGHEST_PROTOCOL)
        offsets = np.zeros(len(rows) + 1, dtype="<u8")
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        with FileSystems.create(FileSystems.join(directory, sidecar_name(chunk_id)),
                                compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(_SIDE_HEAD.pack(len(rows), len(header)) + header + offsets.tobytes())
            f.write(b"".join(rows))


_SIDE_HEAD = struct.Struct("<II")


class Sidecars:
    """Dedup rows by handle: each side file's header and offsets are read once (the most
    recently used `keep` are kept), then a row is one seek and one read, so looking up the
    members of exact groups and candidate pairs spread over thousands of chunks costs a few
    reads each, not a whole side file."""

    def __init__(self, directory: str, keep: int = 256):
        self.directory = directory
        self.keep = keep
        self._heads: collections.OrderedDict[int, tuple] = collections.OrderedDict()
        self._files = stash.OpenFiles(32)

    def _file(self, chunk_id: int):
        return self._files.get(FileSystems.join(self.directory, sidecar_name(chunk_id)))

    def _head(self, chunk_id: int) -> tuple[str, int, np.ndarray, int]:
        """(source, unit, row offsets, where the rows start)."""
        head = self._heads.pop(chunk_id, None)
        if head is None:
            f = self._file(chunk_id)
            f.seek(0)
            n, header_length = _SIDE_HEAD.unpack(f.read(_SIDE_HEAD.size))
            source, unit = pickle.loads(f.read(header_length))
            offsets = np.frombuffer(f.read(8 * (n + 1)), dtype="<u8")
            head = (source, unit, offsets, _SIDE_HEAD.size + header_length + 8 * (n + 1))
            if len(self._heads) >= self.keep:
                self._heads.popitem(last=False)
        self._heads[chunk_id] = head
        return head

    def lookup(self, chunk_id: int, row: int) -> tuple[tuple, str]:
        """(the document's dedup row, its node name)."""
        source, unit, offsets, start = self._head(chunk_id)
        f = self._file(chunk_id)
        f.seek(start + int(offsets[row]))
        r = pickle.loads(f.read(int(offsets[row + 1] - offsets[row])))
        node = stash.node_name(r[_PRIORITY], source, unit, r[_POS],
                               (stash.chunk_name(chunk_id), r[_OFFSET], r[_LENGTH]))
        return r, node

    def all_rows(self, chunk_id: int) -> list[tuple]:
        """Every row of a chunk, in order (one sequential read)."""
        path = FileSystems.join(self.directory, sidecar_name(chunk_id))
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            data = f.read()
        n, header_length = _SIDE_HEAD.unpack_from(data)
        offsets = np.frombuffer(data, dtype="<u8", count=n + 1,
                                offset=_SIDE_HEAD.size + header_length).tolist()
        start = _SIDE_HEAD.size + header_length + 8 * (n + 1)
        return [pickle.loads(data[start + a:start + b]) for a, b in zip(offsets, offsets[1:])]

    def close(self) -> None:
        self._files.close()


class RefPacker:
    """A bundle's (key, handle) records, packed per partition (the key's first byte): a pack
    is the number of chunks n (1 byte), their ids (8 bytes each), then records of `key_bytes`
    key bytes after the first, the chunk's slot (1 byte) and the row (3 bytes; sorted by
    handle, each row is stored as the step from the one before in its chunk), stored by
    columns (pipeline/packed_columns.py). The shuffle moves a few large elements instead of
    one Python object per record."""

    def __init__(self, key_bytes: int):
        self.key_bytes = key_bytes
        self.pending: dict[int, tuple[dict[int, int], bytearray]] = {}

    def add(self, key: bytes, chunk_id: int, row: int) -> Iterator[tuple[int, bytes]]:
        partition = key[0]
        slots, records = self.pending.setdefault(partition, ({}, bytearray()))
        slot = slots.get(chunk_id)
        if slot is None:
            if len(slots) == 255:
                yield partition, self._pack(partition)
                slots, records = self.pending.setdefault(partition, ({}, bytearray()))
            slot = slots[chunk_id] = len(slots)
        records += key[1:1 + self.key_bytes]
        records.append(slot)
        records += row.to_bytes(3, "big")
        if len(records) >= PACKED_BYTES:
            yield partition, self._pack(partition)

    def _pack(self, partition: int) -> bytes:
        slots, records = self.pending.pop(partition)
        table = np.fromiter(slots, dtype=">u8", count=len(slots)).tobytes()
        records = np.frombuffer(records, dtype=np.uint8).reshape(-1, self.key_bytes + 4)
        slot, row = records[:, self.key_bytes], _rows_of(records[:, self.key_bytes + 1:])
        order = np.lexsort((row, slot))
        records, slot, row = records[order], slot[order], row[order]
        # Rows as the step from the previous record of the same chunk: small numbers
        # compress to a few bits where whole rows would cost two or three bytes.
        same = np.r_[False, slot[1:] == slot[:-1]]
        step = np.where(same, row - np.r_[0, row[:-1]], row)
        records[:, self.key_bytes + 1:] = _row_bytes(step)
        return bytes((len(slots),)) + table + pack_columns(records)

    def flush(self) -> Iterator:
        """Every pending pack, as windowed values (for finish_bundle)."""
        for partition in list(self.pending):
            yield GlobalWindows.windowed_value((partition, self._pack(partition)))


def _rows_of(three_bytes: np.ndarray) -> np.ndarray:
    b = three_bytes.astype(np.int64)
    return (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2]


def _row_bytes(rows: np.ndarray) -> np.ndarray:
    return np.stack([(rows >> 16) & 255, (rows >> 8) & 255, rows & 255], axis=1).astype(np.uint8)


def unpack(partition: int, packs, key_bytes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, chunk ids, rows) of every record of a partition's packs, sorted by key, then
    handle."""
    keys, chunks, rows = [], [], []
    width = key_bytes + 4
    for pack in packs:
        n = pack[0]
        table = np.frombuffer(pack, dtype=">u8", count=n, offset=1).astype(np.uint64)
        records = unpack_columns(pack[1 + 8 * n:], width)
        key = np.full(len(records), partition, dtype=np.uint64)
        for i in range(key_bytes):
            key = (key << np.uint64(8)) | records[:, i].astype(np.uint64)
        slot = records[:, key_bytes]
        step = _rows_of(records[:, key_bytes + 1:])
        starts = np.r_[True, slot[1:] != slot[:-1]] if len(slot) else np.zeros(0, bool)
        total = np.cumsum(step)
        run = np.cumsum(starts) - 1
        keys.append(key)
        chunks.append(table[slot])
        rows.append((total - (total[starts] - step[starts])[run]).astype(np.uint32))
    if not keys:
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty, np.zeros(0, dtype=np.uint32)
    keys, chunks, rows = np.concatenate(keys), np.concatenate(chunks), np.concatenate(rows)
    order = np.lexsort((rows, chunks, keys))
    return keys[order], chunks[order], rows[order]


def runs_of(keys: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, end) of every run of two or more equal keys in a sorted array."""
    if len(keys) < 2:
        return
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    shared = (ends - starts) >= 2
    yield from zip(starts[shared].tolist(), ends[shared].tolist())


def handle_bytes(chunk_id: int, row: int) -> bytes:
    return chunk_id.to_bytes(8, "big") + row.to_bytes(4, "big")


def parse_handle(handle: bytes) -> tuple[int, int]:
    return int.from_bytes(handle[:8], "big"), int.from_bytes(handle[8:], "big")


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


class _ExactGroupsFn(beam.DoFn):
    """(partition, [packs of exact keys]) -> one keeper per group of copies; the others as
    drop records (DROPS) and handles (DROPPED, for near dedup's per-chunk band keys)."""

    def __init__(self, directory: str):
        self.directory = directory

    def setup(self):
        self.drops = DropCounter("dedup")
        self.groups = Metrics.counter(NAMESPACE, "exact.groups")
        self.removed = Metrics.counter(NAMESPACE, "exact.removed")

    def start_bundle(self):
        self.sidecars = Sidecars(self.directory)

    def finish_bundle(self):
        self.sidecars.close()

    def process(self, element) -> Iterator[Any]:
        partition, packs = element
        keys, chunks, rows = unpack(partition, packs, EXACT_KEY_BYTES)
        for start, end in runs_of(keys):
            by_key: dict[bytes, list[tuple[str, int, int]]] = {}
            for chunk_id, row in zip(chunks[start:end].tolist(), rows[start:end].tolist()):
                r, node = self.sidecars.lookup(chunk_id, row)
                by_key.setdefault(r[_EXACT], []).append((node, chunk_id, row, r[_ID]))
            for key, members in by_key.items():
                if len(members) >= 2:
                    yield from self._group(key, members)

    def _group(self, key: bytes, members: list[tuple[str, int, int, Any]]) -> Iterator[Any]:
        best = min(members, key=lambda m: m[0])
        kept_id = best[3]
        kept_source = stash.parse_node(best[0])[1]
        self.groups.inc()
        for node, chunk_id, row, _ in members:
            if node == best[0]:
                continue
            self.removed.inc()
            self.drops.dropped(stash.parse_node(node)[1], "dedup.exact", None)
            yield beam.pvalue.TaggedOutput(DROPS, _drop(node, "dedup.exact", kept_id,
                                                        kept_source))
            yield beam.pvalue.TaggedOutput(DROPPED, (chunk_id, row))
        shown = heapq.nsmallest(stats.MEMBERS_SHOWN, [m[0] for m in members])
        reader = stash.ChunkReader(self.directory)
        try:
            examples = _members(shown, reader)
        finally:
            reader.close()
        yield beam.pvalue.TaggedOutput(SIZES, len(members))
        yield beam.pvalue.TaggedOutput(STATS, stats.example(len(members),
                                                            stats.sample_order(key), examples))


def _flatten(pcolls, label: str):
    pcolls = [pcolls] if isinstance(pcolls, beam.PCollection) else list(pcolls)
    return pcolls[0] if len(pcolls) == 1 else tuple(pcolls) | label >> beam.Flatten()


class ExactDedupRefs(beam.PTransform):
    """packed exact keys (StashFn's EXACT_KEYS; one PCollection or several) -> (drop records,
    handles of the dropped copies, group summary: one dict)."""

    def __init__(self, directory: str, label: str = "exact"):
        super().__init__(label=label)
        self.directory = directory

    def expand(self, packs):
        out = (
            shuffle_meter.metered(_flatten(packs, "AllKeys"), "dedup.exact")
            | "Group" >> beam.GroupByKey()
            | "KeepOne" >> beam.ParDo(_ExactGroupsFn(self.directory)).with_outputs(
                DROPS, STATS, SIZES, DROPPED)
        )
        summary = (out[SIZES], out[STATS]) | "Summary" >> stats.SummarizeGroups()
        return out[DROPS], out[DROPPED], summary


class _ChunkBandsFn(beam.DoFn):
    """(chunk id, [rows exact dedup dropped]) -> packed (band key, handle) records of the
    chunk's other documents, read from its side file in order."""

    def __init__(self, directory: str):
        self.directory = directory

    def setup(self):
        self.documents = Metrics.counter(NAMESPACE, "near.documents_hashed")
        self.empty = Metrics.counter(NAMESPACE, "near.documents_without_shingles")
        self.errors = Metrics.counter(NAMESPACE, "near.signature_errors")

    def start_bundle(self):
        self.packer = RefPacker(BAND_KEY_BYTES)

    def process(self, element):
        chunk_id, dropped = element
        dropped = set(dropped)
        for row, r in enumerate(Sidecars(self.directory).all_rows(chunk_id)):
            bands = r[_BANDS]
            if row in dropped:
                continue
            if bands is None:
                self.errors.inc()
                continue
            if not bands:
                self.empty.inc()
                continue
            self.documents.inc()
            for i in range(0, len(bands), 8):
                yield from self.packer.add(bands[i:i + 8], chunk_id, row)

    def finish_bundle(self):
        yield from self.packer.flush()


class _PackedBucketPairsFn(_BucketPairsFn):
    """(partition, [packs of band keys]) -> the candidate pairs of every bucket (records with
    one band key) of two or more members, as handles; records are sorted with numpy, not
    grouped in Python."""

    def process(self, element):
        partition, packs = element
        keys, chunks, rows = unpack(partition, packs, BAND_KEY_BYTES)
        for start, end in runs_of(keys):
            key = int(keys[start]).to_bytes(8, "big")
            members = [handle_bytes(c, r) for c, r in
                       zip(chunks[start:end].tolist(), rows[start:end].tolist())]
            yield from super().process((key, members))


class _VerifyFn(beam.DoFn):
    """A candidate pair of handles -> (node, node) when their texts, read by reference, are
    near-duplicates."""

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
        self.sidecars = Sidecars(self.directory)

    def finish_bundle(self):
        self.reader.close()
        self.sidecars.close()
        self.ticker.flush()

    def _end(self, handle: bytes) -> tuple[str, int, str]:
        chunk_id, row = parse_handle(handle)
        r, node = self.sidecars.lookup(chunk_id, row)
        doc = self.reader.read(stash.chunk_name(chunk_id), r[_OFFSET], r[_LENGTH])
        return node, r[_FAMILY], compared_text(doc, r[_FAMILY])

    def process(self, pair):
        (node_a, fam_a, text_a), (node_b, fam_b, text_b) = sorted(map(self._end, pair))
        self.candidates.inc()
        self.ticker.tick("candidate pairs")
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
    """(chunk ids, handles exact dedup dropped) -> (drop records, cluster summary: one
    dict)."""

    def __init__(self, config: DedupConfig, directory: str, label: str = "near"):
        super().__init__(label=label)
        if config.near is None:
            raise ValueError("near dedup is switched off in this config")
        self.config = config
        self.directory = directory

    def expand(self, inputs):
        """`inputs`: (chunk ids: one PCollection or several, handles exact dedup dropped or
        None)."""
        chunks, dropped = inputs
        config, near = self.config, self.config.near
        chunks = _flatten(chunks, "AllChunks")
        if dropped is None:
            by_chunk = chunks | "NothingDropped" >> beam.Map(lambda c: (c, ()))
        else:
            by_chunk = ((chunks | "Chunks" >> beam.Map(lambda c: (c, None)),
                         dropped)
                        | "ByChunk" >> PackedGroupByKey("dedup.near.by_chunk")
                        | "DroppedRows" >> beam.MapTuple(
                            lambda c, rows: (c, [r for r in rows if r is not None])))
        banded = by_chunk | "BandKeys" >> beam.ParDo(_ChunkBandsFn(self.directory))
        pairs = (
            shuffle_meter.metered(banded, "dedup.near.buckets")
            | "Buckets" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(_PackedBucketPairsFn(near.max_bucket_exhaustive,
                                                                  near.bucket_anchors))
        )
        edges = (shuffle_meter.metered(pairs, "dedup.near.distinct_pairs")
                 | "DistinctPairs" >> beam.Distinct()
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
