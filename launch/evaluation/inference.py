"""Decoding and scoring evaluation during training and in launch.eval (t5x's
`infer_eval_dataset_cfg`).

As in t5x, a `seqio.Evaluator` (the class bound to `inference_evaluator_cls`, with its loggers)
reads every task of the mixture that has the split and metric functions, converts it with the
decoder feature converter (unpacked), and calls our `predict_fn` (launch/evaluation/predict.py:
greedy decoding with the KV cache); seqio then decodes the tokens with the task's vocabulary,
applies its postprocessor and its metric functions. Tasks whose metrics take scores (seqio's
`score_metric_fns`: rank classification, tasks/rank_classification.py, the way t5x evaluates
multiple choice) get our `score_fn` too (launch/evaluation/score.py: the log-likelihood of each
example's targets). seqio's loggers write `<log_dir>/inference_eval/<task>/` (TensorBoard, tags
`eval/<metric>`) and `<log_dir>/inference_eval/<task>-<step>.jsonl` (inferences) and
`<task>-metrics.jsonl`.

`task_feature_lengths = None` lets seqio measure the longest example of each feature, t5x's
"compute max". Metrics are also returned flat, `inference_eval/<task>/<metric>`, for
metrics.jsonl.
"""

from __future__ import annotations

import logging
import os
import time

import jax
import seqio

from launch.evaluation import predict
from launch.evaluation import score as score_lib
from launch.inputs import data as data_lib
from launch.utils import DatasetConfig
from model.config import PalmConfig

log = logging.getLogger("launch")


class _SeqioSkipNotices(logging.Filter):
    """seqio's Evaluator logs "Task T has no metrics defined; skipping eval" and "No eval task
    with valid split and metric fn found" for every loss-only task, which reads as if nothing
    were evaluated; the callers of InferenceEvaluator say what happens instead (decoding is
    skipped, the teacher-forced losses are computed). Only those two lines of seqio's
    evaluation module are dropped, at seqio's logger (absl's)."""

    NOTICES = ("has no metrics defined; skipping eval",
               "No eval task with valid split and metric fn found")

    def filter(self, record: logging.LogRecord) -> bool:
        from_seqio = record.pathname.endswith(os.path.join("seqio", "evaluation.py"))
        return not (from_seqio and any(n in record.getMessage() for n in self.NOTICES))


def _quiet_seqio_skip_notices() -> None:
    absl_logger = logging.getLogger("absl")
    if not any(isinstance(f, _SeqioSkipNotices) for f in absl_logger.filters):
        absl_logger.addFilter(_SeqioSkipNotices())


def _value(metric) -> float | None:
    """A seqio metric value (Scalar, or a plain number from an old-style metric fn) as a float."""
    value = getattr(metric, "value", metric)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None  # text, images, histograms: logged by seqio's loggers, not as scalars


def flatten(metrics_by_task: dict) -> dict:
    """{task: {name: value}} -> {'inference_eval/<task>/<name>': float} (scalars only)."""
    flat = {}
    for task, metrics in (metrics_by_task or {}).items():
        for name, metric in metrics.items():
            value = _value(metric)
            if value is not None:
                flat[f"inference_eval/{task}/{name}"] = value
    return flat


class InferenceEvaluator:
    """seqio.Evaluator over `cfg` with our decoding as its predict_fn."""

    def __init__(self, cfg: DatasetConfig, inference_evaluator_cls, config: PalmConfig,
                 log_dir: str | None):
        if cfg.pack:
            raise ValueError("infer_eval DatasetConfig.pack must be False: decoding evaluation "
                             "reads one example per row (t5x's finetune.gin sets pack = False)")
        data_lib._import_module(cfg)
        data_lib.lookup(cfg.mixture_or_task_name)
        _quiet_seqio_skip_notices()
        self.cfg = cfg
        self.config = config
        kwargs = {"log_dir": os.path.join(log_dir, "inference_eval")} if log_dir else \
            {"logger_cls": ()}
        self._evaluator = (inference_evaluator_cls or seqio.Evaluator)(
            mixture_or_task_name=cfg.mixture_or_task_name,
            feature_converter=seqio.DecoderFeatureConverter(pack=False),
            eval_split=cfg.split, use_cached=cfg.use_cached, seed=cfg.seed,
            sequence_length=dict(cfg.task_feature_lengths) if cfg.task_feature_lengths else None,
            use_memory_cache=cfg.use_memory_cache, **kwargs)
        supported = {seqio.metrics.ModelOutputType.PREDICTION,
                     seqio.metrics.ModelOutputType.SCORE}
        self.needs_scores = False
        for task in self.eval_tasks:
            kinds = {m.model_output_type for m in task.metric_objs}
            unsupported = kinds - supported
            if unsupported:
                raise ValueError(
                    f"task {task.name!r} has metrics needing {sorted(k.name for k in unsupported)}"
                    "; evaluation supports prediction metrics (metric_fns taking targets and "
                    "predictions) and score metrics (taking targets and scores) only")
            self.needs_scores |= seqio.metrics.ModelOutputType.SCORE in kinds
        self._pending = None

    @property
    def vocab_size(self) -> int | None:
        """The ids the tasks' target vocabularies can decode (the largest): decoding never
        emits the embedding's padding past them."""
        sizes = [t.output_features["targets"].vocabulary.vocab_size for t in self.eval_tasks
                 if "targets" in t.output_features]
        return min(max(sizes), self.config.vocab_size) if sizes else None

    @property
    def eval_tasks(self) -> list:
        return list(self._evaluator.eval_tasks)

    def evaluate(self, params, step: int, wait: bool = True):
        """Decodes every task and starts seqio's metric computation (on its own thread).

        Returns the metrics {task: {name: value}} when `wait`; otherwise None, and the future is
        kept for `collect` (t5x's `concurrent_metrics`: scoring overlaps further training)."""
        start = time.perf_counter()
        score_fn = (score_lib.score_fn(params, self.config, self.cfg.batch_size)
                    if self.needs_scores else None)
        future, _ = self._evaluator.evaluate(
            compute_metrics=jax.process_index() == 0, step=int(step),  # as t5x: host 0 scores
            predict_fn=predict.predict_fn(params, self.config, self.cfg.batch_size,
                                          self.vocab_size),
            score_fn=score_fn)
        log.info("decoding evaluation at step %d: %d task(s) decoded in %.1f s", step,
                 len(self.eval_tasks), time.perf_counter() - start)
        if wait:
            return future.result() or {}
        self._pending = (step, future)
        return None

    def collect(self) -> tuple[int, dict] | None:
        """(step, metrics) of an evaluation left running by `evaluate(wait=False)`, if any."""
        if self._pending is None:
            return None
        step, future = self._pending
        self._pending = None
        return step, future.result() or {}

    def close(self) -> None:
        self._evaluator.close()
