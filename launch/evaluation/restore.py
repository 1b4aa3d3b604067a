"""A trained model's parameters for tools that only read them (sampling, benchmark evaluation).

A tool is pointed at a run (MODEL_DIR) or at one `checkpoint_<step>` folder. A run gives its
newest checkpoint that verifies (damaged newer ones are reported and skipped, as resumption does);
a folder is used as named, verified first. The model and optimizer come from the run's own
`config.gin` unless gin files are given, so the restore target matches what was trained.
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

import jax

import gin
from launch import gin_utils
from launch.partitioning import PjitPartitioner
from launch.run import checkpoints as ckpt_lib
from launch.run import paths
from launch.run.checksums import CheckpointCorrupt
from launch.trainer import Trainer
from model.config import PalmConfig

log = logging.getLogger("launch")


class Restored(NamedTuple):
    config: PalmConfig
    params: dict
    step: int
    path: str  # the checkpoint_<step> folder
    trainer: Trainer  # its partitioner holds the mesh the parameters live on


def newest_verified_checkpoint(path: str) -> str:
    """`path` itself when it is a checkpoint folder; for a MODEL_DIR its newest checkpoint that
    verifies. FileNotFoundError when there is none; CheckpointCorrupt when all fail."""
    path = paths.resolve(path)
    if paths.isdir(paths.join(path, "state")):
        return path
    if not paths.isdir(path):
        raise FileNotFoundError(f"--checkpoint {path!r} does not exist")
    if not ckpt_lib.steps_in(path):
        raise FileNotFoundError(f"--checkpoint {path!r}: no checkpoint there (a run folder "
                                f"holding '{ckpt_lib.PREFIX}_<step>/', or one such folder)")
    step, skipped = ckpt_lib.newest_verified(path)
    ckpt_lib.report_skipped(skipped)
    if step is None:
        raise CheckpointCorrupt([p for problems in skipped.values() for p in problems])
    return ckpt_lib.step_dir(path, step)


def run_config(checkpoint_dir: str) -> str | None:
    """The `config.gin` of the run a checkpoint folder belongs to, if it is there."""
    candidate = os.path.join(os.path.dirname(checkpoint_dir.rstrip("/")), "config.gin")
    return candidate if paths.exists(candidate) else None


def configured(cls):
    """The gin-configured version of `cls` when a parsed gin file registered it (a run's
    config.gin binds the trainer's optimizer), else the class itself."""
    try:
        return gin.get_configurable(f"{cls.__module__}.{cls.__name__}")
    except ValueError:
        return cls


def load_params(path: str, config: PalmConfig) -> tuple[dict, int, Trainer]:
    """(parameters, step, trainer) of the checkpoint at `path`, restored onto this machine's
    devices with the configured partitioner's shardings."""
    trainer = configured(Trainer)(model=config, partitioner=configured(PjitPartitioner)())
    try:
        state, _ = ckpt_lib.restore_from(path, trainer.abstract_state())
    except CheckpointCorrupt:
        raise  # the files are damaged: not a configuration mismatch
    except (ValueError, KeyError) as e:
        raise ValueError(
            f"checkpoint {path} does not match the configured model/optimizer ({e}); pass the "
            "run's own config with --gin_file=MODEL_DIR/config.gin") from e
    return state.params, int(jax.device_get(state.step)), trainer


def restore(checkpoint: str, gin_files: list[str] | None = None,
            gin_bindings: list[str] | None = None, gin_search_paths: str = "") -> Restored:
    """Resolves `checkpoint`, parses its run's config.gin (or `gin_files`), restores it.

    Raises FileNotFoundError, gin_utils.GinConfigError, ValueError or CheckpointCorrupt, each
    naming the file or flag at fault."""
    path = newest_verified_checkpoint(checkpoint)
    files = list(gin_files or [])
    if not files:
        found = run_config(path)
        if found is None:
            raise FileNotFoundError(f"no config.gin beside {path}: pass the model's gin file "
                                    "with --gin_file")
        files = [found]
    gin_utils.parse_gin(files, list(gin_bindings or []), gin_search_paths, finalize=False)
    config = PalmConfig()
    params, step, trainer = load_params(path, config)
    return Restored(config, params, step, path, trainer)
