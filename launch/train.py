"""t5x-compatible training entry point.

    python -m launch.train --gin_file=gin/runs/pretrain.gin --gin_file=gin/models/palm_tiny.gin \
        --gin.MODEL_DIR=\"runs/tiny\" --gin.MIXTURE_OR_TASK_NAME=\"palm_demo\" --gin.TRAIN_STEPS=100

Flags are t5x's (launch/gin_utils.py, through launch/cli/entry_point.py). `train()` reads in
four phases, each handing one object to the next:
  1. check everything checkable, writing nothing: `RunDirectory.prepare` (launch/run/run_dir.py,
     which owns MODEL_DIR: preflight, checkpoints, metrics.jsonl, TensorBoard, the lease);
  2. initialise or restore the newest checkpoint that verifies (launch/run/position.py);
  3. the training stream (launch/inputs/), a `StepReporter` (launch/run/reporter.py: interval
     means, throughput, the spike check) and the `Evaluations`
     (launch/evaluation/during_training.py);
  4. the loop: per step this host's share of the batch and the jitted step (launch/trainer.py);
     evaluations, checkpoints (async Orbax, checksummed in the background), t5x's actions and
     SIGTERM when due. Each part returns a status; a loss spike is recovered from by
     `spikes.recover`.
Writes MODEL_DIR/config.gin, model-info.txt, metrics.jsonl, TensorBoard runs in t5x's layout
(train/, training_eval/<task>/, inference_eval/<task>/) and checkpoint_<step>/.
docs/t5x-porting.md lists how each of t5x's train() arguments is honoured.

Gin run files bind `train_script.train` after `from launch import train as train_script` (t5x's
files say `import __main__ as train_script`: that import line is the one to change).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import time
from collections.abc import Sequence

import jax
import seqio

from launch import gin_utils, t5x_compat
from launch.cli import entry_point
from launch.evaluation.during_training import Evaluations
from launch.inputs import data as data_lib
from launch.inputs import stream_loader
from launch.partitioning import PjitPartitioner
from launch.run import checkpoints as ckpt_lib
from launch.run import paths, preflight
from launch.run.position import Position, initialise_or_restore
from launch.run.preemption import PreemptionNotice
from launch.run.reporter import Spike, StepReporter, logging_period, make_reporter
from launch.run.run_dir import RunDirectory
from launch.spikes import LossSpikeRecovery, recover
from launch.trainer import Trainer
from launch.utils import CheckpointConfig, DatasetConfig
from model import flops
from model.config import PalmConfig
from pipeline import output_lease

log = logging.getLogger("launch")


@dataclasses.dataclass
class TrainResult:
    step: int
    status: str  # "finished", "preempted" or "stopped" (an action asked)
    last_metrics: dict
    spike_events: list
    checkpoint_blocking_seconds: list  # how long each checkpoint save held up the loop


def batch_size_at(step: int, initial: int, ramp: Sequence[tuple[int, int]] | None) -> int:
    """The global batch size of update `step` (0-based): `initial`, then each (start_step, size)
    of the ramp from its start step on (PaLM 540B: ((50_000, 1024), (115_000, 2048)) after 512)."""
    size = initial
    for start, ramp_size in sorted(ramp or ()):
        if step >= start:
            size = ramp_size
    return size


def train(*, model: PalmConfig | None = None, model_dir: str,
          train_dataset_cfg: DatasetConfig,
          train_eval_dataset_cfg: DatasetConfig | None = None,
          infer_eval_dataset_cfg: DatasetConfig | None = None,
          checkpoint_cfg: CheckpointConfig | None = None,
          partitioner: PjitPartitioner | None = None,
          trainer_cls=Trainer,
          total_steps: int,
          eval_steps: int | None = 20,
          eval_period: int | None = 1000,
          relative_steps: int | None = None,
          stats_period: int | None = None,
          random_seed: int | None = None,
          use_hardware_rng: bool = False,
          summarize_config_fn=gin_utils.summarize_gin_config,
          inference_evaluator_cls=seqio.Evaluator,
          get_dataset_fn=None,
          concurrent_metrics: bool = True,
          actions: dict | None = None,
          train_eval_get_dataset_fn=None,
          run_eval_before_training: bool = False,
          train_state_initializer_cls=None,
          use_orbax: bool = True,
          verify_matching_vocabs_fn=t5x_compat.verify_matching_vocabs,
          gc_period: int = 0,
          batch_size_ramp: Sequence[tuple[int, int]] | None = None,
          spike_recovery: LossSpikeRecovery | None = None,
          log_period: int | None = None,
          peak_flops_per_device: float | None = None,
          num_data_shards: int | None = None) -> TrainResult:
    """Trains to `total_steps` (or `relative_steps` past the restored step). Takes every argument
    of t5x's `train()`, plus the batch ramp, spike recovery, logging period, MFU peak and data
    shard count. Returns the final step and status.

    As in t5x: `stats_period` (else `log_period`, else the smallest of the eval, checkpoint and GC
    periods) is how often train scalars (means over the period) go to TensorBoard;
    `infer_eval_dataset_cfg` adds decoding evaluation with `inference_evaluator_cls` (a
    seqio.Evaluator) every `eval_period` steps; `run_eval_before_training` evaluates first;
    `actions` may stop training; `concurrent_metrics` lets decoding metrics be scored while
    training goes on; `gc_period` takes manual control of Python's garbage collector;
    `verify_matching_vocabs_fn(cfg, model)` checks each dataset against the model (None skips).
    `use_hardware_rng` is accepted; the train step draws no random numbers (PaLM uses no
    dropout). `get_dataset_fn`, `train_eval_get_dataset_fn`, `train_state_initializer_cls` and
    `use_orbax` name t5x internals: t5x's default is accepted, anything else is refused
    (launch/t5x_compat.py).

    `num_data_shards` (default: the number of hosts feeding distinct data) fixes how the training
    stream is split; the global batch depends on it and on the step only, and a checkpoint records
    it, so a resumed run reads the same batches even on a different number of hosts.
    """
    actions = _check_arguments(checkpoint_cfg, get_dataset_fn=get_dataset_fn,
                               train_eval_get_dataset_fn=train_eval_get_dataset_fn,
                               train_state_initializer_cls=train_state_initializer_cls,
                               use_orbax=use_orbax, actions=actions)
    del use_hardware_rng
    checkpoint_cfg = checkpoint_cfg or CheckpointConfig()
    spike_cfg = spike_recovery or LossSpikeRecovery()
    partitioner = partitioner or PjitPartitioner()
    started = time.perf_counter()
    # 1. Check everything checkable. Nothing is written before this returns.
    if jax.process_index() == 0:  # refused in seconds, before the preflight verifies anything
        output_lease.refuse_if_held(paths.resolve(model_dir), "training run")
    run_dir = RunDirectory.prepare(
        model_dir=model_dir, make_trainer=lambda: trainer_cls(model=model, partitioner=partitioner),
        train_dataset_cfg=train_dataset_cfg, checkpoint_cfg=checkpoint_cfg,
        total_steps=total_steps, relative_steps=relative_steps, batch_size_ramp=batch_size_ramp,
        num_data_shards=num_data_shards, random_seed=random_seed,
        spike_skip_batches=spike_cfg.skip_batches)
    config = run_dir.trainer.config
    for cfg in (train_dataset_cfg, train_eval_dataset_cfg, infer_eval_dataset_cfg):
        if cfg is not None and verify_matching_vocabs_fn is not None:
            verify_matching_vocabs_fn(cfg, config)
    with run_dir, contextlib.ExitStack() as cleanup:
        # 2. Initialise or restore; settle the last step.
        position, abstract, total_steps = _start(
            run_dir, train_dataset_cfg, checkpoint_cfg.restore, random_seed, summarize_config_fn,
            total_steps, relative_steps)
        # 3. The data, what each step reports, and the evaluations.
        seq_len = data_lib.decoder_length(train_dataset_cfg)
        stream = _host_stream(train_dataset_cfg, position, partitioner)
        period = logging_period(
            stats_period, log_period,
            eval_period if (train_eval_dataset_cfg or infer_eval_dataset_cfg) else None,
            checkpoint_cfg.save.period if checkpoint_cfg.save else None, gc_period, total_steps)
        reporter = make_reporter(run_dir.metrics, config, spike_cfg, seq_len=seq_len,
                                 total_steps=total_steps, period=period,
                                 peak_flops_per_device=peak_flops_per_device,
                                 primary=run_dir.primary)
        evaluations = Evaluations(
            run_dir.trainer, run_dir.metrics, train_eval_cfg=train_eval_dataset_cfg,
            infer_eval_cfg=infer_eval_dataset_cfg, evaluator_cls=inference_evaluator_cls,
            eval_steps=eval_steps, eval_period=eval_period, total_steps=total_steps,
            log_dir=run_dir.path if run_dir.primary else None, actions=actions,
            concurrent_metrics=concurrent_metrics)
        cleanup.callback(evaluations.close)
        log.info("training %s params on mesh %s from step %d to %d; MFU peak %.3g FLOP/s/device "
                 "(%s)", f"{flops.count_params(config):,}", dict(partitioner.mesh.shape),
                 position.step, total_steps, reporter.peak, reporter.peak_source)
        # 4. Train: steps, evaluations, checkpoints, until the last step or a stop.
        stopped = run_eval_before_training and evaluations.run(position.step, position.state)
        if gc_period:  # t5x: manual control of the garbage collector while training
            gc.disable()
            cleanup.callback(gc.enable)
        loop = _Loop(run_dir, partitioner, stream, reporter, evaluations, actions,
                     total_steps=total_steps, batch_size=train_dataset_cfg.batch_size,
                     ramp=batch_size_ramp, gc_period=gc_period,
                     concurrent_metrics=concurrent_metrics)
        status = "stopped" if stopped else loop.run(position, abstract, spike_cfg)
        evaluations.finish()  # decoding metrics still being scored (concurrent_metrics)
    ckpt_lib.wait_for_all("end of training")
    if run_dir.primary:
        log.info("%s at step %d in %.1f s; checkpoints in %s, metrics in %s", status,
                 position.step, time.perf_counter() - started, run_dir.path,
                 run_dir.metrics.path)
    return TrainResult(step=position.step, status=status, last_metrics=reporter.last_metrics,
                       spike_events=position.spike_events,
                       checkpoint_blocking_seconds=run_dir.checkpoints.blocking_seconds)


def _check_arguments(checkpoint_cfg: CheckpointConfig | None, *, actions,
                     **internals) -> dict:
    """Refuses t5x internals other than t5x's defaults and a restore dtype other than float32;
    returns the actions by mode."""
    t5x_compat.check_internals(**internals)
    if checkpoint_cfg and checkpoint_cfg.restore and checkpoint_cfg.restore.dtype != "float32":
        raise ValueError(f"utils.RestoreCheckpointConfig.dtype={checkpoint_cfg.restore.dtype!r}:"
                         " training restores the float32 train state; set 'float32'")
    return t5x_compat.check_actions(actions)


def _start(run_dir: RunDirectory, train_dataset_cfg, restore_cfg, random_seed,
           summarize_config_fn, total_steps: int, relative_steps: int | None):
    """Initialise or restore (timed), write config.gin (t5x's summarize_config_fn), settle the
    last step, and checkpoint the first step of a fresh run (so a loss spike always has a
    checkpoint to go back to). Returns (position, abstract state, last step)."""
    started = time.perf_counter()
    position, abstract = initialise_or_restore(run_dir, train_dataset_cfg, random_seed,
                                               restore_cfg)
    run_dir.metrics.rewind(position.step)  # steps after it (written before a kill) are redone
    run_dir.metrics.write(position.step, {"timing/init_or_restore_seconds":
                                          time.perf_counter() - started}, kind="timing")
    if run_dir.primary and summarize_config_fn is not None:  # t5x's: config.gin + TB text
        summarize_config_fn(model_dir=run_dir.path, summary_writer=run_dir.metrics,
                            step=position.step)
    total_steps = _last_step(position.step, total_steps, relative_steps)
    if run_dir.plan.resume_step is None and position.step < total_steps:
        run_dir.checkpoints.save(position.step, position.state, position.record())
    return position, abstract, total_steps


def _last_step(step: int, total_steps: int, relative_steps: int | None) -> int:
    """The step training ends at: TRAIN_STEPS, or `relative_steps` past the restored one."""
    if relative_steps is not None:
        total_steps = step + relative_steps
        log.info("relative_steps=%d: training from step %d to %d", relative_steps, step,
                 total_steps)
    if total_steps < step:
        raise ValueError(f"TRAIN_STEPS ({total_steps}) is below the step of the restored "
                         f"checkpoint ({step}); raise it (it counts the steps already "
                         "trained) or use TRAIN_STEPS_RELATIVE")
    return total_steps


def _host_stream(cfg: DatasetConfig, position: Position, partitioner):
    """This host's shards of the training stream (the global batch is the same for any host
    count: launch/inputs/stream_loader.py)."""
    host_slot, num_host_slots = partitioner.data_layout
    per_host = position.num_shards // num_host_slots
    shards = range(host_slot * per_host, (host_slot + 1) * per_host)
    return stream_loader.train_stream(cfg, position.data_seed, shards, position.num_shards)


class _Loop:
    """The steps of a run. Each part returns what happened (a status, a Spike, or None to go
    on) instead of raising; the only exception is a real error."""

    def __init__(self, run_dir: RunDirectory, partitioner, stream, reporter: StepReporter,
                 evaluations: Evaluations, actions: dict, *, total_steps: int, batch_size: int,
                 ramp, gc_period: int, concurrent_metrics: bool):
        self.run_dir, self.trainer, self.partitioner = run_dir, run_dir.trainer, partitioner
        self.stream, self.reporter, self.evaluations = stream, reporter, evaluations
        self.actions, self.total_steps, self.gc_period = actions, total_steps, gc_period
        self.batch_size, self.ramp = batch_size, ramp
        self.train_actions = bool(actions.get("TRAIN")) and not concurrent_metrics
        self.preemption: PreemptionNotice | None = None

    def batch_size_at(self, step: int) -> int:
        return batch_size_at(step, self.batch_size, self.ramp)

    def run(self, position: Position, abstract_state, spike_cfg: LossSpikeRecovery) -> str:
        """Trains to the last step: "finished", "preempted" or "stopped"."""
        recoveries = 0
        with PreemptionNotice() as self.preemption:
            while position.step < self.total_steps:
                outcome = self.stage(position)
                if isinstance(outcome, Spike):
                    recover(outcome, position, self.run_dir, self.reporter, abstract_state,
                            spike_cfg, self.batch_size_at, recoveries)
                    recoveries += 1
                elif outcome is not None:
                    return outcome
        return "finished"

    def stage(self, position: Position) -> str | Spike | None:
        """The steps at one batch size of the ramp (one iterator, one compilation); None when
        the ramp moves on or the run reached its last step."""
        size = self.batch_size_at(position.step)
        shards = position.num_shards
        batches = self.stream.batches(position.examples // shards, size // shards)
        self.reporter.restart_clock()
        compiled = False
        while position.step < self.total_steps and self.batch_size_at(position.step) == size:
            global_batch = self.partitioner.make_global_batch(next(batches))
            if not compiled:
                seconds = self.trainer.compile_train(position.state, global_batch)
                self.run_dir.metrics.write(position.step, {"timing/compilation_seconds": seconds},
                                           kind="timing")
                self.reporter.restart_clock()
                compiled = True
            position.state, metrics = self.trainer.train_step(position.state, global_batch)
            position.step += 1
            position.examples += size
            outcome = (self.reporter.dispatched(position.step, metrics, position.examples, size)
                       or self.after_step(position))
            if outcome is not None:
                return outcome
        return self.reporter.drain()

    def after_step(self, position: Position) -> str | Spike | None:
        """Actions, GC, evaluation and a checkpoint when due; a status when the run ends here."""
        step, state = position.step, position.state
        save = self.run_dir.checkpoints.due(step) or step == self.total_steps
        evaluate = self.evaluations.due(step)
        preempted = self.preemption.reached(step)
        drain = save or evaluate or preempted or self.train_actions
        if drain and (spike := self.reporter.drain()) is not None:  # nothing saved past a spike
            return spike
        stop = (self.train_actions and self.reporter.is_logging_step(step)  # t5x: per period
                and t5x_compat.run_actions(self.actions, "TRAIN", state,
                                           {"train": self.reporter.last_metrics}))
        if self.gc_period and step % self.gc_period == 0:
            gc.collect()
        if evaluate:
            stop |= self.evaluations.run(step, state)
        if stop and not (save or preempted):
            log.info("stopping at step %d as an action asked", step)
        if save or preempted or stop:
            self.run_dir.save(step, state, position.record())
        if preempted:
            return "preempted"
        return "stopped" if stop else None


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("absl").setLevel(logging.WARNING)  # seqio's per-task INFO lines
    return entry_point.run(
        train, "python -m launch.train", __doc__.split("\n")[0], argv,
        user_errors=(preflight.PreflightError, output_lease.LeaseHeld),
        gin_required="give at least one --gin_file (e.g. gin/runs/pretrain.gin plus a model file)")


if __name__ == "__main__":
    # Run the importable module's main so gin bindings of `launch.train.train` apply.
    from launch import train as _train_module
    raise SystemExit(_train_module.main())
