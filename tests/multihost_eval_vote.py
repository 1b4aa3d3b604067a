"""One process of tests/test_evaluation.py's multi-process check (started by
launch.local_multiprocess): evaluation.loss_sums over this process's batches, whose count differs
between processes, with an eval step that is a real cross-process collective (gloo).

    python -m tests.multihost_eval_vote OUT_DIR --coordinator_address ... --process_count 2 \
        --process_index i
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types

import numpy as np

BATCHES_PER_PROCESS = (3, 1)


class CollectiveTrainer:
    """eval_step sums the weighted values of every process's batch (a global batch)."""

    def __init__(self):
        self.steps = 0
        self.partitioner = types.SimpleNamespace(make_global_batch=lambda batch: batch)

    def eval_step(self, params, batch):
        from jax.experimental import multihost_utils

        self.steps += 1
        local = np.array([(batch["x"] * batch["decoder_loss_weights"]).sum(),
                          batch["decoder_loss_weights"].sum()], np.float32)
        total = np.asarray(multihost_utils.process_allgather(local)).sum(axis=0)
        return {"loss": total[0], "weight": total[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--coordinator_address")
    parser.add_argument("--process_count", type=int)
    parser.add_argument("--process_index", type=int)
    parser.add_argument("--multiprocess_gpu", action="store_true")
    args = parser.parse_args(argv)
    from launch.cli import multihost
    from launch.evaluation import teacher_forced as evaluation

    multihost.initialize(args)
    index = args.process_index
    batches = ({"x": np.full((2, 3), index + 1.0, np.float32),
                "decoder_loss_weights": np.ones((2, 3), np.int32)}
               for _ in range(BATCHES_PER_PROCESS[index]))
    padding = {"x": np.zeros((2, 3), np.float32),
               "decoder_loss_weights": np.zeros((2, 3), np.int32)}
    trainer = CollectiveTrainer()
    sums = evaluation.loss_sums(trainer, None, batches, padding)
    with open(os.path.join(args.out_dir, f"process_{index}.json"), "w") as f:
        json.dump({"steps": trainer.steps, **{k: float(v) for k, v in sums.items()}}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
