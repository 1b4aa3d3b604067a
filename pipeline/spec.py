"""The prep job's sources spec: parsed from YAML, validated before any pipeline starts.

A spec names the sources to read and, for each, which cleaning stages run with which
parameters. It is validated by pydantic models (pipeline/validation.py) built from the stage
registry: each per-document step's parameters come from its constructor, each corpus stage's
section (`dedup:`, `quality_classifier:`, `decontamination:`, ...) from its `config_model`, and
each corpus stage then builds its config from its section (`CorpusStage.parse`). Every mistake
is reported with the key path that holds it and what was expected, e.g.
`sources[2].format: 'jsonll' is not one of 'jsonl', 'parquet', ...`. The JSON schema is
published in docs/schemas/sources_spec.schema.json.

    seed: 0
    validation_fraction: 0.01
    rejected_sample_rate: 1.0
    shards: {train: 4, validation: 1}
    stages:                      # overrides of the built-in defaults, for every source
      langid: {min_score: 0.5}
    sources:
      - name: web
        role: webpages
        format: jsonl
        paths: ["raw/web/*.jsonl.gz"]
        text_field: text
        languages: [en, de]
        stages: {c4: false}      # per-source overrides: false switches a stage off
    dedup:                       # corpus-wide; absent = exact and near dedup with defaults
      keep: smallest_id          # or preferred_role, quality_score
      exact: {lowercase: true}   # false switches exact dedup off
      near: {threshold: 0.8}     # false switches near dedup off (see pipeline/dedup/config.py)
    quality_classifier:          # corpus-wide; absent = off (pipeline/quality_classifier.py)
      positive_sources: [books]
      negative_sources: [web]
      apply_to: [web]
    decontamination:             # corpus-wide; absent = off (pipeline/decontamination.py)
      eval_sets: {lambada: evals/lambada.jsonl}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Annotated, Any, Literal, Mapping

import pydantic
import yaml
from apache_beam.io.filesystems import FileSystems
from pydantic import AfterValidator, BeforeValidator, Field, Strict, model_validator

from pipeline import langid, stage_registry
from pipeline.corpus_stage import SectionContext
from pipeline.validation import (Bool, Fraction, Int, KeyProblem, PositiveInt, SpecError, SpecModel,
                                 Str, StrList, one_or_list, kind, model_from_signature,
                                 parse_model, resolve_path, switch)

__all__ = ["FORMATS", "PIPELINE_VERSION", "PrepSpec", "SourceSpec", "SpecError", "load_spec",
           "parse_spec"]

FORMATS = ("jsonl", "parquet", "text_dir", "code_dir", "warc", "wet", "tfds")
# Bumped whenever a change to the code changes what a given spec produces, so reruns redo work.
PIPELINE_VERSION = "2"  # 2: language-aware rules, whitespace words, C4 on paragraphs


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    name: str
    role: str
    format: str
    paths: tuple[str, ...]
    text_field: str = "text"
    id_field: str | None = None
    url_field: str | None = None
    languages: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    tfds_name: str | None = None
    tfds_split: str = "train"
    tfds_data_dir: str | None = None
    allow_empty: bool = False  # a source that ends with no document is not an error
    # Resolved stage configuration: stage name -> parameters, in execution order; only the
    # stages that are switched on appear.
    stages: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    @property
    def is_code(self) -> bool:
        return self.role == "code" or self.format == "code_dir"

    def stage_params(self, stage: str) -> Mapping[str, Any] | None:
        for name, params in self.stages:
            if name == stage:
                return params
        return None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stages"] = {name: dict(params) for name, params in self.stages}
        return data


@dataclasses.dataclass(frozen=True)
class PrepSpec:
    """A validated spec. `corpus_configs` holds the config of each corpus stage that is on
    (name -> config, registry order); `spec.<stage name>` reads it (None when off)."""

    sources: tuple[SourceSpec, ...]
    seed: int = 0
    validation_fraction: float = 0.01
    rejected_sample_rate: float = 1.0
    train_shards: int = 4
    validation_shards: int = 1
    max_rule_drop_share: float = 0.5  # warn when one rule removes more of a source
    corpus_configs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    path: str = ""

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name in stage_registry.CORPUS_STAGES:
            return self.__dict__.get("corpus_configs", {}).get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def corpus_stages_on(self) -> bool:
        """Whether any stage sees all sources at once (then sources depend on each other)."""
        return bool(self.corpus_configs)

    def corpus_fingerprint(self) -> dict[str, Any]:
        """What the corpus stages depend on, by stage: their config and what they read from
        disk (a quality model's version, each evaluation set's SHA-256; read from disk each
        call, so an edited file counts)."""
        return {name: stage_registry.CORPUS_STAGES[name].fingerprint(config)
                for name, config in self.corpus_configs.items()}

    def source_config_hash(self, source: SourceSpec,
                           corpus_fingerprint: dict[str, Any] | None = None) -> str:
        """Hash of everything that determines a source's outputs (not where the spec lives).

        With a corpus stage on (dedup, quality classifier, decontamination...), sources depend
        on each other (a copy is removed from one source because another holds the keeper; the
        classifier trains on other sources), so the hash also covers every corpus stage's
        fingerprint and every other source's config: changing any of them redoes all sources.
        `corpus_fingerprint` saves re-reading the stages' files when hashing many sources.
        """
        payload = {
            "pipeline_version": PIPELINE_VERSION,
            "source": source.to_json(),
            "seed": self.seed,
            "validation_fraction": self.validation_fraction,
            "rejected_sample_rate": self.rejected_sample_rate,
            "shards": [self.train_shards, self.validation_shards],
        }
        if self.corpus_stages_on:
            payload.update(self.corpus_fingerprint() if corpus_fingerprint is None
                           else corpus_fingerprint)
            payload["dedup_sources"] = [s.to_json() for s in self.sources]
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def reserved_names() -> set[str]:
    """Folder names in the output directory that are not sources."""
    return set(stage_registry.CORPUS_STAGES) | {"_staging"}


# ---------------------------------------------------------------------------------------------
# The spec's models (pipeline/validation.py). The per-document steps' parameters and the corpus
# stages' sections come from the registry, so the models are built from it.

MAX_NAME = 100  # file systems allow 255 bytes per folder name; outputs add suffixes


def _folder_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name in (".", ".."):
        raise ValueError(f"'{name[:MAX_NAME]}' must be non-empty and use only letters, digits, "
                         "'-', '_' and '.' (it names a folder)")
    if len(name) > MAX_NAME:
        raise ValueError(f"'{name[:20]}...' has {len(name)} characters, at most {MAX_NAME} "
                         "(it names a folder)")
    return name


def _language_codes(codes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [c for c in codes if c not in langid.LANGUAGES]
    if unknown:
        raise ValueError(f"'{unknown[0]}' is not an ISO 639 code the language identifier knows "
                         f"(e.g. en, de, fr, zh; a list of codes, e.g. [en, de])")
    return codes


NonEmptyStr = Annotated[str, Strict(), Field(min_length=1)]
PathList = Annotated[tuple[NonEmptyStr, ...], Field(min_length=1),
                     BeforeValidator(one_or_list, json_schema_input_type=str | list[str])]


class ShardsModel(SpecModel):
    """Output shards per split (rejected records use as many shards as train)."""

    train: PositiveInt = 4
    validation: PositiveInt = 1


class SourceModel(SpecModel):
    """One source: where to read it and how; `stages` overrides the spec-wide settings."""

    name: Annotated[str, Strict(), AfterValidator(_folder_name)]
    role: Str = Field(description="conversations, webpages, books, code, wikipedia, news, ...")
    format: Literal[FORMATS]
    paths: PathList | None = Field(None, description="files, globs or folders (not for tfds)")
    text_field: Str = "text"
    id_field: Str | None = None
    url_field: Str | None = None
    languages: Annotated[StrList, AfterValidator(_language_codes)] = Field(
        (), description="ISO 639 codes kept by langid (empty: any)")
    extensions: StrList = Field((), description="file extensions read (text_dir, code_dir)")
    stages: dict[str, Any] = {}
    dataset: Str | None = Field(None, description="tfds: the dataset, e.g. 'my_corpus:1.0.0'")
    split: Str = Field("train", description="tfds: the split")
    data_dir: Str | None = Field(None, description="tfds: the prepared dataset's data_dir")
    allow_empty: Bool = Field(False, description="a source that ends with no document is "
                                                 "not an error (the job exits 0)")

    @model_validator(mode="after")
    def _inputs(self) -> "SourceModel":
        if self.format == "tfds":
            if self.dataset is None:
                raise KeyProblem("dataset", "missing: tfds sources name a dataset, e.g. "
                                            "'my_corpus:1.0.0'")
            if self.data_dir is None:
                raise KeyProblem("data_dir", "missing: tfds sources read a prepared dataset "
                                             "from a local data_dir (nothing is downloaded)")
        elif self.paths is None:
            raise KeyProblem("paths", "missing: list files, globs or folders")
        return self


class SpecBase(SpecModel):
    seed: Int = 0
    validation_fraction: Fraction = 0.01
    rejected_sample_rate: Fraction = Field(1.0, description="share of rejected records kept "
                                                            "for audit")
    shards: ShardsModel = ShardsModel()
    max_rule_drop_share: Fraction = Field(0.5, description="warn when one rule removes more "
                                                           "than this share of a source")

    @model_validator(mode="after")
    def _source_names(self) -> "SpecBase":
        seen: dict[str, int] = {}
        for i, source in enumerate(self.sources):
            if source.name in seen:
                raise KeyProblem(f"sources[{i}].name",
                                 f"'{source.name}' is already used by sources[{seen[source.name]}]"
                                 "; source names must be unique")
            if source.name in reserved_names():
                raise KeyProblem(f"sources[{i}].name", f"'{source.name}' is reserved for the "
                                                       "job's own outputs; choose another name")
            seen[source.name] = i
        return self


def spec_model() -> type[SpecModel]:
    """The sources spec's model, for the stages registered now."""
    key = (tuple(stage_registry.STAGES.items()),
           tuple((n, s.config_model) for n, s in stage_registry.CORPUS_STAGES.items()))
    if key not in _MODELS:
        _MODELS[key] = _build_spec_model()
    return _MODELS[key]


