"""The dedup corpus stage: exact dedup, then near dedup, across every source.

    dedup:                       # absent or true = both halves with defaults; false = off
      keep: smallest_id          # or preferred_role, quality_score
      exact: {lowercase: true}   # false switches exact dedup off
      near: {threshold: 0.8}     # false switches near dedup off (pipeline/dedup/config.py)

Exact removal runs first: it is cheap and shrinks what near dedup hashes. With
`keep: quality_score` the quality classifier (when on) runs before dedup, because the keeper rule
reads the `meta["quality_score"]` it sets. Summaries: `exact.json` and `near.json` (group sizes,
examples; after the run, the job's counters and the documents removed per source).
"""

from __future__ import annotations

import dataclasses
import html
import logging
from typing import Any, Collection, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import corpus_stage_charts, json_files
from pipeline.corpus_stage import CorpusStage, JobFacts, SectionContext, StageDirs, StageOutput
from pipeline.dedup import stats
from pipeline.dedup.config import (DEFAULT_ROLE_PREFERENCE, DISABLED, KEEP_RULES, SHINGLES,
                                   DedupConfig, ExactConfig, NearConfig)
from pipeline.dedup.exact import NAMESPACE, ExactDedup
from pipeline.dedup.near import NearDedup
from pipeline.validation import Where, kind, matches

log = logging.getLogger(__name__)
NAME = "dedup"


class DedupStage(CorpusStage):
    name = NAME
    title = "Deduplication"
    json_format = {"indent": 1, "ensure_ascii": False}

    def parse(self, raw: Any, context: SectionContext) -> DedupConfig | None:
        config = parse_dedup(Where(context.path), raw)
        return config if config.enabled else None

    def runs_after(self, config: DedupConfig, active: Mapping[str, Any]) -> Collection[str]:
        """The keeper rule `quality_score` reads the quality classifier's scores."""
        if config.keep == "quality_score" and "quality_classifier" in active:
            return ("quality_classifier",)
        return ()

    def expand(self, docs, config: DedupConfig, spec: Any, dirs: StageDirs) -> StageOutput:
        summaries: dict[str, Any] = {}
        rejected = []
        if config.exact is not None:
            docs, dropped, summaries["exact.json"] = docs | ExactDedup(config, label="exact")
            rejected.append(dropped)
        if config.near is not None:
            code_sources = frozenset(s.name for s in spec.sources if s.is_code)
            docs, dropped, summaries["near.json"] = docs | NearDedup(config, code_sources,
                                                                     label="near")
            rejected.append(dropped)
        return StageOutput(docs, rejected | "rejected" >> beam.Flatten(), summaries)

    def finish(self, config: DedupConfig, staged_dir: str, job: JobFacts) -> None:
        """Adds what only the driver knows: the job's counters (pairs, buckets, component
        rounds) and the documents removed per source."""
        counters = job.counters.get(NAMESPACE, {})
        for kind_ in stats.KINDS:
            path = FileSystems.join(staged_dir, f"{kind_}.json")
            summary = json_files.read_json(path)
            if summary is None:
                continue
            summary["removed_per_source"] = {
                s: job.counters.get(f"prep.{s}", {}).get(f"drop.dedup.{kind_}", 0)
                for s in job.sources}
            summary["counters"] = {k[len(kind_) + 1:]: v for k, v in sorted(counters.items())
                                   if k.startswith(f"{kind_}.")}
            if kind_ == "near":
                rounds = config.near.component_rounds
                summary["components"] = stats.component_rounds(counters, rounds)
                if not summary["components"]["converged"]:
                    log.warning("near dedup: connected components still changed in the last of "
                                "%d rounds; some clusters may be split (duplicates kept). Raise "
                                "dedup.near.component_rounds.", rounds)
            self.write_summary(path, summary)

    def manifest_counts(self, counters: Mapping[str, int]) -> dict[str, Any]:
        return {k: counters.get(f"drop.dedup.{k}", 0) for k in stats.KINDS}

    def report_section(self, data: Mapping[str, Any]) -> str:
        return dedup_section(data)


