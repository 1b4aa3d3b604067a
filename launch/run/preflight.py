"""Everything a training run can check before it writes its first byte, checked first.

A run that cannot start must leave MODEL_DIR exactly as it found it (no config.gin, metrics.jsonl
or checkpoint_0 that a later run could mistake for progress) and say what is wrong and which flag
fixes it. `plan_run` reads (never writes): the mesh and the shard layout, batch and ramp sizes,
the vocabulary against the model, the Tasks' splits and seqio caches, the rows of a materialised
training stream against the rows the run will read (with room for a loss-spike recovery's skipped
batches), the checkpoint to resume from (verified, launch/run/checksums.py) or the initial
checkpoint, the values recorded in that checkpoint against the flags, and whether MODEL_DIR can
be written (by creating and removing one empty file: launch/run/paths.py, `write_problem`). All
problems are reported together.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
from collections.abc import Callable, Sequence

import seqio

from launch.cli.gin_checks import plain_message
from launch.inputs import data as data_lib
from launch.run import checkpoints as ckpt_lib
from launch.run import checksums as verify_lib
from launch.run import paths
from launch.utils import CheckpointConfig, DatasetConfig

log = logging.getLogger("launch")
SHARDS_FLAG = "--gin.train_script.train.num_data_shards"
SKIP_FLAG = "--gin.spikes.LossSpikeRecovery.skip_batches"
RAMP_FLAG = "--gin.train_script.train.batch_size_ramp"


class PreflightError(ValueError):
    """The run cannot start; nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the run cannot start (nothing was written):\n" +
                         "\n".join(f"  - {p}" for p in problems))


@dataclasses.dataclass
class RunPlan:
    model_dir: str  # absolute (local) or with its scheme
    trainer: object
    resume_step: int | None  # the newest verified checkpoint in MODEL_DIR
    skipped: dict  # newer checkpoints that failed verification: step -> [Problem]
    initial: str | None  # the initial checkpoint when MODEL_DIR has none
    record: dict  # the data record to continue from ({} when starting afresh)
    num_shards: int


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tasks(cfg: DatasetConfig) -> list:
    if cfg.module:  # the module that registers the Task or Mixture
        importlib.import_module(cfg.module)
    item = data_lib.lookup(cfg.mixture_or_task_name)
    return list(item.tasks) if isinstance(item, seqio.Mixture) else [item]


def _check_data(cfg: DatasetConfig, vocab_size: int | None, problems: list[str]) -> None:
    if not cfg.task_feature_lengths:
        problems.append("TASK_FEATURE_LENGTHS is required for training: pass "
                        "--gin.TASK_FEATURE_LENGTHS=\"{'targets': 2048}\"")
    try:
        tasks = _tasks(cfg)
        if vocab_size is not None:
            data_lib.check_vocabulary(cfg, vocab_size)
    except (ValueError, ImportError) as e:
        problems.append(f"{plain_message(e)} (--gin.MIXTURE_OR_TASK_NAME / "
                        "--gin.MIXTURE_OR_TASK_MODULE)")
        return
    for task in tasks:
        if cfg.use_cached:
            if task.cache_dir is None:
                problems.append(
                    f"task {task.name!r} has no seqio cache in {seqio.get_global_cache_dirs()}: "
                    "write it with `python -m tasks.cache` and pass "
                    "--seqio_additional_cache_dirs=DIR, or set --gin.USE_CACHED_TASKS=False")
                continue
        if cfg.split not in task.splits:
            problems.append(f"task {task.name!r} has no {cfg.split!r} split (it has "
                            f"{list(task.splits)}): fix the task's source or its split name")


def _check_batches(initial: int, ramp, problems: list[str]) -> list[int]:
    sizes = []
    if not _is_int(initial) or initial <= 0:
        problems.append(f"BATCH_SIZE must be a positive integer, got {initial!r}: pass "
                        "--gin.BATCH_SIZE=<rows>")
    else:
        sizes.append(initial)
    for entry in ramp or ():
        try:
            start, size = entry
            assert _is_int(start) and _is_int(size) and start >= 0 and size > 0
            sizes.append(size)
        except (TypeError, ValueError, AssertionError):
            problems.append(f"batch_size_ramp entry {entry!r} is not (start_step, batch_size) "
                            f"with non-negative integers: fix {RAMP_FLAG}")
    return sizes


def _stream_rows(cfg: DatasetConfig) -> tuple[str, int] | None:
    """(directory, rows) of the materialised stream the run reads, None for seqio's stream."""
    from tasks.stream_format import read_manifest
    from tasks.stream_task import stream_dir_of

    stream_dir = cfg.materialized_stream or stream_dir_of(cfg.mixture_or_task_name)
    return (stream_dir, int(read_manifest(stream_dir)["rows"])) if stream_dir else None


