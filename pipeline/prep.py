"""The prep job: raw sources -> clean, filtered, sharded TFRecords with manifests and a report.

    python -m pipeline.prep --sources SPEC.yaml --output_dir DIR [Beam pipeline options]

Without --runner it runs on the DirectRunner in multi-processing mode with one worker per
core; any other runner is chosen by Beam's own options alone, e.g.
    --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp
    --setup_file=./setup.py   (ships this package to the workers; see BUILD.md)

Each source runs its per-document stages on its own; then all sources' documents are
flattened and go through the corpus stages (exact and near dedup, quality classifier,
decontamination: pipeline/stage_runner.py), are split back per source and written.

Sources whose outputs are already complete for the same config are skipped; --force redoes
them. With corpus stages on, sources depend on each other, so either all are skipped or all
run. The spec and every input pattern are checked before the pipeline starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import (
    allocator,
    console,
    disk_space,
    drop_warnings,
    json_files,
    output_lease,
    process_group,
    publish,
    readers,
    registry,
    report,
    shuffle_meter,
    stage_runner,
    stash,
    writers,
)
from pipeline import manifest as manifests
from pipeline.beam_counters import collect_counters
from pipeline.beam_flags import FlagError, check_beam_flags
from pipeline.beam_options import pipeline_options
from pipeline.by_reference import CHUNKS, EXACT_KEYS, RejoinFn, StashFn, kept_refs
from pipeline.corpus_stage import JobFacts, write_summaries
from pipeline.dedup import stage as dedup_stage
from pipeline.drop_examples import drop_examples, read_line_examples, write_line_examples
from pipeline.packed_shuffle import PackedGroupByKey
from pipeline.progress import ProgressMonitor
from pipeline.spec import PrepSpec, SourceSpec, SpecError, load_spec
from pipeline.step_runner import REJECTED, CountDocuments, SelectLineExamples, metrics_namespace

log = logging.getLogger("pipeline.prep")


class JobFailed(RuntimeError):
    """The Beam job itself failed (a worker died, a runner error): nothing was published, and
    rerunning the same command redoes the unfinished sources (exit 1)."""


class EmptySourceError(RuntimeError):
    """A source ended with no document and the spec does not allow it (outputs are written;
    the job exits 1 so that a pipeline of jobs stops here)."""
DEAD = "dead_letters"


class _ReadFn(beam.DoFn):
    def __init__(self, source: SourceSpec):
        self.source = source

    def setup(self):
        ns = metrics_namespace(self.source.name)
        self.dead = beam.metrics.Metrics.counter(ns, "dead_letters")

    def process(self, element):
        index, unit = element
        for pos, record in enumerate(readers.read_unit(unit, self.source)):
            if "text" in record:
                record[stash.AT] = (index, pos)
                yield record
            else:
                self.dead.inc()
                yield beam.pvalue.TaggedOutput(DEAD, record)


def build_source_branch(p: beam.Pipeline, spec: PrepSpec, source: SourceSpec,
                        units: list, scratch_dir: str) -> tuple[Any, list, Any, Any]:
    """Read -> per-document stages in spec order, for one source: (docs, [rejected records of
    each step], dead, examples of removed lines: one dict reason -> examples). `scratch_dir`:
    where a step that looks across documents (boilerplate) parks them."""
    name = source.name
    read = (
        p
        | f"{name}/units" >> beam.Create(list(enumerate(units)))
        | f"{name}/spread" >> beam.Reshuffle()
        | f"{name}/read" >> beam.ParDo(_ReadFn(source)).with_outputs(DEAD, main="docs")
    )
    docs = read.docs | CountDocuments(name, "in")
    rejected, removed_lines = [], []
    for step_name, params in source.steps:
        step = registry.build_source_step(step_name, params, source)
        docs, dropped, removed = docs | step.transform(name, scratch_dir)
        rejected.append(dropped)
        removed_lines.append(removed)
    line_examples = ((removed_lines or [p | f"{name}/no_removed_lines" >> beam.Create([])])
                     | f"{name}/removed_lines" >> beam.Flatten()
                     | f"{name}/line_examples" >> SelectLineExamples())
    return docs, rejected, read[DEAD], line_examples


def build_pipeline(p: beam.Pipeline, spec: PrepSpec, sources: list[SourceSpec],
                   units: dict[str, list], output_dir: str) -> None:
    """Per-source branches -> stash (references) -> corpus decisions on references -> per
    input unit: documents read back, map-only corpus stages, files (pipeline/by_reference.py).
    No document text crosses a shuffle from the stash on."""
    stash_dir = stash.stash_dir(FileSystems.join(output_dir, manifests.STAGING))
    branches = {s.name: build_source_branch(p, spec, s, units[s.name], stash_dir)
                for s in sources}
    staging = {s.name: manifests.staging_dir(output_dir, s.name) for s in sources}
    for name, (_, _, _, line_examples) in branches.items():
        _ = line_examples | f"{name}/write_line_examples" >> beam.Map(
            write_line_examples, staging[name])
    order = stage_runner.stage_names(spec)
    lead_dedup = bool(order) and order[0] == dedup_stage.NAME
    dedup_config = spec.corpus_configs[dedup_stage.NAME] if lead_dedup else None
    code_sources = frozenset(s.name for s in spec.sources if s.is_code)
    seed, rate = spec.seed, spec.rejected_sample_rate
    # Each text-bearing PCollection is stashed by its own ParDo, fused with the step that made
    # it; a Flatten before the stash would make Beam's local runner hold every text.
    stash_fn = StashFn(stash_dir, dedup_config, code_sources,
                       lambda i: writers.keep_rejected_sample(i, rate, seed))
    stashed = []
    for name, (docs, rejected, _, _) in branches.items():
        stashed.append(docs | f"{name}/stash_docs" >> beam.ParDo(
            stash_fn, "doc").with_outputs(EXACT_KEYS, CHUNKS, main="entries"))
        stashed += [rej | f"{name}/stash_rejected_{i}" >> beam.ParDo(
            stash_fn, "rej").with_outputs(EXACT_KEYS, CHUNKS, main="entries")
            for i, rej in enumerate(rejected)]
    drops = []
    if lead_dedup:
        stage = registry.CORPUS_STAGES[dedup_stage.NAME]
        dirs = stage_runner.stage_dirs(output_dir, dedup_stage.NAME)
        # Tuples of PCollections: a list would be taken as data to Create.
        dedup_inputs = (tuple(s[EXACT_KEYS] for s in stashed), tuple(s[CHUNKS] for s in stashed))
        drops, summaries = stage.expand_refs(dedup_inputs, dedup_config, stash_dir)
        write_summaries(summaries, dirs.staging, **stage.json_format)
    entries = [s.entries for s in stashed] + list(drops)
    units_grouped = tuple(entries) | "unit/group" >> PackedGroupByKey("by_unit")
    skip = (dedup_stage.NAME,) if lead_dedup else ()
    refs = units_grouped | "unit/kept_refs" >> beam.FlatMap(kept_refs, stash_dir)
    prepared = stage_runner.prepare_stages(refs, spec, output_dir, skip=skip)
    # The documents are read back only once what the stages prepared is ready: otherwise the
    # runner would hold every rejoined text until the stage's side input is computed.
    ready = beam.pvalue.AsList(stage_runner.ready_signal(p, prepared))
    rejoined = units_grouped | "unit/rejoin" >> beam.ParDo(
        RejoinFn(stash_dir), ready).with_outputs(REJECTED, main="docs")
    docs, rejected = stage_runner.apply_corpus_stages(
        rejoined.docs, spec, output_dir, skip=skip, prepared=prepared)
    (docs, rejoined[REJECTED], *rejected) | writers.WriteUnitOutputs(
        staging, {s.name: len(units[s.name]) for s in sources},
        FileSystems.join(stash_dir, "_parts"), seed=seed,
        validation_fraction=spec.validation_fraction, rejected_sample_rate=rate)
    dead = ([dead for _, _, dead, _ in branches.values()] | "write/dead" >> beam.Flatten())
    writers.write_dead_letters(dead, staging)


def source_manifest(spec: PrepSpec, source: SourceSpec, counters: dict[str, int],
                    runtime: dict[str, Any],
                    corpus_fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    def group(prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in sorted(counters.items()) if k.startswith(prefix)}

    docs_out = {s: counters.get(f"out_{s}_docs", 0) for s in (writers.TRAIN, writers.VALIDATION)}
    bytes_out = {s: counters.get(f"out_{s}_bytes", 0) for s in (writers.TRAIN, writers.VALIDATION)}
    return {
        "source": source.name,
        "role": source.role,
        "format": source.format,
        "config_hash": spec.source_config_hash(source, corpus_fingerprint),
        "config": {
            "source": source.to_json(), "seed": spec.seed,
            "validation_fraction": spec.validation_fraction,
            "rejected_sample_rate": spec.rejected_sample_rate,
            "shards": {writers.TRAIN: spec.train_shards,
                       writers.VALIDATION: spec.validation_shards},
        },
        "documents_in": counters.get("in_docs", 0),
        "bytes_in": counters.get("in_bytes", 0),
        "documents_out": docs_out,
        "bytes_out": bytes_out,
        "dropped": group("drop."),
        **stage_runner.manifest_entries(counters),
        "lines_removed": group("lines_removed."),
        "bytes_removed": group("bytes_removed."),
        "dropped_bytes": group("drop_bytes."),
        "dropped_lines": group("drop_lines."),
        "skipped_checks": group("skipped."),
        "step_documents": group("step_docs."),
        "step_seconds": {k: round(v / 1e6, 6) for k, v in group("step_us.").items()},
        "pii_redactions": group("pii."),
        "pii_documents": group("pii_docs."),
        "languages_seen": group("lang_seen."),
        "languages_out": group("lang_out."),
        "dead_letters": counters.get("dead_letters", 0),
        **runtime,
    }


def plan_sources(spec: PrepSpec, output_dir: str, *,
                 force: bool = False) -> tuple[list[SourceSpec], list[SourceSpec]]:
    """(sources to run, sources already complete for this config)."""
    todo, skipped = [], []
    fingerprint = spec.corpus_fingerprint()
    for source in spec.sources:
        done = manifests.is_complete(output_dir, source.name,
                                     spec.source_config_hash(source, fingerprint))
        (skipped if done and not force else todo).append(source)
    if todo and skipped and spec.corpus_stages_on:
        # Corpus stages decide across sources: a partial rerun would deduplicate a subset
        # only, or train the quality classifier on part of its sample.
        log.info("corpus stages are on and %d source(s) must run: running all sources",
                 len(todo))
        todo, skipped = list(spec.sources), []
    return todo, skipped


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.prep", description=__doc__.split("\n\n")[0],
        epilog="Any other flag is a Beam pipeline option (--runner, --direct_num_workers, ...).",
        allow_abbrev=False)
    parser.add_argument("--sources", required=True, help="the sources spec (YAML)")
    parser.add_argument("--output_dir", required=True, help="where outputs go (local or gs://)")
    parser.add_argument("--force", action="store_true",
                        help="redo every source even when its outputs are complete")
    parser.add_argument("--progress_seconds", type=float, default=10.0,
                        help="log documents so far and per second, per stage, this often "
                             "while the job runs (0: off)")
    known, beam_args = parser.parse_known_args(argv)
    check_beam_flags(beam_args, [o for a in parser._actions for o in a.option_strings],
                     parser.prog)

    spec = load_spec(known.sources)
    output_dir = known.output_dir
    todo, skipped = plan_sources(spec, output_dir, force=known.force)
    units = {s.name: readers.plan_units(s) for s in todo}  # fails early on missing inputs
    for s in skipped:
        log.info("source %s: complete for this config, skipped (--force redoes it)", s.name)

    options = pipeline_options(beam_args)
    runner = options.get_all_options().get("runner") or "DirectRunner"
    started = time.time()
    counters: dict[str, dict[str, int]] = {}
    fingerprint = spec.corpus_fingerprint()
    if todo:
        p = beam.Pipeline(options=options)
        for source in todo:
            manifests.prepare_staging(output_dir, source.name)
        stage_runner.prepare_staging(spec, output_dir)
        publish.prepare_staging(output_dir, stash.STASH)
        order = ["read", *registry.STEPS, "stashed", "documents hashed",
                 "candidate pairs", "verified pairs",
                 *(f"components round {i + 1}" for i in range(64)), "clusters",
                 "classifier training documents", "classifier fit evaluations", "rejoined",
                 "documents scored", "documents checked", "written"]
        with ProgressMonitor("prep", runner, order, known.progress_seconds):
            build_pipeline(p, spec, todo, units, output_dir)
            log.info("running %d source(s) on %s", len(todo), runner)
            try:
                result = p.run()
                result.wait_until_finish()
            except Exception as e:  # the runner's own error: worker death, lost channel, ...
                log.debug("the Beam job failed", exc_info=True)
                lines = [line for line in str(e).strip().splitlines() if line.strip()]
                raise JobFailed(
                    f"the Beam job failed ({type(e).__name__}: {lines[-1] if lines else e}); "
                    f"nothing was published in {output_dir} (no source got a manifest): rerun "
                    f"the same command to redo it") from e
        counters = collect_counters(result)
        publish.delete_tree(publish.staging_dir(output_dir, stash.STASH))
    wall = round(time.time() - started, 2)
    input_bytes = sum(counters.get(metrics_namespace(s.name), {}).get("in_bytes", 0)
                      for s in todo)
    shuffle = shuffle_meter.summary(counters, input_bytes)
    if todo:
        log.info("shuffle: %s", shuffle_meter.describe(shuffle))

    for source in todo:
        runtime = {"runner": runner, "wall_time_s": wall, "input_units": len(units[source.name]),
                   "beam_options": list(beam_args), "shuffle": shuffle}
        record = source_manifest(spec, source, counters.get(metrics_namespace(source.name), {}),
                                 runtime, fingerprint)
        if problem := writers.validation_split_problem(source.name, record["documents_out"]):
            log.warning("VALIDATION SPLIT: %s", problem)
        n_units = len(units[source.name])
        manifests.fill_missing_shards(
            manifests.staging_dir(output_dir, source.name),
            {writers.TRAIN: n_units, writers.VALIDATION: n_units,
             writers.REJECTED_KIND: n_units})
        manifests.publish(output_dir, source.name, record)
    if todo:
        stage_runner.publish_stages(spec, output_dir,
                                     JobFacts(counters, tuple(s.name for s in todo)))
    manifests.remove_empty_staging(output_dir)

    previous = FileSystems.join(output_dir, "report.json")
    if not todo and FileSystems.exists(previous):
        # Nothing ran: the last report describes these outputs; rewriting it would replace
        # its run details (what ran, how long) with "ran: nothing".
        log.info("nothing to run: all %d source(s) are complete for this config; the report "
                 "%s is left as it was (--force reruns)", len(skipped), previous)
        with FileSystems.open(previous) as f:
            summary = json.loads(f.read().decode("utf-8"))
        summary.update(ran=[], skipped=[s.name for s in skipped], report_rewritten=False)
        print(report.console_summary(summary, output_dir))
        return summary
    all_manifests = [manifests.read_manifest(output_dir, s.name) for s in spec.sources]
    warnings, examples, line_examples = [], {}, {}
    for source, manifest in zip(spec.sources, all_manifests):
        if manifest is None or source not in todo:
            continue
        warnings += drop_warnings.source_warnings(manifest, spec.max_rule_drop_share,
                                                  source.allow_empty)
        examples[source.name] = drop_examples(
            FileSystems.join(output_dir, source.name), sorted(manifest["dropped"]))
        line_examples[source.name] = read_line_examples(
            FileSystems.join(output_dir, source.name))
    summary = report.write_report(output_dir, all_manifests, ran=[s.name for s in todo],
                                  skipped=[s.name for s in skipped], wall_time_s=wall,
                                  corpus_stages=stage_runner.stage_names(spec),
                                  stage_data=stage_runner.report_data(spec, output_dir),
                                  warnings=warnings, examples=examples,
                                  line_examples=line_examples)
    summary["shuffle"] = shuffle  # bytes that crossed a shuffle, per input (text) byte
    json_files.write_json(FileSystems.join(output_dir, "report.json"), summary)
    print(report.console_summary(summary, output_dir))
    print(f"shuffle: {shuffle_meter.describe(shuffle)}")
    fatal = [w["message"] for w in warnings if w["fatal"]]
    if fatal:
        raise EmptySourceError("; ".join(fatal))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    console.log_to_console("%(levelname)s %(name)s: %(message)s", logging.INFO)
    allocator.return_big_buffers()
    # Importing Beam logged a warning, which set up the root logger at WARNING already (and
    # made basicConfig a no-op): without this, progress and other INFO lines never show.
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # inherited by the workers
    try:
        with output_lease.hold_flag(argv, "--output_dir", "prep job"), \
                disk_space.quiet_tracebacks():
            run(argv)
    except (SpecError, readers.ReaderError, FlagError, output_lease.LeaseHeld) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a full disk (also when the Beam job failed of it), then the rest
        if disk_space.no_space(e):
            return disk_space.exit_status(e, "the prep outputs",
                                          output_lease.flag_value(argv, "--output_dir"))
        if not isinstance(e, (EmptySourceError, JobFailed)):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    process_group.end_workers_on_signal()  # a stopped job stops its Beam workers
    process_group.fail_job_when_a_worker_dies("nothing was published (no source got a manifest)")
    sys.exit(main())
