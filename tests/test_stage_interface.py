"""A new stage is one class plus one registry line: a toy corpus stage and a toy per-document
step, defined here and registered, run through the prep job end to end with no change to the
spec parser, the orchestrator, the manifests or the report."""

import gzip
import json

import apache_beam as beam
import pytest
import tensorflow as tf
import yaml

from pipeline import prep, registry, writers
from pipeline.corpus_stage import CorpusStage, StageOutput
from pipeline.counting import DropCounter
from pipeline.document_step import TextRule
from pipeline.rules.base import RuleResult
from pipeline.spec import SpecError, load_spec
from pipeline.step_runner import REJECTED, rejected_record
from pipeline.validation import in_file


class _DropShortFn(beam.DoFn):
    def __init__(self, min_chars):
        self.min_chars = min_chars

    def setup(self):
        self.counts = DropCounter("min_length")

    def process(self, doc):
        if len(doc["text"]) >= self.min_chars:
            yield doc
            return
        self.counts.dropped(doc["source"], "min_length.too_short", doc["text"])
        yield beam.pvalue.TaggedOutput(REJECTED, rejected_record(doc, "min_length.too_short"))


class MinLength(CorpusStage):
    """Toy corpus stage: drops documents shorter than `min_chars` characters."""

    name = "min_length"
    title = "Minimum length"

    def parse(self, raw, context):
        if raw is None or raw is False:
            return None
        if not isinstance(raw, dict) or set(raw) != {"min_chars"} or not isinstance(
                raw["min_chars"], int):
            raise in_file(context.path, SpecError("min_length: expected {min_chars: <int>}"))
        return raw["min_chars"]

    def fingerprint(self, config):
        return {"min_chars": config}

    def expand(self, docs, config, spec, dirs):
        out = docs | "drop_short" >> beam.ParDo(_DropShortFn(config)).with_outputs(
            REJECTED, main="kept")
        summary = (out[REJECTED] | "count" >> beam.combiners.Count.Globally()
                   | "record" >> beam.Map(lambda n: {"min_chars": config, "dropped": n}))
        return StageOutput(out.kept, out[REJECTED], {"min_length.json": summary})

    def report_section(self, data):
        return f"<p>{data['min_length']['dropped']} documents shorter than " \
               f"{data['min_length']['min_chars']} characters dropped.</p>"


class Shout(TextRule):
    """Toy per-document step: upper-cases the text; drops a text that says "drop me"."""

    name = "shout"

    def __init__(self, *, marker: str = "drop me"):
        self.marker = marker

    def __call__(self, text):
        if self.marker in text:
            return RuleResult(text, "shout.marker", {"shout.lines": 1})
        return RuleResult(text.upper(), None, {"shout.lines": text.count("\n") + 1})


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(registry.STEPS, "shout", Shout)
    monkeypatch.setitem(registry.CORPUS_STAGES, "min_length", MinLength())


