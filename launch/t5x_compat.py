"""The parts of t5x's `train()` interface that name t5x internals, and its `actions`.

t5x's `train()` takes hooks into its own machinery: `get_dataset_fn` and
`train_eval_get_dataset_fn` (t5x.utils readers returning tf.data pipelines),
`train_state_initializer_cls` (t5x.utils.TrainStateInitializer) and `use_orbax`. This trainer
reads batches by step from launch/inputs/data.py and restores verified Orbax checkpoints itself, so
these
accept t5x's default (None: what this trainer does in their place) and reject anything else with a
message
that says what to do instead: a run file that only restates the defaults keeps working, and one
that relies on a custom hook fails at start-up instead of being silently ignored.

`actions` is supported as in t5x: a mapping from 'TRAIN', 'TRAIN_EVAL' or 'INFER_EVAL' to objects
with `run(train_state, metrics_by_task=...) -> bool`; any True stops training after a checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import jax

from launch.inputs import data as data_lib

log = logging.getLogger("launch")

ACTION_MODES = ("TRAIN", "TRAIN_EVAL", "INFER_EVAL")


def check_internals(*, get_dataset_fn=None, train_eval_get_dataset_fn=None,
                    train_state_initializer_cls=None, use_orbax: bool = True) -> None:
    """Raises ValueError for a t5x hook this trainer cannot honour."""
    hooks = {
        "get_dataset_fn": (get_dataset_fn,
                           "the training stream is read by step from launch/inputs/data.py "
                           "(TrainStream); bind a seqio Task/Mixture in train/utils.DatasetConfig"),
        "train_eval_get_dataset_fn": (train_eval_get_dataset_fn,
                                      "evaluation reads every task of train_eval/"
                                      "utils.DatasetConfig's mixture itself"),
        "train_state_initializer_cls": (train_state_initializer_cls,
                                        "the train state is built by trainer.Trainer "
                                        "(model/train_step.py) and restored from MODEL_DIR or "
                                        "utils.RestoreCheckpointConfig"),
    }
    for name, (value, instead) in hooks.items():
        if value is not None:
            raise ValueError(f"train_script.train.{name}={value!r}: a t5x internal hook that "
                             f"this trainer does not call ({instead}); remove the binding")
    if not use_orbax:
        raise ValueError("train_script.train.use_orbax=False: checkpoints here are always Orbax "
                         "(verified with checksums); remove the binding (t5x's default is True)")


def verify_matching_vocabs(cfg, model) -> None:
    """t5x's default `verify_matching_vocabs_fn`: the dataset's vocabulary must fit the model
    (`model` is the PalmConfig)."""
    data_lib.check_vocabulary(cfg, model.vocab_size)


def check_actions(actions: Mapping[str, Sequence] | None) -> dict[str, list]:
    """The actions by mode, after checking the keys and that each action has `run`."""
    actions = dict(actions or {})
    unknown = set(actions) - set(ACTION_MODES)
    if unknown:
        raise ValueError(f"train_script.train.actions keys must be among {list(ACTION_MODES)}, "
                         f"got {sorted(unknown)}")
    for mode, items in actions.items():
        for action in items:
            if not callable(getattr(action, "run", None)):
                raise ValueError(f"actions[{mode!r}]: {action!r} has no run(train_state, "
                                 "metrics_by_task) method")
    return {mode: list(items) for mode, items in actions.items()}


def run_actions(actions: dict[str, list], mode: str, train_state,
                metrics_by_task: Mapping[str, Mapping[str, float]]) -> bool:
    """Runs the mode's actions on process 0 and tells every process whether to stop."""
    stop = False
    if jax.process_index() == 0:
        for action in actions.get(mode, []):
            stop |= bool(action.run(train_state, metrics_by_task=metrics_by_task))
    if jax.process_count() > 1:
        import numpy as np
        from jax.experimental import multihost_utils
        stop = bool(multihost_utils.broadcast_one_to_all(np.array(stop)))
    if stop:
        log.info("a %s action asked to stop training", mode)
    return stop
