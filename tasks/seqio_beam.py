"""Two changes to seqio's cache job (seqio.scripts.cache_tasks_main), made while it builds its
pipeline, because `run_pipeline` constructs its transforms itself and offers no hook:

- progress: `PreprocessTask` becomes a subclass that ticks pipeline/progress.py's counter for
  each example, beside seqio's own Beam counter (stage "<task> <split>");
- determinism: `WriteExampleTfRecord` becomes a writer whose shard for an example, and its
  place in the shard, come from a hash of the example's bytes. seqio's writer uses Beam's
  fixed-shard sink, which deals examples round-robin from a random first shard, so two runs
  on the same data wrote different files. The files keep seqio's names
  (`<split>.tfrecord-0000i-of-0000N`, every shard present, empty or not) and format, so
  seqio reads the cache as before. Each shard's size and CRC32C go into
  `checksums.<split>.json` (beside `info.<split>.json`); the writer's output is that file's
  path, so seqio's COMPLETED marker, which waits on it, comes after it
  (`python -m launch.data_verify` checks them). Every serialised example crosses the
  writer's group-by-shard (the job's one large shuffle, metered as `shuffle/bytes.examples`):
  on the DirectRunner the whole split is held in memory there (docs/training-stream.md
  states the limit this puts on the cache job).

`seqio_substitutions(progress_dir)` is the context manager that swaps both in and puts
seqio's classes back afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from typing import Any, Iterator

import apache_beam as beam
import seqio
import tensorflow as tf
from seqio import beam_utils

from pipeline import file_checksums, progress, shuffle_meter

CHECKSUMS_FORMAT = 1


class PreprocessTaskWithProgress(beam_utils.PreprocessTask):
    """seqio's PreprocessTask plus a progress tick per example."""

    def __init__(self, *args, progress_dir: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress_dir = progress_dir
        self._ticker: progress.Ticker | None = None

    def _increment_counter(self, name):
        super()._increment_counter(name)
        if name == "examples":
            if self._ticker is None:
                self._ticker = progress.Ticker(self._progress_dir)
            self._ticker.tick(f"{self._task_name} {self._split}")

    def _emit_examples(self, shard) -> Iterator[Any]:
        yield from super()._emit_examples(shard)
        if self._ticker is not None:
            self._ticker.flush()  # the shard's last examples


def _digest(record: bytes) -> bytes:
    return hashlib.blake2b(record, digest_size=8).digest()


def shard_name(prefix: str, shard: int, num_shards: int) -> str:
    """Beam's default shard name template, the one seqio's cache reader expects."""
    return f"{prefix}-{shard:05d}-of-{num_shards:05d}"


def _write_shard(element, prefix: str, num_shards: int) -> tuple[str, dict]:
    """Writes one shard; (its file name, its size and CRC32C)."""
    shard, records = element
    path = shard_name(prefix, shard, num_shards)
    with tf.io.TFRecordWriter(path) as writer:
        for _, record in sorted(records):
            writer.write(record)
    size, crc = file_checksums.crc32c_of(path)
    return os.path.basename(path), {"bytes": size, file_checksums.ALGORITHM: crc}


def checksums_path(prefix: str) -> str:
    """`checksums.<split>.json` beside seqio's `info.<split>.json`, for the shards `prefix`*."""
    directory, name = os.path.split(prefix)
    return os.path.join(directory, f"checksums.{name.split('.tfrecord')[0]}.json")


def _write_checksums(files: list[tuple[str, dict]], prefix: str) -> str:
    path = checksums_path(prefix)
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        json.dump({"format": CHECKSUMS_FORMAT, "algorithm": file_checksums.ALGORITHM,
                   "files": dict(sorted(files))}, f, indent=1)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    return path


class DeterministicWriteExampleTfRecord(beam_utils.WriteExampleTfRecord):
    """seqio's example writer with the shard and the order of examples fixed by content."""

    def expand(self, pcoll):
        if not self._num_shards:  # liquid sharding: the runner decides, as in seqio
            return super().expand(pcoll)
        n, prefix = self._num_shards, self._output_path

        def keyed(example):
            record = seqio.dict_to_tfexample(example).SerializeToString(deterministic=True)
            digest = _digest(record)
            return int.from_bytes(digest, "big") % n, (digest, record)

        records = shuffle_meter.metered(pcoll | "KeyByContent" >> beam.Map(keyed), "examples")
        every_shard = (pcoll.pipeline | "Shards" >> beam.Create(range(n))
                       | "NoRecord" >> beam.Map(lambda i: (i, None)))
        return (
            (records, every_shard)
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "DropMarkers" >> beam.MapTuple(lambda i, rs: (i, [r for r in rs if r is not None]))
            | "WriteShard" >> beam.Map(_write_shard, prefix, n)
            | "AllShards" >> beam.combiners.ToList()
            | "WriteChecksums" >> beam.Map(_write_checksums, prefix)
        )


@contextlib.contextmanager
def seqio_substitutions(progress_dir: str | None):
    """seqio's PreprocessTask and WriteExampleTfRecord are the classes above meanwhile."""
    saved = beam_utils.PreprocessTask, beam_utils.WriteExampleTfRecord
    beam_utils.PreprocessTask = functools.partial(PreprocessTaskWithProgress,
                                                  progress_dir=progress_dir)
    beam_utils.WriteExampleTfRecord = DeterministicWriteExampleTfRecord
    try:
        yield
    finally:
        beam_utils.PreprocessTask, beam_utils.WriteExampleTfRecord = saved