_MODELS: dict[tuple, type[SpecModel]] = {}


def _build_spec_model() -> type[SpecModel]:
    steps = {name: (switch(model_from_signature(f"{name}_parameters", cls)), None)
             for name, cls in stage_registry.STAGES.items()}
    stages = pydantic.create_model("Stages", __base__=SpecModel, **steps)
    stages.__doc__ = ("Per-document steps: true (on), false (off) or a mapping of parameters "
                      "(on, with these values)")
    source = pydantic.create_model("Source", __base__=SourceModel, stages=(stages, stages()))
    corpus = {name: (switch(stage.config_model) if stage.config_model else Any, None)
              for name, stage in stage_registry.CORPUS_STAGES.items()}
    model = pydantic.create_model(
        "SourcesSpec", __base__=SpecBase, stages=(stages, stages()),
        sources=(Annotated[list[source], Field(min_length=1)], ...), **corpus)
    model.__doc__ = "The prep job's sources spec (pipeline/spec.py)."
    return model


def json_schema() -> dict[str, Any]:
    """The sources spec's JSON schema (published in docs/schemas/)."""
    return spec_model().model_json_schema()


def load_spec(path: str) -> PrepSpec:
    """Reads and validates a spec file; relative paths in it are relative to the file."""
    try:
        raw = yaml.safe_load(_read_text(path))
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a YAML text file (not UTF-8: {e.reason} at byte "
                        f"{e.start})") from None
    except OSError as e:  # a folder, no permission
        raise SpecError(f"{path}: cannot read the spec file: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {e}") from None
    if "://" in path:
        base_dir = path.rsplit("/", 1)[0]
    else:
        base_dir = os.path.dirname(os.path.abspath(path))
    return parse_spec(raw, path=path, base_dir=base_dir)


