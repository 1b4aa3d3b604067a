"""Progress a person can follow while a Beam job runs: documents so far and documents per
second, per stage, logged every few seconds by the process that launched the job.

Why a side channel. On the DirectRunner (multi-processing mode, as the demo runs it) and on
the PortableRunner with LOOPBACK workers, `pipeline.run()` returns only when the job is done,
so Beam's counters cannot be polled from a `PipelineResult` during the run; and the workers'
own log lines reach the launching process through the Fn API logging service as whole
protobuf dumps, at a level the jobs silence. So each worker-side DoFn keeps a `Ticker`: a
plain integer increment per document, and at most every `WRITE_EVERY_S` seconds (checked
every `CHECK_EVERY` documents) it rewrites one small JSON file of its running totals in a
folder the launcher made. A `ProgressMonitor` thread in the launcher sums those files every
`interval_s` seconds and logs one line. The folder is local, so this works for runners whose
workers share the launcher's machine; on Dataflow, Flink or Spark the runner's own UI shows
Beam's counters, and the monitor says so instead of printing lines it cannot fill.

The folder is announced through `current_dir()`, read when a DoFn is constructed (in the
launching process, while the pipeline is built), so the path travels to the workers inside
the pickled DoFn; a DoFn built with no monitor running ticks nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import Iterable

log = logging.getLogger("pipeline.progress")

CHECK_EVERY = 64
WRITE_EVERY_S = 1.0
LOCAL_RUNNERS = ("DirectRunner", "PortableRunner", "PrismRunner", None, "")

_current_dir: str | None = None


def current_dir() -> str | None:
    """The folder of the monitor running in this process (None: no progress is collected)."""
    return _current_dir


class Ticker:
    """Worker side: running totals per stage, written now and then to one file of its own.
    Create it in `DoFn.setup` (or lazily) from the directory captured at construction."""

    def __init__(self, directory: str | None):
        self.directory = directory
        self.counts: dict[str, int] = {}
        self._since_check = 0
        self._next_write = 0.0
        self._path = (os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex}.json")
                      if directory else None)

    def tick(self, stage: str, n: int = 1) -> None:
        if self._path is None:
            return
        self.counts[stage] = self.counts.get(stage, 0) + n
        self._since_check += 1
        if self._since_check >= CHECK_EVERY:
            self._since_check = 0
            if time.monotonic() >= self._next_write:
                self.flush()

    def flush(self) -> None:
        """Writes the totals now (call it from `finish_bundle` so small jobs show too)."""
        if self._path is None or not self.counts:
            return
        self._next_write = time.monotonic() + WRITE_EVERY_S
        tmp = self._path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.counts, f)
            os.replace(tmp, self._path)
        except OSError:  # the launcher has finished and removed the folder: nothing to tell
            self._path = None


def read_totals(directory: str) -> dict[str, int]:
    """Stage -> documents, summed over every worker file in `directory`."""
    totals: dict[str, int] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return totals
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                counts = json.load(f)
        except (OSError, ValueError):  # replaced while we read it: next poll sees it
            continue
        for stage, n in counts.items():
            totals[stage] = totals.get(stage, 0) + int(n)
    return totals


def progress_line(job: str, totals: dict[str, int], previous: dict[str, int], dt: float,
                  elapsed: float, order: Iterable[str] = ()) -> str:
    """One line: per stage (in `order`, then any other by name) documents so far and
    documents per second over the last interval."""
    order = list(order)
    stages = [s for s in order if s in totals] + sorted(s for s in totals if s not in order)
    parts = []
    for stage in stages:
        rate = (totals[stage] - previous.get(stage, 0)) / dt if dt > 0 else 0.0
        parts.append(f"{stage} {totals[stage]:,} ({rate:,.0f}/s)")
    minutes, seconds = divmod(int(elapsed), 60)
    return (f"{job} progress {minutes}:{seconds:02d}  "
            + (" | ".join(parts) if parts else "starting (no document through a stage yet)"))


class ProgressMonitor:
    """Launcher side: `with ProgressMonitor("prep", runner, order):` around building and
    running the pipeline. Logs a progress line every `interval_s` seconds (0: off)."""

    def __init__(self, job: str, runner: str | None, order: Iterable[str] = (),
                 interval_s: float = 10.0):
        self.job = job
        self.order = list(order)
        self.interval_s = float(interval_s)
        self.local = runner in LOCAL_RUNNERS
        self.directory: str | None = None
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._previous: dict[str, int] = {}
        self._previous_t = 0.0

    def __enter__(self) -> "ProgressMonitor":
        global _current_dir
        if self.interval_s <= 0:
            return self
        if not self.local:
            log.info("%s: progress is shown by the runner's own UI (Beam counters); "
                     "lines here need a runner whose workers run on this machine", self.job)
            return self
        self.directory = tempfile.mkdtemp(prefix=f"{self.job}-progress-")
        _current_dir = self.directory
        self._started = self._previous_t = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"{self.job}-progress",
                                        daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self, final: bool = False) -> str | None:
        """Reads the totals and logs a line (None when no document has been counted yet):
        rates over the last interval, or over the whole run for the final line."""
        if self.directory is None:
            return None
        totals = read_totals(self.directory)
        now = time.monotonic()
        if not totals and not self._previous:
            return None
        since, since_t = ({}, self._started) if final else (self._previous, self._previous_t)
        line = progress_line(self.job, totals, since, now - since_t, now - self._started,
                             self.order) + ("  (done; mean rates)" if final else "")
        self._previous, self._previous_t = totals, now
        self.lines.append(line)
        log.info("%s", line)
        return line

    def __exit__(self, *exc) -> None:
        global _current_dir
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.poll(final=True)  # final totals (workers flush at the end of their bundles)
        if self.directory is not None:
            _current_dir = None
            shutil.rmtree(self.directory, ignore_errors=True)
