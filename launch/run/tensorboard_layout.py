"""TensorBoard in t5x's layout: one run (sub-directory of MODEL_DIR) per kind of metric.

t5x writes training scalars to the run `train/`, teacher-forced evaluation of task T to the run
`training_eval/T/` and decoding evaluation to `inference_eval/T/` (seqio's TensorBoardLogger), each
with plain tags (`loss`, `accuracy`, ...). Because the tag is the same in every run, TensorBoard
overlays train and eval loss on one chart; dashboards built on t5x runs line up with ours.

Metric keys inside the trainer are flat (`loss`, `training_eval/<task>/loss`); `split_key` maps a
key to (run, tag) and `RunWriters` writes each scalar to its run.

Train scalars are means over the logging period (`IntervalMeans`), as t5x's metric managers
write them, not the value at the logging step.

After a resume (or a loss-spike rewind) to step k, the steps after k are redone and their points
written again. Event files are append-only, so each run's writer first writes a SessionLog START
event at step k + 1: TensorBoard's reader then drops every point of that run with a step >= k + 1
read before it (its "orphaned data" purge), and each step shows once.
"""

from __future__ import annotations

import os

import numpy as np

EVAL_PREFIXES = ("training_eval/", "inference_eval/")
TRAIN_RUN = "train"
# Train metrics that are not averaged over the period: throughput is measured over it already.
_NOT_AVERAGED = ("timing/",)
# Averaged with the step's trained-token count as weight (t5x: token-level accuracy).
_TOKEN_WEIGHTED = ("accuracy",)


def split_key(key: str) -> tuple[str, str]:
    """`training_eval/<task>/<tag>` -> (`training_eval/<task>`, `<tag>`); other keys -> train/."""
    for prefix in EVAL_PREFIXES:
        if key.startswith(prefix):
            task, _, tag = key[len(prefix):].partition("/")
            if task and tag:
                return prefix + task, tag
    return TRAIN_RUN, key


class ScalarWriter:
    """Summaries of one run in TensorBoard's event format. Scalars are written with TensorFlow's
    core `tf.summary.write` and the "scalars" plugin tag; text (the gin config) with
    `tf.summary.text`, which needs the `tensorboard` package (a dependency, as seqio's
    TensorBoardLogger needs it too)."""

    def __init__(self, logdir: str):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        self._writer = tf.summary.create_file_writer(logdir)
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))

    def write_scalars(self, step: int, scalars: dict) -> None:
        tf = self._tf
        with self._writer.as_default():
            for tag, value in scalars.items():
                tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                                 metadata=self._metadata)

    def start_session(self, step: int) -> None:
        """A SessionLog START at `step`: readers forget this run's earlier points at steps >=
        `step`. tf.summary has no call for it: the event goes in through the ImportEvent op on
        the writer's resource handle (`_resource`, private to tf.summary's writer; TF is
        pinned, and tests/test_faults.py reads the result back with TensorBoard's reader)."""
        import time

        from tensorflow.core.util import event_pb2

        event = event_pb2.Event(wall_time=time.time(), step=step,
                                session_log=event_pb2.SessionLog(
                                    status=event_pb2.SessionLog.START))
        self._tf.raw_ops.ImportEvent(writer=self._writer._resource,
                                     event=event.SerializeToString())

    def write_text(self, step: int, tag: str, text: str) -> None:
        tf = self._tf
        with self._writer.as_default():
            tf.summary.text(tag, tf.constant(text), step=step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class RunWriters:
    """One ScalarWriter per run under `model_dir`, opened on first use."""

    def __init__(self, model_dir: str):
        self.model_dir = model_dir
        self._writers: dict[str, ScalarWriter] = {}
        self._redo_from: int | None = None  # first redone step, for runs not opened yet

    def run(self, name: str) -> ScalarWriter:
        if name not in self._writers:
            writer = ScalarWriter(os.path.join(self.model_dir, name))
            if self._redo_from is not None:
                writer.start_session(self._redo_from)
            self._writers[name] = writer
        return self._writers[name]

    def rewind(self, step: int) -> None:
        """Steps after `step` will be written again: START at step + 1 in every open run now, and
        in each other run when it is first opened (the earliest rewind of this process)."""
        for writer in self._writers.values():
            writer.start_session(step + 1)
        self._redo_from = step + 1 if self._redo_from is None else min(self._redo_from, step + 1)

    def write_scalars(self, step: int, scalars: dict) -> None:
        by_run: dict[str, dict] = {}
        for key, value in scalars.items():
            run, tag = split_key(key)
            by_run.setdefault(run, {})[tag] = value
        for run, values in by_run.items():
            self.run(run).write_scalars(step, values)

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class IntervalMeans:
    """Per-step train metrics accumulated over a logging period; `pop` returns their means and
    starts a new period. `accuracy` is weighted by the step's trained tokens (`weight_sum`) when
    the step reports it; timing figures are left to the throughput meter. `rewind` forgets the
    steps a loss-spike recovery abandons, so their replacements are not averaged with them."""

    def __init__(self):
        self._steps: list[tuple[int | None, dict[str, tuple[float, float]]]] = []

    def add(self, metrics: dict, step: int | None = None) -> None:
        tokens = float(metrics.get("weight_sum", 1.0)) or 1.0
        terms = {}
        for key, value in metrics.items():
            if key.startswith(_NOT_AVERAGED) or not np.isfinite(value):
                continue
            weight = tokens if key in _TOKEN_WEIGHTED else 1.0
            terms[key] = (weight * float(value), weight)
        self._steps.append((step, terms))

    def rewind(self, step: int) -> None:
        """Drops the steps after `step` (they will be redone)."""
        self._steps = [(s, t) for s, t in self._steps if s is None or s <= step]

    def pop(self) -> dict:
        sums: dict[str, float] = {}
        weights: dict[str, float] = {}
        for _, terms in self._steps:
            for key, (term, weight) in terms.items():
                sums[key] = sums.get(key, 0.0) + term
                weights[key] = weights.get(key, 0.0) + weight
        self._steps.clear()
        return {k: sums[k] / weights[k] for k in sums if weights[k]}
