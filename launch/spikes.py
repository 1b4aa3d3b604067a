"""Loss-spike detection for PaLM's recovery recipe (Sec. 5.1): when the loss spikes, restart from
the last good checkpoint and skip the batches around the spike.

A step is a spike when its loss is not finite, or when it exceeds `factor` times the mean of the
last `window` losses (once `min_history` of them are known). `SpikeDetector` decides;
`recover` restores the newest good checkpoint before the spike, skips the batches and forgets
the abandoned steps' metrics (the step reporter, launch/run/reporter.py, finds the spike).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math

log = logging.getLogger("launch")


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


def recover(spike, position, run_dir, reporter, abstract_state, config: LossSpikeRecovery,
            batch_size_at, recoveries: int) -> None:
    """PaLM's recipe for `spike` (launch/run/reporter.py's Spike): `position` (the run's
    launch/run/position.py Position) goes back to the newest verified checkpoint before the
    spike, then `config.skip_batches` batches on (at least past the spiking batch). The event is
    recorded in metrics.jsonl and in every later checkpoint. `recoveries` is how many this
    process made before; at `max_recoveries` it raises. `batch_size_at(step)` is the run's
    global batch size at a step."""
    if recoveries >= config.max_recoveries:
        raise RuntimeError(f"loss spike at step {spike.step} ({spike.reason}) after "
                           f"{config.max_recoveries} recoveries; giving up")
    good, position.state, record = run_dir.restore_before(spike.step, abstract_state)
    restored = record["examples_consumed"]
    batch_then = batch_size_at(good)
    position.step = good
    position.examples = max(restored + config.skip_batches * batch_then, spike.examples_after)
    reporter.rewind(good)
    event = {"event": "loss_spike", "spike_step": spike.step, "loss": spike.loss,
             "reason": spike.reason, "restored_step": good,
             "batches_skipped": (position.examples - restored) // batch_then,
             "examples_consumed_after": position.examples}
    position.spike_events.append(event)
    run_dir.metrics.event(spike.step, event)
    log.warning("loss spike at step %d (%s): restored checkpoint_%d, skipping %d batches",
                spike.step, spike.reason, good, event["batches_skipped"])
