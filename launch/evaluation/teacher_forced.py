"""Teacher-forced evaluation of one task: the step loop shared by training-time evaluation
(launch/train.py) and the eval entry point (launch/eval.py).

Every eval step is a collective over the mesh, so every process must run the same number of
them: a process that stops early leaves the others waiting forever. Processes read different
shards of a split, which can hold different numbers of batches. Before each step the processes
therefore agree on whether any of them still has a batch; one that has run out feeds a batch
with no loss weight (`padding`) until all are done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np


def any_process(flag: bool) -> bool:
    """True on every process when `flag` is True on at least one of them."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


def loss_sums(trainer, params, batches: Iterable[dict[str, np.ndarray]],
              padding: dict[str, np.ndarray],
              agree: Callable[[bool], bool] = any_process) -> dict[str, np.ndarray] | None:
    """Sums of the eval step's metrics over this process's `batches` (host arrays), or None when
    no process had a batch. `agree` is the cross-process vote (replaceable in tests)."""
    sums = None
    local_batches = iter(batches)
    while True:
        local = next(local_batches, None)
        if not agree(local is not None):
            break
        out = trainer.eval_step(params, trainer.partitioner.make_global_batch(
            padding if local is None else local))
        sums = out if sums is None else jax.tree.map(lambda a, b: a + b, sums, out)
    return None if sums is None else jax.device_get(sums)
