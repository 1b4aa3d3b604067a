"""tasks.materialize shuffles references, not rows (issue 21): rows gathered by reference equal
rows built from the tokens in numpy, the whole stream equals a numpy reference computed from
the permutation, little crosses a shuffle, and the stream does not depend on the runner's
worker count."""

import functools
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import materialize, row_references, stream_format
from tests import train_tasks

LOCAL_BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
TINY = ["--mixture", "tiny_mix", "--module", "tests.train_tasks", "--sequence_length", "64",
        "--batch_size", "8", "--steps", "60", "--seed", "5", "--num_shards", "2",
        "--progress_seconds", "0"]


# ---------------------------------------------------------------------------------------------
# Packing by reference == packing the tokens

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 300), st.integers(0, 2**64 - 1), st.booleans(),
                          st.integers(0, 2)), min_size=1, max_size=25),
       st.integers(2, 97))
def test_rows_gathered_by_reference_equal_rows_packed_from_tokens(tmp_path_factory, docs,
                                                                  length):
    staging = str(tmp_path_factory.mktemp("spill"))
    os.makedirs(os.path.join(staging, row_references.SPILL_DIR))
    rng = np.random.default_rng(len(docs) * 1000 + length)
    eos = 1
    units: dict[int, list[np.ndarray]] = {}
    copies, reference = [], []
    for size, key, cut, source in docs:
        unit = key % 3
        tokens = rng.integers(2, 1000, size, dtype=np.int32)
        offset = sum(map(len, units.setdefault(unit, [])))
        units[unit].append(tokens)
        keep = max(1, size // 2) if cut else size
        copies.append((key, (source, unit, offset, keep, cut)))
        held = tokens[:keep].copy()
        if cut:
            held[-1] = eos
        reference.append((key, held, source))
    for unit, arrays in units.items():
        with open(row_references.spill_path(staging, unit), "wb") as f:
            f.write(np.concatenate(arrays).astype("<i4").tobytes())
    rows, dropped = row_references.pack_segments(copies, length)
    reference.sort(key=lambda r: r[0])
    tokens = np.concatenate([r[1] for r in reference])
    sources = np.concatenate([np.full(len(r[1]), r[2], np.uint8) for r in reference])
    count = len(tokens) // length
    assert len(rows) == count and dropped == len(tokens) - count * length
    reader = row_references.SpillReader(staging)
    for j, segments in enumerate(rows):
        got_tokens, got_sources = reader.row(np.frombuffer(segments.tobytes(),
                                                           row_references.SEGMENT), eos)
        np.testing.assert_array_equal(got_tokens, tokens[j * length:(j + 1) * length])
        np.testing.assert_array_equal(got_sources, sources[j * length:(j + 1) * length])
    reader.close()


# ---------------------------------------------------------------------------------------------
# The Beam job against a numpy reference of the same permutation

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("tiny_tasks"))
    train_tasks.write_data(data)
    os.environ["PALM_TEST_TASKS_DIR"] = data
    train_tasks.register(data)
    return data


@pytest.fixture(scope="module")
def tiny_stream(tiny, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("streams") / "tiny")
    return out, materialize.run([*TINY, "--output_dir", out, *LOCAL_BEAM])


