"""The cleaning stages a spec can switch on or off, their order, and their defaults.

Each stage is implemented by a class whose keyword-only constructor arguments are the stage's
parameters (defaults are the published thresholds, shared/REFERENCE.md). The spec validates
parameter names and types against those signatures before any pipeline starts.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping

# Execution order. Per-document stages run in this order for every source; `boilerplate` is
# a cross-document stage (C4-style) that runs between language ID and the quality rules.
STAGES: dict[str, str] = {
    "normalize": "pipeline.normalize:Normalizer",
    "langid": "pipeline.langid:LanguageFilter",
    "boilerplate": "pipeline.boilerplate:BoilerplateConfig",
    "gopher_repetition": "pipeline.rules.gopher_repetition:GopherRepetition",
    "gopher_quality": "pipeline.rules.gopher_quality:GopherQuality",
    "c4": "pipeline.rules.c4:C4Rules",
    "code": "pipeline.rules.code:CodeRules",
    "pii": "pipeline.pii:PiiRedactor",
}

# Stages on by default, with default parameters ({}), for prose and for code sources.
DEFAULTS_PROSE: dict[str, dict[str, Any]] = {
    "normalize": {}, "langid": {}, "boilerplate": {}, "gopher_repetition": {},
    "gopher_quality": {}, "c4": {}, "pii": {},
}
# C4's line rules were designed for crawled pages (navigation, cookie notices, lines without
# terminal punctuation). On dialogue turns, book chapter titles and encyclopedia headings they
# remove real content, so by default they run only on roles that come from a crawl.
C4_DEFAULT_ROLES = frozenset({"webpages", "news"})
DEFAULTS_CODE: dict[str, dict[str, Any]] = {
    "normalize": {"keep_indentation": True}, "code": {}, "pii": {},
}


def stage_class(stage: str) -> type:
    module_name, _, attr = STAGES[stage].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def stage_parameters(stage: str) -> dict[str, type | None]:
    """Parameter name -> expected type (from the default's type; None when unconstrained)."""
    params = {}
    for p in inspect.signature(stage_class(stage)).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        default = p.default
        params[p.name] = None if default is None else type(default)
    return params


def resolve_stages(is_code: bool, role: str, global_overrides: Mapping[str, Any],
                   source_overrides: Mapping[str, Any]) -> tuple[tuple[str, dict], ...]:
    """Defaults for the source's kind and role, then spec-wide overrides, then the source's own.

    An override of `false` switches a stage off, `true` switches it on with its current
    parameters, and a mapping switches it on and updates parameters.
    """
    enabled = {name: dict(params) for name, params in
               (DEFAULTS_CODE if is_code else DEFAULTS_PROSE).items()}
    if not is_code and role not in C4_DEFAULT_ROLES:
        enabled.pop("c4")
    for overrides in (global_overrides, source_overrides):
        for name, value in overrides.items():
            if value is False:
                enabled.pop(name, None)
            elif value is True or value is None:
                enabled.setdefault(name, {})
            else:
                enabled.setdefault(name, {}).update(value)
    return tuple((name, enabled[name]) for name in STAGES if name in enabled)


def build_stage(stage: str, params: Mapping[str, Any]) -> Any:
    cls = stage_class(stage)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return cls(**kwargs)
