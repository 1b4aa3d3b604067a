"""A data-prep job's worker processes end with it.

Beam's DirectRunner in multi-processing mode starts its SDK workers as child processes. When the
job's main process is told to stop (SIGTERM from a scheduler, SIGINT from Ctrl-C) its workers
would otherwise run on until they notice their control channel is gone. `end_workers_on_signal`
makes the job the leader of its own process group when no terminal is attached (a terminal's
shell already gives each job its own group, and Ctrl-C must keep reaching it), and on SIGTERM or
SIGINT stops every process of that group, or, failing that, every descendant, before exiting.

A worker that dies mid-job (SIGKILL, the OOM killer) can leave the DirectRunner waiting forever
for the bundle it held: Beam only raises "Worker subprocess exited with return code N" in the
thread that watched it. `fail_job_when_a_worker_dies` turns that into the end of the job: one
message, the other workers stopped, exit 1 (nothing is published before the job succeeded, so a
rerun of the same command redoes it).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

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


_stopping = threading.Event()  # set while a stop signal ends the workers on purpose


def _handle(signum, frame):
    _stopping.set()
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



_WORKER_DIED = "Worker subprocess exited with return code"
# The runner's threads that read a worker's data and control channels.
_BEAM_CHANNEL_THREADS = frozenset({"read_grpc_client_inputs", "beam_control_read"})


def fail_job_when_a_worker_dies(what: str = "nothing was published") -> None:
    """Ends the job (exit 1) when a DirectRunner worker process dies (call once, in the job's
    main process); `what` says what the failed job left."""
    previous = threading.excepthook

    def hook(args):
        if _stopping.is_set():  # the workers were stopped by a signal, or one died: ending
            return
        if type(args.exc_value).__name__ == "RpcError" and args.thread is not None and \
                args.thread.name in _BEAM_CHANNEL_THREADS:
            # A worker's gRPC channel broke: the worker died. Its "run_worker" thread reports
            # it next (and the job fails below); the channel's traceback says nothing more.
            log.debug("thread %s: the worker's channel closed", args.thread.name)
            return
        if args.thread is not None and args.thread.name == "run_worker" and \
                _WORKER_DIED in str(args.exc_value):
            _stopping.set()  # one message: other threads' errors from here on are its echoes
            code = str(args.exc_value).rsplit(" ", 1)[-1]
            sys.stderr.write(f"error: the Beam job failed (a worker process died, exit code "
                             f"{code}); {what}: rerun the same command to redo it\n")
            sys.stderr.flush()
            workers = _descendants()  # not stop_workers: signal() is main-thread only
            for proc in workers:
                try:
                    proc.terminate()
                except psutil.Error:
                    pass
            for proc in psutil.wait_procs(workers, timeout=GRACE_SECONDS)[1]:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            logging.shutdown()
            os._exit(1)  # the runner would wait for the dead worker's bundle forever
        previous(args)

    threading.excepthook = hook
