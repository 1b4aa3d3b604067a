"""Corpus stages: steps that see every source's documents at once.

The prep job runs each source's per-document stages on its own, then flattens all sources'
kept documents into one collection and applies the corpus stages below in order, then splits
the result back per source for writing. A corpus stage is any PTransform

    docs -> (kept docs, rejected records)

whose rejected records come from `pipeline.stages.rejected_record` (or
`pipeline.dedup.exact.duplicate_record`) with a reason `<stage>.<why>`, and which counts its
drops per source as `drop.<stage>.<why>` in the Beam namespace `prep.<source>`: the manifests,
the report's funnel and the rejected shards pick them up with no further change. A stage that
produces a corpus-level summary writes it under the staging folder it is given
(`<output_dir>/_staging/<stage>/`); the job publishes that folder to `<output_dir>/<stage>/`
after the run succeeded.

`build_corpus_stages` returns the list, in the order of DESIGN.md's flow: exact dedup, near
dedup (exact removal is cheap and shrinks what near dedup hashes), the quality classifier,
decontamination (last, so it checks exactly what is written). One exception: with
`dedup.keep: quality_score` the quality classifier runs first, because dedup's keeper rule
reads the `meta["quality_score"]` the classifier sets; its filtering (threshold or Pareto) then
also happens before dedup, so dedup compares only the documents the classifier kept.

Because a corpus stage makes sources depend on each other, the config hash of every source
covers every source's config whenever a corpus stage is on (pipeline/spec.py), and the job
reruns all sources or none.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.dedup import stats
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.near import NearDedup
from pipeline import quality_classifier
from pipeline.decontamination import Decontaminate
from pipeline.quality_classifier import QualityClassifier
from pipeline.spec import PrepSpec

# Stage name (the first part of its drop reasons) -> its folder under the staging root and,
# once the job succeeded, under the output directory.
SUMMARY_FOLDER = {"dedup": "dedup", "quality_classifier": "quality_classifier",
                  "decontamination": "decontamination"}
CORPUS_STAGE_NAMES = ("dedup", "quality_classifier", "decontamination")


def stage_names(spec: PrepSpec) -> list[str]:
    """The corpus stages this spec switches on, in the order they run."""
    names = []
    quality_first = spec.quality_classifier is not None and spec.dedup.enabled and \
        spec.dedup.keep == "quality_score"
    if quality_first:
        names.append("quality_classifier")
    if spec.dedup.enabled:
        names.append("dedup")
    if spec.quality_classifier is not None and not quality_first:
        names.append("quality_classifier")
    if spec.decontamination is not None:
        names.append("decontamination")
    return names


class _WithSummary(beam.PTransform):
    """Runs a transform returning (kept, rejected, summary) and writes the summary as JSON."""

    def __init__(self, transform: beam.PTransform, summary_path: str, label: str):
        super().__init__(label=label)
        self.transform = transform
        self.summary_path = summary_path

    def expand(self, docs):
        kept, rejected, summary = docs | self.transform
        path = self.summary_path
        _ = summary | "WriteSummary" >> beam.Map(lambda s: stats.write_json(path, s))
        return kept, rejected


def build_corpus_stages(spec: PrepSpec, staging_root: str) -> list[beam.PTransform]:
    """The corpus stages of this spec, in order; each maps docs -> (kept, rejected)."""
    stages: list[beam.PTransform] = []
    for name in stage_names(spec):
        stats_dir = FileSystems.join(staging_root, SUMMARY_FOLDER[name])
        if name == "dedup":
            stages += _dedup_stages(spec, stats_dir)
        elif name == "quality_classifier":
            stages.append(QualityClassifier(spec.quality_classifier, stats_dir,
                                            label="quality_classifier"))
        else:
            stages.append(Decontaminate(spec.decontamination, stats_dir,
                                        label="decontamination"))
    return stages


def _dedup_stages(spec: PrepSpec, summary_dir: str) -> list[beam.PTransform]:
    dedup = spec.dedup
    stages: list[beam.PTransform] = []
    if dedup.exact is not None:
        stages.append(_WithSummary(ExactDedup(dedup, label="exact"),
                                   FileSystems.join(summary_dir, "exact.json"),
                                   label="dedup/exact"))
    if dedup.near is not None:
        code_sources = frozenset(s.name for s in spec.sources if s.is_code)
        stages.append(_WithSummary(NearDedup(dedup, code_sources, label="near"),
                                   FileSystems.join(summary_dir, "near.json"),
                                   label="dedup/near"))
    return stages


def summary_folders(spec: PrepSpec) -> list[str]:
    """The staging sub-folders that this spec's corpus stages write summaries into."""
    return [SUMMARY_FOLDER[name] for name in stage_names(spec)]


def publish_folder(output_dir: str, folder: str) -> None:
    """Moves `<output_dir>/_staging/<folder>/` to `<output_dir>/<folder>/` (replacing it)."""
    staged = FileSystems.join(output_dir, "_staging", folder)
    final = FileSystems.join(output_dir, folder)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.mkdirs(final)
    names = sorted(m.path.rsplit("/", 1)[-1] for m in
                   FileSystems.match([FileSystems.join(staged, "*")])[0].metadata_list)
    if names:
        FileSystems.rename([FileSystems.join(staged, n) for n in names],
                           [FileSystems.join(final, n) for n in names])
    FileSystems.delete([staged])
    if folder == SUMMARY_FOLDER["quality_classifier"]:
        _point_model_record_at(final)


def _point_model_record_at(final: str) -> None:
    """quality_model.json names the trained model's path; after the move that is `final`."""
    record_path = FileSystems.join(final, quality_classifier.MODEL_STATS_FILE)
    if not FileSystems.exists(record_path):
        return
    with FileSystems.open(record_path) as f:
        record = json.loads(f.read().decode("utf-8"))
    if record.get("trained"):
        record["model_path"] = FileSystems.join(final, quality_classifier.MODEL_FILE)
        with FileSystems.create(record_path) as f:
            f.write(json.dumps(record, indent=2, sort_keys=True).encode("utf-8"))


def apply_corpus_stages(docs, stages: list[beam.PTransform]) -> tuple[Any, list]:
    """docs -> (kept docs, [rejected records of each stage]), the stages applied in order."""
    rejected = []
    for stage in stages:
        docs, dropped = docs | stage
        rejected.append(dropped)
    return docs, rejected