def reference_stream(manifest: dict, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The stream's rows computed in memory with numpy from the documents' tokens: the same
    copies, packing groups and row keys, every row sorted by (shard, key)."""
    import seqio

    seed, groups = manifest["seed"], manifest["packing"]["groups"]
    num_shards, eos = len(manifest["shards"]), manifest["eos_id"]
    weights = {s["task"]: s["weight"] for s in manifest["sources"]}
    tokens = {s["task"]: s["tokens_available"] for s in manifest["sources"]}
    plans = {p.task: p for p in materialize.plan_sources(
        weights, tokens, manifest["token_budget"] + groups * length)}
    docs = []
    for task in sorted(weights):
        provider = seqio.get_mixture_or_task(task)
        shards = len(provider.source.list_shards("train"))
        for shard in range(shards):
            ds = provider.get_dataset(None, split="train", shuffle=False, num_epochs=1,
                                      use_cached=False, shard_info=seqio.ShardInfo(shard, shards))
            for position, ex in enumerate(ds.as_numpy_iterator()):
                docs.append((task, f"{shard}/{shards}:{position}", ex["targets"]))
    cuts = {}
    for task, plan in plans.items():
        histogram = np.zeros(materialize.HASH_BUCKETS, np.int64)
        for t, key, toks in docs:
            if t == task:
                histogram[materialize._bucket(seed, t, key)] += len(toks)
        cuts[task] = materialize.partial_cut(histogram, plan.partial_tokens)
    by_group: dict[int, list] = {}
    for doc in docs:
        for copy in materialize._copies(doc, plans, cuts, seed, eos):
            by_group.setdefault(copy[0] % groups, []).append(copy)
    rows = []
    for group, copies in by_group.items():
        copies.sort(key=lambda c: c[0])
        toks = np.concatenate([c[2] for c in copies])
        srcs = np.concatenate([np.full(len(c[2]), c[1], np.uint8) for c in copies])
        for j in range(len(toks) // length):
            key = materialize.hash64(seed, "row", group, j)
            rows.append(((key * num_shards) >> 64, key, toks[j * length:(j + 1) * length],
                         srcs[j * length:(j + 1) * length]))
    rows.sort(key=lambda r: (r[0], r[1]))
    return np.stack([r[2] for r in rows]), np.stack([r[3] for r in rows])


def test_stream_equals_a_numpy_reference_of_the_permutation(tiny_stream):
    out, manifest = tiny_stream
    tokens, sources = stream_format.StreamReader(out).read(0, manifest["rows"])
    want_tokens, want_sources = reference_stream(manifest, 64)
    np.testing.assert_array_equal(tokens, want_tokens)
    np.testing.assert_array_equal(sources, want_sources)
    assert sorted(os.listdir(out)) == ["manifest.json"] + [
        stream_format.shard_name(i, 2) for i in range(2)]  # no spill file left behind


def test_manifest_lists_each_shard_with_its_checksum(tiny_stream):
    """The shard writer records what it wrote: launch.data_verify checks it."""
    from pipeline import file_checksums

    out, manifest = tiny_stream
    for shard in manifest["shards"]:
        path = os.path.join(out, shard["file"])
        assert (shard["bytes"], shard["crc32c"]) == file_checksums.crc32c_of(path)


def test_references_not_rows_cross_the_shuffles(tiny_stream):
    _, manifest = tiny_stream
    volume = manifest["shuffle_volume"]
    assert set(volume["by_shuffle"]) == {"units", "histogram", "copies", "rows"}
    assert volume["input_bytes"] == 4 * sum(s["tokens_available"] for s in manifest["sources"])
    # The old shape moved every row (5 bytes per token) and every copied token (4 bytes): at
    # least 9 bytes per stream token, 1.8 per input byte here. These documents are 5-25
    # tokens, the worst case for references (one segment each).
    assert volume["by_shuffle"]["rows"] < 0.3 * 5 * manifest["tokens"]
    assert 9 * manifest["tokens"] / volume["input_bytes"] > 1.5
    assert volume["per_input_byte"] < 1.0


def test_long_documents_shuffle_a_few_percent_of_their_bytes(tmp_path, caplog):
    import logging

    import seqio
    import tensorflow as tf

    rng = np.random.default_rng(0)
    words = np.array("alpha beta gamma delta epsilon zeta eta theta iota kappa".split())
    data = tmp_path / "long"
    data.mkdir()
    for shard in range(2):
        with tf.io.TFRecordWriter(str(data / f"train-{shard:05d}-of-00002.tfrecord")) as w:
            for _ in range(12):
                text = " ".join(rng.choice(words, rng.integers(300, 900))).encode()
                w.write(tf.train.Example(features=tf.train.Features(feature={"text": (
                    tf.train.Feature(bytes_list=tf.train.BytesList(value=[text])))}))
                    .SerializeToString())
    name = "long_docs.prose"
    for registry, key in ((seqio.TaskRegistry, name), (seqio.MixtureRegistry, "long_docs")):
        if key in registry.names():
            registry.remove(key)
    seqio.TaskRegistry.add(
        name, source=seqio.TFExampleDataSource(
            {"train": str(data / "train-*.tfrecord")},
            {"text": tf.io.FixedLenFeature([], tf.string)}),
        preprocessors=[functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text"}),
                       seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        output_features={"targets": seqio.Feature(seqio.ByteVocabulary(), add_eos=True)},
        metric_fns=[])
    out = tmp_path / "stream"
    caplog.set_level(logging.INFO)
    manifest = materialize.run(["--mixture", name, "--sequence_length", "512", "--batch_size",
                                "4", "--steps", "60", "--output_dir", str(out),
                                "--progress_seconds", "0.2", *LOCAL_BEAM])
    assert manifest == stream_format.read_manifest(str(out))
    assert manifest["shuffle_volume"]["per_input_byte"] < 0.1
    assert "crossed a shuffle" in materialize.format_summary(manifest, str(out))
    assert math.isclose(manifest["sources"][0]["token_share"], 1.0)
    # Progress covers every Beam stage; the driver logs its phases.
    final = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"][-1]
    for stage in ("documents read 24 ", "rows packed ", f"rows written {manifest['rows']:,} "):
        assert stage in final, final
    phases = [r.getMessage() for r in caplog.records if r.name == "tasks.materialize"]
    assert [p[:len("phase 1/4")] for p in phases if p.startswith("phase")] == [
        f"phase {i}/4" for i in range(1, 5)]


@pytest.mark.slow
def test_stream_is_the_same_for_any_direct_runner_worker_count(tiny, tiny_stream, tmp_path):
    out, _ = tiny_stream
    other = str(tmp_path / "two_workers")
    materialize.run([*TINY, "--output_dir", other, "--direct_running_mode=multi_processing",
                     "--direct_num_workers=2"])
    for shard in stream_format.read_manifest(out)["shards"]:
        with open(os.path.join(out, shard["file"]), "rb") as a, \
                open(os.path.join(other, shard["file"]), "rb") as b:
            assert a.read() == b.read(), shard["file"]


def test_seqio_cache_directory_lines_are_silenced(tiny, tmp_path, caplog):
    import logging

    materialize.quiet_seqio_info()
    with caplog.at_level(logging.INFO):
        import seqio

        seqio.get_mixture_or_task("tiny_mix.counting").cache_dir  # noqa: B018 (logs at INFO)
        logging.getLogger("absl").warning("a real warning")
    assert not any("Using cache directory" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage() == "a real warning" for r in caplog.records)
