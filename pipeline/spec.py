"""The prep job's sources spec: parsed from YAML, validated before any pipeline starts.

A spec names the sources to read and, for each, which cleaning stages run with which
parameters. Every mistake is reported with the key path that holds it and what was expected,
e.g. `sources[2].format: 'jsonll' is not one of jsonl, parquet, ...`.

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
from typing import Any, Mapping

import yaml
from apache_beam.io.filesystems import FileSystems

from pipeline import stage_registry
from pipeline.corpus_stage import SectionContext
from pipeline.validation import SpecError, Where, kind, matches, resolve_path

__all__ = ["FORMATS", "PIPELINE_VERSION", "PrepSpec", "SourceSpec", "SpecError", "load_spec",
           "parse_spec"]

FORMATS = ("jsonl", "parquet", "text_dir", "code_dir", "warc", "wet", "tfds")
# Bumped whenever a change to the code changes what a given spec produces, so reruns redo work.
PIPELINE_VERSION = "1"


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


_SPEC_KEYS = {"seed", "validation_fraction", "rejected_sample_rate", "shards", "stages",
              "sources"}
_SOURCE_KEYS = {
    "name", "role", "format", "paths", "text_field", "id_field", "url_field", "languages",
    "extensions", "stages", "dataset", "split", "data_dir",
}


def reserved_names() -> set[str]:
    """Folder names in the output directory that are not sources."""
    return set(stage_registry.CORPUS_STAGES) | {"_staging"}


def load_spec(path: str) -> PrepSpec:
    """Reads and validates a spec file; relative paths in it are relative to the file."""
    try:
        raw = yaml.safe_load(_read_text(path))
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
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
    where = Where(path)
    if not isinstance(raw, dict):
        raise where.error("", f"expected a mapping with a 'sources' list, got {kind(raw)}")
    where.unknown_keys("", raw, _SPEC_KEYS | set(stage_registry.CORPUS_STAGES))
    if "sources" not in raw:
        raise where.error("sources", "missing: list at least one source")
    sources_raw = raw["sources"]
    if not isinstance(sources_raw, list) or not sources_raw:
        raise where.error("sources", f"expected a non-empty list, got {kind(sources_raw)}")

    seed = where.typed("seed", raw.get("seed", 0), int)
    fraction = where.fraction("validation_fraction", raw.get("validation_fraction", 0.01))
    sample_rate = where.fraction("rejected_sample_rate", raw.get("rejected_sample_rate", 1.0))
    shards = raw.get("shards", {}) or {}
    if not isinstance(shards, dict):
        raise where.error("shards", f"expected a mapping like {{train: 4, validation: 1}}, "
                                    f"got {kind(shards)}")
    where.unknown_keys("shards", shards, {"train", "validation"})
    train_shards = where.positive_int("shards.train", shards.get("train", 4))
    validation_shards = where.positive_int("shards.validation", shards.get("validation", 1))

    global_stages = raw.get("stages", {}) or {}
    _check_stage_overrides(where, "stages", global_stages)

    sources = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(sources_raw):
        source = _parse_source(where, f"sources[{i}]", entry, global_stages, base_dir)
        if source.name in seen:
            raise where.error(f"sources[{i}].name",
                              f"'{source.name}' is already used by sources[{seen[source.name]}]; "
                              "source names must be unique")
        if source.name in reserved_names():
            raise where.error(f"sources[{i}].name", f"'{source.name}' is reserved for the "
                                                    "job's own outputs; choose another name")
        seen[source.name] = i
        sources.append(source)
    context = SectionContext(path=path, base_dir=base_dir,
                             source_names=tuple(s.name for s in sources))
    corpus_configs = {}
    for name, stage in stage_registry.CORPUS_STAGES.items():
        config = stage.parse(raw.get(name), context)
        if config is not None:
            corpus_configs[name] = config
    return PrepSpec(
        sources=tuple(sources), seed=seed, validation_fraction=fraction,
        rejected_sample_rate=sample_rate, train_shards=train_shards,
        validation_shards=validation_shards, corpus_configs=corpus_configs, path=path,
    )


def _parse_source(where: Where, key: str, entry: Any, global_stages: dict,
                  base_dir: str | None) -> SourceSpec:
    if not isinstance(entry, dict):
        raise where.error(key, f"expected a mapping with name, role, format and paths, "
                               f"got {kind(entry)}")
    where.unknown_keys(key, entry, _SOURCE_KEYS)
    for required in ("name", "role", "format"):
        if required not in entry:
            raise where.error(f"{key}.{required}", "missing")
    name = where.typed(f"{key}.name", entry["name"], str)
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise where.error(f"{key}.name", f"'{name}' must be non-empty and use only letters, "
                                         "digits, '-', '_' and '.' (it names a folder)")
    role = where.typed(f"{key}.role", entry["role"], str)
    fmt = where.typed(f"{key}.format", entry["format"], str)
    if fmt not in FORMATS:
        raise where.error(f"{key}.format", f"'{fmt}' is not one of {', '.join(FORMATS)}")

    tfds_name = tfds_data_dir = None
    tfds_split = "train"
    if fmt == "tfds":
        if "dataset" not in entry:
            raise where.error(f"{key}.dataset", "missing: tfds sources name a dataset, "
                                                "e.g. 'my_corpus:1.0.0'")
        tfds_name = where.typed(f"{key}.dataset", entry["dataset"], str)
        tfds_split = where.typed(f"{key}.split", entry.get("split", "train"), str)
        if "data_dir" not in entry:
            raise where.error(f"{key}.data_dir", "missing: tfds sources read a prepared dataset "
                                                 "from a local data_dir (nothing is downloaded)")
        tfds_data_dir = resolve_path(where.typed(f"{key}.data_dir", entry["data_dir"], str),
                                     base_dir)
        paths: tuple[str, ...] = ()
    else:
        if "paths" not in entry:
            raise where.error(f"{key}.paths", "missing: list files, globs or folders")
        raw_paths = entry["paths"]
        if isinstance(raw_paths, str):
            raw_paths = [raw_paths]
        if not isinstance(raw_paths, list) or not raw_paths or not all(
                isinstance(p, str) and p for p in raw_paths):
            raise where.error(f"{key}.paths", "expected a non-empty list of path strings")
        paths = tuple(resolve_path(p, base_dir) for p in raw_paths)

    languages = where.str_list(f"{key}.languages", entry.get("languages", []))
    extensions = where.str_list(f"{key}.extensions", entry.get("extensions", []))
    source_stages = entry.get("stages", {}) or {}
    _check_stage_overrides(where, f"{key}.stages", source_stages)
    is_code = role == "code" or fmt == "code_dir"
    stages = stage_registry.resolve_stages(is_code, role, global_stages, source_stages)
    return SourceSpec(
        name=name, role=role, format=fmt, paths=paths,
        text_field=where.typed(f"{key}.text_field", entry.get("text_field", "text"), str),
        id_field=_opt_str(where, f"{key}.id_field", entry.get("id_field")),
        url_field=_opt_str(where, f"{key}.url_field", entry.get("url_field")),
        languages=languages,
        extensions=tuple(e if e.startswith(".") else f".{e}" for e in extensions),
        tfds_name=tfds_name, tfds_split=tfds_split, tfds_data_dir=tfds_data_dir,
        stages=stages,
    )


def _check_stage_overrides(where: Where, key: str, overrides: Any) -> None:
    if not isinstance(overrides, dict):
        raise where.error(key, f"expected a mapping of stage name to true/false or parameters, "
                               f"got {kind(overrides)}")
    for stage, value in overrides.items():
        if stage not in stage_registry.STAGES:
            raise where.error(f"{key}.{stage}", f"unknown stage; known stages: "
                                                f"{', '.join(stage_registry.STAGES)}")
        if isinstance(value, bool) or value is None:
            continue
        if not isinstance(value, dict):
            raise where.error(f"{key}.{stage}", f"expected true, false or a mapping of "
                                                f"parameters, got {kind(value)}")
        allowed = stage_registry.stage_parameters(stage)
        for param, param_value in value.items():
            if param not in allowed:
                raise where.error(f"{key}.{stage}.{param}",
                                  f"unknown parameter; {stage} takes: {', '.join(sorted(allowed))}")
            expected = allowed[param]
            if expected is not None and not matches(param_value, expected):
                raise where.error(f"{key}.{stage}.{param}",
                                  f"expected {expected.__name__}, got {kind(param_value)}")


def _opt_str(where: Where, key: str, value: Any) -> str | None:
    return None if value is None else where.typed(key, value, str)
