"""Training and evaluation data from a DatasetConfig, per host, deterministic and resumable.

Exact resume (the choice, documented in BUILD.md): the training stream is a deterministic function
of (mixture, split, feature lengths, data seed, shard); a checkpoint records the number of
examples (packed rows) the run has consumed, and a resumed run rebuilds the stream and skips that
many rows before batching. This is PaLM's "a batch is a function of the step number alone", costs
no extra storage, survives changes of the host count's batching (the batch-size ramp) and needs no
tf.data iterator checkpoint; the price is that resuming re-reads (not re-trains on) the skipped
rows, which is fast on a seqio cache.

Each host reads only its shard (seqio.ShardInfo) and batches its share of the global batch.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from collections.abc import Iterator, Sequence

import numpy as np
import seqio
import tensorflow as tf

from launch.utils import DatasetConfig
from pipeline import file_checksums

log = logging.getLogger("launch")


def _import_module(config: DatasetConfig) -> None:
    if config.module:
        importlib.import_module(config.module)


def is_text_to_text(config: DatasetConfig) -> bool:
    """Whether the task (or mixture) has an `inputs` feature (text-to-text, for fine-tuning)."""
    _import_module(config)
    return "inputs" in lookup(config.mixture_or_task_name).output_features


def feature_converter(config: DatasetConfig) -> seqio.FeatureConverter:
    """t5x's decoder-only converters: LMFeatureConverter for language-model tasks; for
    text-to-text tasks PrefixLMFeatureConverter, which concatenates inputs and targets into one
    decoder sequence with loss weights on the targets only (attention stays causal, as in PaLM's
    fine-tuning; `decoder_causal_attention` is not used by the model)."""
    if is_text_to_text(config):
        return seqio.PrefixLMFeatureConverter(
            pack=config.pack, use_custom_packing_ops=config.use_custom_packing_ops)
    return seqio.LMFeatureConverter(pack=config.pack,
                                    use_custom_packing_ops=config.use_custom_packing_ops)


def decoder_length(config: DatasetConfig) -> int:
    """Length of the decoder sequences a DatasetConfig produces (inputs + targets when
    text-to-text)."""
    lengths = config.task_feature_lengths
    return lengths["targets"] + (lengths.get("inputs", 0) if is_text_to_text(config) else 0)


def lookup(name: str):
    """The Task or Mixture, or an error listing what is registered and how to register more."""
    try:
        return seqio.get_mixture_or_task(name)
    except ValueError:
        known = sorted(set(seqio.MixtureRegistry.names()) | set(seqio.TaskRegistry.names()))
        from_env = sys.modules.get("tasks.from_env")  # registered from environment variables
        hint = f" {from_env.what_was_registered()}." if from_env is not None else ""
        raise ValueError(
            f"No Task or Mixture found with name {name!r}. Registered: {known[:50]}"
            f"{' ...' if len(known) > 50 else ''}.{hint} Register it in the run's gin file "
            f"(`import tasks` and MIXTURE_OR_TASK_NAME = @tasks.register_mixture(), with "
            f"tasks.register_mixture.spec = 'path/spec.yaml') or name the registering module "
            f"in DatasetConfig.module.") from None


def check_vocabulary(config: DatasetConfig, model_vocab_size: int) -> None:
    """The model's embedding must cover every id the task's vocabulary can produce."""
    _import_module(config)
    item = lookup(config.mixture_or_task_name)
    size = item.output_features["targets"].vocabulary.vocab_size
    if size > model_vocab_size:
        raise ValueError(f"{config.mixture_or_task_name!r} uses a vocabulary of {size} ids but the "
                         f"model's PalmConfig.vocab_size is {model_vocab_size}: pass "
                         f"--gin.PalmConfig.vocab_size={size} (or larger, e.g. a multiple of 128)")


def _dataset(config: DatasetConfig, name: str, seed: int | None, shard: tuple[int, int],
             num_epochs: int | None, shuffle: bool, memory_cache: bool = True
             ) -> tf.data.Dataset:
    """seqio.get_dataset; with memory_cache=False (a Task only) without seqio's in-memory cache
    of small datasets, which a partial read (an evaluation's first N batches) leaves half-filled,
    and which tf.data then warns about on every evaluation."""
    _import_module(config)
    item = lookup(name)
    lengths = dict(config.task_feature_lengths)
    shard_info = seqio.ShardInfo(index=shard[0], num_shards=shard[1])
    try:
        if not memory_cache and isinstance(item, seqio.Task):
            ds = item.get_dataset(
                lengths, split=config.split, use_cached=config.use_cached, shuffle=shuffle,
                seed=seed, shard_info=shard_info, num_epochs=num_epochs,
                trim_output_features=config.trim_output_features, try_in_mem_cache=False)
            return feature_converter(config)(ds, task_feature_lengths=lengths)
        return seqio.get_dataset(
            name, task_feature_lengths=lengths,
            feature_converter=feature_converter(config), dataset_split=config.split,
            use_cached=config.use_cached, shuffle=shuffle, num_epochs=num_epochs,
            shard_info=shard_info, seed=seed,
            trim_output_features=config.trim_output_features, verbose=False)
    except (ValueError, FileNotFoundError) as e:
        if config.use_cached and "cache" in str(e).lower():
            raise ValueError(f"{e}\nDatasetConfig.use_cached=True but {name!r} has no seqio cache "
                             "here: write it with `python -m tasks.cache` and pass "
                             "--seqio_additional_cache_dirs, or set USE_CACHED_TASKS=False") from e
        raise


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    return options


class TrainStream:
    """This host's part of the infinite, deterministic training stream, batched on demand.

    The global batch is the concatenation of `num_shards` per-shard batches (shard i read with
    seqio.ShardInfo(i, num_shards)); a host reads only the shards `shards` it feeds. The global
    batch therefore depends on the step and the shard count alone, not on how many processes read
    it: 2 hosts x 2 shards and 1 host x 2 shards train on identical batches, and a run can resume
    on a different number of hosts.
    """

    def __init__(self, config: DatasetConfig, seed: int, shards: Sequence[int], num_shards: int):
        if config.task_feature_lengths is None:
            raise ValueError("train DatasetConfig.task_feature_lengths is required for training "
                             "(e.g. TASK_FEATURE_LENGTHS = {'targets': 2048})")
        self.config, self.seed = config, seed
        self.shards, self.num_shards = list(shards), num_shards

    def batches(self, start_row: int, rows_per_shard: int) -> Iterator[dict[str, np.ndarray]]:
        """Host batches of len(shards) x `rows_per_shard` rows, skipping the first `start_row`
        rows of every shard."""
        per_shard = []
        for shard in self.shards:
            ds = _dataset(self.config, self.config.mixture_or_task_name, self.seed,
                          (shard, self.num_shards), num_epochs=None, shuffle=self.config.shuffle)
            ds = ds.with_options(_options())
            if start_row:
                ds = ds.skip(start_row)
            per_shard.append(ds.batch(rows_per_shard, drop_remainder=True))
        if len(per_shard) == 1:
            ds = per_shard[0]
        else:
            ds = tf.data.Dataset.zip(tuple(per_shard)).map(
                lambda *parts: {k: tf.concat([p[k] for p in parts], 0) for k in parts[0]})
        return named_damage(ds.prefetch(2).as_numpy_iterator(), self.config)


def named_damage(batches: Iterator, config: DatasetConfig) -> Iterator:
    """`batches`, with tf.data's DataLossError (a TFRecord CRC that failed: it names an offset,
    not the file) raised as DataCorrupt naming the file and the record."""
    try:
        yield from batches
    except tf.errors.DataLossError as e:
        raise locate_damage(config, e) from None


def data_files(config: DatasetConfig) -> list[str]:
    """The TFRecord files the config's split is read from: seqio cache shards or the sources'."""
    _import_module(config)
    item = lookup(config.mixture_or_task_name)
    files = []
    for task in item.tasks if isinstance(item, seqio.Mixture) else [item]:
        if config.use_cached:
            prefix = seqio.get_cached_tfrecord_prefix(task.cache_dir, config.split)
            files += sorted(tf.io.gfile.glob(prefix + "*"))
        elif config.split in task.source.splits:
            files += list(task.source.list_shards(config.split))
    return files


def locate_damage(config: DatasetConfig, error: Exception) -> file_checksums.DataCorrupt:
    """Which file and record tf.data's "corrupted record at <offset>" is in (reads candidate
    files up to that offset: only after a failure)."""
    match = re.search(r"corrupted record at (\d+)", str(error))
    offset = int(match.group(1)) if match else None
    try:
        files = data_files(config)
    except (ValueError, OSError, tf.errors.OpError):  # no cache dir, a source without files
        files = []
    found = file_checksums.tfrecord_damage(files, offset)
    return found or file_checksums.DataCorrupt(
        f"one of the files of {config.mixture_or_task_name!r} ({config.split})",
        f"byte {offset}", getattr(error, "message", str(error)).strip())


def eval_task_names(config: DatasetConfig) -> list[str]:
    """The tasks evaluated separately: the Mixture's tasks that have the split, or the Task."""
    _import_module(config)
    item = lookup(config.mixture_or_task_name)
    tasks = item.tasks if isinstance(item, seqio.Mixture) else [item]
    return sorted(t.name for t in tasks if config.split in t.splits)


