"""The configurables t5x run files bind, under t5x's names (`from launch import utils`).

`utils.DatasetConfig`, `utils.SaveCheckpointConfig`, `utils.RestoreCheckpointConfig`,
`utils.CheckpointConfig` and `utils.create_learning_rate_scheduler` take t5x's arguments, so a
t5x run file's bindings of them parse unchanged once its `from t5x import utils` line reads
`from launch import utils`. They are plain classes and functions: gin registers them when a run
file uses `from __gin__ import dynamic_registration` (as t5x's do).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from model import optimizer


@dataclasses.dataclass
class DatasetConfig:
    """Which seqio Task/Mixture to read, and how (t5x's fields).

    Attributes:
      mixture_or_task_name: a registered seqio Task or Mixture (register it first, e.g.
        `MIXTURE_OR_TASK_NAME = @tasks.register_mixture()`, or name its module in `module`).
      task_feature_lengths: e.g. {'targets': 2048}.
      split: 'train', 'validation', ...
      batch_size: the global batch size (all hosts together).
      shuffle: shuffle the examples (seeded: see `seed`).
      seed: the data seed; None takes the run's RANDOM_SEED (recorded in every checkpoint so a
        resumed run reads the same stream).
      use_cached: read the seqio cache written by `python -m tasks.cache`.
      pack: pack several documents per row (LMFeatureConverter(pack=True)).
      module: a module to import before looking the name up (it registers the Task/Mixture).
      use_custom_packing_ops, use_memory_cache, trim_output_features: as in t5x; evaluation sets
        are held in memory after their first read when use_memory_cache is True.
      materialized_stream: a stream directory written by `python -m tasks.materialize`; when
        set, training batches are read from it by step (launch/inputs/stream_loader.py) instead of
        from the online seqio stream of `mixture_or_task_name`.
    """

    mixture_or_task_name: str
    task_feature_lengths: Mapping[str, int] | None
    split: str
    batch_size: int
    shuffle: bool = True
    seed: int | None = None
    use_cached: bool = False
    pack: bool = False
    use_custom_packing_ops: bool = False
    module: str | None = None
    use_memory_cache: bool = True
    trim_output_features: bool = True
    materialized_stream: str | None = None

    def __post_init__(self):
        if self.batch_size <= 0:
            raise ValueError(f"DatasetConfig.batch_size must be positive, got {self.batch_size}")


@dataclasses.dataclass
class SaveCheckpointConfig:
    """When and how checkpoints are written to MODEL_DIR/checkpoint_<step>/ (Orbax, async).

    Attributes:
      period: save every `period` steps (and always at the end and on SIGTERM).
      dtype: the dtype parameters are stored in; 'float32' (the state's own dtype).
      keep: how many recent checkpoints to keep; None keeps all.
      save_dataset: accepted for t5x compatibility; the data position (examples consumed and the
        data seed) is saved with every checkpoint whatever its value.
      keep_dataset_checkpoints: unused, t5x compatibility.
    """

    period: int | None = None
    dtype: str = "float32"
    keep: int | None = None
    save_dataset: bool = False
    keep_dataset_checkpoints: int | None = None

    def __post_init__(self):
        if self.dtype != "float32":
            raise ValueError(f"SaveCheckpointConfig.dtype={self.dtype!r}: only 'float32' (the "
                             "train state's dtype) is supported")
        if self.period is not None and self.period <= 0:
            raise ValueError(f"SaveCheckpointConfig.period must be positive, got {self.period}")
        if self.keep is not None and self.keep <= 0:
            raise ValueError(f"SaveCheckpointConfig.keep must be positive or None, got {self.keep}")


@dataclasses.dataclass
class RestoreCheckpointConfig:
    """Where to start from when MODEL_DIR has no checkpoint yet (it always wins when it has one).

    Attributes:
      path: a checkpoint directory (`.../checkpoint_<step>`) or a list of them (the first that
        exists is used); in 'latest' mode a MODEL_DIR-like folder holding checkpoint_<step>/.
      mode: 'specific' (the path is a checkpoint) or 'latest' (the newest checkpoint in the
        folder).
      dtype: 'float32', or 'bfloat16' for eval and infer (t5x's infer.gin), which cast the
        parameters after restoring them.
      restore_dataset: also continue the source run's data position (default: start the data
        afresh, as when fine-tuning on a new mixture).
      strict, fallback_to_scratch: with fallback_to_scratch a missing path starts from scratch
        instead of failing.
    """

    path: str | Sequence[str] | None = None
    mode: str = "latest"
    dtype: str = "float32"
    restore_dataset: bool = False
    strict: bool = True
    fallback_to_scratch: bool = False

    def __post_init__(self):
        if self.mode not in ("specific", "latest"):
            raise ValueError(f"RestoreCheckpointConfig.mode must be 'specific' or 'latest', got "
                             f"{self.mode!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"RestoreCheckpointConfig.dtype={self.dtype!r}: 'float32' or "
                             "'bfloat16' (eval/infer cast the parameters; training restores "
                             "float32)")

    @property
    def paths(self) -> list[str]:
        if not self.path:
            return []
        return [self.path] if isinstance(self.path, str) else list(self.path)


@dataclasses.dataclass
class CheckpointConfig:
    save: SaveCheckpointConfig | None = None
    restore: RestoreCheckpointConfig | None = None


def create_learning_rate_scheduler(factors: str = "constant * linear_warmup * rsqrt_decay",
                                   base_learning_rate: float = 0.5, warmup_steps: int = 1000,
                                   decay_factor: float = 0.5, steps_per_decay: int = 20000,
                                   steps_per_cycle: int = 100000, step_offset: int = 0,
                                   min_learning_rate: float = 1e-8):
    """t5x's learning-rate factory (same arguments and factors); the math is in
    model/optimizer.py. 'constant * rsqrt_decay', base 1.0, warmup 10000 is PaLM's schedule."""
    return optimizer.t5x_factor_schedule(
        factors=factors, base_learning_rate=base_learning_rate, warmup_steps=warmup_steps,
        decay_factor=decay_factor, steps_per_decay=steps_per_decay,
        steps_per_cycle=steps_per_cycle, step_offset=step_offset,
        min_learning_rate=min_learning_rate)
