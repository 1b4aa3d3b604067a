"""Evaluation while training, as t5x does it: every `eval_period` steps (and at the last step),
the teacher-forced loss per task of `train_eval_dataset_cfg` (TensorBoard runs
`training_eval/<task>/`, launch/evaluation/teacher_forced.py) and decoding metrics of
`infer_eval_dataset_cfg` (seqio's Evaluator, `inference_eval/<task>/`,
launch/evaluation/inference.py), then the TRAIN_EVAL and INFER_EVAL actions, which may stop the
run. With `concurrent_metrics`, seqio scores the decodings while training goes on and the
figures are written at the next evaluation (or at the end).
"""

from __future__ import annotations

import logging
import time

import tensorflow as tf

from launch import t5x_compat
from launch.evaluation import inference as infer_eval
from launch.evaluation import teacher_forced
from launch.inputs import data as data_lib
from launch.run.tensorboard_layout import split_key
from launch.utils import DatasetConfig
from model.train_step import normalise

log = logging.getLogger("launch")


def teacher_forced_losses(trainer, params, cfg: DatasetConfig, eval_steps: int | None,
                          cache: dict) -> dict:
    """Loss per task of the eval mixture, and overall (token-weighted), as training_eval/..."""
    shard, num_shards = trainer.partitioner.data_layout
    host_batch = cfg.batch_size // num_shards
    results, totals = {}, {}
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
        sums = teacher_forced.loss_sums(trainer, params, batches,
                                        data_lib.zero_batch(cfg, host_batch))
        if sums is None:
            continue
        totals = {k: totals.get(k, 0.0) + float(v) for k, v in sums.items()}
        for name, value in normalise(sums).items():
            results[f"training_eval/{task}/{name}"] = float(value)
    if totals:
        for name, value in normalise(totals).items():
            results[f"training_eval/overall/{name}"] = float(value)
    return results


class Evaluations:
    """The run's evaluations; `due(step)` says when, `run(step, state)` runs them."""

    def __init__(self, trainer, writer, *, train_eval_cfg: DatasetConfig | None,
                 infer_eval_cfg: DatasetConfig | None, evaluator_cls, eval_steps: int | None,
                 eval_period: int | None, total_steps: int, log_dir: str | None,
                 actions: dict, concurrent_metrics: bool):
        self.trainer, self.writer, self.actions = trainer, writer, actions
        self.train_eval_cfg, self.eval_steps = train_eval_cfg, eval_steps
        self.period, self.total_steps = eval_period, total_steps
        self.concurrent_metrics = concurrent_metrics
        self.primary = log_dir is not None
        self._cache: dict = {}
        self.inference = None
        if infer_eval_cfg is not None:
            inference = infer_eval.InferenceEvaluator(infer_eval_cfg, evaluator_cls,
                                                      trainer.config, log_dir)
            if inference.eval_tasks:
                self.inference = inference
            else:
                log.warning("decoding evaluation: no task of %r has a %r split and metric "
                            "functions; it is skipped", infer_eval_cfg.mixture_or_task_name,
                            infer_eval_cfg.split)
                inference.close()

    def due(self, step: int) -> bool:
        return ((self.train_eval_cfg is not None or self.inference is not None)
                and bool(self.period) and (step % self.period == 0 or step == self.total_steps))

    def run(self, step: int, state) -> bool:
        """Both evaluations of `state` at `step`; True when an action asks to stop."""
        start = time.perf_counter()
        stop = False
        if self.train_eval_cfg is not None:
            stop |= self._teacher_forced(step, state)
        if self.inference is not None:
            self.finish()
            metrics_by_task = self.inference.evaluate(state.params, step,
                                                      wait=not self.concurrent_metrics)
            if metrics_by_task is not None:
                self._write_inference(step, metrics_by_task)
                stop |= t5x_compat.run_actions(self.actions, "INFER_EVAL", state,
                                               metrics_by_task)
        self.writer.write(step, {"timing/evaluate_seconds": time.perf_counter() - start},
                          kind="timing")
        return stop

    def _teacher_forced(self, step: int, state) -> bool:
        results = teacher_forced_losses(self.trainer, state.params, self.train_eval_cfg,
                                        self.eval_steps, self._cache)
        self.writer.write(step, results, kind="eval")
        if self.primary:
            log.info("eval at step %d: %s", step, ", ".join(
                f"{k.removeprefix('training_eval/')} {v:.4f}"
                for k, v in results.items() if k.endswith("/loss")))
        by_task: dict = {}
        for key, value in results.items():
            run, tag = split_key(key)
            by_task.setdefault(run.removeprefix("training_eval/"), {})[tag] = value
        return t5x_compat.run_actions(self.actions, "TRAIN_EVAL", state, by_task)

    def _write_inference(self, step: int, metrics_by_task: dict) -> None:
        results = infer_eval.flatten(metrics_by_task)
        self.writer.write(step, results, kind="infer_eval", tensorboard=False)  # seqio's logger
        if self.primary and results:
            log.info("decoding eval at step %d: %s", step,
                     ", ".join(f"{k.removeprefix('inference_eval/')} {v:.4f}"
                               for k, v in results.items()))

    def finish(self) -> None:
        """Writes the decoding metrics still being scored (concurrent_metrics), if any."""
        if self.inference is not None and (previous := self.inference.collect()) is not None:
            self._write_inference(*previous)

    def close(self) -> None:
        if self.inference is not None:
            self.inference.close()