def dedup_section(dedup: Mapping[str, Any]) -> str:
    """Group-size charts, counts and example groups of exact and near dedup."""
    if not dedup:
        return ""
    e = html.escape
    parts = []
    if any(d.get("size_histogram") for d in dedup.values()):
        parts.append(corpus_stage_charts.img_tag(corpus_stage_charts.dedup_chart(dedup)))
    for kind_ in stats.KINDS:
        d = dedup.get(kind_)
        if not d:
            continue
        removed = ", ".join(f"{e(s)} {n:,}" for s, n in sorted(d["removed_per_source"].items()))
        line = (f"<p><b>{kind_}</b>: {d['groups']:,} groups holding "
                f"{d['documents_in_groups']:,} documents; {d['removed']:,} removed "
                f"({removed or 'none'}).")
        if kind_ == "near":
            c = d.get("counters", {})
            comp = d.get("components", {})
            line += (f" Candidate pairs {c.get('candidate_pairs', 0):,}, verified duplicates "
                     f"{c.get('verified_pairs', 0):,}, LSH false positives removed by "
                     f"verification {c.get('false_positive_pairs', 0):,}; capped buckets "
                     f"{c.get('capped_buckets', 0):,}; connected components "
                     f"{'converged' if comp.get('converged') else 'NOT converged'} after "
                     f"{comp.get('rounds_with_changes', 0)} of {comp.get('rounds_run', 0)} "
                     f"rounds.")
        parts.append(line + "</p>")
        groups = d.get("largest", []) + [x for x in d.get("examples", [])
                                        if x not in d.get("largest", [])]
        if groups:
            rows = []
            for g in groups:
                members = "<br>".join(
                    f"{'kept' if m['kept'] else 'removed'}: {e(m['source'])} {e(m['id'])}: "
                    f"<i>{e(m['first_line'])}</i>" for m in g["members"])
                rows.append(f"<tr><td>{g['size']}</td><td class=small>{members}</td></tr>")
            parts.append(f"<table><tr><th>size</th><th>{kind_} group (largest first, then a "
                         f"sample)</th></tr>{''.join(rows)}</table>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The `dedup:` section.

def parse_dedup(where: Where, raw: Any) -> DedupConfig:
    """true/absent = defaults, false = off (both halves switched off)."""
    if raw is True or raw is None:
        return DedupConfig()
    if raw is False:
        return DISABLED
    if not isinstance(raw, dict):
        raise where.error("dedup", f"expected true, false or a mapping with keep, "
                                   f"role_preference, exact, near; got {kind(raw)}")
    where.unknown_keys("dedup", raw, {"keep", "role_preference", "exact", "near"})
    keep = where.typed("dedup.keep", raw.get("keep", "smallest_id"), str)
    if keep not in KEEP_RULES:
        raise where.error("dedup.keep", f"'{keep}' is not one of {', '.join(KEEP_RULES)}")
    roles = where.str_list("dedup.role_preference",
                           raw.get("role_preference", list(DEFAULT_ROLE_PREFERENCE)))
    if len(set(roles)) != len(roles):
        raise where.error("dedup.role_preference", "a role is listed twice")
    exact = _parse_half(where, "dedup.exact", raw.get("exact", True), ExactConfig)
    near = _parse_half(where, "dedup.near", raw.get("near", True), NearConfig)
    if near is not None:
        _check_near(where, near)
    return DedupConfig(keep=keep, role_preference=roles, exact=exact, near=near)


def _parse_half(where: Where, key: str, raw: Any, cls: type) -> Any:
    if raw is True or raw is None:
        return cls()
    if raw is False:
        return None
    if not isinstance(raw, dict):
        raise where.error(key, f"expected true, false or a mapping of parameters, "
                               f"got {kind(raw)}")
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
        elif not matches(value, type(default)):
            raise where.error(f"{key}.{name}", f"expected {type(default).__name__}, "
                                               f"got {kind(value)}")
        values[name] = float(value) if isinstance(default, float) else value
    return cls(**values)


def _check_near(where: Where, near: NearConfig) -> None:
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
