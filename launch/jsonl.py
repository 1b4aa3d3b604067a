"""metrics.jsonl as strict JSON, one line per step however often the run was resumed.

Non-finite numbers (a loss of inf or nan) are not JSON: they are written as null and named in
the line's `nonfinite` field with what they were ({"loss": "inf"}), so any JSON reader can load
the file and nothing is hidden. When a run goes back to step k (resumption, loss-spike recovery),
the lines of steps after k are dropped before training repeats them; `event` lines (loss spikes)
are kept, they are the record of why the steps were redone. A line cut short by a killed process
is dropped too.
"""

from __future__ import annotations

import json
import logging
import math
import os

log = logging.getLogger("launch")


def strict_line(record: dict) -> str:
    """One JSON line; non-finite floats become null and are listed under `nonfinite`."""
    clean, nonfinite = {}, {}
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            clean[key] = None
            nonfinite[key] = repr(value)  # 'inf', '-inf', 'nan'
        else:
            clean[key] = value
    if nonfinite:
        clean["nonfinite"] = nonfinite
    return json.dumps(clean, allow_nan=False) + "\n"


def truncate_after(path: str, step: int) -> int:
    """Drops the train/eval lines of steps after `step` (and unreadable lines) from the file at
    `path`, atomically; returns how many lines were dropped."""
    if not os.path.exists(path):
        return 0
    kept, dropped = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line) if line.endswith("\n") else None
            except ValueError:
                record = None
            if record is None or (record.get("kind") != "event" and
                                  int(record.get("step", 0)) > step):
                dropped += 1
                continue
            kept.append(line)
    if dropped:
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(kept)
        os.replace(tmp, path)
        log.info("metrics.jsonl: dropped %d line(s) after step %d (they are redone)", dropped,
                 step)
    return dropped