def _start_step(resume: int | None, initial: str | None) -> int:
    """The step the run starts from: the resumed checkpoint's, the initial checkpoint's (t5x
    counts on from it; read from its folder name), else 0."""
    if resume is not None:
        return resume
    match = re.search(r"checkpoint_(\d+)/*$", initial or "")
    return int(match.group(1)) if match else 0


def _check_stream_rows(cfg: DatasetConfig, *, start: int, examples: int, total_steps,
                       relative_steps, ramp, skip_batches: int, batches_ok: bool,
                       problems: list[str]) -> None:
    """A materialised stream must hold every row the run reads, plus one loss-spike recovery's
    skip: else the run fails part-way, leaving a partial MODEL_DIR (issue 23)."""
    from launch.inputs.stream_loader import rows_before
    from tasks.stream_format import StreamError

    last = start + relative_steps if relative_steps is not None else total_steps
    if not batches_ok or not _is_int(last) or last <= start:
        return
    try:
        stream = _stream_rows(cfg)
    except (StreamError, OSError, KeyError, ValueError) as e:
        problems.append(f"the training stream cannot be read: {plain_message(e)} (fix "
                        "--gin.TRAIN_STREAM or rerun python -m tasks.materialize)")
        return
    if stream is None:
        return
    stream_dir, rows = stream
    run_rows = examples + rows_before(last, cfg.batch_size, ramp) - rows_before(
        start, cfg.batch_size, ramp)
    headroom = skip_batches * max([cfg.batch_size] + [size for _, size in ramp or ()])
    if rows < run_rows + headroom:
        problems.append(
            f"the training stream {stream_dir} holds {rows:,} rows; steps {start} to {last} "
            f"read rows up to {run_rows:,}, plus {headroom:,} for one loss-spike recovery "
            f"({skip_batches} skipped batches): materialise at least {run_rows + headroom:,} "
            f"rows (python -m tasks.materialize --steps with the spike headroom added, as "
            f"docs/training.md shows), or lower --gin.TRAIN_STEPS or {SKIP_FLAG}")


def _checkpoint_source(model_dir: str, cfg: CheckpointConfig, problems: list[str]):
    """(resume step, skipped, initial path, record) — reading and verifying only."""
    if ckpt_lib.steps_in(model_dir):
        step, skipped = ckpt_lib.newest_verified(model_dir)
        if step is None:
            listing = "; ".join(str(p) for ps in skipped.values() for p in ps)
            problems.append(
                f"no checkpoint in {model_dir} verifies: {listing}. Nothing was deleted. To "
                "proceed: restore the damaged files from a copy; or, to give up this run's "
                "progress, move the checkpoint_<step> folders out of MODEL_DIR or pass a new "
                "--gin.MODEL_DIR (`python -m launch.checkpoint_verify MODEL_DIR` lists them; one "
                "written before checksums existed is trusted with `python -m "
                "launch.checkpoint_verify MODEL_DIR/checkpoint_<step> --write`)")
            return None, skipped, None, {}
        return step, skipped, None, ckpt_lib.read_record(ckpt_lib.step_dir(model_dir, step))
    try:
        initial = ckpt_lib.resolve_initial(cfg.restore)
        if initial is None:
            return None, {}, None, {}
        ckpt_lib.verify_initial(initial)
    except FileNotFoundError as e:
        problems.append(f"{e}: fix --gin.INITIAL_CHECKPOINT_PATH (or "
                        "utils.RestoreCheckpointConfig.path)")
        return None, {}, None, {}
    except verify_lib.CheckpointCorrupt as e:
        problems.append(f"the initial checkpoint fails verification: {e}")
        return None, {}, None, {}
    record = ckpt_lib.read_record(initial) if cfg.restore.restore_dataset else {}
    return None, {}, initial, record


def _check_recorded(where: str, record: dict, flags: dict, problems: list[str]) -> None:
    """Values a checkpoint recorded that the flags contradict; the recorded ones would win."""
    for key, (value, flag) in flags.items():
        recorded = record.get(key)
        if value is not None and recorded is not None and recorded != value:
            problems.append(
                f"{where} records {key}={recorded} but the flags say {value}: a resumed run keeps "
                f"the recorded value (the data stream depends on it). To continue this run, "
                f"drop {flag} or set it to {recorded}; to use {value}, start a new "
                "--gin.MODEL_DIR (fine-tune from this checkpoint with INITIAL_CHECKPOINT_PATH)")


