"""The one registry of steps and stages: which exist, in which order they run, their defaults.

Two words, two things. A *step* (pipeline/document_step.py) looks at one document at a time and
runs on each source on its own, in the order of `STEPS`; its keyword-only constructor arguments
are its spec parameters under the spec's `steps:` key (defaults are the published thresholds).
A *stage* (pipeline/corpus_stage.py) sees every source at once and runs after the steps, in the
order of `CORPUS_STAGES` unless it asks to run after another (`runs_after`).

Adding a step or a stage is one new file, one line here, and regenerating the published spec
schema: `PYTHONPATH=. python tests/test_spec_schemas.py` (tests/test_spec_schemas.py fails until
docs/schemas/ matches the registry).
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from pipeline.boilerplate import Boilerplate
from pipeline.corpus_stage import CorpusStage
from pipeline.decontamination import DecontaminationStage
from pipeline.dedup.stage import DedupStage
from pipeline.document_step import DocumentStep
from pipeline.langid import LanguageFilter
from pipeline.normalize import Normalizer
from pipeline.pii import PiiRedactor
from pipeline.quality_classifier import QualityClassifierStage
from pipeline.rules.c4 import C4Rules
from pipeline.rules.code import CodeRules
from pipeline.rules.gopher_quality import GopherQuality
from pipeline.rules.gopher_repetition import GopherRepetition

# Steps in execution order. `boilerplate` looks across the documents of a source
# (C4-style) and runs between language ID and the quality rules.
STEPS: dict[str, type[DocumentStep]] = {
    "normalize": Normalizer,
    "langid": LanguageFilter,
    "boilerplate": Boilerplate,
    "gopher_repetition": GopherRepetition,
    "gopher_quality": GopherQuality,
    "c4": C4Rules,
    "code": CodeRules,
    "pii": PiiRedactor,
}

# Corpus stages in execution order (the data flow of docs/data-engine.md): exact and near dedup,
# the quality classifier, decontamination last (so it checks exactly what is written).
CORPUS_STAGES: dict[str, CorpusStage] = {
    "dedup": DedupStage(),
    "quality_classifier": QualityClassifierStage(),
    "decontamination": DecontaminationStage(),
}

# Steps on by default, with default parameters ({}), for prose and for code sources.
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


def register_corpus_stage(stage: CorpusStage) -> CorpusStage:
    """Adds a corpus stage after the registered ones (the registry line, for code outside this
    package such as a test's own stage)."""
    if stage.name in CORPUS_STAGES:
        raise ValueError(f"a corpus stage named {stage.name!r} is already registered")
    CORPUS_STAGES[stage.name] = stage
    return stage


def step_class(step: str) -> type[DocumentStep]:
    return STEPS[step]


def step_parameters(step: str) -> dict[str, type | None]:
    """Parameter name -> expected type (from the default's type; None when unconstrained)."""
    params = {}
    for p in inspect.signature(step_class(step)).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        default = p.default
        params[p.name] = None if default is None else type(default)
    return params


def resolve_steps(is_code: bool, role: str, global_overrides: Mapping[str, Any],
                   source_overrides: Mapping[str, Any]) -> tuple[tuple[str, dict], ...]:
    """Defaults for the source's kind and role, then spec-wide overrides, then the source's own.

    An override of `false` switches a step off, `true` switches it on with its current
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
    return tuple((name, enabled[name]) for name in STEPS if name in enabled)


def _kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def build_step(step: str, params: Mapping[str, Any]) -> DocumentStep:
    return step_class(step)(**_kwargs(params))


def build_source_step(step: str, params: Mapping[str, Any], source: Any) -> DocumentStep:
    """The step as configured for one source (`DocumentStep.for_source`)."""
    return step_class(step).for_source(_kwargs(params), source)
