"""What the training loop reports per step: metrics.jsonl lines, the console progress line, and
TensorBoard's means over each logging period (t5x's layout), with throughput and MFU; and the
loss-spike check every step's loss goes through (launch/spikes.py decides).

A step's metrics are fetched from the device one step late (`dispatched`), so the host's work
overlaps the next step's; `drain` fetches them now (before a checkpoint, an evaluation or a stop).
A spike is returned, never raised: the loop decides what to do with it.
"""

from __future__ import annotations

import dataclasses
import logging

import jax

from launch.run import metrics as metrics_lib
from launch.run.metrics import MetricsWriter, Throughput, progress_line
from launch.run.tensorboard_layout import IntervalMeans
from launch.spikes import LossSpikeRecovery, SpikeDetector
from model import flops

log = logging.getLogger("launch")


@dataclasses.dataclass
class Spike:
    step: int
    loss: float
    reason: str
    examples_after: int  # examples consumed once the spiking step had run


def logging_period(stats_period, log_period, eval_period, checkpoint_period, gc_period,
                   total_steps) -> int:
    """t5x's: `stats_period`, else `log_period`, else the smallest of the (eval, checkpoint,
    GC) periods set, else the whole run."""
    periods = [p for p in (eval_period, checkpoint_period, gc_period) if p]
    return stats_period or log_period or (min(periods) if periods else None) or total_steps


def make_reporter(writer: MetricsWriter, config, spike_cfg: LossSpikeRecovery, *, seq_len: int,
                  total_steps: int, period: int, peak_flops_per_device: float | None,
                  primary: bool) -> StepReporter:
    """A reporter whose MFU is over the given peak, else the device's (model/hardware.py's
    table, or a matmul timed now on CPUs); the peak and its source are kept for the log."""
    peak, source = metrics_lib.peak_flops_per_device(config.compute_dtype, peak_flops_per_device)
    throughput = Throughput(flops.flops_per_token(config, seq_len), peak * jax.device_count(),
                            total_steps, jax.device_count())
    reporter = StepReporter(writer, SpikeDetector(spike_cfg), throughput, period=period,
                            total_steps=total_steps, seq_len=seq_len, primary=primary)
    reporter.peak, reporter.peak_source = peak, source
    return reporter


class StepReporter:
    def __init__(self, writer: MetricsWriter, detector: SpikeDetector, throughput: Throughput,
                 *, period: int, total_steps: int, seq_len: int, primary: bool):
        self.writer, self.detector, self.throughput = writer, detector, throughput
        self.period, self.total_steps, self.seq_len = period, total_steps, seq_len
        self.primary = primary
        self.peak, self.peak_source = throughput.peak_total / jax.device_count(), "given"
        self.interval = IntervalMeans()
        self.last_metrics: dict = {}
        self._pending: tuple | None = None

    def is_logging_step(self, step: int) -> bool:
        return step % self.period == 0 or step == self.total_steps

    def restart_clock(self) -> None:
        """Throughput is measured from now (a new iterator, or after a compilation)."""
        self.throughput.restart()

    def dispatched(self, step: int, metrics, examples: int, rows: int) -> Spike | None:
        """Step `step` was dispatched with (device) `metrics`; records the previous step's."""
        spike = self.drain()
        self._pending = (step, metrics, examples, rows)
        return spike

    def drain(self) -> Spike | None:
        """Records the pending step now; its spike, if it was one (then nothing is recorded)."""
        if self._pending is None:
            return None
        pending, self._pending = self._pending, None
        return self._record(*pending)

    def _record(self, step: int, metrics, examples: int, rows: int) -> Spike | None:
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        reason = self.detector.check(step, metrics["loss"])
        if reason is not None:
            return Spike(step, metrics["loss"], reason, examples)
        self.throughput.add(rows, rows * self.seq_len, metrics.get("weight_sum"))
        self.interval.add(metrics, step)
        report = self.is_logging_step(step)
        if report:
            metrics.update(self.throughput.report(step))
            if self.primary:
                log.info(progress_line(step, self.total_steps, metrics))
        self.writer.write(step, metrics, tensorboard=False)
        if report:  # TensorBoard: t5x's means over the period, and its timing scalars
            timing = {k: v for k, v in metrics.items()
                      if k.startswith(("timing/", "non_padding_fraction/"))}
            self.writer.tensorboard(step, {**self.interval.pop(), **timing})
        self.last_metrics = metrics
        return None

    def rewind(self, step: int) -> None:
        """The run went back to `step` (loss-spike recovery): forget what was accumulated after
        it, so no abandoned step enters a mean, a throughput figure or the spike history."""
        self._pending = None
        self.detector.rewind(step)
        self.interval.rewind(step)
        self.throughput.restart()
