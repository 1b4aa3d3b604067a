"""The one way the data engine writes and reads its JSON records (local paths or gs:// alike).

Records are written with sorted keys, so the same content gives the same bytes on every run.
"""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystems import FileSystems


def dumps(data: Any, *, indent: int = 2, ensure_ascii: bool = True) -> bytes:
    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=ensure_ascii).encode(
        "utf-8")


def write_json(path: str, data: Any, *, indent: int = 2, ensure_ascii: bool = True) -> None:
    """Writes `data` to `path` (replacing it)."""
    with FileSystems.create(path) as f:
        f.write(dumps(data, indent=indent, ensure_ascii=ensure_ascii))


def read_json(path: str) -> Any:
    """The record at `path`, or None when there is no such file."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))