def plan_run(*, model_dir, make_trainer: Callable[[], object], train_dataset_cfg: DatasetConfig,
             checkpoint_cfg: CheckpointConfig, total_steps, batch_size_ramp: Sequence | None,
             num_data_shards, random_seed, relative_steps=None,
             spike_skip_batches: int = 0) -> RunPlan:
    """Checks the run; raises PreflightError listing every problem, else returns the plan."""
    problems: list[str] = []
    if relative_steps is not None:  # t5x: train this many steps past the restored one
        if not _is_int(relative_steps) or relative_steps < 0:
            problems.append(f"relative_steps must be a non-negative integer, got "
                            f"{relative_steps!r}: fix --gin.TRAIN_STEPS_RELATIVE")
    elif not _is_int(total_steps) or total_steps <= 0:
        problems.append(f"TRAIN_STEPS must be a positive integer, got {total_steps!r}: pass "
                        "--gin.TRAIN_STEPS=<steps>")
    if not isinstance(model_dir, str) or not model_dir:
        raise PreflightError([f"MODEL_DIR must be a path, got {model_dir!r}: pass "
                              "--gin.MODEL_DIR=<folder>"])
    model_dir = paths.resolve(model_dir)
    if paths.exists(model_dir) and not paths.isdir(model_dir):
        problems.append(f"MODEL_DIR {model_dir} is a file: pass --gin.MODEL_DIR=<folder>")
    elif (why := paths.write_problem(model_dir)) is not None:
        problems.append(f"MODEL_DIR {model_dir} cannot be written ({why}): pass "
                        "--gin.MODEL_DIR=<a writable folder>")
    trainer = mesh = None
    try:
        trainer = make_trainer()
        mesh = trainer.partitioner.mesh
    except ValueError as e:
        trainer = None
        problems.append(f"the device mesh cannot be built: {plain_message(e)}: fix "
                        "--gin.partitioning.PjitPartitioner.num_partitions")
    vocab = trainer.config.vocab_size if trainer is not None else None
    _check_data(train_dataset_cfg, vocab, problems)
    sizes = _check_batches(train_dataset_cfg.batch_size, batch_size_ramp, problems)
    if num_data_shards is not None and (not _is_int(num_data_shards) or num_data_shards <= 0):
        problems.append(f"num_data_shards must be a positive integer, got {num_data_shards!r}: "
                        f"fix {SHARDS_FLAG}")
        num_data_shards = None

    resume, skipped, initial, record = _checkpoint_source(model_dir, checkpoint_cfg, problems)
    where = (f"{model_dir}/checkpoint_{resume}" if resume is not None else initial)
    _check_recorded(where, record, {
        "num_data_shards": (num_data_shards, SHARDS_FLAG),
        "run_seed": (random_seed, "--gin.RANDOM_SEED"),
        "data_seed": (train_dataset_cfg.seed, "train/utils.DatasetConfig.seed")}, problems)

    _check_stream_rows(train_dataset_cfg, start=_start_step(resume, initial),
                       examples=int(record.get("examples_consumed", 0)),
                       total_steps=total_steps, relative_steps=relative_steps,
                       ramp=batch_size_ramp, skip_batches=spike_skip_batches,
                       batches_ok=len(sizes) == 1 + len(batch_size_ramp or ()), problems=problems)
    num_shards = 1
    if trainer is not None and mesh is not None:
        host_slot, host_slots = trainer.partitioner.data_layout
        num_shards = int(record.get("num_data_shards") or num_data_shards or host_slots)
        if num_shards % host_slots:
            problems.append(f"{num_shards} data shards cannot be split over the {host_slots} "
                            f"hosts feeding distinct data: set {SHARDS_FLAG} to a multiple of "
                            f"{host_slots}")
        data_axis = mesh.shape["data"]
        for size in sorted(set(sizes)):
            if size % num_shards:
                problems.append(f"batch size {size} is not divisible by the {num_shards} data "
                                f"shards: make --gin.BATCH_SIZE (and every size in "
                                f"{RAMP_FLAG}) a multiple of {num_shards}, or change "
                                f"{SHARDS_FLAG}")
            elif size % data_axis:
                problems.append(f"batch size {size} is not divisible by the mesh's data axis "
                                f"({data_axis} devices): make --gin.BATCH_SIZE (and the ramp's "
                                "sizes) a multiple of it, or change "
                                "--gin.partitioning.PjitPartitioner.num_partitions")
    if problems:
        raise PreflightError(problems)
    return RunPlan(model_dir=model_dir, trainer=trainer, resume_step=resume, skipped=skipped,
                   initial=initial, record=record, num_shards=num_shards)
