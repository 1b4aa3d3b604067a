"""A data-prep job's worker processes end with it.

Beam's DirectRunner in multi-processing mode starts its SDK workers as child processes. When the
job's main process is told to stop (SIGTERM from a scheduler, SIGINT from Ctrl-C) its workers
would otherwise run on until they notice their control channel is gone. `end_workers_on_signal`
makes the job the leader of its own process group when no terminal is attached (a terminal's
shell already gives each job its own group, and Ctrl-C must keep reaching it), and on SIGTERM or
SIGINT stops every process of that group, or, failing that, every descendant, before exiting.
"""

from __future__ import annotations

import logging
import os
import signal

import psutil

log = logging.getLogger(__name__)
GRACE_SECONDS = 3.0


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def stop_workers(signum: int = signal.SIGTERM) -> int:
    """Sends `signum` to every worker (the group, or the descendants), waits up to
    GRACE_SECONDS, then kills the rest. Returns how many processes were signalled."""
    workers = _descendants()
    if os.getpgrp() == os.getpid():
        previous = signal.signal(signum, signal.SIG_IGN)  # the group includes this process
        try:
            os.killpg(os.getpgrp(), signum)
        except OSError:
            pass
        signal.signal(signum, previous)
    else:
        for proc in workers:
            try:
                proc.send_signal(signum)
            except psutil.Error:
                pass
    _, alive = psutil.wait_procs(workers, timeout=GRACE_SECONDS)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return len(workers)


def _handle(signum, frame):
    count = stop_workers(signum)
    log.warning("%s received: stopped %d worker process(es); exiting",
                signal.Signals(signum).name, count)
    logging.shutdown()
    os._exit(128 + signum)  # not SystemExit: Beam's threads must not hold the exit up


def end_workers_on_signal() -> None:
    """Installs the SIGTERM/SIGINT handlers (call once, in the job's main process)."""
    if os.getpgrp() != os.getpid() and not os.isatty(0):
        try:
            os.setpgid(0, 0)
        except OSError:  # e.g. a session leader: keep the group, stop descendants instead
            pass
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _handle)
