"""metrics.jsonl as strict JSON, one line per step however often the run was resumed.

Non-finite numbers (a loss of inf or nan) are not JSON: they are written as null and named in
the line's `nonfinite` field with what they were ({"loss": "inf"}), so any JSON reader can load
the file and nothing is hidden. When a run goes back to step k (resumption, loss-spike recovery),
the lines of steps after k are dropped before training repeats them; `event` lines (loss spikes)
are kept, they are the record of why the steps were redone. A line cut short by a killed process
is dropped too. Where the file lives (local disk or object store) is MetricsLog's business.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

from launch.run import paths

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


def _kept(lines: list[str], step: int) -> list[str]:
    """The lines to keep when the run goes back to `step`: whole, readable lines that are events
    or belong to steps up to `step`."""
    kept = []
    for line in lines:
        try:
            record = json.loads(line) if line.endswith("\n") else None
        except ValueError:
            record = None
        if record is None or (record.get("kind") != "event" and
                              int(record.get("step", 0)) > step):
            continue
        kept.append(line)
    return kept


def _log_dropped(dropped: int, step: int) -> None:
    if dropped:
        log.info("metrics.jsonl: dropped %d line(s) after step %d (they are redone)", dropped,
                 step)


def truncate_after(path: str, step: int) -> int:
    """Drops the train/eval lines of steps after `step` (and unreadable lines) from the file at
    `path`, atomically; returns how many lines were dropped."""
    if not paths.exists(path):
        return 0
    lines = paths.read_text(path).splitlines(keepends=True)
    kept = _kept(lines, step)
    if len(kept) != len(lines):
        paths.write_text_atomic(path, "".join(kept))
    _log_dropped(len(lines) - len(kept), step)
    return len(lines) - len(kept)


class _AppendFile:
    """A local file that whole lines are appended to, unbuffered. A line the disk has no room
    for is cut back off (the file is truncated to where it ended), so the file never holds a
    torn line; the OSError (ENOSPC) goes on to the caller."""

    def __init__(self, path: str):
        paths.makedirs(paths.parent(path))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: str) -> None:
        data = line.encode("utf-8")
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError:
            os.ftruncate(self._fd, end)  # frees space: never fails for lack of it
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MetricsLog:
    """metrics.jsonl of one run, on a local disk or in an object store.

    Locally the file is appended to, a line at a time (`tail -f` shows each step). An object
    store has no append: there the whole log is kept in memory (read back from the existing
    object when a run resumes) and the object is rewritten in one put at each `flush`, which the
    trainer calls at every checkpoint save and at the end, and at most every `flush_seconds`
    between them (so the file can be watched during a long checkpoint period).

    Why this is right: a kill loses only lines not yet put, all of them after the last
    checkpoint; the resumed run drops every line after that checkpoint (put or not) and redoes
    those steps, so "one line per step after any number of resumes" holds as on a local disk.
    Why not one object per run segment that readers merge: every reader (jq, run_report, a
    notebook) would need the merge and the rule of which redone step wins; one object keeps the
    file the same everywhere. The cost is a rewrite of the whole log per put (about 0.5 KB per
    step: 50 MB at 100k steps).
    """

    def __init__(self, path: str, flush_seconds: float = 300.0):
        self.path = path
        self.flush_seconds = flush_seconds
        self.appends = paths.can_append(path)
        self._file = None
        self._lines: list[str] = []
        if self.appends:
            self._file = _AppendFile(path)
        elif paths.exists(path):
            self._lines = paths.read_text(path).splitlines(keepends=True)
        self._dirty = False
        self._flushed_at = time.monotonic()

    def write(self, record: dict) -> None:
        line = strict_line(record)
        if self.appends:
            self._file.write(line)
        else:
            self._lines.append(line)
            self._dirty = True
            if time.monotonic() - self._flushed_at >= self.flush_seconds:
                self.flush()

    def rewind(self, step: int) -> None:
        """The run goes back to `step`: drop the lines of later steps (they will be redone)."""
        if self.appends:
            self._file.close()
            truncate_after(self.path, step)
            self._file = _AppendFile(self.path)
            return
        kept = _kept(self._lines, step)
        _log_dropped(len(self._lines) - len(kept), step)
        if len(kept) != len(self._lines):
            self._lines, self._dirty = kept, True
            self.flush()

    def flush(self) -> None:
        if self.appends:
            return  # every line went to the file whole when it was written
        if self._dirty:
            paths.write_text_atomic(self.path, "".join(self._lines))
            self._dirty = False
            self._flushed_at = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self.appends:
            self._file.close()