def _read_text(path: str) -> str:
    """Local files directly; gs:// and other Beam filesystems through FileSystems."""
    if "://" not in path:
        with open(path, encoding="utf-8") as f:
            return f.read()
    if not FileSystems.exists(path):
        raise FileNotFoundError(path)
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def parse_spec(raw: Any, *, path: str = "<spec>", base_dir: str | None = None) -> PrepSpec:
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping with a 'sources' list, got {kind(raw)}")
    model = parse_model(spec_model(), raw, file=path)
    global_stages = raw.get("stages") or {}
    sources = tuple(_source(entry, raw["sources"][i].get("stages") or {}, global_stages,
                            base_dir) for i, entry in enumerate(model.sources))
    context = SectionContext(path=path, base_dir=base_dir,
                             source_names=tuple(s.name for s in sources))
    corpus_configs = {}
    for name, stage in stage_registry.CORPUS_STAGES.items():
        config = stage.parse(raw.get(name), context)
        if config is not None:
            corpus_configs[name] = config
    return PrepSpec(
        sources=sources, seed=model.seed, validation_fraction=model.validation_fraction,
        rejected_sample_rate=model.rejected_sample_rate, train_shards=model.shards.train,
        validation_shards=model.shards.validation, corpus_configs=corpus_configs, path=path,
        max_rule_drop_share=model.max_rule_drop_share,
    )


def _source(entry: SourceModel, source_stages: dict, global_stages: dict,
            base_dir: str | None) -> SourceSpec:
    """A validated source entry, with its paths resolved and its stages resolved from the
    defaults and the spec's own (unconverted) overrides."""
    is_code = entry.role == "code" or entry.format == "code_dir"
    tfds = entry.format == "tfds"
    return SourceSpec(
        name=entry.name, role=entry.role, format=entry.format,
        paths=() if tfds else tuple(resolve_path(p, base_dir) for p in entry.paths),
        text_field=entry.text_field, id_field=entry.id_field, url_field=entry.url_field,
        languages=entry.languages,
        extensions=tuple(e if e.startswith(".") else f".{e}" for e in entry.extensions),
        tfds_name=entry.dataset if tfds else None, tfds_split=entry.split if tfds else "train",
        tfds_data_dir=resolve_path(entry.data_dir, base_dir) if tfds else None,
        stages=stage_registry.resolve_stages(is_code, entry.role, global_stages, source_stages),
        allow_empty=entry.allow_empty,
    )
