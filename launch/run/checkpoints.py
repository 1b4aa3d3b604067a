"""Orbax checkpoints in t5x's layout: MODEL_DIR/checkpoint_<step>/{state,data,checksums}.

`state` is the TrainState (sharded arrays, written by every host for its shards); `data` is a small
JSON record of the data position: the examples consumed by the run so far, the data seed, the
shard count and any loss-spike events (launch/inputs/data.py explains why this makes resumption
exact); `checksums` holds each host's CRC32C of the files it wrote (launch/run/checksums.py).
Saves are asynchronous: `save` returns once the arrays are copied off the devices; Orbax writes
the files and commits the folder under its final name, then a background thread records the
checksums. A checkpoint is trusted only once it verifies: resumption and loss-spike recovery take
the newest one that does, and set failing ones aside under MODEL_DIR/set_aside/ (never deleted).
"""

from __future__ import annotations

import json
import logging
import re
import time

import jax
import orbax.checkpoint as ocp

from launch.run import checksums as verify_lib
from launch.run import paths
from launch.utils import RestoreCheckpointConfig, SaveCheckpointConfig
from pipeline import disk_space

log = logging.getLogger("launch")
PREFIX = "checkpoint"
SET_ASIDE = "set_aside"


def step_dir(model_dir: str, step: int) -> str:
    return paths.join(model_dir, f"{PREFIX}_{step}")


def steps_in(model_dir: str) -> list[int]:
    """Steps of the committed `checkpoint_<step>` folders in MODEL_DIR, oldest first."""
    return sorted(int(m.group(1)) for name in paths.listdir(model_dir)
                  if (m := re.fullmatch(rf"{PREFIX}_(\d+)", name)))


def read_record(checkpoint_dir: str) -> dict:
    """The data record of a checkpoint (its `data` item), read as plain JSON; {} if absent."""
    path = paths.join(checkpoint_dir, "data", "metadata")
    return json.loads(paths.read_bytes(path)) if paths.exists(path) else {}


def _agreed(ok: bool) -> bool:
    """True only if every host says True (each verified its share of the files)."""
    if jax.process_count() == 1:
        return ok
    import numpy as np
    from jax.experimental import multihost_utils
    return bool(np.min(multihost_utils.process_allgather(np.array(int(ok)))))


def verify_step(model_dir: str, step: int) -> list[verify_lib.Problem]:
    """Problems of checkpoint_<step> (empty: it verifies on every host)."""
    problems = verify_lib.verify(step_dir(model_dir, step), jax.process_index(),
                                 jax.process_count())
    if not _agreed(not problems) and not problems:
        problems = [verify_lib.Problem(f"{PREFIX}_{step}", "(another host's files)", "remote",
                                       "another host found a problem; see its log")]
    return problems


def newest_verified(model_dir: str, below: int | None = None,
                    exclude=()) -> tuple[int | None, dict[int, list[verify_lib.Problem]]]:
    """(newest step that verifies, among those < `below` and not in `exclude`; the problems of
    every newer one it skipped)."""
    skipped = {}
    for step in reversed(steps_in(model_dir)):
        if (below is not None and step >= below) or step in exclude:
            continue
        problems = verify_step(model_dir, step)
        if not problems:
            return step, skipped
        skipped[step] = problems
    return None, skipped


def set_aside(model_dir: str, step: int, reason: str) -> str | None:
    """Moves checkpoint_<step> to MODEL_DIR/set_aside/checkpoint_<step>-<reason> (host 0), so it
    is neither resumed from nor in the way of a new save at that step. Returns the new path."""
    target = None
    if jax.process_index() == 0:
        base = paths.join(model_dir, SET_ASIDE, f"{PREFIX}_{step}-{reason}")
        target, n = base, 1
        while paths.exists(target):
            target, n = f"{base}-{n}", n + 1
        paths.rename(step_dir(model_dir, step), target)
        log.warning("moved %s to %s", step_dir(model_dir, step), target)
    wait_for_all(f"set aside checkpoint {step}")
    return target


def report_skipped(skipped: dict[int, list[verify_lib.Problem]]) -> None:
    for step, problems in sorted(skipped.items(), reverse=True):
        for problem in problems:
            log.error("checkpoint_%d fails verification, skipped: %s", step, problem)


