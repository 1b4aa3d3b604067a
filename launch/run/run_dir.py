"""MODEL_DIR as one object: what a training run reads and writes there, owned in one place.

`RunDirectory.prepare` checks everything checkable before a byte is written
(launch/run/preflight.py) and sets aside newer checkpoints that fail verification. Entering it
(`with run_dir:`) takes the run's lease on MODEL_DIR (one writer per directory), writes
model-info.txt and opens the checkpoint manager (launch/run/checkpoints.py) and the metrics log
with its TensorBoard writers (launch/run/metrics.py); leaving it finishes pending checkpoint
writes and flushes the metrics, however the run ends. The training loop (launch/train.py) hands
this one object around instead of MODEL_DIR plus the values that go with it.
"""

from __future__ import annotations

import contextlib
import logging
import time

import jax

from launch.run import checkpoints as ckpt_lib
from launch.run import paths, preflight
from launch.run.metrics import MetricsWriter
from model import flops
from pipeline import output_lease

log = logging.getLogger("launch")


def write_model_info(path: str, trainer) -> None:
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
    def lookup(tree, key_path):
        for k in key_path:
            tree = tree[k.key]
        return tree

    leaves = jax.tree_util.tree_leaves_with_path(nn.unbox(boxed))
    for key_path, leaf in leaves:
        name = "/".join(str(getattr(k, "key", k)) for k in key_path)
        lines.append(f"{name:<44} {tuple(leaf.shape)!s:<18} {leaf.dtype.name:<8} "
                     f"{tuple(lookup(logical, key_path))!s:<28} {lookup(mesh_specs, key_path)}")
    opt_leaves = jax.tree_util.tree_leaves_with_path(trainer.state_specs.opt_state)
    lines += ["", f"optimizer state: {len(opt_leaves)} arrays, sharded like their parameters "
                  "where they mirror one, replicated otherwise"]
    paths.write_text_atomic(path, "\n".join(lines) + "\n")


def take_lease(model_dir: str) -> contextlib.AbstractContextManager:
    """The run's lease on MODEL_DIR: one writer per directory (pipeline/output_lease.py). Host 0
    holds it for the run; a second writer is refused (LeaseHeld, exit 2) naming the holder."""
    if jax.process_index() != 0:
        return contextlib.nullcontext()
    return output_lease.hold(model_dir, what="training run")


class RunDirectory:
    """The checked plan of a run plus, inside `with`, its checkpoints and metrics writer."""

    def __init__(self, plan: preflight.RunPlan, save_cfg):
        self.plan = plan
        self.path = plan.model_dir
        self.trainer = plan.trainer
        self.primary = jax.process_index() == 0
        self._save_cfg = save_cfg
        self._stack: contextlib.ExitStack | None = None
        self.checkpoints: ckpt_lib.Checkpoints | None = None
        self.metrics: MetricsWriter | None = None

    @classmethod
    def prepare(cls, *, checkpoint_cfg, **plan_args) -> RunDirectory:
        """Preflight (raises PreflightError, nothing written); checkpoints that fail
        verification are reported here and set aside once the lease is held (`__enter__`).
        `plan_args` are preflight.plan_run's."""
        plan = preflight.plan_run(checkpoint_cfg=checkpoint_cfg, **plan_args)
        if plan.skipped:
            ckpt_lib.report_skipped(plan.skipped)
            log.warning("resuming from checkpoint_%d, the newest checkpoint that verifies",
                        plan.resume_step)
        return cls(plan, checkpoint_cfg.save)

    def __enter__(self) -> RunDirectory:
        with contextlib.ExitStack() as stack:
            stack.enter_context(take_lease(self.path))
            # Only the lease holder moves anything: a second start racing this one must never
            # set aside a live run's checkpoint.
            for bad in self.plan.skipped:
                ckpt_lib.set_aside(self.path, bad, "corrupt")
            if self.primary:
                paths.makedirs(self.path)
                write_model_info(paths.join(self.path, "model-info.txt"), self.trainer)
            self.checkpoints = ckpt_lib.Checkpoints(self.path, self._save_cfg)
            stack.callback(self.checkpoints.close)
            self.metrics = MetricsWriter(self.path, enabled=self.primary)
            stack.callback(self.metrics.close)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()  # metrics flushed, then checkpoint writes finished, then the lease

    def save(self, step: int, state, record: dict) -> None:
        """A checkpoint of `state` and its data record at `step`, timed; metrics.jsonl is made
        durable up to it (object stores rewrite it whole)."""
        start = time.perf_counter()
        self.checkpoints.save(step, state, record)
        self.metrics.write(step, {"timing/checkpoint_seconds": time.perf_counter() - start},
                           kind="timing")
        self.metrics.flush()

    def restore_before(self, spike_step: int, abstract_state) -> tuple[int, object, dict]:
        """The newest verified checkpoint before a spike (checkpoints.restore_before); the
        metrics of the steps after it are dropped, as they will be redone."""
        good, state, record = self.checkpoints.restore_before(spike_step, abstract_state)
        self.metrics.rewind(good)
        return good, state, record
