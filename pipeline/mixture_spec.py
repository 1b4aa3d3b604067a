"""The mixture spec: which sources, with which weights, over which prep outputs and vocabulary.

    name: palm_demo                  # the Mixture's name; Tasks are named <name>.<source>
    vocabulary: ../../demo_out/tokenizer/spm.model   # relative to this file, or absolute, or gs://
    data_dir: ../../demo_out/prep    # the prep job's output directory
    sources:
      - {name: conversations, weight: 50}   # weights are relative; they need not sum to 1
      - {name: books, weight: 13, role: books}

Paths may be overridden at registration time (arguments, or the environment variables
PALM_TASKS_DATA_DIR / PALM_TASKS_VOCABULARY).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import yaml

DATA_DIR_ENV, VOCABULARY_ENV = "PALM_TASKS_DATA_DIR", "PALM_TASKS_VOCABULARY"


class MixtureSpecError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class SourceWeight:
    name: str
    weight: float
    role: str | None = None


@dataclasses.dataclass(frozen=True)
class MixtureSpec:
    path: str
    name: str
    vocabulary: str
    data_dir: str
    sources: tuple[SourceWeight, ...]

    def task_name(self, source: str) -> str:
        return f"{self.name}.{source}"

    def normalized_weights(self) -> dict[str, float]:
        total = sum(s.weight for s in self.sources)
        return {s.name: s.weight / total for s in self.sources}


def _resolve(path: str, base_dir: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def load_mixture_spec(path: str, *, data_dir: str | None = None,
                      vocabulary: str | None = None) -> MixtureSpec:
    if not os.path.exists(path):
        raise MixtureSpecError(f"mixture spec not found: {path!r}")
    with open(path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise MixtureSpecError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise MixtureSpecError(f"{path}: expected a mapping at the top level")
    unknown = sorted(set(raw) - {"name", "vocabulary", "data_dir", "sources"})
    if unknown:
        raise MixtureSpecError(f"{path}: unknown key(s) {unknown}")
    for key in ("name", "vocabulary", "data_dir", "sources"):
        if key not in raw:
            raise MixtureSpecError(f"{path}: missing key {key!r}")
    name = raw["name"]
    if not isinstance(name, str) or not name.replace("_", "").replace(".", "").isalnum():
        raise MixtureSpecError(f"{path}: 'name' must be letters, digits, '_' or '.', got {name!r}")
    base = os.path.dirname(os.path.abspath(path))
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV) or _resolve(str(raw["data_dir"]), base)
    vocabulary = (vocabulary or os.environ.get(VOCABULARY_ENV)
                  or _resolve(str(raw["vocabulary"]), base))
    if not isinstance(raw["sources"], list) or not raw["sources"]:
        raise MixtureSpecError(f"{path}: 'sources' must be a non-empty list")
    sources, seen = [], set()
    for i, entry in enumerate(raw["sources"]):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict) or "name" not in entry or "weight" not in entry:
            raise MixtureSpecError(f"{where}: expected a mapping with 'name' and 'weight'")
        extra = sorted(set(entry) - {"name", "weight", "role"})
        if extra:
            raise MixtureSpecError(f"{where}: unknown key(s) {extra}")
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise MixtureSpecError(f"{where}: 'weight' must be a non-negative number")
        if entry["name"] in seen:
            raise MixtureSpecError(f"{where}: source {entry['name']!r} listed twice")
        seen.add(entry["name"])
        sources.append(SourceWeight(str(entry["name"]), float(weight), entry.get("role")))
    if sum(s.weight for s in sources) <= 0:
        raise MixtureSpecError(f"{path}: the weights sum to zero")
    return MixtureSpec(os.path.abspath(path), name, vocabulary, data_dir, tuple(sources))
