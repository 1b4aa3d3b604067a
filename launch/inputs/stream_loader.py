"""Training batches read from a materialised stream by index: batch(step) is a pure function.

The global batch of update `step` is rows [R(step), R(step) + B(step)) of the stream, where B is
the global batch size (with the batch-size ramp) and R(step) the rows all earlier steps took;
host h of H reads only its slice [R + h B / H, R + (h + 1) B / H). Nothing depends on how many
hosts read it, on microbatching (which splits the same global batch inside the step) or on how
the run got to `step`: resuming at step k opens the files and reads k's rows, the same work as
step 0 (tasks/stream_format.py reads rows by index).

Rows are turned into the features of seqio's packed LMFeatureConverter in numpy: a segment ends
at each EOS; inputs are targets shifted right within a segment; positions restart per segment.

The trainer uses it when `DatasetConfig.materialized_stream` names a stream directory (gin:
`TRAIN_STREAM = '/path/to/stream'` in gin/runs/pretrain.gin) or MIXTURE_OR_TASK_NAME names a
stream registered as a seqio Task (`@tasks.register_stream()`); otherwise the online seqio path
(launch/inputs/data.py TrainStream).
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from tasks.stream_format import StreamError, StreamReader

log = logging.getLogger("launch")


def rows_before(step: int, initial: int, ramp: Sequence[tuple[int, int]] | None = None) -> int:
    """Rows taken by updates 0 .. step-1 at global batch `initial`, then each (start, size) of
    the ramp from its start step on (closed form: constant time in `step`)."""
    boundaries = [(0, initial)] + sorted((int(s), int(b)) for s, b in (ramp or ()))
    total = 0
    for i, (start, size) in enumerate(boundaries):
        end = boundaries[i + 1][0] if i + 1 < len(boundaries) else None
        if step <= start:
            break
        total += size * ((min(step, end) if end is not None else step) - start)
    return total


def batch_size_at(step: int, initial: int, ramp: Sequence[tuple[int, int]] | None = None) -> int:
    return rows_before(step + 1, initial, ramp) - rows_before(step, initial, ramp)


def packed_features(tokens: np.ndarray, eos_id: int) -> dict[str, np.ndarray]:
    """seqio LMFeatureConverter(pack=True) features of packed rows [n, L] (int32 arrays)."""
    n, length = tokens.shape
    starts = np.zeros((n, length), bool)
    starts[:, 0] = True
    starts[:, 1:] = tokens[:, :-1] == eos_id
    segments = np.cumsum(starts, axis=1, dtype=np.int32)
    index = np.broadcast_to(np.arange(length, dtype=np.int32), (n, length))
    positions = index - np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    inputs = np.zeros_like(tokens)
    inputs[:, 1:] = tokens[:, :-1]
    inputs[starts] = 0
    return {"decoder_target_tokens": tokens,
            "decoder_input_tokens": inputs,
            "decoder_loss_weights": (tokens != 0).astype(np.int32),
            "decoder_segment_ids": segments,
            "decoder_positions": positions.astype(np.int32)}


class StreamLoader:
    """batch(step) for one host of `host_count` (index `host_index`)."""

    def __init__(self, stream_dir: str, host_index: int = 0, host_count: int = 1):
        if not 0 <= host_index < host_count:
            raise StreamError(f"host index {host_index} is not in [0, {host_count})")
        self.reader = StreamReader(stream_dir)
        self.host_index, self.host_count = host_index, host_count
        self.eos_id = int(self.reader.manifest.get("eos_id", 1))

    @property
    def sequence_length(self) -> int:
        return self.reader.sequence_length

    def host_rows(self, step: int, batch_size: int,
                  ramp: Sequence[tuple[int, int]] | None = None) -> tuple[int, int]:
        """(first row, row count) of this host's slice of update `step`'s global batch."""
        size = batch_size_at(step, batch_size, ramp)
        if size % self.host_count:
            raise StreamError(f"global batch {size} at step {step} does not split over "
                              f"{self.host_count} hosts")
        per_host = size // self.host_count
        return rows_before(step, batch_size, ramp) + self.host_index * per_host, per_host

    def batch(self, step: int, batch_size: int, ramp: Sequence[tuple[int, int]] | None = None,
              with_sources: bool = False) -> dict[str, np.ndarray]:
        """This host's part of update `step`'s global batch, as trainer features (and
        `sources`, each token's source index, when asked)."""
        start, count = self.host_rows(step, batch_size, ramp)
        tokens, sources = self.reader.read(start, count)
        out = packed_features(tokens, self.eos_id)
        if with_sources:
            out["sources"] = sources
        return out


class MaterializedTrainStream:
    """The trainer's interface (launch/inputs/data.py TrainStream): host batches made of the shards
    `shards` of `num_shards`; shard i's part of a global batch is its i-th slice, so the global
    batch is the same contiguous rows for any shard count."""

    def __init__(self, stream_dir: str, shards: Sequence[int], num_shards: int):
        self.reader = StreamReader(stream_dir)
        self.shards, self.num_shards = list(shards), num_shards
        self.eos_id = int(self.reader.manifest.get("eos_id", 1))

    def host_batch(self, first_row: int, rows_per_shard: int) -> dict[str, np.ndarray]:
        parts = [self.reader.read(first_row + shard * rows_per_shard, rows_per_shard)[0]
                 for shard in self.shards]
        return packed_features(np.concatenate(parts), self.eos_id)

    def batches(self, start_row: int, rows_per_shard: int) -> Iterator[dict[str, np.ndarray]]:
        """Host batches from global row start_row x num_shards on (start_row: rows consumed per
        shard, as the trainer counts them), read ahead by a background thread."""
        first = start_row * self.num_shards
        step_rows = rows_per_shard * self.num_shards
        ahead: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce():
            b = 0
            while not stop.is_set():
                try:
                    item = self.host_batch(first + b * step_rows, rows_per_shard)
                except Exception as e:  # handed to the consumer, raised there
                    item = e
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if isinstance(item, Exception):
                    return
                b += 1

        thread = threading.Thread(target=produce, daemon=True, name="stream-readahead")
        thread.start()
        try:
            while True:
                item = ahead.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()


def train_stream(config, seed: int, shards: Sequence[int], num_shards: int):
    """The training stream a DatasetConfig asks for: its materialised stream when
    `materialized_stream` is set or `mixture_or_task_name` names a stream registered as a seqio
    Task (tasks.stream_task), checked against the run's sequence length; else seqio's."""
    from launch.inputs import data as data_lib
    from tasks.stream_task import stream_dir_of

    if getattr(config, "module", None):  # it may register the stream Task
        importlib.import_module(config.module)
    stream_dir = (getattr(config, "materialized_stream", None)
                  or stream_dir_of(config.mixture_or_task_name))
    if not stream_dir:
        return data_lib.TrainStream(config, seed, shards, num_shards)
    stream = MaterializedTrainStream(stream_dir, shards, num_shards)
    length = data_lib.decoder_length(config)
    if stream.reader.sequence_length != length:
        raise StreamError(f"materialized_stream {stream_dir!r} holds rows of "
                          f"{stream.reader.sequence_length} tokens but the run's "
                          f"TASK_FEATURE_LENGTHS give {length}: materialise it at {length}")
    log.info("training data: materialised stream %s (%d rows of %d tokens, seed %s); the data "
             "seed %d is not used", stream_dir, len(stream.reader), length,
             stream.reader.manifest.get("seed"), seed)
    return stream
