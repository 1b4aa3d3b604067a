"""Issue 21: no document text crosses a shuffle in prep, and the per-input-unit outputs are the
same bytes whatever the runner's parallelism.

A source of three input files with exact and near duplicates across files runs through prep
with dedup on. The shuffle meter (pipeline/shuffle_meter.py) must report well under 1 byte
per input byte, and no single shuffle may carry more than a small fraction of the input; the
old graph (whole documents grouped by hash, by node and pair, by output shard) reports no
figure at all, and each of its document-carrying groups alone would be about 1 byte per input
byte."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random

import pytest
import tensorflow as tf
import yaml

from pipeline import prep, writers

VOCAB = [f"{a}{b}{c}{d}" for a in "bcdfghklmnprst" for b in "aeiou" for c in "lnrst"
         for d in "aeio"]
OFF = ("normalize", "langid", "boilerplate", "gopher_repetition", "gopher_quality", "c4", "pii")


def _text(rng: random.Random, words: int = 500) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words))


def _write_corpus(tmp_path) -> dict[str, list[str]]:
    rng = random.Random(7)
    files: dict[str, list[str]] = {f"part-{i}.jsonl": [] for i in range(3)}
    originals = []
    for i in range(60):
        text = _text(rng)
        originals.append(text)
        files[f"part-{i % 3}.jsonl"].append(text)
    for i in range(0, 60, 10):  # exact copies, in another file
        files[f"part-{(i + 1) % 3}.jsonl"].append(originals[i])
    for i in range(5, 60, 10):  # near copies: 2% of the words changed, in another file
        words = originals[i].split()
        for j in rng.sample(range(len(words)), 10):
            words[j] = rng.choice(VOCAB)
        files[f"part-{(i + 2) % 3}.jsonl"].append(" ".join(words))
    for name, texts in files.items():
        (tmp_path / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    spec = {"sources": [{"name": "web", "role": "webpages", "format": "jsonl",
                         "paths": ["part-*.jsonl"]}],
            "steps": {name: False for name in OFF},
            "dedup": {"near": {"component_rounds": 3}}, "validation_fraction": 0.1}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    return files


def _digests(out) -> dict[str, str]:
    found = {}
    for root, _, names in os.walk(out):
        for name in names:
            if name.startswith(("manifest.json", "report.")):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, out)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bounded")
    files = _write_corpus(tmp_path)
    base = ["--sources", str(tmp_path / "spec.yaml")]
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("pipeline.progress")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        one = prep.run(base + ["--output_dir", str(tmp_path / "one"), "--progress_seconds",
                               "0.5", "--direct_running_mode=in_memory",
                               "--direct_num_workers=1"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    one["progress_lines"] = lines
    two = prep.run(base + ["--output_dir", str(tmp_path / "two"),
                           "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    return tmp_path, files, one, two


@pytest.mark.slow  # two Beam runs, about a minute on a loaded 2-core machine
def test_only_small_records_cross_a_shuffle(runs):
    _, _, summary, _ = runs
    shuffle = summary["shuffle"]
    # About 750 bytes per document in all (exact group ~260, 16 LSH bands ~280, handle join
    # ~110, unit group ~95): ~0.3 of these 2.5 kB documents; each document-carrying group of
    # the old graph was ~1 on its own, and there were at least three.
    assert shuffle["per_input_byte"] < 0.5, shuffle
    text_bytes = summary["totals"]["bytes_in"] / summary["totals"]["documents_in"]
    assert text_bytes > 2000  # documents of 500 words: a document-carrying group stands out
    manifest = json.loads((runs[0] / "one" / "web" / "manifest.json").read_text())
    assert manifest["shuffle"] == shuffle
    for label, size in shuffle["by_shuffle"].items():
        assert size < 0.15 * summary["totals"]["bytes_in"], (label, size)
    assert "dedup.exact.documents" not in shuffle["by_shuffle"]  # the old document group


@pytest.mark.slow
def test_outputs_are_per_input_unit_in_input_order_and_the_same_bytes(runs):
    tmp_path, files, one, two = runs
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    assert one["sources"]["web"]["dropped"] == {"dedup.exact": 6, "dedup.near": 6}
    out = tmp_path / "one" / "web"
    names = sorted(n for n in os.listdir(out) if n.endswith(".tfrecord"))
    assert names == [writers.shard_name(s, i, 3) for s in ("train", "validation")
                     for i in range(3)]
    kept_texts = set()
    for unit, name in enumerate(sorted(files)):
        positions = {t: i for i, t in enumerate(files[name])}
        for split in ("train", "validation"):
            texts = [writers.parse_example(r.numpy())["text"] for r in tf.data.TFRecordDataset(
                str(out / writers.shard_name(split, unit, 3)))]
            assert all(t in positions for t in texts)  # a unit's file holds its documents
            assert [positions[t] for t in texts] == sorted(positions[t] for t in texts)
            kept_texts.update(texts)
    assert len(kept_texts) == 60  # every original once; every copy removed
    assert not (tmp_path / "one" / "_staging").exists()  # the stash and parts are gone


@pytest.mark.slow
def test_progress_covers_the_corpus_stages(runs):
    final = runs[2]["progress_lines"][-1]
    for stage in ("read", "stashed", "documents hashed", "candidate pairs", "verified pairs",
                  "components round 1", "clusters", "rejoined", "written"):
        assert f"{stage} " in final, (stage, final)


def test_prep_workers_start_with_a_fixed_mmap_threshold(monkeypatch):
    """Beam's SDK workers inherit the variable; a user's own setting wins."""
    import os

    from pipeline import allocator

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    allocator.return_big_buffers()
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(allocator.MMAP_THRESHOLD)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "262144")
    allocator.return_big_buffers()
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == "262144"


# Multi-input Flattens of prep's graph and why each carries small records only. Beam's local
# runner materialises every multi-input Flatten in memory (fn_api_runner's sink_flattens), so a
# Flatten of documents or rejected records would hold the corpus's text (issue 21): those get a
# ParDo per input instead. A new Flatten must say here why it is small.
SMALL_FLATTENS = {
    # pipeline/packed_shuffle.py: a bundle's records, packed per partition (few elements).
    "unit/group/Packs": "packed per-unit entries and drop records",
    "exact/AllKeys": "packed (exact key, handle) records, 11 bytes a document",
    "near/AllChunks": "one chunk id per stash chunk",
    "near/ByChunk/Packs": "chunk ids and the handles of exact copies dropped",
    "write/Hashes": "(source, (split hash, unit, id)) per kept document",
    "write/Parts": "one part path per bundle and unit",
    "write/BothThresholds": "one threshold per source",
    "write/dead": "dead letters: 200-character excerpts of malformed input",
    "stages_ready": "one marker per prepared stage",
    "near/Selected": "the example clusters' roots",
    # Inside beam.combiners.Top over group sizes (dedup summaries): sizes and roots.
    "near/LargestClusters/Flatten": "cluster sizes", "near/SampleClusters/Flatten": "roots",
    "near/Summary/Largest/Flatten": "sizes", "near/Summary/Sample/Flatten": "examples",
    "exact/Summary/Largest/Flatten": "sizes", "exact/Summary/Sample/Flatten": "examples",
}


def test_no_flatten_in_prep_holds_documents(tmp_path):
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems

    from pipeline import readers
    from pipeline.spec import load_spec

    _write_corpus(tmp_path)
    spec_data = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    spec_data["steps"] = {}  # every default step, boilerplate included
    spec_data["sources"].append({"name": "more", "role": "books", "format": "jsonl",
                                 "paths": ["part-0.jsonl"]})
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec_data))
    spec = load_spec(str(tmp_path / "spec.yaml"))
    units = {s.name: readers.plan_units(s) for s in spec.sources}
    p = beam.Pipeline()
    prep.build_pipeline(p, spec, list(spec.sources), units,
                        FileSystems.join(str(tmp_path), "out"))
    found = {}
    for transform in p.to_runner_api().components.transforms.values():
        if (transform.spec.urn == "beam:transform:flatten:v1"
                and len(transform.inputs) > 1):
            found[transform.unique_name] = len(transform.inputs)
    per_source = {f"{s.name}/removed_lines" for s in spec.sources}
    unexplained = sorted(set(found) - set(SMALL_FLATTENS) - per_source)
    assert not unexplained, (unexplained, "a Flatten of documents would hold every text")
    assert "unit/group/Packs" in found and "write/Hashes" in found  # the walk saw the graph
