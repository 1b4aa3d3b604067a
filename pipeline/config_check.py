"""Validation helpers for the corpus stages' spec sections (quality classifier, decontamination).

Each check names the key path it looked at and what it expected, and raises
`pipeline.validation.SpecError`, so a mistake in a spec section reads like any other spec error:

    spec.yaml: quality_classifier.pareto_alpha: expected a positive number, got str "nine"
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from pipeline.validation import SpecError, kind, resolve_path

__all__ = ["Section", "check_known_sources", "is_int", "is_number", "kind", "resolve_path"]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Section:
    """One spec section (a mapping) being validated; `where` prefixes every error."""

    def __init__(self, data: Any, where: str, allowed: Collection[str]):
        self.where = where
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected a mapping, got {kind(data)}")
        for key in data:
            if key not in allowed:
                raise self.error(str(key), "unknown key; expected one of "
                                           f"{', '.join(sorted(allowed))}")
        self.data = data

    def error(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.where}.{key}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any) -> Any:
        value = self.data.get(key, default)
        return default if value is None and default is not None else value

    def required(self, key: str, what: str) -> Any:
        if self.data.get(key) is None:
            raise self.error(key, f"missing: {what}")
        return self.data[key]

    def integer(self, key: str, default: int, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        value = self.get(key, default)
        if not is_int(value) or (minimum is not None and value < minimum) or (
                maximum is not None and value > maximum):
            bounds = _bounds(minimum, maximum)
            raise self.error(key, f"expected an integer{bounds}, got {kind(value)}")
        return value

    def number(self, key: str, default: float, *, minimum: float | None = None,
               maximum: float | None = None, exclusive_minimum: bool = False,
               exclusive_maximum: bool = False) -> float:
        value = self.get(key, default)
        ok = is_number(value)
        if ok and minimum is not None:
            ok = value > minimum if exclusive_minimum else value >= minimum
        if ok and maximum is not None:
            ok = value < maximum if exclusive_maximum else value <= maximum
        if not ok:
            low = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum}"
            high = "" if maximum is None else f"{'<' if exclusive_maximum else '<='} {maximum}"
            bounds = " and ".join(b for b in (low, high) if b)
            raise self.error(key, f"expected a number{' ' + bounds if bounds else ''}, "
                                  f"got {kind(value)}")
        return float(value)

    def string(self, key: str, default: str | None) -> str | None:
        value = self.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {kind(value)}")
        return value

    def choice(self, key: str, default: str, choices: Collection[str]) -> str:
        value = self.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {kind(value)}")
        return value

    def names(self, key: str, default: tuple[str, ...] | None, *,
              allow_null: bool = False) -> tuple[str, ...] | None:
        """A non-empty list of distinct names (a single string is a list of one)."""
        value = self.data.get(key, default)
        if value is None:
            if allow_null:
                return None
            raise self.error(key, "missing: expected a non-empty list of source names")
        if isinstance(value, str):
            value = [value]
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(v, str) and v for v in value)):
            raise self.error(key, f"expected a non-empty list of source names, got {kind(value)}")
        if len(set(value)) != len(value):
            raise self.error(key, f"lists a name twice: {kind(value)}")
        return tuple(value)


def check_known_sources(where: str, key: str, names: Collection[str] | None,
                        known: Collection[str]) -> None:
    """Every name in `names` must be one of the spec's sources."""
    for name in names or ():
        if name not in known:
            raise SpecError(f"{where}.{key}: '{name}' is not a source of this spec; "
                            f"sources: {', '.join(sorted(known))}")


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
