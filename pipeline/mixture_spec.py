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
from typing import Annotated

import yaml
from pydantic import AfterValidator, Field, Strict, model_validator

from pipeline.validation import (
    KeyProblem,
    Number,
    SpecError,
    SpecModel,
    Str,
    parse_model,
    resolve_path,
)

DATA_DIR_ENV, VOCABULARY_ENV = "PALM_TASKS_DATA_DIR", "PALM_TASKS_VOCABULARY"


class MixtureSpecError(ValueError):
    pass


def _mixture_name(name: str) -> str:
    if not name.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"must be letters, digits, '_' or '.', got {name!r}")
    return name


class SourceWeightModel(SpecModel):
    name: Str
    weight: Number = Field(ge=0.0, description="relative; weights need not sum to 1")
    role: Str | None = None


class MixtureSpecModel(SpecModel):
    """A mixture spec (tasks/spec.py), validated like the sources spec (pipeline/validation.py)."""

    name: Annotated[str, Strict(), AfterValidator(_mixture_name)]
    vocabulary: Str
    data_dir: Str
    sources: Annotated[list[SourceWeightModel], Field(min_length=1)]

    @model_validator(mode="after")
    def _weights(self) -> "MixtureSpecModel":
        seen = set()
        for i, source in enumerate(self.sources):
            if source.name in seen:
                raise KeyProblem(f"sources[{i}].name", f"source {source.name!r} listed twice")
            seen.add(source.name)
        if sum(s.weight for s in self.sources) <= 0:
            raise KeyProblem("sources", "the weights sum to zero")
        return self


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


def load_mixture_spec(path: str, *, data_dir: str | None = None,
                      vocabulary: str | None = None) -> MixtureSpec:
    if not os.path.exists(path):
        raise MixtureSpecError(f"mixture spec not found: {path!r}")
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise MixtureSpecError(f"{path}: not valid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise MixtureSpecError(f"{path}: not a YAML text file (not UTF-8: {e.reason} at byte "
                               f"{e.start})") from None
    except OSError as e:  # a folder, no permission
        raise MixtureSpecError(f"{path}: cannot read the mixture spec: {e.strerror or e}") \
            from None
    try:
        model = parse_model(MixtureSpecModel, raw, file=path)
    except SpecError as e:
        raise MixtureSpecError(str(e)) from None
    name = model.name
    base = os.path.dirname(os.path.abspath(path))
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV) or resolve_path(model.data_dir, base)
    vocabulary = (vocabulary or os.environ.get(VOCABULARY_ENV)
                  or resolve_path(model.vocabulary, base))
    sources = [SourceWeight(s.name, float(s.weight), s.role) for s in model.sources]
    return MixtureSpec(os.path.abspath(path), name, vocabulary, data_dir, tuple(sources))
