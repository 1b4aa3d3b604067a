"""Orbax checkpoints in t5x's layout: MODEL_DIR/checkpoint_<step>/{state,data}.

`state` is the TrainState (sharded arrays, written by every host for its shards); `data` is a small
JSON record of the data position: the examples consumed by the run so far, the data seed, the
batch size and any loss-spike events (launch/data.py explains why this makes resumption exact).
Saves are asynchronous: `save` returns once the arrays are copied off the devices and the
training step can go on while the files are written; a checkpoint directory only appears under
its final name once complete, so a process killed mid-save leaves nothing half-written behind.
"""

from __future__ import annotations

import logging
import os
import re
import time

import jax
import orbax.checkpoint as ocp

from launch.utils import RestoreCheckpointConfig, SaveCheckpointConfig

log = logging.getLogger("launch")
PREFIX = "checkpoint"


class Checkpoints:
    """A CheckpointManager over MODEL_DIR with `period`/`keep` from SaveCheckpointConfig."""

    def __init__(self, model_dir: str, save_cfg: SaveCheckpointConfig | None):
        self.save_cfg = save_cfg or SaveCheckpointConfig()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=self.save_cfg.keep, step_prefix=PREFIX, create=True,
            enable_async_checkpointing=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(os.path.abspath(model_dir), options=options,
                                             item_names=("state", "data"))
        self.blocking_seconds: list[float] = []  # how long each save held up training

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def due(self, step: int) -> bool:
        period = self.save_cfg.period
        return bool(period) and step % period == 0

    def save(self, step: int, state, data: dict) -> None:
        """Asynchronous save of `state` and the data record at `step`."""
        if step in self.manager.all_steps():
            return
        start = time.perf_counter()
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data)), force=True)
        self.blocking_seconds.append(time.perf_counter() - start)

    def restore(self, step: int, abstract_state) -> tuple:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
        return restored.state, restored.data

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def resolve_initial(restore_cfg: RestoreCheckpointConfig | None) -> str | None:
    """The checkpoint directory a run without checkpoints of its own starts from, if any."""
    if restore_cfg is None or not restore_cfg.paths:
        return None
    for path in restore_cfg.paths:
        if restore_cfg.mode == "latest" and os.path.isdir(path):
            steps = sorted(int(m.group(1)) for name in os.listdir(path)
                           if (m := re.fullmatch(rf"{PREFIX}_(\d+)", name)))
            if steps:
                return os.path.join(path, f"{PREFIX}_{steps[-1]}")
        elif os.path.isdir(os.path.join(path, "state")):
            return os.path.abspath(path)
    if restore_cfg.fallback_to_scratch:
        log.warning("no checkpoint at %s; starting from scratch", restore_cfg.paths)
        return None
    raise FileNotFoundError(f"RestoreCheckpointConfig.path: no checkpoint found at "
                            f"{restore_cfg.paths} (mode {restore_cfg.mode!r}; a checkpoint is a "
                            f"'{PREFIX}_<step>' folder holding 'state/')")


def restore_from(path: str, abstract_state) -> tuple:
    """State (and data record) of the checkpoint directory `path` (`.../checkpoint_<step>`)."""
    state = ocp.StandardCheckpointer().restore(os.path.join(path, "state"), abstract_state)
    data = None
    data_path = os.path.join(path, "data")
    if os.path.isdir(data_path):
        data = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(data_path)
    return state, data


def wait_for_all(reason: str) -> None:
    """A barrier across hosts (no-op on one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(reason)
