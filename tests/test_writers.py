"""Split and shard assignment, reproducible files, and atomic publication of outputs."""

import gzip
import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import manifest, writers


def test_split_is_stable_and_close_to_fraction():
    ids = [f"{i:016x}" for i in range(20000)]
    splits = [writers.split_of(i, 0.1, seed=0) for i in ids]
    assert splits == [writers.split_of(i, 0.1, seed=0) for i in ids]
    fraction = splits.count(writers.VALIDATION) / len(ids)
    assert 0.09 < fraction < 0.11
    # Another seed holds out other documents.
    other = [writers.split_of(i, 0.1, seed=1) for i in ids]
    assert other != splits
    assert all(writers.split_of(i, 0.0, 0) == writers.TRAIN for i in ids[:100])


def test_shards_cover_range_evenly():
    counts = [0] * 8
    for i in range(8000):
        counts[writers.shard_of(f"doc{i}", 8, seed=0)] += 1
    assert min(counts) > 800 and max(counts) < 1200


def test_example_round_trip():
    doc = {"id": "ab", "text": "héllo\nworld", "source": "s", "role": "books", "lang": "en",
           "meta": {"location": "x.txt", "lang_score": 0.9}}
    assert writers.parse_example(writers.serialize_example(doc)) == doc


def test_jsonl_gz_bytes_are_reproducible(tmp_path):
    records = [{"b": 1, "a": "ü"}, {"a": 2}]
    writers.write_jsonl_gz(str(tmp_path / "one.jsonl.gz"), records)
    writers.write_jsonl_gz(str(tmp_path / "two.jsonl.gz"), records)
    one, two = (tmp_path / "one.jsonl.gz").read_bytes(), (tmp_path / "two.jsonl.gz").read_bytes()
    assert one == two
    assert [json.loads(x) for x in gzip.decompress(one).splitlines()] == records


def test_publish_moves_staged_files_and_writes_manifest_last(tmp_path):
    out = str(tmp_path)
    staged = manifest.prepare_staging(out, "web")
    writers.write_tfrecord(os.path.join(staged, writers.shard_name("train", 0, 2)), [b"x"])
    manifest.fill_missing_shards(staged, {"train": 2, "validation": 1, "rejected": 2})
    assert sorted(os.listdir(staged)) == sorted([
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord",
        "validation-00000-of-00001.tfrecord", "rejected-00000-of-00002.jsonl.gz",
        "rejected-00001-of-00002.jsonl.gz", "dead_letters.jsonl.gz"])
    # An older, different output is replaced entirely.
    os.makedirs(tmp_path / "web")
    (tmp_path / "web" / "stale.tfrecord").write_bytes(b"old")
    manifest.publish(out, "web", {"config_hash": "abc"})
    files = sorted(os.listdir(tmp_path / "web"))
    assert "stale.tfrecord" not in files and "manifest.json" in files
    assert not os.path.exists(staged)
    assert manifest.is_complete(out, "web", "abc")
    assert not manifest.is_complete(out, "web", "other")
    data = json.loads((tmp_path / "web" / "manifest.json").read_text())
    assert data["complete"] is True and "train-00001-of-00002.tfrecord" in data["files"]


def test_incomplete_or_corrupt_manifest_is_not_complete(tmp_path):
    os.makedirs(tmp_path / "web")
    assert not manifest.is_complete(str(tmp_path), "web", "abc")
    (tmp_path / "web" / "manifest.json").write_text("{truncated")
    assert not manifest.is_complete(str(tmp_path), "web", "abc")
    (tmp_path / "web" / "manifest.json").write_text(json.dumps({"config_hash": "abc"}))
    assert not manifest.is_complete(str(tmp_path), "web", "abc")


def test_example_bytes_do_not_depend_on_insertion_order():
    doc = {"id": "ab", "text": "t", "source": "s", "role": "r", "lang": "en", "meta": {"a": 1}}
    reordered = dict(reversed(list(doc.items())))
    assert writers.serialize_example(doc) == writers.serialize_example(reordered)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 400), st.floats(0.0, 0.2), st.integers(0, 2**20))
def test_every_source_gets_the_minimum_validation_documents(documents, fraction, seed):
    """At least VALIDATION_MIN_DOCUMENTS validation documents (at most a quarter of the source by
    that rule), never fewer than the fraction alone would hold out (issue 12: books 13 / 0)."""
    ids = [f"{seed}-{i}" for i in range(documents)]
    hashes = [writers.unit_hash(i, f"split:{seed}") for i in ids]
    threshold = writers.validation_threshold(
        sorted(hashes)[:writers.VALIDATION_MIN_DOCUMENTS], documents, fraction)
    val = [i for i in ids if writers.split_of(i, threshold, seed) == writers.VALIDATION]
    by_fraction = [i for i in ids if writers.split_of(i, fraction, seed) == writers.VALIDATION]
    assert set(by_fraction) <= set(val)
    wanted = min(writers.VALIDATION_MIN_DOCUMENTS, documents // 4)
    assert len(val) == max(len(by_fraction), wanted)
    problem = writers.validation_split_problem(
        "s", {writers.TRAIN: documents - len(val), writers.VALIDATION: len(val)})
    assert (problem is None) == (len(val) >= writers.VALIDATION_MIN_DOCUMENTS)
    if not val:
        assert "NO 0 validation" in problem and "missing" in problem


def test_a_small_source_gets_a_validation_split_in_the_beam_job(tmp_path):
    import apache_beam as beam
    import tensorflow as tf

    # Two input units (`_at`: unit, position); files are written per unit (issue 21).
    docs = [{"id": f"book{i}", "text": f"text {i}", "source": "books", "role": "books",
             "lang": "en", "meta": {}, "_at": (i % 2, i)} for i in range(13)]
    with beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(
            ["--direct_running_mode=in_memory", "--direct_num_workers=1"])) as p:
        kept = p | "Docs" >> beam.Create(docs)
        empty = p | "None" >> beam.Create([])
        _ = (kept, empty) | writers.WriteUnitOutputs(
            {"books": str(tmp_path)}, {"books": 2}, str(tmp_path / "parts"), seed=0,
            validation_fraction=0.01, rejected_sample_rate=1.0)
    counts, order = {}, {}
    for split in (writers.TRAIN, writers.VALIDATION):
        for unit in range(2):
            path = tmp_path / writers.shard_name(split, unit, 2)
            ids = [writers.parse_example(r.numpy())["id"] for r in tf.data.TFRecordDataset(
                str(path))] if path.exists() else []
            counts[split] = counts.get(split, 0) + len(ids)
            order[(split, unit)] = ids
    assert counts == {writers.TRAIN: 10, writers.VALIDATION: 3}  # a quarter of 13, floored
    for (split, unit), ids in order.items():  # input order inside each unit's file
        assert ids == sorted(ids, key=lambda i: int(i[4:]))
        assert all(int(i[4:]) % 2 == unit for i in ids)


def test_tfrecord_frames_match_tensorflow(tmp_path):

    records = [b"", b"x", "h\u00e9llo".encode() * 100]
    tf_path = str(tmp_path / "tf.tfrecord")
    writers.write_tfrecord(tf_path, records)
    with open(tf_path, "rb") as f:
        assert f.read() == b"".join(writers.tfrecord_frame(r) for r in records)
    assert writers.read_tfrecords(tf_path) == records
