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

import copy
import dataclasses
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from pipeline import stage_registry
from pipeline.dedup.config import (DEFAULT_ROLE_PREFERENCE, DISABLED, KEEP_RULES, SHINGLES,
                                   DedupConfig, ExactConfig, NearConfig)

if TYPE_CHECKING:  # imported lazily below: both modules import SpecError from here
    from pipeline.decontamination import DecontaminationConfig
    from pipeline.quality_classifier import QualityClassifierConfig

PALM_ROLES = ("conversations", "webpages", "books", "code", "wikipedia", "news")
FORMATS = ("jsonl", "parquet", "text_dir", "code_dir", "warc", "wet", "tfds")
# Bumped whenever a change to the code changes what a given spec produces, so reruns redo work.
PIPELINE_VERSION = "1"


class SpecError(ValueError):
    """An invalid spec: the message names the file, the key and what was expected."""


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
    sources: tuple[SourceSpec, ...]
    seed: int = 0
    validation_fraction: float = 0.01
    rejected_sample_rate: float = 1.0
    train_shards: int = 4
    validation_shards: int = 1
    dedup: DedupConfig = DedupConfig()
    quality_classifier: "QualityClassifierConfig | None" = None
    decontamination: "DecontaminationConfig | None" = None
    path: str = ""

    @property
    def corpus_stages_on(self) -> bool:
        """Whether any stage sees all sources at once (then sources depend on each other)."""
        return (self.dedup.enabled or self.quality_classifier is not None
                or self.decontamination is not None)

    def corpus_fingerprint(self) -> dict[str, Any]:
        """What the corpus stages depend on beyond the spec text: the quality model's version
        and each evaluation set's SHA-256 (read from disk each call, so an edited file counts)."""
        out: dict[str, Any] = {}
        if self.dedup.enabled:
            out["dedup"] = self.dedup.to_json()
        if self.quality_classifier is not None:
            out["quality_classifier"] = self.quality_classifier.fingerprint()
        if self.decontamination is not None:
            out["decontamination"] = self.decontamination.fingerprint()
        return out

    def source_config_hash(self, source: SourceSpec,
                           corpus_fingerprint: dict[str, Any] | None = None) -> str:
        """Hash of everything that determines a source's outputs (not where the spec lives).

        With a corpus stage on (dedup, quality classifier, decontamination), sources depend on
        each other (a copy is removed from one source because another holds the keeper; the
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
            fingerprint = (self.corpus_fingerprint() if corpus_fingerprint is None
                           else corpus_fingerprint)
            # Dedup alone keeps the keys it always had, so existing outputs stay complete.
            if self.dedup.enabled:
                payload["dedup"] = fingerprint["dedup"]
            payload.update({k: v for k, v in fingerprint.items() if k != "dedup"})
            payload["dedup_sources"] = [s.to_json() for s in self.sources]
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


_TOP_KEYS = {"seed", "validation_fraction", "rejected_sample_rate", "shards", "stages", "sources",
             "dedup", "quality_classifier", "decontamination"}
# Folder names in the output directory that are not sources.
RESERVED_NAMES = {"dedup", "quality_classifier", "decontamination", "_staging"}
_SOURCE_KEYS = {
    "name", "role", "format", "paths", "text_field", "id_field", "url_field", "languages",
    "extensions", "stages", "dataset", "split", "data_dir",
}


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
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        raise FileNotFoundError(path)
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def parse_spec(raw: Any, *, path: str = "<spec>", base_dir: str | None = None) -> PrepSpec:
    where = _Where(path)
    if not isinstance(raw, dict):
        raise where.error("", f"expected a mapping with a 'sources' list, got {_kind(raw)}")
    where.unknown_keys("", raw, _TOP_KEYS)
    if "sources" not in raw:
        raise where.error("sources", "missing: list at least one source")
    sources_raw = raw["sources"]
    if not isinstance(sources_raw, list) or not sources_raw:
        raise where.error("sources", f"expected a non-empty list, got {_kind(sources_raw)}")

    seed = where.typed("seed", raw.get("seed", 0), int)
    fraction = where.fraction("validation_fraction", raw.get("validation_fraction", 0.01))
    sample_rate = where.fraction("rejected_sample_rate", raw.get("rejected_sample_rate", 1.0))
    shards = raw.get("shards", {}) or {}
    if not isinstance(shards, dict):
        raise where.error("shards", f"expected a mapping like {{train: 4, validation: 1}}, "
                                    f"got {_kind(shards)}")
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
        if source.name in RESERVED_NAMES:
            raise where.error(f"sources[{i}].name", f"'{source.name}' is reserved for the "
                                                    "job's own outputs; choose another name")
        seen[source.name] = i
        sources.append(source)
    dedup = _parse_dedup(where, raw.get("dedup", True))
    names = [s.name for s in sources]
    quality = _parse_quality_classifier(where, raw.get("quality_classifier"), names, base_dir)
    decontamination = _parse_decontamination(where, raw.get("decontamination"), names, base_dir)
    return PrepSpec(
        sources=tuple(sources), seed=seed, validation_fraction=fraction,
        rejected_sample_rate=sample_rate, train_shards=train_shards,
        validation_shards=validation_shards, dedup=dedup, quality_classifier=quality,
        decontamination=decontamination, path=path,
    )


def _with_file(where: "_Where", error: SpecError) -> SpecError:
    """The config classes name the key path; the spec adds which file holds it."""
    message = str(error)
    return error if message.startswith(f"{where.path}:") else SpecError(f"{where.path}: {message}")


def _parse_quality_classifier(where: "_Where", raw: Any, names: list[str],
                              base_dir: str | None) -> "QualityClassifierConfig | None":
    """The `quality_classifier:` section; absent, null or false = off."""
    if raw is None or raw is False:
        return None
    from pipeline.quality_classifier import STAGE, QualityClassifierConfig

    try:
        config = QualityClassifierConfig.from_mapping(raw, STAGE, base_dir)
        config.check_sources(names, STAGE)
    except SpecError as e:
        raise _with_file(where, e) from None
    return config


def _parse_decontamination(where: "_Where", raw: Any, names: list[str],
                           base_dir: str | None) -> "DecontaminationConfig | None":
    """The `decontamination:` section; absent, null or false = off."""
    if raw is None or raw is False:
        return None
    from pipeline.decontamination import STAGE, DecontaminationConfig

    try:
        config = DecontaminationConfig.from_mapping(raw, STAGE, base_dir)
        config.check_sources(names, STAGE)
    except SpecError as e:
        raise _with_file(where, e) from None
    return config


def _parse_dedup(where: "_Where", raw: Any) -> DedupConfig:
    """The `dedup:` section; true/absent = defaults, false = off."""
    if raw is True or raw is None:
        return DedupConfig()
    if raw is False:
        return DISABLED
    if not isinstance(raw, dict):
        raise where.error("dedup", f"expected true, false or a mapping with keep, "
                                   f"role_preference, exact, near; got {_kind(raw)}")
    where.unknown_keys("dedup", raw, {"keep", "role_preference", "exact", "near"})
    keep = where.typed("dedup.keep", raw.get("keep", "smallest_id"), str)
    if keep not in KEEP_RULES:
        raise where.error("dedup.keep", f"'{keep}' is not one of {', '.join(KEEP_RULES)}")
    roles = _str_list(where, "dedup.role_preference",
                      raw.get("role_preference", list(DEFAULT_ROLE_PREFERENCE)))
    if len(set(roles)) != len(roles):
        raise where.error("dedup.role_preference", "a role is listed twice")
    exact = _parse_section(where, "dedup.exact", raw.get("exact", True), ExactConfig)
    near = _parse_section(where, "dedup.near", raw.get("near", True), NearConfig)
    if near is not None:
        _check_near(where, near)
    return DedupConfig(keep=keep, role_preference=roles, exact=exact, near=near)


def _parse_section(where: "_Where", key: str, raw: Any, cls: type) -> Any:
    if raw is True or raw is None:
        return cls()
    if raw is False:
        return None
    if not isinstance(raw, dict):
        raise where.error(key, f"expected true, false or a mapping of parameters, "
                               f"got {_kind(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for name, value in raw.items():
        if name not in fields:
            raise where.error(f"{key}.{name}", f"unknown parameter; expected one of "
                                               f"{', '.join(sorted(fields))}")
        default = fields[name].default
        if default is None:  # bands / rows: an optional positive integer
            if value is not None:
                where.positive_int(f"{key}.{name}", value)
        elif not _matches(value, type(default)):
            raise where.error(f"{key}.{name}", f"expected {type(default).__name__}, "
                                               f"got {_kind(value)}")
        values[name] = float(value) if isinstance(default, float) else value
    return cls(**values)


def _check_near(where: "_Where", near: NearConfig) -> None:
    if near.shingle not in SHINGLES:
        raise where.error("dedup.near.shingle", f"'{near.shingle}' is not one of "
                                                f"{', '.join(SHINGLES)}")
    for name in ("ngram", "num_perm", "max_bucket_exhaustive", "bucket_anchors",
                 "component_rounds"):
        where.positive_int(f"dedup.near.{name}", getattr(near, name))
    for name in ("threshold", "code_edit_similarity"):
        value = getattr(near, name)
        if not 0.0 < value <= 1.0:
            raise where.error(f"dedup.near.{name}", f"expected a number in (0, 1], got {value}")
    for name in ("false_positive_weight", "false_negative_weight"):
        if getattr(near, name) < 0:
            raise where.error(f"dedup.near.{name}", "expected a non-negative number")
    if (near.bands is None) != (near.rows is None):
        raise where.error("dedup.near.bands" if near.bands is None else "dedup.near.rows",
                          "give both bands and rows, or neither (then they are derived from "
                          "threshold and num_perm)")
    if near.bands is not None and near.bands * near.rows > near.num_perm:
        raise where.error("dedup.near.bands", f"bands x rows = {near.bands * near.rows} "
                                              f"exceeds num_perm = {near.num_perm}")
    if near.bands is None and near.threshold >= 1.0:
        raise where.error("dedup.near.threshold", "a threshold of 1.0 cannot derive bands "
                                                  "and rows; give them explicitly")


def _parse_source(where: "_Where", key: str, entry: Any, global_stages: dict,
                  base_dir: str | None) -> SourceSpec:
    if not isinstance(entry, dict):
        raise where.error(key, f"expected a mapping with name, role, format and paths, "
                               f"got {_kind(entry)}")
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
        tfds_data_dir = _resolve(where.typed(f"{key}.data_dir", entry["data_dir"], str), base_dir)
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
        paths = tuple(_resolve(p, base_dir) for p in raw_paths)

    languages = _str_list(where, f"{key}.languages", entry.get("languages", []))
    extensions = _str_list(where, f"{key}.extensions", entry.get("extensions", []))
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


def _check_stage_overrides(where: "_Where", key: str, overrides: Any) -> None:
    if not isinstance(overrides, dict):
        raise where.error(key, f"expected a mapping of stage name to true/false or parameters, "
                               f"got {_kind(overrides)}")
    for stage, value in overrides.items():
        if stage not in stage_registry.STAGES:
            raise where.error(f"{key}.{stage}", f"unknown stage; known stages: "
                                                f"{', '.join(stage_registry.STAGES)}")
        if isinstance(value, bool) or value is None:
            continue
        if not isinstance(value, dict):
            raise where.error(f"{key}.{stage}", f"expected true, false or a mapping of "
                                                f"parameters, got {_kind(value)}")
        allowed = stage_registry.stage_parameters(stage)
        for param, param_value in value.items():
            if param not in allowed:
                raise where.error(f"{key}.{stage}.{param}",
                                  f"unknown parameter; {stage} takes: {', '.join(sorted(allowed))}")
            expected = allowed[param]
            if expected is not None and not _matches(param_value, expected):
                raise where.error(f"{key}.{stage}.{param}",
                                  f"expected {expected.__name__}, got {_kind(param_value)}")


def _matches(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected in (tuple, list):
        return isinstance(value, (list, tuple))
    return isinstance(value, expected)


def _resolve(path: str, base_dir: str | None) -> str:
    if base_dir is None or "://" in path or os.path.isabs(path):
        return path
    if "://" in base_dir:
        return f"{base_dir}/{path}"
    return os.path.normpath(os.path.join(base_dir, path))


def _str_list(where: "_Where", key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(key, f"expected a list of strings, got {_kind(value)}")
    return tuple(value)


def _opt_str(where: "_Where", key: str, value: Any) -> str | None:
    return None if value is None else where.typed(key, value, str)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value, default=str)[:60]}"


class _Where:
    """Builds errors that name the spec file and the key path."""

    def __init__(self, path: str):
        self.path = path

    def error(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {key + ': ' if key else ''}{message}")

    def unknown_keys(self, key: str, mapping: dict, allowed: set[str]) -> None:
        for k in mapping:
            if k not in allowed:
                prefix = f"{key}.{k}" if key else str(k)
                raise self.error(prefix, f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def typed(self, key: str, value: Any, expected: type) -> Any:
        if not _matches(value, expected):
            raise self.error(key, f"expected {expected.__name__}, got {_kind(value)}")
        return value

    def fraction(self, key: str, value: Any) -> float:
        if not _matches(value, float) or not 0.0 <= value <= 1.0:
            raise self.error(key, f"expected a number between 0 and 1, got {_kind(value)}")
        return float(value)

    def positive_int(self, key: str, value: Any) -> int:
        if not _matches(value, int) or value < 1:
            raise self.error(key, f"expected a positive integer, got {_kind(value)}")
        return value


def with_overrides(spec: PrepSpec, **changes: Any) -> PrepSpec:
    """A copy of the spec with top-level fields replaced (used by tests and benchmarks)."""
    return dataclasses.replace(copy.deepcopy(spec), **changes)