def _write_inputs(tmp_path, min_chars=30):
    texts = {"web": ["a long enough document about lighthouses", "too short",
                     "please drop me, this one is long enough"],
             "books": ["another document that is long enough", "tiny"]}
    for source, lines in texts.items():
        with open(tmp_path / f"{source}.jsonl", "w") as f:
            for text in lines:
                f.write(json.dumps({"text": text}) + "\n")
    spec = {"sources": [{"name": s, "role": "webpages", "format": "jsonl",
                         "paths": [f"{s}.jsonl"]} for s in texts],
            "steps": {name: False for name in ("normalize", "langid", "boilerplate",
                                                "gopher_repetition", "gopher_quality", "c4",
                                                "pii")} | {"shout": True},
            "dedup": False, "min_length": {"min_chars": min_chars},
            "shards": {"train": 1, "validation": 1}, "validation_fraction": 0.0}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_toy_stages_run_through_the_prep_job(registered, tmp_path):
    spec_path = _write_inputs(tmp_path)
    out = tmp_path / "out"
    summary = prep.run(["--sources", spec_path, "--output_dir", str(out),
                        "--direct_running_mode=in_memory", "--direct_num_workers=1"])

    assert summary["corpus_stages"] == ["min_length"]
    web = json.loads((out / "web" / "manifest.json").read_text())
    assert web["dropped"] == {"min_length.too_short": 1, "shout.marker": 1}
    assert web["lines_removed"] == {"shout.lines": 3}  # stats count on dropped documents too
    # one way to count: the toy stage's drops carry bytes and lines as the step's do
    assert web["dropped_bytes"] == {"min_length.too_short": len("too short"),
                                    "shout.marker": len("please drop me, this one is long enough")}
    assert web["dropped_lines"] == {"min_length.too_short": 1, "shout.marker": 1}
    assert web["step_documents"] == {"shout": 3}
    assert web["documents_out"]["train"] == 1
    kept = [writers.parse_example(r.numpy())["text"] for r in tf.data.TFRecordDataset(
        str(out / "web" / "train-00000-of-00001.tfrecord"))]
    assert kept == ["A LONG ENOUGH DOCUMENT ABOUT LIGHTHOUSES"]
    with gzip.open(out / "web" / "rejected-00000-of-00001.jsonl.gz", "rt") as f:
        reasons = sorted(json.loads(line)["reason"] for line in f)
    assert reasons == ["min_length.too_short", "shout.marker"]
    published = json.loads((out / "min_length" / "min_length.json").read_text())
    assert published == {"min_chars": 30, "dropped": 2}
    report = json.loads((out / "report.json").read_text())
    assert report["min_length"] == {"min_length": published}
    assert ["input", 3] == report["sources"]["web"]["funnel"][0]
    assert report["sources"]["web"]["funnel"][-1] == ["min_length", 1]
    page = (out / "report.html").read_text()
    assert "<h2>Minimum length</h2><p>2 documents shorter than 30" in page


def test_toy_stage_config_is_validated_and_hashed(registered, tmp_path):
    first = load_spec(_write_inputs(tmp_path, min_chars=30))
    second = load_spec(_write_inputs(tmp_path, min_chars=31))
    assert first.min_length == 30 and first.corpus_stages_on
    assert first.source_config_hash(first.sources[0]) != \
        second.source_config_hash(second.sources[0])
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load(open(_write_inputs(tmp_path)))
    bad.write_text(yaml.safe_dump(raw | {"min_length": {"min_chars": "many"}}))
    with pytest.raises(SpecError, match=r"bad.yaml: min_length: expected"):
        load_spec(str(bad))
    reserved = yaml.safe_load(open(_write_inputs(tmp_path)))
    reserved["sources"][0]["name"] = "min_length"
    bad.write_text(yaml.safe_dump(reserved))
    with pytest.raises(SpecError, match="reserved"):
        load_spec(str(bad))


def test_a_stage_runs_after_the_stages_it_names(tmp_path):
    """dedup's keeper rule `quality_score` reads the classifier's scores, so dedup follows it;
    otherwise the registry's order holds."""
    from pipeline import stage_runner
    from pipeline.spec import parse_spec

    (tmp_path / "ev.jsonl").write_text('{"text": "one two three four five six seven eight"}\n')
    raw = {"sources": [{"name": s, "role": "webpages", "format": "jsonl", "paths": ["x"]}
                       for s in ("web", "books")],
           "quality_classifier": {"positive_sources": ["books"], "negative_sources": ["web"],
                                  "apply_to": ["web"], "keep": "score_only"},
           "decontamination": {"eval_sets": {"ev": "ev.jsonl"}}}
    spec = parse_spec(raw, base_dir=str(tmp_path))
    assert stage_runner.stage_names(spec) == ["dedup", "quality_classifier", "decontamination"]
    spec = parse_spec(raw | {"dedup": {"keep": "quality_score"}}, base_dir=str(tmp_path))
    assert stage_runner.stage_names(spec) == ["quality_classifier", "dedup", "decontamination"]
