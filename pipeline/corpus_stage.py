"""The corpus-stage interface: a step that sees every source's documents at once.

A corpus stage is one class in one file, registered by one line in
`pipeline.registry.CORPUS_STAGES`; the spec parser, the prep job, the manifests and the
report find it there and never name it. It provides:

- `name`: its spec section (`<name>:` at the top of the sources spec), its output folder
  (`<output_dir>/<name>/`), the first part of its drop reasons and its key in report.json;
- `parse(raw, context)`: the section's value (None when absent) -> a config, or None when the
  stage is off; errors are `SpecError`s naming the key (`pipeline.validation`);
- `fingerprint(config)`: what a job's config hash must cover (the config, plus whatever the
  stage reads from disk, such as an evaluation set's SHA-256);
- `expand(docs, config, spec, dirs)`: the Beam expansion, returning a `StageOutput`: kept
  documents, rejected records (`pipeline.step_runner.rejected_record`, reason `<name>.<why>`,
  counted with `pipeline.counting.DropCounter(name).dropped`, which every step uses too: the
  documents, bytes and lines dropped per reason) and summaries: file name ->
  a PCollection of one JSON record, written into `dirs.staging` and published with the job;
- `title` and `report_section(data)`: its report section's heading and body, an HTML fragment
  built from its report data (`report_data`, by default every published summary by file
  stem), and `manifest_counts(counters)`: its entry in each source's manifest;
- `config_model`: the section's pydantic model, which the sources spec's model (and so its
  JSON schema) uses for the section.

Optional: `runs_after(config, active)` (stages it must follow; default: registry order),
`finish(config, staged_dir, job)` (driver-side facts added to the staged summaries after the
run, before they are published).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar, Collection, Mapping, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import json_files
from pipeline.validation import SpecError, in_file


@dataclasses.dataclass(frozen=True)
class SectionContext:
    """What a stage's `parse` may need besides its section: where the spec lives (relative
    paths are relative to its folder) and the names of its sources."""

    path: str
    base_dir: str | None
    source_names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class StageDirs:
    """staging: where the stage writes during the job; published: where its files are after
    the job succeeded (for records that name their own files)."""

    staging: str
    published: str


@dataclasses.dataclass(frozen=True)
class JobFacts:
    """What only the driver knows after the run: every Beam counter (namespace -> name ->
    value) and the sources that ran."""

    counters: Mapping[str, Mapping[str, int]]
    sources: tuple[str, ...]


class StageOutput(NamedTuple):
    kept: Any
    rejected: Any
    summaries: dict[str, Any]  # file name -> PCollection of one JSON-serialisable record


class CorpusStage:
    """Base class; subclasses set `name` and implement `parse`, `expand`, `report_section`."""

    name: ClassVar[str]
    title: ClassVar[str]  # the heading of its report section
    # The section's model (pipeline/validation.py): the spec's JSON schema shows it, and the
    # spec is checked against it before `parse` builds the config. None: any value.
    config_model: ClassVar[type | None] = None
    # How the summaries are written (json_files.write_json keyword arguments).
    json_format: ClassVar[Mapping[str, Any]] = {}

    def parse(self, raw: Any, context: SectionContext) -> Any | None:
        raise NotImplementedError

    def fingerprint(self, config: Any) -> dict[str, Any]:
        return config.to_json()

    def runs_after(self, config: Any, active: Mapping[str, Any]) -> Collection[str]:
        """Names of other corpus stages (active: name -> config) this one must follow."""
        return ()

    def expand(self, docs, config: Any, spec: Any, dirs: StageDirs) -> StageOutput:
        """`spec` is the parsed `pipeline.spec.PrepSpec` (for facts about the sources)."""
        raise NotImplementedError

    def finish(self, config: Any, staged_dir: str, job: JobFacts) -> None:
        """Nothing to add by default."""

    def manifest_counts(self, counters: Mapping[str, int]) -> dict[str, Any]:
        """This stage's entry in a source's manifest, from the source's counters."""
        prefix = f"drop.{self.name}."
        return {k[len(prefix):]: v for k, v in sorted(counters.items()) if k.startswith(prefix)}

    def report_data(self, published_dir: str) -> dict[str, Any]:
        """Every published summary, by file name without `.json`."""
        if not FileSystems.exists(published_dir):
            return {}
        out = {}
        for match in FileSystems.match([FileSystems.join(published_dir, "*.json")])[0] \
                .metadata_list:
            name = os.path.basename(match.path)
            out[name[:-len(".json")]] = json_files.read_json(match.path)
        return dict(sorted(out.items()))

    def report_section(self, data: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def write_summary(self, path: str, record: Any) -> None:
        json_files.write_json(path, record, **self.json_format)


class SwitchedSectionStage(CorpusStage):
    """A stage whose section is off when absent, null or false, and otherwise a config built by
    `config_model.from_mapping` and checked against the spec's source names (the quality
    classifier and decontamination)."""

    def parse(self, raw: Any, context: SectionContext) -> Any | None:
        if raw is None or raw is False:
            return None
        try:
            config = self.config_model.from_mapping(raw, self.name, context.base_dir)
            config.check_sources(context.source_names, self.name)
        except SpecError as e:
            raise in_file(context.path, e) from None
        return config

    def fingerprint(self, config: Any) -> dict[str, Any]:
        return config.fingerprint()



def write_summaries(summaries: Mapping[str, Any], directory: str, **json_format: Any) -> None:
    """Writes each summary PCollection (one record) to `<directory>/<file name>`."""
    for file_name, record in summaries.items():
        path = FileSystems.join(directory, file_name)
        _ = record | f"write_{file_name}" >> beam.Map(
            lambda r, path=path: json_files.write_json(path, r, **json_format))
