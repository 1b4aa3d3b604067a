"""Deterministic sharded outputs of the prep job.

Each kept document goes to a split (validation when a seeded hash of its id falls under the
validation fraction, or is among the source's VALIDATION_MIN_DOCUMENTS smallest hashes, so that
a small source still has a validation split; never more than a quarter of a source's documents
by that minimum). Files are written per input unit (one input file, or one TFDS sub-split) with
no shuffle of text (issue 21): unit i of a source's n units writes `<split>-i-of-n`, its
documents in input order, its rejected records sorted by (id, reason). Names and bytes depend
only on the input and the config, never on the runner, the number of workers or bundles:
each bundle writes what it sees of a unit to a scratch part file, and once the validation
threshold is known (a combine over (hash, id) records) one worker per unit merges the unit's
parts by input position into its final files.

Layout of one source's folder (written to a staging folder first, see pipeline.manifest):
    train-00000-of-00003.tfrecord        tf.train.Example: text, id, source, role, lang, meta
    validation-00000-of-00003.tfrecord   (3: the source has 3 input units)
    rejected-00000-of-00003.jsonl.gz     rejected documents with their reason (sampled)
    dead_letters.jsonl.gz                malformed input: file, position, reason, excerpt
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import tempfile
import uuid
from typing import Any, Iterable

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import progress, tf_example
from pipeline.step_runner import metrics_namespace

TRAIN, VALIDATION, REJECTED_KIND, DEAD_LETTERS_KIND = "train", "validation", "rejected", "dead"
EXAMPLE_FEATURES = ("text", "id", "source", "role", "lang", "meta")


def unit_hash(doc_id: str, salt: str) -> float:
    """A seeded hash of a document id, uniform in [0, 1)."""
    digest = hashlib.blake2b(f"{salt}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


# Every source gets at least this many validation documents, taken by the minimum rule from at
# most a quarter of its documents (a source of under 4 x this many gets fewer, loudly).
VALIDATION_MIN_DOCUMENTS = 4
VALIDATION_MAX_SHARE_BY_MINIMUM = 0.25


def split_of(doc_id: str, validation_fraction: float, seed: int) -> str:
    return VALIDATION if unit_hash(doc_id, f"split:{seed}") < validation_fraction else TRAIN


def validation_threshold(smallest_hashes: list[float], documents: int, fraction: float,
                         min_documents: int = VALIDATION_MIN_DOCUMENTS) -> float:
    """The split-hash bound under which a source's documents are validation documents: the
    validation fraction, raised when needed so that the `min_documents` smallest hashes are
    under it (capped at a quarter of the source's `documents`)."""
    wanted = min(min_documents, int(documents * VALIDATION_MAX_SHARE_BY_MINIMUM))
    hashes = sorted(smallest_hashes)[:wanted]
    if not hashes:
        return fraction
    return max(fraction, float(np.nextafter(hashes[-1], 1.0)))


def validation_split_problem(source: str, documents_out: dict[str, int],
                             min_documents: int = VALIDATION_MIN_DOCUMENTS) -> str | None:
    """Why a source's validation split is smaller than the minimum, or None when it is not."""
    val, train = documents_out.get(VALIDATION, 0), documents_out.get(TRAIN, 0)
    if val >= min_documents:
        return None
    total = val + train
    return (f"source {source!r} has {'NO' if not val else 'only'} {val} validation "
            f"document(s), under the minimum of {min_documents}: it kept {total} document(s), "
            f"and at most {VALIDATION_MAX_SHARE_BY_MINIMUM:.0%} of a source go to validation by "
            f"the minimum rule (give it more data or raise validation_fraction); its evaluation "
            f"curve will be {'missing' if not val else 'noisy'}")


def shard_of(doc_id: str, num_shards: int, seed: int) -> int:
    return int(unit_hash(doc_id, f"shard:{seed}") * num_shards)


def keep_rejected_sample(doc_id: str, rate: float, seed: int) -> bool:
    return rate >= 1.0 or unit_hash(doc_id, f"rejected:{seed}") < rate


def shard_name(kind: str, shard: int, num_shards: int) -> str:
    suffix = "tfrecord" if kind in (TRAIN, VALIDATION) else "jsonl.gz"
    return f"{kind}-{shard:05d}-of-{num_shards:05d}.{suffix}"


DEAD_LETTERS_FILE = "dead_letters.jsonl.gz"


def serialize_example(doc: dict[str, Any]) -> bytes:
    """The document as a tf.train.Example, in the bytes TensorFlow writes with
    deterministic=True, without importing TensorFlow (pipeline/tf_example.py)."""
    meta = json.dumps(doc["meta"], sort_keys=True, ensure_ascii=False)
    return tf_example.encode_string_features({
        "text": doc["text"], "id": doc["id"], "source": doc["source"], "role": doc["role"],
        "lang": doc["lang"], "meta": meta})


def parse_example(serialized: bytes) -> dict[str, Any]:
    """Inverse of serialize_example (used by tests, inspection tools and seqio tasks)."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    out = {k: example.features.feature[k].bytes_list.value[0].decode("utf-8")
           for k in EXAMPLE_FEATURES}
    out["meta"] = json.loads(out["meta"])
    return out


def write_tfrecord(path: str, records: Iterable[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


def write_jsonl_gz(path: str, records: Iterable[dict[str, Any]]) -> None:
    """Gzip with a fixed mtime and no file name in the header, so the bytes are reproducible."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz:
        for record in records:
            gz.write(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
            gz.write(b"\n")
    # UNCOMPRESSED: Beam would otherwise gzip a `.gz` path a second time.
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(buffer.getvalue())



def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frame(record: bytes) -> bytes:
    """One TFRecord as TFRecordWriter writes it (length, masked CRC32C of both)."""
    length = struct.pack("<Q", len(record))
    return (length + struct.pack("<I", _masked_crc(length)) + record
            + struct.pack("<I", _masked_crc(record)))


def read_tfrecords(path: str) -> list[bytes]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<Q", data, at)
        out.append(data[at + 12:at + 12 + n])
        at += 12 + n + 4
    return out


def _copy_to(local: str, path: str) -> None:
    with open(local, "rb") as src, FileSystems.create(
            path, compression_type=CompressionTypes.UNCOMPRESSED) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """A rejected record as written: without the internal `_at`."""
    return {k: v for k, v in record.items() if k != "_at"}


class _PartWriter:
    """One input unit's records as one bundle saw them, in a local temporary file of pickled
    (position, kind, payload) records, copied next to the stash when the bundle ends."""

    def __init__(self, path: str):
        self.path = path
        fd, self.local = tempfile.mkstemp(suffix=".part")
        self.file = os.fdopen(fd, "wb")

    def append(self, record: tuple) -> None:
        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        self.file.write(struct.pack("<Q", len(data)))
        self.file.write(data)

    def finish(self) -> None:
        self.file.close()
        _copy_to(self.local, self.path)
        os.remove(self.local)


def read_part(path: str) -> list[tuple]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    out, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<Q", data, at)
        out.append(pickle.loads(data[at + 8:at + 8 + n]))
        at += 8 + n
    return out


class _WritePartsFn(beam.DoFn):
    """doc | rejected record (`tag` "kept" | "rejected") -> part files (whatever the
    bundling), and small records: ((source, unit), part path) once per part, (source,
    (split hash, unit, id)) per kept document (for the validation threshold)."""

    def __init__(self, parts_dir: str, seed: int, rejected_rate: float):
        self.parts_dir = parts_dir
        self.seed = seed
        self.rejected_rate = rejected_rate
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.ticker = progress.Ticker(self.progress_dir)

    def start_bundle(self):
        self.open: dict[tuple[str, int], _PartWriter] = {}

    def finish_bundle(self):
        for part in self.open.values():
            part.finish()
        self.open = {}
        self.ticker.flush()

    def process(self, record, tag: str):
        """`tag`: "kept" for documents, "rejected" for rejected records."""
        from pipeline import stash

        source = record["source"]
        unit, pos = stash.place(record)
        if tag == "rejected" and not keep_rejected_sample(record["id"], self.rejected_rate,
                                                          self.seed):
            return
        key = (source, unit)
        part = self.open.get(key)
        if part is None:
            path = FileSystems.join(self.parts_dir, source,
                                    f"u{unit:06d}-{uuid.uuid4().hex}.part")
            part = self.open[key] = _PartWriter(path)
            yield beam.pvalue.TaggedOutput("parts", (key, path))
        if tag == "rejected":
            part.append((pos, REJECTED_KIND, public_record(record)))
            return
        split_hash = unit_hash(record["id"], f"split:{self.seed}")
        part.append((pos, TRAIN, (split_hash, serialize_example(record),
                                  len(record["text"].encode("utf-8")), record["lang"])))
        self.ticker.tick("written")
        yield source, (split_hash, unit, record["id"])


class _AssembleFn(beam.DoFn):
    """((source, unit), part paths) -> the unit's final files: kept documents in input order,
    split by the source's validation threshold; rejected records sorted by (id, reason)."""

    def __init__(self, staging: dict[str, str], units: dict[str, int]):
        self.staging = staging
        self.units = units

    def process(self, element, thresholds):
        (source, unit), paths = element
        threshold = dict(thresholds)[source]
        records = sorted((r for path in sorted(set(paths)) for r in read_part(path)),
                         key=lambda r: (r[0], r[1]))
        ns = metrics_namespace(source)
        kept: dict[str, list[bytes]] = {TRAIN: [], VALIDATION: []}
        rejected = []
        for _pos, kind, payload in records:
            if kind == REJECTED_KIND:
                rejected.append(payload)
                continue
            split_hash, example, size, lang = payload
            split = VALIDATION if split_hash < threshold else TRAIN
            kept[split].append(example)
            Metrics.counter(ns, f"out_{split}_docs").inc()
            Metrics.counter(ns, f"out_{split}_bytes").inc(size)
            Metrics.counter(ns, f"lang_out.{lang or 'unset'}").inc()
        staging, units = self.staging[source], self.units[source]
        for split, examples in kept.items():
            if examples:
                with FileSystems.create(FileSystems.join(staging, shard_name(split, unit, units)),
                                        compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    for example in examples:
                        f.write(tfrecord_frame(example))
        if rejected:
            write_jsonl_gz(FileSystems.join(staging, shard_name(REJECTED_KIND, unit, units)),
                           sorted(rejected, key=lambda r: (r["id"], r["reason"])))
        # The parts stay until the job's stash is deleted: a retried bundle reads them again.


def _thresholds(element, counts, fraction: float):
    source, smallest = element
    return source, validation_threshold([h for h, _, _ in smallest],
                                        dict(counts).get(source, 0), fraction)


class WriteUnitOutputs(beam.PTransform):
    """(kept documents, rejected records, more rejected records...) of every source ->
    per-unit files in each source's staging folder; `staging`: source -> folder, `units`:
    source -> number of input units, `parts_dir`: a scratch folder. Only part paths and
    (hash, unit, id) records are grouped."""

    def __init__(self, staging: dict[str, str], units: dict[str, int], parts_dir: str, *,
                 seed: int, validation_fraction: float, rejected_sample_rate: float):
        super().__init__(label="write")
        self.staging = staging
        self.units = units
        self.parts_dir = parts_dir
        self.seed = seed
        self.fraction = validation_fraction
        self.rate = rejected_sample_rate

    def expand(self, pcolls):
        from pipeline import shuffle_meter

        kept, *rejected = pcolls
        # One ParDo per input, fused with the step that made it: a Flatten of texts would make
        # Beam's local runner hold all of them (issue 21). Only small records are flattened.
        write = _WritePartsFn(self.parts_dir, self.seed, self.rate)
        written = [kept | "WriteKept" >> beam.ParDo(write, "kept").with_outputs(
            "parts", main="hashes")]
        written += [pcoll | f"WriteRejected{i}" >> beam.ParDo(write, "rejected").with_outputs(
            "parts", main="hashes") for i, pcoll in enumerate(rejected)]
        hashes = [w.hashes for w in written] | "Hashes" >> beam.Flatten()
        parts = [w.parts for w in written] | "Parts" >> beam.Flatten()
        counts = hashes | "CountKept" >> beam.combiners.Count.PerKey()
        smallest = hashes | "SmallestHashes" >> beam.combiners.Top.SmallestPerKey(
            VALIDATION_MIN_DOCUMENTS)
        fraction = self.fraction
        thresholds = smallest | "Thresholds" >> beam.Map(
            _thresholds, beam.pvalue.AsList(counts), fraction)
        # Sources that kept nothing still have a threshold (the fraction).
        defaults = (kept.pipeline | "AllSources" >> beam.Create(sorted(self.units))
                    | "DefaultThresholds" >> beam.Map(lambda s: (s, None)))
        merged = ((thresholds, defaults) | "BothThresholds" >> beam.Flatten()
                  | "OneThreshold" >> beam.CombinePerKey(
                      lambda values: max([v for v in values if v is not None],
                                         default=fraction)))
        return (shuffle_meter.metered(parts, "write.parts")
                | "PartsByUnit" >> beam.GroupByKey()
                | "Assemble" >> beam.ParDo(_AssembleFn(self.staging, self.units),
                                           beam.pvalue.AsList(merged)))


class _WriteDeadFn(beam.DoFn):
    def __init__(self, staging: dict[str, str]):
        self.staging = staging

    def process(self, element):
        source, records = element
        records = sorted(records, key=lambda r: (r["file"], r["position"], r["reason"]))
        write_jsonl_gz(FileSystems.join(self.staging[source], DEAD_LETTERS_FILE), records)


def write_dead_letters(dead, staging: dict[str, str]):
    """Dead letters (small: an excerpt of 200 characters at most) -> one file per source."""
    from pipeline import shuffle_meter

    keyed = dead | "KeyDead" >> beam.Map(lambda r: (r["source"], r))
    return (shuffle_meter.metered(keyed, "dead_letters") | "GroupDead" >> beam.GroupByKey()
            | "WriteDead" >> beam.ParDo(_WriteDeadFn(staging)))
