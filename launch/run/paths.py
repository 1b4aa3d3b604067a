"""Paths a user types, local or remote, and every file a run writes, through one file layer.

A local path may be relative: it is made absolute against the working directory once, where it
enters the program, because Orbax and TensorStore need absolute paths. A path with a scheme
(`gs://bucket/run`, `s3://...`) is left as it is.

Local paths and the schemes etils `epath` knows (gs, s3, az, hf: the layer Orbax writes through)
go through epath; any other scheme that fsspec knows (`memory://`, and whatever fsspec plugin is
installed) goes through fsspec. Object stores have no append and no rename; `can_append` says
which kind a path is, and `write_text_atomic` writes an object in one put there (readers see the
old object or the new one, never half of one).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import uuid
from typing import IO

from etils import epath

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_EPATH_SCHEMES = ("gs://", "s3://", "az://", "hf://")


def _fsspec(path: str):
    """(filesystem, path inside it) for a scheme epath does not know, else None."""
    text = os.fspath(path)
    if not is_remote(text) or text.startswith(_EPATH_SCHEMES):
        return None
    import fsspec

    return fsspec.core.url_to_fs(text)


def is_remote(path: str) -> bool:
    return bool(_SCHEME.match(str(path)))


def resolve(path: str | os.PathLike) -> str:
    """`path` made absolute (local, with `~` expanded) or unchanged (has a scheme)."""
    text = os.fspath(path)
    if is_remote(text):
        return text
    return os.path.abspath(os.path.expanduser(text))


def join(base: str, *parts: str) -> str:
    if _fsspec(base) is not None:
        return "/".join([base.rstrip("/"), *parts])
    return str(epath.Path(base).joinpath(*parts))


def exists(path: str) -> bool:
    fs = _fsspec(path)
    return fs[0].exists(fs[1]) if fs else epath.Path(path).exists()


def isdir(path: str) -> bool:
    fs = _fsspec(path)
    return fs[0].isdir(fs[1]) if fs else epath.Path(path).is_dir()


def listdir(path: str) -> list[str]:
    """Names in the directory `path` (empty if it does not exist)."""
    if not isdir(path):
        return []
    fs = _fsspec(path)
    if fs:
        return sorted(os.path.basename(p.rstrip("/")) for p in fs[0].ls(fs[1], detail=False))
    return sorted(child.name for child in epath.Path(path).iterdir())


def open_file(path: str, mode: str = "r") -> IO:
    """`path` opened for text ('r', 'w', 'a') or bytes ('rb', 'wb'); for a write, missing parent
    folders are made (on disk; object stores have none)."""
    fs = _fsspec(path)
    if "r" not in mode and not fs:  # object stores have no folders to make
        makedirs(parent(path))
    if fs:
        return fs[0].open(fs[1], mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    if "b" in mode or is_remote(path):
        return epath.Path(path).open(mode)
    return open(path, mode, encoding="utf-8")


def parent(path: str) -> str:
    if _fsspec(path) is not None:
        return path.rstrip("/").rsplit("/", 1)[0]
    return str(epath.Path(path).parent)


def read_text(path: str) -> str:
    with open_file(path) as f:
        return f.read()


def read_bytes(path: str) -> bytes:
    with open_file(path, "rb") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    with open_file(path, "w") as f:
        f.write(text)


def can_append(path: str) -> bool:
    """Whether files under `path` can be appended to and renamed (a local filesystem) rather than
    only written whole (an object store)."""
    return not is_remote(path)


@contextlib.contextmanager
def atomic_writer(path: str):
    """A text file to write `path` with, that a reader never sees half-written: locally a
    temporary name replaced onto `path` at the end (not at all if the block fails); in an
    object store the object itself, put in one piece when it is closed (a rename there would be
    a copy). Parent folders are made."""
    if not can_append(path):
        with open_file(path, "w") as f:
            yield f
        return
    target = epath.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yield f
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str, text: str) -> None:
    """Writes `path` whole; a reader sees the old file or the new one (`atomic_writer`)."""
    with atomic_writer(path) as f:
        f.write(text)


def rmtree(path: str) -> None:
    fs = _fsspec(path)
    if fs:
        fs[0].rm(fs[1], recursive=True)
    else:
        epath.Path(path).rmtree()


def remove(path: str) -> None:
    fs = _fsspec(path)
    if fs:
        fs[0].rm(fs[1])
    else:
        epath.Path(path).unlink()


def rename(src: str, dst: str) -> None:
    fs = _fsspec(src)
    if fs:
        fs[0].mv(fs[1], _fsspec(dst)[1], recursive=True)
        return
    epath.Path(dst).parent.mkdir(parents=True, exist_ok=True)
    epath.Path(src).rename(dst)


def nearest_existing(path: str) -> str:
    """`path` itself or its closest existing ancestor (where a new directory would be created)."""
    p = epath.Path(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    return str(p)


def write_problem(path: str) -> str | None:
    """Why a directory cannot be written at `path`, or None if it can: found by writing.

    Permission bits lie (for root `os.access` says yes to a read-only filesystem or to /proc), so
    this creates one empty file and removes it. Locally the probe goes in the nearest existing
    ancestor (nothing is created for a folder that does not exist yet) and that folder's
    access and modification times are put back, so it is left exactly as it was. In an object
    store the probe is one empty object under `path` (folders are implicit there: nothing stays).
    """
    if is_remote(path):
        probe = join(path, f".write-probe-{uuid.uuid4().hex}")
        try:
            write_text(probe, "")
            remove(probe)
        except Exception as e:  # the store's own error type: report it, whatever it is
            return f"writing a probe object {probe} failed: {type(e).__name__}: {e}"
        return None
    base = nearest_existing(path)
    if not os.path.isdir(base):
        return f"{base} is not a folder"
    before = os.stat(base)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=base)
    except OSError as e:
        return f"creating a file in {base} failed: {e.strerror or e}"
    os.close(fd)
    os.remove(probe)
    with contextlib.suppress(OSError):
        os.utime(base, ns=(before.st_atime_ns, before.st_mtime_ns))
    return None


def makedirs(path: str) -> None:
    fs = _fsspec(path)
    if fs:
        fs[0].makedirs(fs[1], exist_ok=True)
    else:
        epath.Path(path).mkdir(parents=True, exist_ok=True)