class Checkpoints:
    """A CheckpointManager over MODEL_DIR with `period`/`keep` from SaveCheckpointConfig, plus
    checksums written in the background after each save."""

    def __init__(self, model_dir: str, save_cfg: SaveCheckpointConfig | None):
        self.model_dir = paths.resolve(model_dir)
        self.save_cfg = save_cfg or SaveCheckpointConfig()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=self.save_cfg.keep, step_prefix=PREFIX, create=True,
            enable_async_checkpointing=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.model_dir, options=options,
                                             item_names=("state", "data"))
        self.checksums = verify_lib.BackgroundChecksums()
        self.blocking_seconds: list[float] = []  # how long each save held up training
        self._in_flight: int | None = None  # the step of a save not known to be complete
        self._rewound_without_progress: set[int] = set()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def due(self, step: int) -> bool:
        period = self.save_cfg.period
        return bool(period) and step % period == 0

    def _writing(self, step: int | None):
        """A full disk while checkpoint_<step> is written: DiskFull naming it, with the size
        of the newest complete checkpoint as the space it needs (Orbax's own error says
        neither). Errors of an asynchronous save surface at a later call: callers then name the
        save still in flight (`_in_flight`)."""
        if step is None:
            return disk_space.writing(self.model_dir, "a checkpoint")
        done = [s for s in steps_in(self.model_dir) if s != step]
        needed = (disk_space.tree_bytes(step_dir(self.model_dir, done[-1]))
                  if done and not paths.is_remote(self.model_dir) else None)
        return disk_space.writing(step_dir(self.model_dir, step), f"checkpoint_{step}", needed)

    def save(self, step: int, state, data: dict) -> None:
        """Asynchronous save of `state` and the data record at `step`, then its checksums."""
        if step in self.manager.all_steps():
            return
        start = time.perf_counter()
        with self._writing(step if self._in_flight is None else self._in_flight):
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data)), force=True)
        self._in_flight = step
        self.blocking_seconds.append(time.perf_counter() - start)
        self.checksums.submit(self._record_checksums, step)
        self._rewound_without_progress.clear()

    def _record_checksums(self, step: int) -> None:
        with self._writing(step):
            self.manager.wait_until_finished()  # off the training thread: Orbax's commit is done
        directory = step_dir(self.model_dir, step)
        try:
            with disk_space.writing(directory, f"the checksums of checkpoint_{step}"):
                verify_lib.write_manifest(directory, jax.process_index(), jax.process_count())
        except FileNotFoundError:
            if paths.exists(directory):
                raise
            log.info("checkpoint_%d was removed (keep=%s) before its checksums were written",
                     step, self.save_cfg.keep)
        if self._in_flight == step:
            self._in_flight = None

    def restore(self, step: int, abstract_state) -> tuple:
        """State and data record of checkpoint_<step> (verify it first: `newest_verified`)."""
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
        return restored.state, restored.data

    def set_aside_newer(self, step: int, reason: str) -> None:
        """Moves every checkpoint newer than `step` out of the way (they would be resumed from
        or block the saves of the steps about to be redone)."""
        moved = False
        for newer in steps_in(self.model_dir):
            if newer > step:
                set_aside(self.model_dir, newer, reason)
                moved = True
        if moved:
            self.manager.reload()

    def restore_before(self, spike_step: int, abstract_state) -> tuple[int, object, dict]:
        """Loss-spike recovery: the newest verified checkpoint older than `spike_step` that has
        not already been rewound to since the last new save (if the loss spiked again from it,
        go further back). Returns (step, state, record)."""
        self.wait()
        good, skipped = newest_verified(self.model_dir, below=spike_step,
                                        exclude=self._rewound_without_progress)
        report_skipped(skipped)
        if good is None:
            raise RuntimeError(
                f"loss spike at step {spike_step}: no verified checkpoint older than it to "
                f"restore (already rewound to {sorted(self._rewound_without_progress)} without "
                f"progress; failed verification: {sorted(skipped)})")
        for step in skipped:
            set_aside(self.model_dir, step, "corrupt")
        self.set_aside_newer(good, "rewound")
        self.manager.reload()
        state, record = self.restore(good, abstract_state)
        self._rewound_without_progress.add(good)
        return good, state, record

    def wait(self) -> None:
        with self._writing(self._in_flight):
            self.manager.wait_until_finished()
        self.checksums.wait()

    def close(self) -> None:
        try:
            with self._writing(self._in_flight):
                self.manager.wait_until_finished()
            self.checksums.close()
        finally:
            self.manager.close()


def resolve_initial(restore_cfg: RestoreCheckpointConfig | None) -> str | None:
    """The checkpoint directory a run without checkpoints of its own starts from, if any."""
    if restore_cfg is None or not restore_cfg.paths:
        return None
    for raw in restore_cfg.paths:
        path = paths.resolve(raw)
        if restore_cfg.mode == "latest" and paths.isdir(path):
            steps = steps_in(path)
            if steps:
                return step_dir(path, steps[-1])
        if paths.isdir(paths.join(path, "state")):
            return path
    if restore_cfg.fallback_to_scratch:
        log.warning("no checkpoint at %s; starting from scratch", restore_cfg.paths)
        return None
    raise FileNotFoundError(f"RestoreCheckpointConfig.path: no checkpoint found at "
                            f"{restore_cfg.paths} (mode {restore_cfg.mode!r}; a checkpoint is a "
                            f"'{PREFIX}_<step>' folder holding 'state/')")


def verify_initial(path: str) -> None:
    """Raises CheckpointCorrupt if a checkpoint given by the user fails a check; one written
    before checksums existed is used with a warning (the user named it)."""
    problems = verify_lib.verify(path, jax.process_index(), jax.process_count())
    if not _agreed(not problems) and not problems:
        problems = [verify_lib.Problem(path, "(another host's files)", "remote",
                                       "another host found a problem; see its log")]
    if len(problems) == 1 and problems[0].check == "completion marker" and \
            problems[0].file.endswith("process_0.json"):
        log.warning("%s has no checksums (written before they existed, or its save was "
                    "interrupted): restoring it unverified", path)
        return
    if problems:
        raise verify_lib.CheckpointCorrupt(problems)


def restore_from(path: str, abstract_state) -> tuple:
    """State (and data record) of the checkpoint directory `path` (`.../checkpoint_<step>`),
    verified first (see verify_initial)."""
    path = paths.resolve(path)
    verify_initial(path)
    state = ocp.StandardCheckpointer().restore(paths.join(path, "state"), abstract_state)
    data = None
    data_path = paths.join(path, "data")
    if paths.isdir(data_path):
        data = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(data_path)
    return state, data


def wait_for_all(reason: str) -> None:
    """A barrier across hosts (no-op on one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(reason)
