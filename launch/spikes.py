"""Loss-spike detection for PaLM's recovery recipe (Sec. 5.1): when the loss spikes, restart from
the last good checkpoint and skip the batches around the spike.

A step is a spike when its loss is not finite, or when it exceeds `factor` times the mean of the
last `window` losses (once `min_history` of them are known). The run loop (launch/train.py) does
the restoring and skipping; this module only decides.
"""

from __future__ import annotations

import collections
import dataclasses
import math


@dataclasses.dataclass
class LossSpikeRecovery:
    """Gin-configurable as `spikes.LossSpikeRecovery` (bind `train_script.train.spike_recovery`).

    Attributes:
      factor: a finite loss above factor x (recent mean) is a spike; None checks finiteness only.
      window: number of recent losses averaged.
      min_history: losses needed before the factor test applies (early training falls fast).
      skip_batches: batches skipped, counted from the restored checkpoint's data position (PaLM
        skipped ~200-500); at least up to and including the spiking batch is always skipped.
      max_recoveries: give up (raise) after this many recoveries in one process.
    """

    factor: float | None = 2.0
    window: int = 100
    min_history: int = 20
    skip_batches: int = 200
    max_recoveries: int = 20

    def __post_init__(self):
        if self.factor is not None and self.factor <= 1.0:
            raise ValueError(f"LossSpikeRecovery.factor must be > 1, got {self.factor}")
        if self.window <= 0 or self.min_history <= 0 or self.skip_batches < 0:
            raise ValueError("LossSpikeRecovery: window and min_history must be positive and "
                             "skip_batches >= 0")


class SpikeDetector:
    def __init__(self, config: LossSpikeRecovery):
        self.config = config
        self.history: collections.deque[tuple[int, float]] = collections.deque(maxlen=config.window)

    def check(self, step: int, loss: float) -> str | None:
        """None if the loss is ordinary (and then it joins the history), else the reason."""
        if not math.isfinite(loss):
            return f"non-finite loss {loss}"
        if self.config.factor is not None and len(self.history) >= self.config.min_history:
            mean = sum(value for _, value in self.history) / len(self.history)
            if loss > self.config.factor * mean:
                return (f"loss {loss:.4f} > {self.config.factor} x recent mean {mean:.4f} "
                        f"(last {len(self.history)} steps)")
        self.history.append((step, loss))
        return None

    def rewind(self, step: int) -> None:
        """Forget the losses of steps after `step` (the state was restored to `step`)."""
        kept = [(s, v) for s, v in self.history if s <= step]
        self.history.clear()
        self.history.extend(kept)
