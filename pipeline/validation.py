"""The one spec-validation mechanism: pydantic models, and errors that name the key.

Every spec section (the sources spec, each stage's parameters and corpus-stage section, the
mixture spec in tasks/spec.py) is a `SpecModel`: pydantic checks types, bounds and unknown
keys, the model's validators check what depends on several keys, and `parse_model` turns the
first problem into a `SpecError` naming the file, the key path and what was expected, e.g.

    spec.yaml: sources[2].format: 'jsonll' is not one of 'jsonl', 'parquet', ...

The same models give the published JSON schemas (docs/schemas/). This module imports nothing
else of the package, so the spec parser, the stages and their configs can all use it without
importing each other.
"""

from __future__ import annotations

import inspect
import json
import os
import types
import typing
from typing import Annotated, Any, Callable, TypeVar

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    model_validator,
)


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


# ---------------------------------------------------------------------------------------------
# Models and field types.

_FROM_SPEC = "from_spec"


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, values are immutable, and in a spec
    (`parse_model`) a key whose value is null takes its default, as if it were absent."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and (info.context or {}).get(_FROM_SPEC):
            return {k: v for k, v in data.items() if v is not None or k not in cls.model_fields}
        return data


class KeyProblem(ValueError):
    """Raised by a model validator about one of the model's keys (`key`, relative to the
    model, e.g. "name" or "near.bands"), so the error names that key."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


# Booleans are not numbers, numbers are not strings: YAML's `yes` or `"3"` are mistakes.
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
# An int is a number too (YAML writes 1 for 1.0); .nan and .inf are not numbers a spec means.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Str = Annotated[str, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def one_or_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _distinct(names: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(names)) != len(names):
        raise ValueError(f"lists a name twice: {kind(list(names))}")
    return names


# A list of strings; a single string is a list of one.
StrList = Annotated[tuple[Str, ...], BeforeValidator(one_or_list,
                                                     json_schema_input_type=str | list[str])]
# A non-empty list of distinct source names (a single name is a list of one).
SourceNames = Annotated[tuple[Annotated[str, Strict(), Field(min_length=1)], ...],
                        BeforeValidator(one_or_list, json_schema_input_type=str | list[str]),
                        Field(min_length=1), AfterValidator(_distinct)]


def check_known_sources(key: str, names: tuple[str, ...] | None, known: Any) -> None:
    """Every name in `names` must be one of the spec's sources; `key` names the list."""
    for name in names or ():
        if name not in known:
            raise SpecError(f"{key}: '{name}' is not a source of this spec; "
                            f"sources: {', '.join(sorted(known))}")

M = TypeVar("M", bound=BaseModel)


def switch(model: type[M]) -> Any:
    """A section that is `true` (on, defaults), `false` (off: None) or a mapping of
    parameters (on). In a spec a null value means the default (`SpecModel`)."""

    def on_off_or_mapping(value: Any) -> Any:
        if value is True:
            return {}
        if value is False or value is None:
            return None
        if isinstance(value, (dict, model)):
            return value
        raise ValueError(f"expected true, false or a mapping of parameters, got {kind(value)}")

    return Annotated[model | None, BeforeValidator(on_off_or_mapping,
                                                   json_schema_input_type=bool | model)]


def parse_model(model: type[M], data: Any, *, file: str = "", key: str = "") -> M:
    """`data` validated by `model`; the first problem becomes a SpecError that names `file`
    and the key path (`key` is where `data` sits in the file, e.g. "dedup")."""
    try:
        return model.model_validate(data, context={_FROM_SPEC: True})
    except pydantic.ValidationError as e:
        raise SpecError(describe(e, model, file=file, key=key)) from None


def parse_switch(model: type[M], data: Any, *, file: str = "", key: str = "",
                 default: bool = True) -> M | None:
    """A whole section that is true, false, null (the default: on or off) or a mapping."""
    if data is None:
        data = default
    if data is True:
        data = {}
    if data is False:
        return None
    if not isinstance(data, dict):
        raise SpecError(": ".join(p for p in (file, key, "expected true, false or a mapping, "
                                                          f"got {kind(data)}") if p))
    return parse_model(model, data, file=file, key=key)


def describe(error: pydantic.ValidationError, model: type[BaseModel], *, file: str = "",
             key: str = "") -> str:
    """The first problem of a ValidationError as `<file>: <key path>: <what was expected>`."""
    problems = error.errors(include_url=False)
    # An unknown key first: a misspelt key also shows up as the right key missing.
    problem = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
    loc = list(problem["loc"])
    kind_ = problem["type"]
    value = problem.get("input")
    ctx = problem.get("ctx") or {}
    if kind_ == "value_error" and isinstance(ctx.get("error"), KeyProblem):
        loc += ctx["error"].key.split(".")
        message = str(ctx["error"])
    else:
        message = _message(kind_, value, ctx, problem["msg"], model, loc)
    path = key_path([*([key] if key else []), *loc])
    return ": ".join(part for part in (file, path, message) if part)


def key_path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_EXPECTED = {"int_type": "an integer", "int_from_float": "an integer", "float_type": "a number",
             "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
             "tuple_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
             "finite_number": "a finite number",
             "model_attributes_type": "a mapping"}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def _message(kind_: str, value: Any, ctx: dict, default: str, model: type[BaseModel],
             loc: list) -> str:
    if kind_ == "missing":
        return "missing"
    if kind_ == "extra_forbidden":
        allowed = _keys_at(model, loc[:-1])
        return f"unknown key; expected one of {', '.join(allowed)}"
    if kind_ in _EXPECTED:
        return f"expected {_EXPECTED[kind_]}, got {kind(value)}"
    if kind_ == "literal_error":
        shown = f"'{value}'" if isinstance(value, str) else kind(value)
        return f"{shown} is not one of {ctx['expected']}"
    if kind_ in _BOUNDS:
        limit = next(iter(ctx.values()))
        return f"expected a value {_BOUNDS[kind_]} {limit}, got {kind(value)}"
    if kind_ == "too_short":
        return f"expected a non-empty list, got {kind(value)}"
    if kind_ in ("value_error", "assertion_error"):
        return str(ctx.get("error", default))
    return f"{default[0].lower()}{default[1:]}, got {kind(value)}"


def _keys_at(model: Any, loc: list) -> list[str]:
    """The keys the model accepts at `loc` (for an unknown-key error)."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field else None
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or name for name, f in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """Annotated[X, ...] -> X; Optional[X] / X | None -> X (a model, when one is among them)."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        return _unwrap((models or members)[0])
    return annotation


def model_from_signature(name: str, factory: Callable[..., Any]) -> type[SpecModel]:
    """A model of a class's keyword-only constructor arguments (a per-document step's
    parameters); each argument's type is its default's type, None = any value."""
    types_by_default = {bool: Bool, int: Int, float: Number, str: Str,
                        tuple: tuple[Any, ...], list: tuple[Any, ...]}
    fields = {}
    for p in inspect.signature(factory).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        annotation = Any if p.default is None else types_by_default.get(type(p.default), Any)
        fields[p.name] = (annotation, p.default)
    return pydantic.create_model(name, __base__=SpecModel, **fields)
