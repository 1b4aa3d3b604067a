"""What every spec check shares: the error type, how a bad value is shown, and path resolution.

A spec error names the file, the key path that holds the mistake and what was expected, e.g.
`spec.yaml: sources[2].format: 'jsonll' is not one of jsonl, parquet, ...`. This module imports
nothing else of the package, so the spec parser, the stages and their configs can all use it
without importing each other.
"""

from __future__ import annotations

import json
import os
from typing import Any


class SpecError(ValueError):
    """An invalid spec: the message names the file, the key and what was expected."""


def kind(value: Any) -> str:
    """A value as an error message shows it: its type and a short JSON rendering."""
    return f"{type(value).__name__} {json.dumps(value, default=str)[:60]}"


def resolve_path(path: str, base_dir: str | None) -> str:
    """Relative paths in a spec are relative to the spec's folder (local or a URL like gs://)."""
    if base_dir is None or "://" in path or os.path.isabs(path):
        return path
    if "://" in base_dir:
        return f"{base_dir.rstrip('/')}/{path}"
    return os.path.normpath(os.path.join(base_dir, path))


def in_file(path: str, error: SpecError) -> SpecError:
    """A stage's error names the key path; the spec parser adds which file holds it."""
    message = str(error)
    return error if message.startswith(f"{path}:") else SpecError(f"{path}: {message}")


def matches(value: Any, expected: type) -> bool:
    """isinstance, except that bools are not numbers and ints are floats (YAML writes 1 for
    1.0)."""
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected in (tuple, list):
        return isinstance(value, (list, tuple))
    return isinstance(value, expected)


class Where:
    """Builds errors that name the spec file and the key path."""

    def __init__(self, path: str):
        self.path = path

    def error(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key + ': ' if key else ''}{message}")

    def unknown_keys(self, key: str, mapping: dict, allowed: set[str]) -> None:
        for k in mapping:
            if k not in allowed:
                prefix = f"{key}.{k}" if key else str(k)
                raise self.error(prefix, "unknown key; expected one of "
                                         f"{', '.join(sorted(allowed))}")

    def typed(self, key: str, value: Any, expected: type) -> Any:
        if not matches(value, expected):
            raise self.error(key, f"expected {expected.__name__}, got {kind(value)}")
        return value

    def fraction(self, key: str, value: Any) -> float:
        if not matches(value, float) or not 0.0 <= value <= 1.0:
            raise self.error(key, f"expected a number between 0 and 1, got {kind(value)}")
        return float(value)

    def positive_int(self, key: str, value: Any) -> int:
        if not matches(value, int) or value < 1:
            raise self.error(key, f"expected a positive integer, got {kind(value)}")
        return value

    def str_list(self, key: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of strings, got {kind(value)}")
        return tuple(value)
