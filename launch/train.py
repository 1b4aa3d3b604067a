"""t5x-compatible training entry point.

    python -m launch.train --gin_file=gin/runs/pretrain.gin --gin_file=gin/models/palm_tiny.gin \
        --gin.MODEL_DIR=\"runs/tiny\" --gin.MIXTURE_OR_TASK_NAME=\"palm_demo\" --gin.TRAIN_STEPS=100

Flags are t5x's (launch/gin_utils.py). The run loop: check everything checkable before writing
anything (launch/run/preflight.py), restore the newest checkpoint in MODEL_DIR that verifies (or the
initial checkpoint of a fine-tuning run; launch/run/checksums.py), then per step draw this
host's share of the batch, run the jitted step (launch/trainer.py), record metrics, and every
`period` steps save an async Orbax checkpoint (checksummed in the background); evaluate per task (teacher-forced, and by decoding when infer_eval_dataset_cfg
is set, launch/evaluation/inference.py) every `eval_period` steps; recover from loss spikes; on SIGTERM save
and exit. Writes MODEL_DIR/config.gin, model-info.txt, metrics.jsonl, TensorBoard runs in t5x's
layout (train/, training_eval/<task>/, inference_eval/<task>/) and checkpoint_<step>/.
docs/t5x-porting.md lists how each of t5x's train() arguments is honoured.

Gin run files bind `train_script.train` after `from launch import train as train_script` (t5x's
files say `import __main__ as train_script`: that import line is the one to change).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import logging
import secrets
import signal
import sys
import time
from collections.abc import Sequence

import gin
import jax
import seqio
import tensorflow as tf

from launch.run import checkpoints as ckpt_lib
from launch.inputs import data as data_lib
from launch import gin_utils
from launch.cli import gin_checks, multihost
from launch.evaluation import inference as infer_eval, teacher_forced as evaluation
from launch.run import paths, preflight
from launch import t5x_compat
from launch.run import metrics as metrics_lib
from launch.inputs import stream_loader
from launch.run.metrics import MetricsWriter, Throughput, progress_line
from launch.partitioning import PjitPartitioner
from launch.spikes import LossSpikeRecovery, SpikeDetector
from launch.run.tensorboard_layout import IntervalMeans, split_key
from launch.trainer import Trainer
from launch.utils import CheckpointConfig, DatasetConfig
from model import flops
from model.config import PalmConfig
from model.train_step import normalise
from pipeline import disk_space, file_checksums, output_lease

log = logging.getLogger("launch")


@dataclasses.dataclass
class TrainResult:
    step: int
    status: str  # "finished", "preempted" or "stopped" (an action asked)
    last_metrics: dict
    spike_events: list
    checkpoint_blocking_seconds: list  # how long each checkpoint save held up the loop


class _Preempted(Exception):
    pass


class _StopRequested(Exception):
    """An action (t5x's `actions`) asked to stop training."""


class _SpikeDetected(Exception):
    def __init__(self, step: int, loss: float, reason: str, examples_after: int):
        super().__init__(reason)
        self.step, self.loss, self.reason, self.examples_after = step, loss, reason, examples_after


class _SigtermFlag:
    """Single-process preemption notice: SIGTERM sets a flag the loop polls between steps."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        if jax.process_count() == 1:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        log.warning("SIGTERM received: saving a checkpoint and exiting after this step")
        self.raised = True

    def reached(self, step: int) -> bool:
        if jax.process_count() > 1:  # all hosts must agree on the step: jax's sync point
            from jax.experimental import multihost_utils
            return multihost_utils.reached_preemption_sync_point(step)
        return self.raised

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


@contextlib.contextmanager
def _closing(checkpoints: ckpt_lib.Checkpoints, writer: MetricsWriter, lease=None):
    """Finish pending checkpoint writes, flush metrics, then give MODEL_DIR's lease back,
    however the loop ends."""
    try:
        yield
    finally:
        try:
            checkpoints.close()
        finally:
            try:
                writer.close()
            finally:
                if lease is not None:
                    lease.release()


def batch_size_at(step: int, initial: int, ramp: Sequence[tuple[int, int]] | None) -> int:
    """The global batch size of update `step` (0-based): `initial`, then each (start_step, size)
    of the ramp from its start step on (PaLM 540B: ((50_000, 1024), (115_000, 2048)) after 512)."""
    size = initial
    for start, ramp_size in sorted(ramp or ()):
        if step >= start:
            size = ramp_size
    return size


def write_model_info(path: str, trainer: Trainer) -> None:
    """Parameter shapes, dtypes, logical axes and mesh shardings, one line per array."""
    import flax.linen as nn

    boxed = flops.abstract_params(trainer.config)
    logical = nn.get_partition_spec(boxed)
    mesh_specs = trainer.state_specs.params
    lines = [f"mesh: {dict(trainer.partitioner.mesh.shape)}  devices: {jax.device_count()} "
             f"({jax.devices()[0].device_kind})  processes: {jax.process_count()}",
             f"logical_axis_rules: {trainer.rules}",
             f"parameters: {flops.count_params(trainer.config):,}", "",
             f"{'parameter':<44} {'shape':<18} {'dtype':<8} {'logical axes':<28} sharding"]
    leaves = jax.tree_util.tree_leaves_with_path(nn.unbox(boxed))
    for key_path, leaf in leaves:
        name = "/".join(str(getattr(k, "key", k)) for k in key_path)
        lookup = lambda tree: [tree := tree[k.key] for k in key_path][-1]  # noqa: E731
        lines.append(f"{name:<44} {str(tuple(leaf.shape)):<18} {leaf.dtype.name:<8} "
                     f"{str(tuple(lookup(logical))):<28} {lookup(mesh_specs)}")
    opt_leaves = jax.tree_util.tree_leaves_with_path(trainer.state_specs.opt_state)
    lines += ["", f"optimizer state: {len(opt_leaves)} arrays, sharded like their parameters "
                  "where they mirror one, replicated otherwise"]
    paths.write_text_atomic(path, "\n".join(lines) + "\n")


def _evaluate(trainer: Trainer, params, cfg: DatasetConfig, eval_steps: int | None,
              cache: dict) -> dict:
    """Loss per task of the eval mixture, and overall (token-weighted), as training_eval/..."""
    shard, num_shards = trainer.partitioner.data_layout
    host_batch = cfg.batch_size // num_shards
    results = {}
    totals = {}
    for task in data_lib.eval_task_names(cfg):
        if cache.get(task) == "unreadable":
            continue
        try:
            batches = cache.get(task) or data_lib.eval_batches(
                cfg, task, (shard, num_shards), host_batch, eval_steps)
        except (KeyError, ValueError, FileNotFoundError, tf.errors.OpError) as e:
            # One task's broken or empty evaluation split must not stop training: say so, once.
            log.warning("evaluation skips task %s: its %r split cannot be read (%s: %s)", task,
                        cfg.split, type(e).__name__, e)
            cache[task] = "unreadable"
            continue
        if cfg.use_memory_cache:
            cache[task] = batches
        sums = evaluation.loss_sums(trainer, params, batches, data_lib.zero_batch(cfg, host_batch))
        if sums is None:
            continue
        totals = {k: totals.get(k, 0.0) + float(v) for k, v in sums.items()}
        for name, value in normalise(sums).items():
            results[f"training_eval/{task}/{name}"] = float(value)
    if totals:
        for name, value in normalise(totals).items():
            results[f"training_eval/overall/{name}"] = float(value)
    return results


def _default_stats_period(eval_period: int | None, checkpoint_period: int | None,
                          gc_period: int | None) -> int | None:
    """t5x's default stats period: the smallest of the eval, checkpoint and GC periods set."""
    periods = [p for p in (eval_period, checkpoint_period, gc_period) if p]
    return min(periods) if periods else None


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
    t5x_compat.check_internals(get_dataset_fn=get_dataset_fn,
                               train_eval_get_dataset_fn=train_eval_get_dataset_fn,
                               train_state_initializer_cls=train_state_initializer_cls,
                               use_orbax=use_orbax)
    actions = t5x_compat.check_actions(actions)
    del use_hardware_rng
    if checkpoint_cfg and checkpoint_cfg.restore and checkpoint_cfg.restore.dtype != "float32":
        raise ValueError(f"utils.RestoreCheckpointConfig.dtype={checkpoint_cfg.restore.dtype!r}:"
                         " training restores the float32 train state; set 'float32'")
    checkpoint_cfg = checkpoint_cfg or CheckpointConfig()
    spike_cfg = spike_recovery or LossSpikeRecovery()
    primary = jax.process_index() == 0
    partitioner = partitioner or PjitPartitioner()
    # Nothing is written before this returns: a run that cannot start leaves MODEL_DIR as it was.
    plan = preflight.plan_run(
        model_dir=model_dir, make_trainer=lambda: trainer_cls(model=model, partitioner=partitioner),
        train_dataset_cfg=train_dataset_cfg, checkpoint_cfg=checkpoint_cfg,
        total_steps=total_steps, relative_steps=relative_steps, batch_size_ramp=batch_size_ramp,
        num_data_shards=num_data_shards, random_seed=random_seed)
    model_dir, trainer, latest = plan.model_dir, plan.trainer, plan.resume_step
    config = trainer.config
    if verify_matching_vocabs_fn is not None:
        for cfg in (train_dataset_cfg, train_eval_dataset_cfg, infer_eval_dataset_cfg):
            if cfg is not None:
                verify_matching_vocabs_fn(cfg, config)
    # One writer per MODEL_DIR (host 0 holds it): before the first write, released by _closing.
    lease = output_lease.acquire(model_dir, what="training run") if primary else None
    try:
        if plan.skipped:  # newer checkpoints that fail verification: reported, then set aside
            ckpt_lib.report_skipped(plan.skipped)
            for bad in plan.skipped:
                ckpt_lib.set_aside(model_dir, bad, "corrupt")
            log.warning("resuming from checkpoint_%d, the newest checkpoint that verifies",
                        latest)
        if primary:
            paths.makedirs(model_dir)
            write_model_info(paths.join(model_dir, "model-info.txt"), trainer)
        host_slot, num_host_slots = partitioner.data_layout
        num_shards = plan.num_shards
        seq_len = data_lib.decoder_length(train_dataset_cfg)

        checkpoints = ckpt_lib.Checkpoints(model_dir, checkpoint_cfg.save)
        writer = MetricsWriter(model_dir, enabled=primary)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    with _closing(checkpoints, writer, lease), contextlib.ExitStack() as cleanup:
        init_or_restore_start = time.perf_counter()
        abstract = trainer.abstract_state()
        record: dict = {}
        if latest is not None:
            state, record = checkpoints.restore(latest, abstract)
            log.info("resumed from %s/checkpoint_%d (examples consumed: %d)", model_dir, latest,
                     record["examples_consumed"])
        elif (initial := plan.initial) is not None:
            state, source_record = ckpt_lib.restore_from(initial, abstract)
            if checkpoint_cfg.restore.restore_dataset and source_record:
                record = dict(source_record)
            log.info("initialised from %s (step %d)", initial, int(state.step))
        else:
            state = None

        run_seed = record.get("run_seed", random_seed)
        if run_seed is None:
            run_seed = secrets.randbelow(2 ** 31)
            log.info("RANDOM_SEED is None: drew seed %d (recorded in every checkpoint)", run_seed)
        data_seed = record.get("data_seed")
        if data_seed is None:
            data_seed = train_dataset_cfg.seed if train_dataset_cfg.seed is not None else run_seed
        if state is None:
            state = trainer.init_state(run_seed)
        step = int(jax.device_get(state.step))
        writer.rewind(step)  # lines of later steps (written before a kill) are about to be redone
        init_or_restore_seconds = time.perf_counter() - init_or_restore_start
        if primary and summarize_config_fn is not None:  # t5x's call: config.gin + TB text
            summarize_config_fn(model_dir=model_dir, summary_writer=writer, step=step)
        if relative_steps is not None:
            total_steps = step + relative_steps
            log.info("relative_steps=%d: training from step %d to %d", relative_steps, step,
                     total_steps)
        if total_steps < step:
            raise ValueError(f"TRAIN_STEPS ({total_steps}) is below the step of the restored "
                             f"checkpoint ({step}); raise it (it counts the steps already "
                             "trained) or use TRAIN_STEPS_RELATIVE")
        examples = int(record.get("examples_consumed", 0))
        spike_events = list(record.get("spike_events", []))
        per_host = num_shards // num_host_slots
        my_shards = range(host_slot * per_host, (host_slot + 1) * per_host)

        def data_record(at_examples: int) -> dict:
            return {"examples_consumed": at_examples, "data_seed": int(data_seed),
                    "run_seed": int(run_seed), "num_data_shards": num_shards,
                    "spike_events": spike_events}

        if latest is None and step < total_steps:
            checkpoints.save(step, state, data_record(examples))  # always something to fall back to

        stream = stream_loader.train_stream(train_dataset_cfg, data_seed, my_shards, num_shards)
        detector = SpikeDetector(spike_cfg)
        peak, peak_source = metrics_lib.peak_flops_per_device(config.compute_dtype,
                                                                 peak_flops_per_device)
        per_token = flops.flops_per_token(config, seq_len)
        throughput = Throughput(per_token, peak * jax.device_count(), total_steps,
                                jax.device_count())
        period = stats_period or log_period or _default_stats_period(
            eval_period if (train_eval_dataset_cfg or infer_eval_dataset_cfg) else None,
            checkpoint_cfg.save.period if checkpoint_cfg.save else None, gc_period) or total_steps
        interval = IntervalMeans()
        writer.write(step, {"timing/init_or_restore_seconds": init_or_restore_seconds},
                     kind="timing")
        inference = None
        if infer_eval_dataset_cfg is not None:
            inference = infer_eval.InferenceEvaluator(
                infer_eval_dataset_cfg, inference_evaluator_cls, config,
                model_dir if primary else None)
            cleanup.callback(inference.close)
            if not inference.eval_tasks:
                inference = None
        log.info("training %s params on mesh %s from step %d to %d; MFU peak %.3g FLOP/s/device "
                 "(%s)",
                 f"{flops.count_params(config):,}", dict(partitioner.mesh.shape), step, total_steps,
                 peak, peak_source)
        eval_cache: dict = {}
        last_metrics: dict = {}
        status = "finished"
        recoveries = 0

        def write_inference(at_step: int, metrics_by_task: dict) -> None:
            results = infer_eval.flatten(metrics_by_task)
            writer.write(at_step, results, kind="infer_eval", tensorboard=False)  # seqio's logger
            if primary and results:
                log.info("decoding eval at step %d: %s", at_step,
                         ", ".join(f"{k.removeprefix('inference_eval/')} {v:.4f}"
                                   for k, v in results.items()))

        def run_evaluations(at_step: int, params, state_for_actions) -> bool:
            """Teacher-forced and decoding evaluation; True when an action asks to stop."""
            stop = False
            start = time.perf_counter()
            if train_eval_dataset_cfg is not None:
                results = _evaluate(trainer, params, train_eval_dataset_cfg, eval_steps,
                                    eval_cache)
                writer.write(at_step, results, kind="eval")
                if primary:
                    log.info("eval at step %d: %s", at_step, ", ".join(
                        f"{k.removeprefix('training_eval/')} {v:.4f}"
                        for k, v in results.items() if k.endswith("/loss")))
                by_task: dict = {}
                for key, value in results.items():
                    run, tag = split_key(key)
                    by_task.setdefault(run.removeprefix("training_eval/"), {})[tag] = value
                stop |= t5x_compat.run_actions(actions, "TRAIN_EVAL", state_for_actions, by_task)
            if inference is not None:
                previous = inference.collect()
                if previous is not None:
                    write_inference(*previous)
                metrics_by_task = inference.evaluate(params, at_step,
                                                     wait=not concurrent_metrics)
                if metrics_by_task is not None:
                    write_inference(at_step, metrics_by_task)
                    stop |= t5x_compat.run_actions(actions, "INFER_EVAL", state_for_actions,
                                                   metrics_by_task)
            writer.write(at_step, {"timing/evaluate_seconds": time.perf_counter() - start},
                         kind="timing")
            return stop

        stop_requested = False
        if run_eval_before_training:
            stop_requested = run_evaluations(step, state.params, state)
            if stop_requested:
                status = "stopped"
        if gc_period:  # t5x: manual control of the garbage collector while training
            gc.disable()
            cleanup.callback(gc.enable)

        def handle(pending) -> None:
            """Fetch a dispatched step's metrics, check for a spike, log."""
            nonlocal last_metrics
            at_step, metrics, at_examples, batch_rows = pending
            metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
            reason = detector.check(at_step, metrics["loss"])
            if reason is not None:
                raise _SpikeDetected(at_step, metrics["loss"], reason, at_examples)
            throughput.add(batch_rows, batch_rows * seq_len, metrics.get("weight_sum"))
            interval.add(metrics)
            report = at_step % period == 0 or at_step == total_steps
            if report:
                metrics.update(throughput.report(at_step))
                if primary:
                    log.info(progress_line(at_step, total_steps, metrics))
            writer.write(at_step, metrics, tensorboard=False)
            if report:  # TensorBoard: t5x's means over the period, and its timing scalars
                timing = {k: v for k, v in metrics.items()
                          if k.startswith(("timing/", "non_padding_fraction/"))}
                writer.tensorboard(at_step, {**interval.pop(), **timing})
            last_metrics = metrics
            return report

        with _SigtermFlag() as preemption:
            while step < total_steps and status != "stopped":
                pending = None
                try:
                    batch_size = batch_size_at(step, train_dataset_cfg.batch_size, batch_size_ramp)
                    batches = stream.batches(examples // num_shards, batch_size // num_shards)
                    throughput.restart()
                    compiled = False  # each stage of the batch ramp compiles once
                    while step < total_steps:
                        if batch_size_at(step, train_dataset_cfg.batch_size,
                                         batch_size_ramp) != batch_size:
                            break  # next stage of the ramp: a new iterator (and one new compile)
                        local = next(batches)
                        global_batch = partitioner.make_global_batch(local)
                        if not compiled:
                            seconds = trainer.compile_train(state, global_batch)
                            writer.write(step, {"timing/compilation_seconds": seconds},
                                         kind="timing")
                            throughput.restart()
                            compiled = True
                        state, metrics = trainer.train_step(state, global_batch)
                        step += 1
                        examples += batch_size
                        reported = False
                        if pending is not None:
                            reported = handle(pending)
                        pending = (step, metrics, examples, batch_size)
                        save_now = checkpoints.due(step) or step == total_steps
                        eval_now = ((train_eval_dataset_cfg is not None or inference is not None)
                                    and eval_period and
                                    (step % eval_period == 0 or step == total_steps))
                        stop = preemption.reached(step)
                        train_actions = actions.get("TRAIN") and not concurrent_metrics
                        if save_now or eval_now or stop or train_actions or stop_requested:
                            reported = handle(pending)
                            pending = None
                        if train_actions and reported:  # t5x: after each stats period
                            stop_requested |= t5x_compat.run_actions(
                                actions, "TRAIN", state, {"train": last_metrics})
                        if gc_period and step % gc_period == 0:
                            gc.collect()
                        if eval_now:
                            stop_requested |= run_evaluations(step, state.params, state)
                        if stop_requested and not (save_now or stop):
                            save_now = True
                            log.info("stopping at step %d as an action asked", step)
                        if save_now or stop:
                            start = time.perf_counter()
                            checkpoints.save(step, state, data_record(examples))
                            writer.write(step, {"timing/checkpoint_seconds":
                                                time.perf_counter() - start}, kind="timing")
                            writer.flush()  # object stores: metrics.jsonl up to this checkpoint
                        if stop:
                            raise _Preempted()
                        if stop_requested:
                            raise _StopRequested()
                    if pending is not None:
                        handle(pending)
                except _Preempted:
                    status = "preempted"
                    break
                except _StopRequested:
                    status = "stopped"
                    break
                except _SpikeDetected as spike:
                    recoveries += 1
                    if recoveries > spike_cfg.max_recoveries:
                        raise RuntimeError(
                            f"loss spike at step {spike.step} ({spike.reason}) after "
                            f"{spike_cfg.max_recoveries} recoveries; giving up") from None
                    good, state, good_record = checkpoints.restore_before(spike.step, abstract)
                    writer.rewind(good)
                    restored_examples = good_record["examples_consumed"]
                    batch_then = batch_size_at(good, train_dataset_cfg.batch_size, batch_size_ramp)
                    examples = max(restored_examples + spike_cfg.skip_batches * batch_then,
                                   spike.examples_after)
                    event = {"event": "loss_spike", "spike_step": spike.step, "loss": spike.loss,
                             "reason": spike.reason, "restored_step": good,
                             "batches_skipped": (examples - restored_examples) // batch_then,
                             "examples_consumed_after": examples}
                    spike_events.append(event)
                    writer.event(spike.step, event)
                    log.warning("loss spike at step %d (%s): restored checkpoint_%d, skipping %d "
                                "batches", spike.step, spike.reason, good, event["batches_skipped"])
                    step = good
                    detector.rewind(good)
        if inference is not None:  # metrics still being scored (concurrent_metrics)
            previous = inference.collect()
            if previous is not None:
                write_inference(*previous)
    ckpt_lib.wait_for_all("end of training")
    if primary:
        log.info("%s at step %d; checkpoints in %s, metrics in %s", status, step, model_dir,
                 writer.path)
    return TrainResult(step=step, status=status, last_metrics=last_metrics,
                       spike_events=spike_events,
                       checkpoint_blocking_seconds=checkpoints.blocking_seconds)


def _gin_model_dir() -> str | None:
    """MODEL_DIR as the gin macro binds it (None when unbound), for messages before train()."""
    try:
        value = gin.query_parameter("%MODEL_DIR")
    except (ValueError, TypeError):
        return None
    return paths.resolve(value) if isinstance(value, str) and value else None


def main(argv: list[str] | None = None) -> int:
    parser = gin_utils.add_flags(argparse.ArgumentParser(
        prog="python -m launch.train", description=__doc__.split("\n")[0]))
    args = gin_utils.parse_flags(parser, sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)
    try:
        multihost.initialize(args)
    except multihost.MultihostFlagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    multihost.configure_data(args)
    if not args.gin_file and not args.gin_bindings:
        parser.error("give at least one --gin_file (e.g. gin/runs/pretrain.gin plus a model file)")
    try:
        gin_utils.parse_gin(args.gin_file, args.gin_bindings, args.gin_search_paths)
        train_fn = gin.get_configurable(train)
        if jax.process_index() == 0 and _gin_model_dir():  # refused in seconds, not after
            output_lease.refuse_if_held(_gin_model_dir(), "training run")  # the preflight
    except (gin_utils.GinConfigError, output_lease.LeaseHeld) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    start = time.time()
    try:
        with disk_space.quiet_tracebacks():
            result = train_fn()
    except (preflight.PreflightError, output_lease.LeaseHeld) as e:
        print(f"error: {gin_checks.plain_message(e)}", file=sys.stderr)
        return 2
    except file_checksums.DataCorrupt as e:  # not bad usage: the data broke (exit 1)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        if not disk_space.no_space(e):
            raise
        full = disk_space.as_disk_full(e, "the run's files", _gin_model_dir())
        print(f"error: {gin_checks.plain_message(full)}", file=sys.stderr)
        disk_space.quiet_from_now_on()
        return 1
    log.info("%s in %.1f s", result.status, time.time() - start)
    return 0


if __name__ == "__main__":
    # Run the importable module's main so gin bindings of `launch.train.train` apply.
    from launch import train as _train_module
    sys.exit(_train_module.main())
