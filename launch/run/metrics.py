"""Metrics: MODEL_DIR/metrics.jsonl, TensorBoard events, a console progress line, and MFU.

Names are t5x's (`loss`, `accuracy`, `z_loss`, `cross_ent_loss`, `learning_rate`, `timing/seconds`,
`timing/seqs`, `timing/seqs_per_second`, `timing/target_tokens_per_second`, their `_per_core`
variants, `timing/steps_per_second`, `non_padding_fraction/loss_weights`,
`timing/compilation_seconds`, ...) plus `grad_norm` and `timing/mfu`. metrics.jsonl goes through
launch/run/paths.py (local or object store: launch/run/jsonl.py `MetricsLog`). Evaluation metrics
are `training_eval/<task>/loss` etc. in metrics.jsonl; TensorBoard gets them in t5x's layout of runs
(launch/run/tensorboard_layout.py). Only process 0 writes.

MFU (PaLM App. B) = model FLOPs per token (6N + 12 L H Q T, model/flops.py) x tokens per second /
(peak FLOP/s per device x devices). The peak comes from `peak_flops_per_device` if given, else from
model/hardware.py's table for the device kind and compute dtype, else (CPUs) from a matmul timed
on this machine at start-up.
"""

from __future__ import annotations

import datetime
import logging
import time

import jax
import jax.numpy as jnp
import numpy as np

from launch.run import jsonl, paths
from launch.run.tensorboard_layout import RunWriters
from model import hardware
from pipeline import disk_space

log = logging.getLogger("launch")


