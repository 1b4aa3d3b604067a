"""The checkpoint an export reads: which one (newest verified, or a named step), its model config
(from the run's config.gin), and its parameters one array at a time.

Arrays are restored with Orbax's partial restore, one parameter per call, into host numpy, so a
checkpoint larger than host memory converts: the peak is one array (for a model that scans its
layers, one stacked array holds every layer of that parameter). Nothing here writes to the run
directory or takes its lease: an export may run beside training.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import numpy as np
import orbax.checkpoint as ocp

import gin
from launch import gin_utils
from launch.run import checkpoints as ckpt_lib
from launch.run import checksums, paths
from model.config import PalmConfig

log = logging.getLogger("launch")


class SourceError(ValueError):
    """A checkpoint or config that cannot be exported; the message names the path and check."""


@dataclasses.dataclass(frozen=True)
class Source:
    checkpoint_dir: str  # .../checkpoint_<step>
    run_dir: str  # its parent: config.gin, metrics.jsonl
    step: int


def locate(checkpoint: str, step: int | None) -> Source:
    """The verified checkpoint to export: `checkpoint` is a run directory (newest verified
    checkpoint, or `step`) or a `checkpoint_<step>` folder. Raises SourceError naming the failed
    check when it is damaged or absent."""
    path = paths.resolve(checkpoint)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    match = re.fullmatch(rf"{ckpt_lib.PREFIX}_(\d+)", name)
    if match:
        found = int(match.group(1))
        if step is not None and step != found:
            raise SourceError(f"--checkpoint_step={step} but --checkpoint names {name}")
        run_dir, step = paths.parent(path), found
    else:
        run_dir = path
        if not paths.isdir(run_dir):
            raise SourceError(f"--checkpoint: no such directory {run_dir}")
        available = ckpt_lib.steps_in(run_dir)
        if not available:
            raise SourceError(f"--checkpoint: no {ckpt_lib.PREFIX}_<step> folder in {run_dir}")
        if step is None:
            good, skipped = ckpt_lib.newest_verified(run_dir)
            for bad, problems in sorted(skipped.items(), reverse=True):
                for problem in problems:
                    log.warning("checkpoint_%d fails verification, skipped: %s", bad, problem)
            if good is None:
                details = "; ".join(str(p) for problems in skipped.values() for p in problems)
                raise SourceError(f"no checkpoint in {run_dir} passes verification: {details}")
            return Source(ckpt_lib.step_dir(run_dir, good), run_dir, good)
        if step not in available:
            raise SourceError(f"--checkpoint_step={step}: no {ckpt_lib.PREFIX}_{step} in "
                              f"{run_dir} (steps: {available})")
    directory = ckpt_lib.step_dir(run_dir, step)
    if not paths.isdir(paths.join(directory, "state")):
        raise SourceError(f"{directory}: no 'state' folder (not a checkpoint)")
    problems = checksums.verify(directory)
    if problems:
        hint = ""
        if any(p.check == "completion marker" for p in problems):
            hint = (" (a checkpoint written before checksums existed can be trusted with "
                    "`python -m launch.checkpoint_verify DIR --write`)")
        raise SourceError("checkpoint fails verification: " +
                          "; ".join(map(str, problems)) + hint)
    return Source(directory, run_dir, step)


def read_config(source: Source, gin_files: list[str] | None) -> tuple[PalmConfig, dict]:
    """(PalmConfig, run facts) from `gin_files` or the run's config.gin. Run facts are the macros
    a model card and config.json use when the run's config has them (sequence length, mixture,
    batch size, train steps)."""
    files = list(gin_files or [])
    if not files:
        path = paths.join(source.run_dir, "config.gin")
        if not paths.exists(path):
            raise SourceError(f"{path} not found: pass the model's gin file with --gin_file")
        files = [path]
    try:
        gin_utils.parse_gin(files, [], finalize=False)
        config = PalmConfig()
    except (gin_utils.GinConfigError, TypeError, ValueError) as e:
        raise SourceError(f"model config from {files}: {e}") from e
    facts = {}
    for macro in ("TASK_FEATURE_LENGTHS", "MIXTURE_OR_TASK_NAME", "BATCH_SIZE", "TRAIN_STEPS"):
        try:
            facts[macro] = gin.query_parameter(f"%{macro}")
        except (ValueError, KeyError):
            pass
    with gin.unlock_config():
        gin.clear_config()
    return config, facts


class ArrayReader:
    """Parameters of one checkpoint, restored one array at a time into numpy."""

    def __init__(self, checkpoint_dir: str):
        self.state_dir = paths.join(checkpoint_dir, "state")
        self._checkpointer = ocp.PyTreeCheckpointer()
        metadata = self._checkpointer.metadata(self.state_dir)
        tree = getattr(metadata, "item_metadata", metadata)
        self.shapes = {}
        for path, leaf in _flatten(dict(tree)).items():
            if path and path[0] == "params":
                self.shapes[path[1:]] = tuple(getattr(leaf, "shape", ()))

    def read(self, path: tuple[str, ...]) -> np.ndarray:
        """The parameter at `path` (inside `params`) as a numpy array of its stored dtype."""
        item: dict = {}
        restore_args: dict = {}
        node, args = item, restore_args
        for key in ("params", *path[:-1]):
            node = node.setdefault(key, {})
            args = args.setdefault(key, {})
        node[path[-1]] = 0
        args[path[-1]] = ocp.RestoreArgs(restore_type=np.ndarray)
        restored = self._checkpointer.restore(self.state_dir, args=ocp.args.PyTreeRestore(
            item=item, restore_args=restore_args, partial_restore=True))
        out = restored["params"]
        for key in path:
            out = out[key]
        return np.asarray(out)


def _flatten(tree, prefix: tuple = ()) -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flatten(value, prefix + (str(key),)))
        return out
    return {prefix: tree}
