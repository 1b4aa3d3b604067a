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

import html
import logging
from typing import Any, Collection, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import corpus_stage_charts, json_files
from pipeline.corpus_stage import CorpusStage, JobFacts, SectionContext, StageDirs, StageOutput
from pipeline.dedup import stats
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.exact import NAMESPACE, ExactDedup
from pipeline.dedup.near import NearDedup
from pipeline.validation import parse_switch

log = logging.getLogger(__name__)
NAME = "dedup"


class DedupStage(CorpusStage):
    name = NAME
    title = "Deduplication"
    config_model = DedupConfig
    json_format = {"indent": 1, "ensure_ascii": False}

    def parse(self, raw: Any, context: SectionContext) -> DedupConfig | None:
        config = parse_switch(DedupConfig, raw, file=context.path, key=NAME)
        return config if config is not None and config.enabled else None

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

    def expand_refs(self, stashed, config: DedupConfig, stash_dir: str):
        """The same decisions on references (pipeline/dedup/by_ref.py), when dedup is the
        first corpus stage. `stashed`: (packed exact keys, chunk ids), each a tuple of
        PCollections (pipeline/by_reference.py StashFn). ([drop records], summaries)."""
        from pipeline.dedup.by_ref import ExactDedupRefs, NearDedupRefs

        exact_keys, chunks = stashed
        summaries: dict[str, Any] = {}
        drops, dropped = [], None
        if config.exact is not None:
            exact_drops, dropped, summaries["exact.json"] = exact_keys | ExactDedupRefs(
                stash_dir, label="exact")
            drops.append(exact_drops)
        if config.near is not None:
            near_drops, summaries["near.json"] = (chunks, dropped) | NearDedupRefs(
                config, stash_dir, label="near")
            drops.append(near_drops)
        return drops, summaries

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
                     f"{c.get('capped_buckets', 0):,}; {stats.rounds_in_words(comp)}.")
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
