"""One writer per output: a lease file naming the process that writes a directory.

A job that writes a directory (training's MODEL_DIR, prep's --output_dir, a materialised stream,
the tokenizer's and the seqio cache's output folders) holds a lease on it for as long as it
writes: `DIR/.lease.json` (or `DIR.lease.json` beside a directory that is replaced whole by a
rename), with the host, the process id, the start time, what is writing, a random token, and a
heartbeat that a daemon thread refreshes every HEARTBEAT_SECONDS. A second writer is refused at
once with `LeaseHeld` (the commands exit 2 naming the holder). A holder that is gone is taken
over and the takeover logged: on the same host when its process no longer exists (or its pid
now belongs to another process), at once; from another host when its heartbeat is older than
STALE_SECONDS (clocks are assumed to agree to well within that). Readers (eval, infer, sample)
never take it.

Why this is safe. Creating the lease is atomic and the lease is read back after it is written
(compare-after-write): locally a complete temporary file is hard-linked onto the lease name
(`link` fails if the name exists, even on NFS), so a reader never sees half a lease; in a store
that fsspec reaches with an exclusive-create mode ("xb": gcsfs uploads with the generation
precondition `ifGenerationMatch=0`, the memory store checks), that create. A takeover first
wins a marker named after the stale lease's token (the same exclusive create), reads the
lease again, and only then replaces it, so two processes never both take over one stale
lease. Where the store offers no exclusive create (gs:// through TensorFlow's filesystem when
gcsfs is absent, or a plugin without "xb"), creation is check-then-put followed by a settling
pause and a read-back: docs/checkpoints-and-faults.md says what is then not guaranteed.
The lease's I/O follows launch/run/paths.py's split: local paths through the OS, schemes
fsspec knows through fsspec, the rest through etils epath (pipeline/ cannot import launch/).

A holder that finds its lease taken over (it stalled for longer than STALE_SECONDS and another
process took the directory) stops at once with exit 1, writing nothing more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid

log = logging.getLogger("pipeline.output_lease")

LEASE_NAME = ".lease.json"
STALE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0
SETTLE_SECONDS = 2.0  # stores without exclusive create: wait before reading the lease back
LOST_EXIT = 1
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class LeaseHeld(RuntimeError):
    """Another live process writes this directory (exit 2: the user picks another directory or
    waits)."""

    def __init__(self, directory: str, lease_path: str, holder: dict, what: str):
        self.directory, self.lease_path, self.holder = directory, lease_path, holder
        age = time.time() - float(holder.get("heartbeat_unix", 0))
        super().__init__(
            f"{directory} is already being written by a {holder.get('what', 'job')} "
            f"(host {holder.get('host')}, pid {holder.get('pid')}, since {holder.get('since')}; "
            f"last heartbeat {age:.0f} s ago; lease {lease_path}): refusing to start a second "
            f"{what} on it. Wait for that job to end or stop it, or write to another directory "
            f"(a holder whose process is gone is taken over automatically: at once on the same "
            f"host, after {STALE_SECONDS:.0f} s without a heartbeat from another host)")


def lease_path(directory: str, beside: bool = False) -> str:
    """Where the lease of `directory` lives: inside it, or beside it (`DIR.lease.json`) for a
    directory that a job replaces whole by a rename."""
    directory = directory.rstrip("/")
    return directory + LEASE_NAME if beside else f"{directory}/{LEASE_NAME}"


# --- storage: local files, fsspec stores, epath ---------------------------------------------

class _Local:
    atomic = True

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def create(self, path: str, data: bytes) -> bool:
        """Writes `path` only if it does not exist; the file appears complete or not at all."""
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)

    def replace(self, path: str, data: bytes) -> None:
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)

    def age(self, path: str) -> float:
        try:
            return time.time() - os.stat(path).st_mtime
        except FileNotFoundError:
            return 0.0

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)


class _Fsspec:
    def __init__(self, fs):
        self.fs = fs
        self.atomic = True  # until the store turns out to ignore "xb"

    def read(self, path: str) -> bytes | None:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    def create(self, path: str, data: bytes) -> bool:
        if self.atomic:
            try:
                with self.fs.open(path, "xb") as f:
                    f.write(data)
                return True
            except FileExistsError:
                return False
            except (NotImplementedError, ValueError, TypeError):
                self.atomic = False
                log.warning("%s: this store has no exclusive create; the lease is check-then-"
                            "put with a read-back (docs/checkpoints-and-faults.md)",
                            type(self.fs).__name__)
        if self.fs.exists(path):
            return False
        self.fs.pipe_file(path, data)
        return True

    def replace(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def age(self, path: str) -> float:
        try:
            modified = self.fs.modified(path)
        except (FileNotFoundError, NotImplementedError, AttributeError):
            return 0.0
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=datetime.UTC)
        return time.time() - modified.timestamp()

    def makedirs(self, path: str) -> None:
        with contextlib.suppress(FileExistsError, NotImplementedError):
            self.fs.makedirs(path, exist_ok=True)


class _Epath:
    """A scheme only etils epath reaches (gs:// through TensorFlow when gcsfs is absent): no
    exclusive create, so check-then-put and a read-back after SETTLE_SECONDS."""

    atomic = False

    def read(self, path: str) -> bytes | None:
        from etils import epath

        p = epath.Path(path)
        return p.read_bytes() if p.exists() else None

    def create(self, path: str, data: bytes) -> bool:
        from etils import epath

        p = epath.Path(path)
        if p.exists():
            return False
        p.write_bytes(data)
        return True

    def replace(self, path: str, data: bytes) -> None:
        from etils import epath

        epath.Path(path).write_bytes(data)

    def remove(self, path: str) -> None:
        from etils import epath

        with contextlib.suppress(FileNotFoundError):
            epath.Path(path).unlink()

    def age(self, path: str) -> float:
        from etils import epath

        try:
            return time.time() - float(epath.Path(path).stat().mtime)
        except (OSError, AttributeError, TypeError, ValueError):
            return 0.0

    def makedirs(self, path: str) -> None:
        pass  # object stores have no folders


def _storage(path: str):
    if not _SCHEME.match(path) or path.startswith("file://"):
        return _Local()
    import fsspec

    try:
        fs, _ = fsspec.core.url_to_fs(path)
    except (ImportError, ValueError):
        return _Epath()
    return _Fsspec(fs)


def _strip(path: str) -> str:
    return path.removeprefix("file://")


# --- the holder's record --------------------------------------------------------------------

def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux), to tell a reused pid from its holder."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host and is not a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _gone(holder: dict | None, stale_after: float) -> str | None:
    """Why the holder no longer holds the lease, or None if it does."""
    if holder is None:
        return "the lease file is unreadable"
    now = time.time()
    age = now - float(holder.get("heartbeat_unix", 0))
    if holder.get("host") == socket.gethostname():
        pid = int(holder.get("pid", -1))
        if not _pid_alive(pid):
            return f"its process {pid} no longer exists"
        start = holder.get("process_start")
        if start is not None and _process_start(pid) not in (None, start):
            return f"pid {pid} now belongs to another process"
        return None
    if age > stale_after:
        return f"no heartbeat for {age:.0f} s (limit {stale_after:.0f} s)"
    return None


def _parse(raw: bytes | None) -> dict | None:
    try:
        record = json.loads(raw)
        return record if isinstance(record, dict) and "token" in record else None
    except (TypeError, ValueError, UnicodeDecodeError):
        return None


@dataclasses.dataclass
class Lease:
    """A lease this process holds; `release` (or leaving `hold`) gives it back."""

    directory: str
    path: str
    what: str
    record: dict
    storage: object
    heartbeat_seconds: float
    on_lost: object
    created_directory: bool = False
    lost: bool = False

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="output-lease", daemon=True)
        self._thread.start()

    def _encode(self) -> bytes:
        return json.dumps(self.record, indent=1, sort_keys=True).encode()

    def _beat(self) -> None:
        warned = False
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                current = _parse(self.storage.read(self.path))
                if current is None or current.get("token") != self.record["token"]:
                    self.lost = True
                    self.on_lost(self, current)
                    return
                now = time.time()
                self.record.update(heartbeat_unix=now, heartbeat=_iso(now))
                self.storage.replace(self.path, self._encode())
                warned = False
            except OSError as e:  # a full disk, a flaky store: the next beat tries again
                if not warned:
                    log.warning("could not refresh the lease %s: %s", self.path, e)
                    warned = True

    def release(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        _HELD.discard(self)
        if self.lost:
            return
        with contextlib.suppress(OSError):
            current = _parse(self.storage.read(self.path))
            if current is not None and current.get("token") == self.record["token"]:
                self.storage.remove(self.path)
        if self.created_directory and isinstance(self.storage, _Local):
            with contextlib.suppress(OSError):  # only if nothing else was written there
                os.rmdir(os.path.dirname(self.path))

    __hash__ = object.__hash__


def _stop_process(lease: Lease, holder: dict | None) -> None:
    """Default when the lease was taken over: stop writing now (exit 1, nothing flushed)."""
    who = (f"host {holder.get('host')}, pid {holder.get('pid')}" if holder
           else "nobody (the lease file is gone or unreadable)")
    message = (f"error: lost the lease on {lease.directory}: it now names {who}. This process "
               "stalled for longer than the heartbeat limit and another job took the directory "
               "over; stopping without writing anything more")
    log.error(message)
    print(message, file=sys.stderr, flush=True)
    os._exit(LOST_EXIT)


_HELD: set[Lease] = set()


def _release_all_on_signal(signum, frame, previous) -> None:
    if previous == signal.SIG_IGN:
        return  # the job ignores SIGTERM: it goes on writing, so it keeps its leases
    for lease in list(_HELD):
        with contextlib.suppress(Exception):
            lease.release()
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_signal_release() -> None:
    """SIGTERM releases every held lease, then does what it did before (the default kills;
    a job's own handler, e.g. prep's worker clean-up, runs). A handler installed later (the
    trainer's preemption flag) takes precedence while it is installed and puts this one back."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None or getattr(previous, "_releases_leases", False):
        return  # None: a handler installed from C (JAX's preemption notice): leave it be

    def handler(signum, frame):
        _release_all_on_signal(signum, frame, previous)

    handler._releases_leases = True
    signal.signal(signal.SIGTERM, handler)


def acquire(directory: str, what: str, *, beside: bool = False,
            stale_after: float = STALE_SECONDS, heartbeat_seconds: float = HEARTBEAT_SECONDS,
            on_lost=_stop_process) -> Lease:
    """Takes the lease on `directory` (creating the directory, or its parent when `beside`) or
    raises LeaseHeld naming the live holder; takes over a gone holder's lease, with a warning."""
    path = lease_path(directory, beside)
    storage = _storage(path)
    path, directory = _strip(path), _strip(directory.rstrip("/"))
    folder = os.path.dirname(path) if isinstance(storage, _Local) else None
    created = bool(folder) and not os.path.isdir(folder)
    if folder:
        storage.makedirs(folder)
    _install_signal_release()
    now = time.time()
    record = {"what": what, "host": socket.gethostname(), "pid": os.getpid(),
              "process_start": _process_start(os.getpid()), "since": _iso(now),
              "since_unix": now, "heartbeat": _iso(now), "heartbeat_unix": now,
              "token": uuid.uuid4().hex, "argv": sys.argv[:8]}
    data = json.dumps(record, indent=1, sort_keys=True).encode()

    def confirmed() -> bool:  # compare-after-write
        if not storage.atomic:
            time.sleep(SETTLE_SECONDS)
        current = _parse(storage.read(path))
        return current is not None and current["token"] == record["token"]

    def hold_it(took_over_from: dict | None = None, reason: str = "") -> Lease:
        if took_over_from is not None:
            log.warning("took over the lease on %s from a %s (host %s, pid %s, since %s): %s",
                        directory, took_over_from.get("what", "job"),
                        took_over_from.get("host"), took_over_from.get("pid"),
                        took_over_from.get("since"), reason)
        elif reason:
            log.warning("took over the lease on %s: %s", directory, reason)
        log.info("holding the lease on %s (%s)", directory, path)
        lease = Lease(directory, path, what, record, storage, heartbeat_seconds, on_lost,
                      created_directory=created)
        _HELD.add(lease)
        return lease

    try:
        return _take(storage, path, directory, data, what, stale_after, confirmed, hold_it)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):  # made for the lease, left empty: removed
                os.rmdir(folder)
        raise


def _take(storage, path, directory, data, what, stale_after, confirmed, hold_it) -> Lease:
    """The acquisition loop: create, or find the holder and refuse, or take a gone holder's
    lease over (behind a marker only one process can create)."""
    holder = None
    for _ in range(20):
        if storage.create(path, data):
            if confirmed():
                return hold_it()
            continue  # a non-atomic store let another writer in: look at who holds it
        raw = storage.read(path)
        if raw is None:
            continue  # released meanwhile: try again
        holder = _parse(raw)
        if holder is None and storage.age(path) < SETTLE_SECONDS:
            time.sleep(SETTLE_SECONDS)  # a lease being written by a store without atomic puts
            continue
        reason = _gone(holder, stale_after)
        if reason is None:
            raise LeaseHeld(directory, path, holder, what)
        marker = f"{path}.takeover-{holder['token'] if holder else 'unreadable'}"
        if not storage.create(marker, data):
            if storage.age(marker) > stale_after:  # a taker that died mid-takeover
                storage.remove(marker)
            else:
                time.sleep(0.2)
            continue
        try:
            if storage.read(path) != raw:
                continue  # changed under us: look again
            storage.replace(path, data)
            if confirmed():
                return hold_it(holder, reason)
        finally:
            storage.remove(marker)
    raise LeaseHeld(directory, path, holder or {}, what)


@contextlib.contextmanager
def hold(directory: str, what: str, *, beside: bool = False, **kwargs):
    """`with hold(model_dir, what="training run"):` the lease for the block's duration;
    released at the end of the block, on an exception, and on SIGTERM."""
    lease = acquire(directory, what, beside=beside, **kwargs)
    try:
        yield lease
    finally:
        lease.release()


def flag_value(argv, flag: str) -> str | None:
    """The value of `flag` (`--flag X` or `--flag=X`) in a command's `argv` (default
    sys.argv[1:]), or None."""
    args = sys.argv[1:] if argv is None else list(argv)
    value = None
    for i, arg in enumerate(args):
        name, eq, text = arg.partition("=")
        if not (name == flag or (len(name) >= 5 and flag.startswith(name))):  # argparse prefix
            continue
        if eq:
            value = text
        elif i + 1 < len(args):
            value = args[i + 1]
    return value


def hold_flag(argv, flag: str, what: str, *, beside: bool = False):
    """`hold` on the directory a command's `flag` names in `argv` (default sys.argv[1:]), or
    nothing when the flag is absent (the command's own parser then says it is missing)."""
    directory = flag_value(argv, flag)
    if not directory:
        return contextlib.nullcontext()
    return hold(directory, what, beside=beside)


def refuse_if_held(directory: str, what: str, *, beside: bool = False,
                   stale_after: float = STALE_SECONDS) -> None:
    """Raises LeaseHeld if a live holder has `directory`, reading only: a command calls it
    first thing, to refuse in seconds, before checks that take long (verifying a checkpoint);
    `acquire` is still what makes it the only writer."""
    path = lease_path(directory, beside)
    storage = _storage(path)
    try:
        raw = storage.read(_strip(path))
    except OSError:
        return  # unreadable (not a folder, no permission): the command's own checks say why
    if raw is not None and _gone(holder := _parse(raw), stale_after) is None:
        raise LeaseHeld(_strip(directory.rstrip("/")), _strip(path), holder, what)


def holder_of(directory: str, beside: bool = False) -> dict | None:
    """The record of the lease on `directory`, if any (for status tools and tests)."""
    path = lease_path(directory, beside)
    return _parse(_storage(path).read(_strip(path)))
