"""Where a training run stands, and how it gets there: initialise, or restore a checkpoint.

A run's position is its train state and step plus the data record a checkpoint stores beside
the state (examples consumed, data and run seeds, shard count, loss-spike events): with it a
resumed run reads the same batches as one that never stopped (launch/inputs/data.py).
`initialise_or_restore` starts from the newest verified checkpoint in MODEL_DIR, else the
initial checkpoint of a fine-tuning run (t5x's RestoreCheckpointConfig), else fresh parameters
drawn from the run seed.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets

import jax

from launch.run import checkpoints as ckpt_lib

log = logging.getLogger("launch")


@dataclasses.dataclass
class Position:
    state: object  # the TrainState
    step: int
    examples: int  # global examples consumed: where the next batch starts in the stream
    run_seed: int
    data_seed: int
    num_shards: int
    spike_events: list

    def record(self) -> dict:
        """The data record a checkpoint stores beside the state."""
        return {"examples_consumed": self.examples, "data_seed": int(self.data_seed),
                "run_seed": int(self.run_seed), "num_data_shards": self.num_shards,
                "spike_events": self.spike_events}


def _restore(run_dir, abstract, restore_cfg) -> tuple[object, dict]:
    """(state or None, data record) from MODEL_DIR's checkpoint or the initial one."""
    plan = run_dir.plan
    if plan.resume_step is not None:
        state, record = run_dir.checkpoints.restore(plan.resume_step, abstract)
        log.info("resumed from %s/checkpoint_%d (examples consumed: %d)", run_dir.path,
                 plan.resume_step, record["examples_consumed"])
        return state, record
    if plan.initial is not None:
        state, source_record = ckpt_lib.restore_from(plan.initial, abstract)
        log.info("initialised from %s (step %d)", plan.initial, int(state.step))
        keep = restore_cfg is not None and restore_cfg.restore_dataset and source_record
        return state, dict(source_record) if keep else {}
    return None, {}


def initialise_or_restore(run_dir, train_dataset_cfg, random_seed: int | None,
                          restore_cfg) -> tuple[Position, object]:
    """The run's starting position, and the abstract train state (shapes and shardings) that
    later restores need. The seeds a checkpoint recorded win over the flags (preflight has
    refused a contradiction already); RANDOM_SEED None draws one, recorded from then on."""
    abstract = run_dir.trainer.abstract_state()
    state, record = _restore(run_dir, abstract, restore_cfg)
    run_seed = record.get("run_seed", random_seed)
    if run_seed is None:
        run_seed = secrets.randbelow(2 ** 31)
        log.info("RANDOM_SEED is None: drew seed %d (recorded in every checkpoint)", run_seed)
    data_seed = record.get("data_seed")
    if data_seed is None:
        data_seed = train_dataset_cfg.seed if train_dataset_cfg.seed is not None else run_seed
    if state is None:
        state = run_dir.trainer.init_state(run_seed)
    position = Position(state=state, step=int(jax.device_get(state.step)),
                        examples=int(record.get("examples_consumed", 0)), run_seed=run_seed,
                        data_seed=data_seed, num_shards=run_dir.plan.num_shards,
                        spike_events=list(record.get("spike_events", [])))
    return position, abstract