def iter_eval_batches(config: DatasetConfig, task: str, shard: tuple[int, int],
                      host_batch_size: int, max_batches: int | None = None
                      ) -> Iterator[dict[str, np.ndarray]]:
    """One pass over a task's evaluation split (at most `max_batches` batches), read lazily, the
    last batch padded to full size with rows of loss weight 0 so every batch has the same shape."""
    ds = _dataset(config, task, config.seed, shard, num_epochs=1, shuffle=config.shuffle,
                  memory_cache=False)
    ds = ds.with_options(_options()).batch(host_batch_size)
    if max_batches is not None and max_batches > 0:
        ds = ds.take(max_batches)
    for batch in named_damage(ds.as_numpy_iterator(), config):
        rows = next(iter(batch.values())).shape[0]
        if rows < host_batch_size:
            batch = {k: np.concatenate([v, np.zeros((host_batch_size - rows,) + v.shape[1:],
                                                    v.dtype)]) for k, v in batch.items()}
        yield batch


def eval_batches(config: DatasetConfig, task: str, shard: tuple[int, int], host_batch_size: int,
                 max_batches: int | None) -> list[dict[str, np.ndarray]]:
    """iter_eval_batches as a list, for training-time evaluation, which may keep it in memory."""
    return list(iter_eval_batches(config, task, shard, host_batch_size, max_batches))


def zero_batch(config: DatasetConfig, host_batch_size: int) -> dict[str, np.ndarray]:
    """A batch with no trained tokens: hosts with fewer eval batches than others pad with these so
    that every host runs the same number of (collective) eval steps."""
    length = decoder_length(config)
    keys = ["decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights"]
    if config.pack:
        keys += ["decoder_segment_ids", "decoder_positions"]
    return {k: np.zeros((host_batch_size, length), np.int32) for k in keys}
