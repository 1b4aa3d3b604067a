"""Preemption notice: the loop asks `reached(step)` between steps and, when it says so, saves a
checkpoint and exits. One process: SIGTERM sets a flag. Several: jax's preemption sync point,
so that every host stops at the same step."""

from __future__ import annotations

import logging
import signal

import jax

log = logging.getLogger("launch")


class PreemptionNotice:
    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self) -> PreemptionNotice:
        if jax.process_count() == 1:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        log.warning("SIGTERM received: saving a checkpoint and exiting after this step")
        self.raised = True

    def reached(self, step: int) -> bool:
        if jax.process_count() > 1:  # all hosts must agree on the step: jax's sync point
            from jax.experimental import multihost_utils
            return multihost_utils.reached_preemption_sync_point(step)
        return self.raised

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
