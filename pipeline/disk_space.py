"""A full disk as one clear error: the path, what was being written, and the space it needed.

Every command that writes (training, prep, the tokenizer, the seqio cache, materialise) turns
an out-of-space failure, however deep it was raised (an OSError with ENOSPC or EDQUOT, Orbax's
and TensorStore's `RESOURCE_EXHAUSTED`, TensorFlow's `ResourceExhaustedError`, a Beam worker's
error text), into `DiskFull`, which the command prints without a traceback and exits 1 on. The
commands publish their outputs only after everything was written (manifests last, streams by a
rename), so a job stopped here leaves nothing that looks complete, and the same command resumes
or redoes the work once space is freed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import sys
import threading

from pipeline import console

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_TEXT = re.compile(r"No space left on device|Disk quota exceeded|RESOURCE_EXHAUSTED|"
                   r"ResourceExhausted|\bENOSPC\b|\[Errno 28\]|errno 28\b")
_PATH = re.compile(r"""(?:['"\s]|^)((?:/|[a-zA-Z][a-zA-Z0-9+.-]*://)[^'"\s:,;\]]+)""")


class DiskFull(RuntimeError):
    """Writing `what` to `path` ran out of space (exit 1: free space, rerun the same command)."""

    def __init__(self, path: str | None, what: str, needed: int | None = None,
                 detail: str = "", hint: str = ""):
        self.path, self.what, self.needed = path, what, needed
        free = free_bytes(path) if path else None
        message = f"out of disk space while writing {what}" + (f" to {path}" if path else "")
        facts = ([f"about {human(needed)} needed"] if needed else []) + (
            [f"{human(free)} free there"] if free is not None else [])
        if facts:
            message += f" ({', '.join(facts)})"
        if detail:
            message += f" [{detail}]"
        super().__init__(message + ". " + (hint or "Free space (or move the output to a "
                                           "larger disk) and rerun the same command"))


def _chain(exc: BaseException):
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]


def no_space(exc: BaseException) -> bool:
    """Whether `exc` (or anything in its chain) says the disk or quota is full."""
    for e in _chain(exc):
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS:
            return True
        if type(e).__name__ == "ResourceExhaustedError" or _TEXT.search(str(e)):
            return True
    return False


def failed_path(exc: BaseException) -> str | None:
    """The file whose write failed, as the error names it (OSError's filename, or the first
    path on a line of the message that says the disk is full), or None."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.filename and e.errno in NO_SPACE_ERRNOS:
            return os.fsdecode(e.filename)
    for e in _chain(exc):
        for line in str(e).splitlines():
            if _TEXT.search(line) and (match := _PATH.search(line)):
                return match.group(1)
    return None


def free_bytes(path: str) -> int | None:
    """Free bytes on the local filesystem that holds `path` (None for a store or unknown)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        return None
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def tree_bytes(path: str) -> int:
    """Bytes of the files under a local `path` (0 if absent): a size estimate for a rewrite."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(folder, name))
    return total


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def short_detail(exc: BaseException) -> str:
    """The innermost out-of-space error's own words, cut to one short line."""
    text = ""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS:
            return f"{e.strerror or 'no space left on device'}"
        if _TEXT.search(str(e)):
            text = str(e)
    for words in ("No space left on device", "Disk quota exceeded"):
        if words in text:
            return words
    match = _TEXT.search(text)
    return match.group(0) if match else ""


def as_disk_full(exc: BaseException, what: str, path: str | None = None,
                 needed: int | None = None, prefer_named: bool = True) -> DiskFull:
    """`exc` (an out-of-space failure) as a DiskFull naming the path the error names (or
    `path` first, when not `prefer_named`)."""
    for e in _chain(exc):
        if isinstance(e, DiskFull):
            return e
    named = failed_path(exc)
    where = (named or path) if prefer_named else (path or named)
    return DiskFull(where, what, needed, short_detail(exc))


def exit_status(exc: BaseException, what: str, path: str | None) -> int:
    """For a command's main(): an out-of-space `exc` is printed as one message (no traceback)
    and gives exit status 1; anything else is raised again."""
    if not no_space(exc):
        raise exc
    print(f"error: {as_disk_full(exc, what, path)}", file=sys.stderr)
    quiet_from_now_on()
    return 1


class _NoTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} [{type(record.exc_info[1]).__name__}: " \
                         f"{record.exc_info[1]}]"
        record.exc_info, record.exc_text = None, None
        return True


def quiet_from_now_on() -> None:
    """Once a command has said that the disk is full, errors that background threads still
    raise while the process winds down (Orbax's event loops closing under a failed save) are
    logged as one line each, not as tracebacks: the message above is the one that matters."""
    quiet = _NoTracebacks()
    for handler in logging.getLogger().handlers:
        if console.is_console(handler):  # the terminal (not a test's log capture)
            handler.addFilter(quiet)

    def one_line(args) -> None:
        if args.exc_type is not SystemExit:
            logging.getLogger(__name__).error("thread %s: %s: %s", getattr(args.thread, "name",
                                              "?"), args.exc_type.__name__, args.exc_value)

    threading.excepthook = one_line
    sys.unraisablehook = lambda args: None
    sys.excepthook = _one_line_hook(sys.excepthook)


@contextlib.contextmanager
def writing(path: str, what: str, needed: int | None = None):
    """Turns an out-of-space failure inside the block into DiskFull(path, what, needed)."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as e:
        if no_space(e):
            raise as_disk_full(e, what, path, needed, prefer_named=False) from None
        raise


class _NoSpaceTracebacks(logging.Filter):
    """Keeps a log record but drops its traceback when it is an out-of-space error (Orbax logs
    one per background thread before the error reaches the command, which names it once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and no_space(record.exc_info[1]):
            detail = short_detail(record.exc_info[1]) or "out of disk space"
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} [{detail}]"
        return True


def _callback_noise(exc: BaseException) -> bool:
    """An error that native code reports through sys.excepthook when a failed save's event
    loop has been closed under it (TensorStore's callbacks into Orbax's asyncio loop)."""
    return no_space(exc) or (isinstance(exc, RuntimeError) and "Event loop is closed" in str(exc))


def _one_line_hook(previous):
    def hook(exc_type, exc, tb):
        if exc is not None and _callback_noise(exc):
            logging.getLogger(__name__).error("%s: %s", exc_type.__name__, exc)
        else:
            previous(exc_type, exc, tb)
    return hook


@contextlib.contextmanager
def quiet_tracebacks():
    """While the block runs, log records of out-of-space errors carry no traceback, and the
    errors native callbacks report (TensorStore: PyErr_Print, PyErr_WriteUnraisable) after a
    failed save are one line."""
    quiet = _NoSpaceTracebacks()
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    previous_hook, previous_unraisable = sys.excepthook, sys.unraisablehook
    sys.excepthook = _one_line_hook(previous_hook)

    def unraisable(args) -> None:  # TensorStore reports some callback errors this way
        if args.exc_value is not None and _callback_noise(args.exc_value):
            logging.getLogger(__name__).error("%s: %s", args.exc_type.__name__, args.exc_value)
        else:
            previous_unraisable(args)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.excepthook, sys.unraisablehook = previous_hook, previous_unraisable
        for handler in handlers:
            handler.removeFilter(quiet)
