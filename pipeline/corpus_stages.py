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

THE SEAM: `build_corpus_stages` returns the list; exact dedup and near dedup come first (in
that order: exact removal is cheap and shrinks what near dedup hashes). The quality classifier
and decontamination append their transforms after them, in the marked place.

Because a corpus stage makes sources depend on each other, the config hash of every source
covers every source's config whenever a corpus stage is on (pipeline/spec.py), and the job
reruns all sources or none.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.dedup import stats
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.near import NearDedup
from pipeline.spec import PrepSpec

SUMMARY_FOLDER = {"dedup": "dedup"}


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
    dedup = spec.dedup
    summary_dir = FileSystems.join(staging_root, SUMMARY_FOLDER["dedup"])
    if dedup.exact is not None:
        stages.append(_WithSummary(ExactDedup(dedup, label="exact"),
                                   FileSystems.join(summary_dir, "exact.json"),
                                   label="dedup/exact"))
    if dedup.near is not None:
        code_sources = frozenset(s.name for s in spec.sources if s.is_code)
        stages.append(_WithSummary(NearDedup(dedup, code_sources, label="near"),
                                   FileSystems.join(summary_dir, "near.json"),
                                   label="dedup/near"))
    # ---- SEAM: append further corpus stages here (quality classifier, decontamination),
    # ---- each a PTransform docs -> (kept docs, rejected records).
    return stages


def summary_folders(spec: PrepSpec) -> list[str]:
    """The staging sub-folders that this spec's corpus stages write summaries into."""
    return [SUMMARY_FOLDER["dedup"]] if spec.dedup.enabled else []


def apply_corpus_stages(docs, stages: list[beam.PTransform]) -> tuple[Any, list]:
    """docs -> (kept docs, [rejected records of each stage]), the stages applied in order."""
    rejected = []
    for stage in stages:
        docs, dropped = docs | stage
        rejected.append(dropped)
    return docs, rejected
