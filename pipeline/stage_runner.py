"""Runs the corpus stages a spec switches on: order, Beam wiring, publishing, report data.

The prep job runs each source's per-document steps on its own, then flattens all sources'
kept documents into one collection and applies the corpus stages in order, then splits the
result back per source for writing. Every stage is found through
`pipeline.registry.CORPUS_STAGES` and used only through the interface of
`pipeline.corpus_stage.CorpusStage`; nothing here names a stage.

Because a corpus stage makes sources depend on each other, the config hash of every source
covers every source's config whenever a corpus stage is on (pipeline/spec.py), and the job
reruns all sources or none.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import publish, registry
from pipeline.corpus_stage import CorpusStage, JobFacts, StageDirs, write_summaries
from pipeline.spec import PrepSpec


def run_order(active: dict[str, Any]) -> list[str]:
    """The active stages' names in registry order, each moved after the stages it must follow
    (`runs_after`)."""
    order = [name for name in registry.CORPUS_STAGES if name in active]
    for _ in range(len(order) + 1):  # +1: an empty or settled order returns at once
        moved = False
        for name in list(order):
            stage = registry.CORPUS_STAGES[name]
            after = [order.index(a) for a in stage.runs_after(active[name], active)
                     if a in active]
            if after and max(after) > order.index(name):
                order.remove(name)
                order.insert(max(after), name)  # right after the last one it must follow
                moved = True
        if not moved:
            return order
    raise ValueError(f"corpus stages {order} ask to run after each other in a circle")


def stage_names(spec: PrepSpec) -> list[str]:
    """The corpus stages this spec switches on, in the order they run."""
    return run_order(dict(spec.corpus_configs))


class _RunStage(beam.PTransform):
    """One corpus stage: docs -> (kept, rejected); its summaries are written to staging."""

    def __init__(self, stage: CorpusStage, config: Any, spec: PrepSpec, dirs: StageDirs,
                 prepared=None):
        super().__init__(label=stage.name)
        self.stage = stage
        self.config = config
        self.spec = spec
        self.dirs = dirs
        self.prepared = prepared

    def expand(self, docs):
        extra = {"prepared": self.prepared} if self.prepared is not None else {}
        kept, rejected, summaries = self.stage.expand(docs, self.config, self.spec, self.dirs,
                                                      **extra)
        write_summaries(summaries, self.dirs.staging, **self.stage.json_format)
        return kept, rejected


def stage_dirs(output_dir: str, name: str) -> StageDirs:
    return StageDirs(staging=publish.staging_dir(output_dir, name),
                     published=FileSystems.join(output_dir, name))


def _stages_to_run(spec: PrepSpec, skip: tuple[str, ...]) -> list[str]:
    return [name for name in stage_names(spec) if name not in skip]


def prepare_stages(refs, spec: PrepSpec, output_dir: str, *, skip: tuple[str, ...] = ()
                   ) -> dict[str, Any]:
    """What the first stage to run builds from references {source, id, loc} of the documents
    it will see, before they come (a stage with a `prepare` method: the quality classifier's
    model). {stage name: PCollection}; the caller holds the documents back until these are
    ready (`ready_signal`), so no stage's side input makes the runner buffer the documents."""
    names = _stages_to_run(spec, skip)
    if not names:
        return {}
    stage = registry.CORPUS_STAGES[names[0]]
    prepare = getattr(stage, "prepare", None)
    if prepare is None:
        return {}
    built = prepare(refs, spec.corpus_configs[names[0]], spec, stage_dirs(output_dir, names[0]))
    return {} if built is None else {names[0]: built}


def ready_signal(p: beam.Pipeline, prepared: dict[str, Any]):
    """One PCollection that exists once everything `prepared` does (a side input to wait on)."""
    signals = [pcoll | f"{name}/ready" >> beam.Map(lambda _: True)
               for name, pcoll in prepared.items()]
    if not signals:
        return p | "stages_ready" >> beam.Create([True])
    return signals | "stages_ready" >> beam.Flatten()


def apply_corpus_stages(docs, spec: PrepSpec, output_dir: str, *, skip: tuple[str, ...] = (),
                        prepared: dict[str, Any] | None = None) -> tuple[Any, list]:
    """docs -> (kept docs, [rejected records of each stage]), the stages applied in order
    (`skip`: stages the prep job already applied on references; `prepared`: what
    `prepare_stages` built)."""
    rejected = []
    prepared = prepared or {}
    for name in _stages_to_run(spec, skip):
        dirs = stage_dirs(output_dir, name)
        docs, dropped = docs | _RunStage(registry.CORPUS_STAGES[name],
                                         spec.corpus_configs[name], spec, dirs,
                                         prepared.get(name))
        rejected.append(dropped)
    return docs, rejected


def prepare_staging(spec: PrepSpec, output_dir: str) -> None:
    for name in stage_names(spec):
        publish.prepare_staging(output_dir, name)


def publish_stages(spec: PrepSpec, output_dir: str, job: JobFacts) -> None:
    """After a successful run: each stage adds its driver-side facts, then is published."""
    for name in stage_names(spec):
        stage = registry.CORPUS_STAGES[name]
        stage.finish(spec.corpus_configs[name], publish.staging_dir(output_dir, name), job)
        publish.publish_folder(output_dir, name)


def manifest_entries(counters: dict[str, int]) -> dict[str, Any]:
    """Each registered stage's entry in a source's manifest."""
    return {name: stage.manifest_counts(counters)
            for name, stage in registry.CORPUS_STAGES.items()}


def report_data(spec: PrepSpec, output_dir: str) -> dict[str, Any]:
    """Each registered stage's published report data ({} for a stage that is off)."""
    active = spec.corpus_configs
    return {name: stage.report_data(FileSystems.join(output_dir, name)) if name in active else {}
            for name, stage in registry.CORPUS_STAGES.items()}
