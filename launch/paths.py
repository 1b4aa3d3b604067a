"""Paths a user types, local or remote, through one file layer (etils epath, which is also the
layer Orbax writes through).

A local path may be relative: it is made absolute against the working directory once, where it
enters the program, because Orbax and TensorStore need absolute paths. A path with a scheme
(`gs://bucket/run`, `s3://...`) is left as it is.
"""

from __future__ import annotations

import os
import re

from etils import epath

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(path: str) -> bool:
    return bool(_SCHEME.match(str(path)))


def resolve(path: str | os.PathLike) -> str:
    """`path` made absolute (local, with `~` expanded) or unchanged (has a scheme)."""
    text = os.fspath(path)
    if is_remote(text):
        return text
    return os.path.abspath(os.path.expanduser(text))


def join(base: str, *parts: str) -> str:
    return str(epath.Path(base).joinpath(*parts))


def exists(path: str) -> bool:
    return epath.Path(path).exists()


def isdir(path: str) -> bool:
    return epath.Path(path).is_dir()


def listdir(path: str) -> list[str]:
    """Names in the directory `path` (empty if it does not exist)."""
    p = epath.Path(path)
    if not p.is_dir():
        return []
    return sorted(child.name for child in p.iterdir())


def read_bytes(path: str) -> bytes:
    return epath.Path(path).read_bytes()


def write_text_atomic(path: str, text: str) -> None:
    """Writes `path` through a temporary name and a rename, so a reader never sees half a file."""
    target = epath.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    tmp.write_text(text)
    tmp.rename(target)


def rename(src: str, dst: str) -> None:
    epath.Path(dst).parent.mkdir(parents=True, exist_ok=True)
    epath.Path(src).rename(dst)


def nearest_existing(path: str) -> str:
    """`path` itself or its closest existing ancestor (where a new directory would be created)."""
    p = epath.Path(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    return str(p)


def writable(path: str) -> bool:
    """Whether a directory could be written at `path`, judged without writing anything locally
    (remote stores are judged by their existing ancestor; permissions show at the first write)."""
    if is_remote(path):
        return True
    base = nearest_existing(path)
    return os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)


def makedirs(path: str) -> None:
    epath.Path(path).mkdir(parents=True, exist_ok=True)
