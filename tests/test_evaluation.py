"""launch/evaluation/teacher_forced.py: every process runs the same number of eval steps,
whatever its shard holds.

Two "processes" are two threads here; their vote is a barrier that exchanges the flags, as
jax's process_allgather does across hosts. An eval step is a collective, so a process that
stopped early would leave the other waiting: the barrier's timeout turns that hang into a failure.
"""

import threading
import types

import numpy as np
import pytest

from launch.evaluation import teacher_forced as evaluation


class _Vote:
    """process_allgather of one flag between `n` threads."""

    def __init__(self, n: int):
        self.flags = [False] * n
        self.barrier = threading.Barrier(n, timeout=10)

    def for_process(self, index: int):
        def agree(flag: bool) -> bool:
            self.flags[index] = flag
            self.barrier.wait()
            result = any(self.flags)
            self.barrier.wait()  # everyone has read before anyone writes the next vote
            return result
        return agree


class _Trainer:
    """Counts its (collective) steps; the metrics are sums over the batch's weighted rows."""

    def __init__(self, barrier: threading.Barrier | None = None):
        self.steps = 0
        self.barrier = barrier
        self.partitioner = types.SimpleNamespace(make_global_batch=lambda batch: batch)

    def eval_step(self, params, batch):
        if self.barrier is not None:
            self.barrier.wait()  # a collective: every process must take part
        self.steps += 1
        weights = batch["decoder_loss_weights"]
        return {"loss": np.float32((batch["x"] * weights).sum()),
                "weight": np.float32(weights.sum())}


def _batch(value: float, rows: int = 2) -> dict[str, np.ndarray]:
    return {"x": np.full((rows, 3), value, np.float32),
            "decoder_loss_weights": np.ones((rows, 3), np.int32)}


PADDING = {"x": np.zeros((2, 3), np.float32), "decoder_loss_weights": np.zeros((2, 3), np.int32)}


@pytest.mark.parametrize("counts", [(3, 1), (0, 2), (2, 2), (0, 0)])
def test_processes_with_uneven_shards_run_the_same_number_of_steps(counts):
    vote = _Vote(len(counts))
    collective = threading.Barrier(len(counts), timeout=10)
    trainers = [_Trainer(collective) for _ in counts]
    results, errors = [None] * len(counts), []

    def process(index: int) -> None:
        batches = (_batch(index + 1.0) for _ in range(counts[index]))  # read lazily
        try:
            results[index] = evaluation.loss_sums(trainers[index], None, batches, PADDING,
                                                  agree=vote.for_process(index))
        except threading.BrokenBarrierError as e:  # a hang, caught by the timeout
            errors.append(e)

    threads = [threading.Thread(target=process, args=(i,)) for i in range(len(counts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert [t.steps for t in trainers] == [max(counts)] * len(counts)
    for index, count in enumerate(counts):
        if max(counts) == 0:
            assert results[index] is None
        else:  # the padding adds nothing: the sums are this process's own batches
            assert results[index] == {"loss": 6 * (index + 1.0) * count, "weight": 6 * count}


def test_a_single_process_votes_alone():
    trainer = _Trainer()
    sums = evaluation.loss_sums(trainer, None, [_batch(1.0), _batch(2.0)], PADDING)
    assert trainer.steps == 2 and sums == {"loss": 18.0, "weight": 12.0}
    assert evaluation.loss_sums(trainer, None, [], PADDING) is None


def test_two_real_processes_with_uneven_shards_finish_together(tmp_path):
    """Two jax processes (gloo); process 0 has 3 batches, process 1 one. Without the vote,
    process 0 would wait forever in its second collective step."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-m", "launch.local_multiprocess", "-n", "2", "--module",
         "tests.multihost_eval_vote", "--", str(tmp_path)],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.load(open(tmp_path / f"process_{i}.json")) for i in range(2)]
    # global sums: process 0's 3 batches of 1.0 and process 1's one batch of 2.0, 6 cells each
    assert results == [{"steps": 3, "loss": 30.0, "weight": 24.0}] * 2
