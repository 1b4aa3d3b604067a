"""Deterministic sharded outputs of the prep job.

Each kept document goes to a split (validation when a seeded hash of its id falls under the
validation fraction, or is among the source's VALIDATION_MIN_DOCUMENTS smallest hashes, so that
a small source still has a validation split; never more than a quarter of a source's documents
by that minimum) and a shard (another seeded hash of its id). A shard's records are sorted
by id before writing, so the bytes on disk depend only on the input and the config, never on
the runner, the number of workers or bundle boundaries.

Layout of one source's folder (written to a staging folder first, see pipeline.manifest):
    train-00000-of-00004.tfrecord        tf.train.Example: text, id, source, role, lang, meta
    validation-00000-of-00001.tfrecord
    rejected-00000-of-00001.jsonl.gz     rejected documents with their reason (sampled)
    dead_letters.jsonl.gz                malformed input: file, position, reason, excerpt
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from typing import Any, Iterable

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import progress
from pipeline.stages import metrics_namespace

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
    import tensorflow as tf  # imported on workers only when writing

    def feature(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    meta = json.dumps(doc["meta"], sort_keys=True, ensure_ascii=False)
    values = {"text": doc["text"], "id": doc["id"], "source": doc["source"],
              "role": doc["role"], "lang": doc["lang"], "meta": meta}
    # deterministic=True: protobuf otherwise writes the feature map in an arbitrary order.
    return tf.train.Example(features=tf.train.Features(
        feature={k: feature(v) for k, v in values.items()})).SerializeToString(deterministic=True)


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


class _WriteShardFn(beam.DoFn):
    def __init__(self, source: str, staging_dir: str, shard_counts: dict[str, int]):
        self.source = source
        self.staging_dir = staging_dir
        self.shard_counts = shard_counts
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.namespace = metrics_namespace(self.source)
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element):
        (kind, shard), records = element
        if kind == DEAD_LETTERS_KIND:
            path = FileSystems.join(self.staging_dir, DEAD_LETTERS_FILE)
            records = sorted(records, key=lambda r: (r["file"], r["position"], r["reason"]))
            write_jsonl_gz(path, records)
            return
        records = sorted(records, key=lambda r: r["id"])
        path = FileSystems.join(self.staging_dir,
                                shard_name(kind, shard, self.shard_counts[kind]))
        if kind == REJECTED_KIND:
            write_jsonl_gz(path, records)
            return
        write_tfrecord(path, (serialize_example(doc) for doc in records))
        self.ticker.tick("written", len(records))
        num_bytes = sum(len(doc["text"].encode("utf-8")) for doc in records)
        Metrics.counter(self.namespace, f"out_{kind}_docs").inc(len(records))
        Metrics.counter(self.namespace, f"out_{kind}_bytes").inc(num_bytes)
        langs: dict[str, int] = {}
        for doc in records:
            langs[doc["lang"] or "unset"] = langs.get(doc["lang"] or "unset", 0) + 1
        for lang, n in langs.items():
            Metrics.counter(self.namespace, f"lang_out.{lang}").inc(n)


class WriteSourceOutputs(beam.PTransform):
    """Writes kept documents, rejected records and dead letters of one source to staging."""

    def __init__(self, source: str, staging_dir: str, *, seed: int, validation_fraction: float,
                 train_shards: int, validation_shards: int, rejected_sample_rate: float):
        super().__init__(label=f"{source}/write")
        self.source = source
        self.staging_dir = staging_dir
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.rejected_sample_rate = rejected_sample_rate
        self.shard_counts = {TRAIN: train_shards, VALIDATION: validation_shards,
                             REJECTED_KIND: train_shards}

    def expand(self, pcolls):
        kept, rejected, dead_letters = pcolls
        seed, fraction, counts = self.seed, self.validation_fraction, self.shard_counts
        rate = self.rejected_sample_rate

        def key_kept(doc, threshold):
            split = split_of(doc["id"], threshold, seed)
            return (split, shard_of(doc["id"], counts[split], seed)), doc

        keyed = (
            kept | "KeyKept" >> beam.Map(key_kept, beam.pvalue.AsSingleton(
                _validation_threshold(kept, seed, fraction))),
            rejected
            | "SampleRejected" >> beam.Filter(lambda r: keep_rejected_sample(r["id"], rate, seed))
            | "KeyRejected" >> beam.Map(
                lambda r: ((REJECTED_KIND, shard_of(r["id"], counts[REJECTED_KIND], seed)), r)),
            dead_letters | "KeyDead" >> beam.Map(lambda r: ((DEAD_LETTERS_KIND, 0), r)),
        )
        return (
            keyed
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardFn(self.source, self.staging_dir, counts))
        )


def _validation_threshold(kept, seed: int, fraction: float):
    """A one-element PCollection: validation_threshold of a source's kept documents."""
    smallest = (kept
                | "SplitHash" >> beam.Map(lambda doc: unit_hash(doc["id"], f"split:{seed}"))
                | "SmallestHashes" >> beam.combiners.Top.Smallest(VALIDATION_MIN_DOCUMENTS))
    documents = kept | "CountKept" >> beam.combiners.Count.Globally()
    return smallest | "Threshold" >> beam.Map(
        lambda hashes, n: validation_threshold(hashes, n, fraction),
        beam.pvalue.AsSingleton(documents))