def measure_matmul_peak(n: int = 1024, repeats: int = 5, dtype=jnp.float32) -> float:
    """Best FLOP/s of an n^3 matmul on the first device (the CPU yardstick for MFU)."""
    a = jnp.ones((n, n), dtype)
    dot = jax.jit(jnp.dot)
    dot(a, a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dot(a, a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def peak_flops_per_device(compute_dtype, override: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s per device, where the figure came from)."""
    if override:
        return float(override), "config"
    device = jax.devices()[0]
    accel = hardware.guess_accelerator(device.device_kind)
    if accel is not None:
        bf16 = jnp.dtype(compute_dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
        return (accel.peak_bf16_flops if bf16 else accel.peak_fp32_flops), f"table:{accel.name}"
    # Simulated CPU devices share the machine's cores: the measured peak is the whole machine's.
    peak = measure_matmul_peak(dtype=compute_dtype) / jax.local_device_count()
    return peak, "measured matmul"


def tensorboard_can_write(model_dir: str) -> bool:
    """TensorFlow's summary writer reaches local paths and gs:// (its own filesystems); other
    schemes (s3:// needs tensorflow-io, memory:// is fsspec's) it cannot write."""
    return not paths.is_remote(model_dir) or model_dir.startswith("gs://")


class MetricsWriter:
    """Writes one JSON line per step (and per evaluation) and TensorBoard scalars."""

    def __init__(self, model_dir: str, enabled: bool = True):
        self.enabled = enabled
        self.path = paths.join(model_dir, "metrics.jsonl")
        self._tb_dir = model_dir
        self._log: jsonl.MetricsLog | None = None
        self._tb: RunWriters | None = None
        if enabled:
            paths.makedirs(model_dir)
            self._log = jsonl.MetricsLog(self.path)
            if tensorboard_can_write(model_dir):
                self._tb = RunWriters(model_dir)
            else:
                log.warning("TensorBoard events are not written to %s: TensorFlow has no "
                            "filesystem for that scheme (metrics.jsonl has every scalar)",
                            model_dir)

    def write(self, step: int, scalars: dict, kind: str = "train",
              tensorboard: bool = True) -> None:
        """One JSON line; also TensorBoard scalars unless `tensorboard` is False (the loop sends
        every step to the JSON file but only logging steps to TensorBoard: cheaper on the host)."""
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in scalars.items()}
        with disk_space.writing(self.path, "metrics (metrics.jsonl)"):
            self._log.write({"step": int(step), "kind": kind, **clean})
        if tensorboard and self._tb is not None:
            with disk_space.writing(self._tb_dir, "TensorBoard events"):
                self._tb.write_scalars(int(step), clean)

    def tensorboard(self, step: int, scalars: dict) -> None:
        """TensorBoard only (e.g. the train metrics' means over a logging period)."""
        if self.enabled and self._tb is not None:
            with disk_space.writing(self._tb_dir, "TensorBoard events"):
                self._tb.write_scalars(int(step), {k: float(v) for k, v in scalars.items()})

    def write_texts(self, step: int, texts: dict) -> None:
        """Text summaries in train/ (clu's MetricWriter method, which t5x's
        summarize_config_fn calls to log the run's gin config)."""
        if self.enabled and self._tb is not None:
            for tag, text in texts.items():
                self._tb.run("train").write_text(int(step), tag, text)

    def event(self, step: int, record: dict) -> None:
        """A non-scalar event (e.g. a loss-spike recovery) as one JSON line."""
        if self.enabled:
            with disk_space.writing(self.path, "metrics (metrics.jsonl)"):
                self._log.write({"step": int(step), "kind": "event", **record})

    def rewind(self, step: int) -> None:
        """The run goes back to `step`: drop the JSON lines of later steps and tell TensorBoard
        to forget their points (they will be redone)."""
        if self.enabled:
            self._log.rewind(step)
            if self._tb is not None:
                self._tb.rewind(step)

    def flush(self) -> None:
        """Makes everything written so far durable (in an object store: one rewrite of
        metrics.jsonl); the trainer calls it with every checkpoint save."""
        if self.enabled:
            with disk_space.writing(self.path, "metrics (metrics.jsonl)"):
                self._log.flush()
            if self._tb is not None:
                with disk_space.writing(self._tb_dir, "TensorBoard events"):
                    self._tb.flush()

    def close(self) -> None:
        if self.enabled:
            try:
                if self._tb is not None:
                    with disk_space.writing(self._tb_dir, "TensorBoard events"):
                        self._tb.flush()
                        self._tb.close()
            finally:
                with disk_space.writing(self.path, "metrics (metrics.jsonl)"):
                    self._log.close()


class Throughput:
    """Tokens/s, sequences/s, MFU and ETA over the interval since the last report."""

    def __init__(self, flops_per_token: float, peak_total: float, total_steps: int,
                 num_devices: int = 1):
        self.num_devices = max(int(num_devices), 1)
        self.flops_per_token = flops_per_token
        self.peak_total = peak_total
        self.total_steps = total_steps
        self._start = time.perf_counter()
        self._tokens = 0
        self._seqs = 0
        self._steps = 0
        self._weighted = 0.0

    def add(self, seqs: int, tokens: int, weighted_tokens: float | None = None) -> None:
        """One step of `seqs` rows and `tokens` token slots, `weighted_tokens` of them trained."""
        self._seqs += seqs
        self._tokens += tokens
        self._steps += 1
        self._weighted += tokens if weighted_tokens is None else float(weighted_tokens)

    def restart(self) -> None:
        self._start = time.perf_counter()
        self._tokens = self._seqs = self._steps = 0
        self._weighted = 0.0

    def report(self, step: int) -> dict:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        tokens_per_second = self._tokens / elapsed
        out = {
            "timing/seqs_per_second": self._seqs / elapsed,
            "timing/target_tokens_per_second": tokens_per_second,
            "timing/steps_per_second": self._steps / elapsed,
            "timing/mfu": self.flops_per_token * tokens_per_second / self.peak_total,
            "timing/seconds": elapsed,
            "timing/seqs": float(self._seqs),
            "timing/seqs_per_second_per_core": self._seqs / elapsed / self.num_devices,
            "timing/target_tokens_per_second_per_core":
                tokens_per_second / self.num_devices,
            "non_padding_fraction/loss_weights": self._weighted / max(self._tokens, 1),
        }
        remaining = (self.total_steps - step) / max(out["timing/steps_per_second"], 1e-9)
        out["timing/eta_seconds"] = remaining
        self.restart()
        return out


def progress_line(step: int, total: int, metrics: dict) -> str:
    eta = datetime.timedelta(seconds=int(metrics.get("timing/eta_seconds", 0)))
    return (f"step {step}/{total} loss {metrics['loss']:.4f} acc {metrics['accuracy']:.3f} "
            f"lr {metrics.get('learning_rate', float('nan')):.2e} "
            f"gnorm {metrics.get('grad_norm', float('nan')):.3f} | "
            f"{metrics['timing/target_tokens_per_second']:,.0f} tok/s | "
            f"MFU {100 * metrics['timing/mfu']:.2f}% | ETA {eta}")


def finite(value) -> bool:
    return bool(np.isfinite(value))
