"""The materialised training stream: token-weighted quotas, the Beam job, batch(step) by index."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launch import train as train_cli
from launch.inputs import stream_loader
from tasks import materialize, mixture_rates, stream_format
from tests import train_tasks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENGTH, BATCH = 64, 8
LOCAL_BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


# ---------------------------------------------------------------------------------------------
# Arithmetic

@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefg"), st.tuples(
    st.floats(0.01, 100), st.lists(st.integers(1, 5000), min_size=1, max_size=30)), min_size=1),
    st.one_of(st.none(), st.integers(1, 4096)))
def test_token_true_rates_give_every_task_its_weight(tasks_, length):
    weights = {n: w for n, (w, _) in tasks_.items()}
    means = {}
    for n, (_, docs) in tasks_.items():
        lengths, counts = np.unique(docs, return_counts=True)
        means[n] = mixture_rates.mean_tokens_per_example(lengths, counts, length)
    rates = mixture_rates.token_true_rates(weights, means)
    shares = mixture_rates.expected_token_shares(rates, means)
    assert shares == pytest.approx(mixture_rates.normalise(weights), rel=1e-9)


def test_a_weighted_task_without_tokens_is_named():
    with pytest.raises(mixture_rates.MixtureRateError, match=r"\['b'\]"):
        mixture_rates.token_true_rates({"a": 1, "b": 1}, {"a": 10.0, "b": 0.0})
    with pytest.raises(materialize.MaterializeError, match=r"\['b'\]"):
        materialize.plan_sources({"a": 1, "b": 1}, {"a": 10, "b": 0}, 100)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from("abcde"), st.tuples(
    st.floats(0.05, 10), st.lists(st.integers(1, 3000), min_size=1, max_size=40)), min_size=1),
    st.integers(1_000, 300_000), st.integers(0, 2**31))
def test_copies_deliver_each_source_its_quota(sources, stream_tokens, seed):
    """floor(epochs) whole copies plus the hash-ranked partial epoch, cut inside its boundary
    bucket: each source's tokens are its weight's share of the stream, within one token per
    document of the boundary bucket."""
    docs = [(n, f"doc{i}", np.full(size, 7, np.int32))
            for n, (_, sizes) in sources.items() for i, size in enumerate(sizes)]
    weights = {n: w for n, (w, _) in sources.items()}
    tokens = {n: sum(sizes) for n, (_, sizes) in sources.items()}
    plans = {p.task: p for p in materialize.plan_sources(weights, tokens, stream_tokens)}
    cuts, slack = {}, {}
    for n, plan in plans.items():
        hist = np.zeros(materialize.HASH_BUCKETS, np.int64)
        buckets = [materialize._bucket(seed, n, key) for t, key, _ in docs if t == n]
        for b, (_, key, toks) in zip(buckets, [d for d in docs if d[0] == n]):
            hist[b] += len(toks)
        cuts[n] = materialize.partial_cut(hist, plan.partial_tokens)
        slack[n] = sum(b == cuts[n][0] for b in buckets) + 1
    delivered = dict.fromkeys(plans, 0)
    for doc in docs:
        for _, index, toks in materialize._copies(doc, plans, cuts, seed, eos_id=1):
            delivered[[p.task for p in plans.values() if p.index == index][0]] += len(toks)
    for n, plan in plans.items():
        assert abs(delivered[n] - plan.quota) <= slack[n], (n, delivered[n], plan.quota)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.lists(st.tuples(st.integers(1, 500), st.integers(1, 64)),
                                    max_size=3), st.integers(0, 2000))
def test_rows_before_is_the_sum_of_the_ramps_batch_sizes(initial, ramp, step):
    expected = sum(train_cli.batch_size_at(s, initial, ramp) for s in range(step))
    assert stream_loader.rows_before(step, initial, ramp) == expected
    assert stream_loader.batch_size_at(step, initial, ramp) == train_cli.batch_size_at(
        step, initial, ramp)


# ---------------------------------------------------------------------------------------------
# Loader on a synthetic stream

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = 400
    tokens = rng.integers(2, 300, size=(rows, LENGTH), dtype=np.int32)
    tokens[rng.random((rows, LENGTH)) < 0.05] = 1  # EOS: documents end mid-row
    sources = rng.integers(0, 3, size=(rows, LENGTH)).astype(np.uint8)
    path = str(tmp_path_factory.mktemp("synthetic") / "stream")
    stream_format.write_synthetic(path, tokens, sources, ["a", "b", "c"], rows_per_shard=70)
    return path, tokens, sources


def test_batch_is_rows_by_index_for_any_host_count_and_ramp(synthetic):
    path, tokens, _ = synthetic
    ramp = [(3, 16), (6, 32)]
    one = stream_loader.StreamLoader(path)
    for step in range(8):
        start = stream_loader.rows_before(step, BATCH, ramp)
        size = stream_loader.batch_size_at(step, BATCH, ramp)
        whole = one.batch(step, BATCH, ramp)
        np.testing.assert_array_equal(whole["decoder_target_tokens"], tokens[start:start + size])
        for hosts in (2, 4):
            parts = [stream_loader.StreamLoader(path, h, hosts).batch(step, BATCH, ramp)
                     for h in range(hosts)]
            for key in whole:
                np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]),
                                              whole[key])


def test_trainer_stream_gives_the_same_global_batches_for_any_shard_count(synthetic):
    path, tokens, _ = synthetic
    rows_per_step = 16
    for num_shards in (1, 2, 4):
        parts = []
        for shards in np.split(np.arange(num_shards), min(num_shards, 2)):  # 1 or 2 hosts
            stream = stream_loader.MaterializedTrainStream(path, list(shards), num_shards)
            # resume after 3 steps: start_row counts rows per shard, as the trainer does
            it = stream.batches(3 * rows_per_step // num_shards, rows_per_step // num_shards)
            parts.append([next(it)["decoder_target_tokens"] for _ in range(4)])
        for b in range(4):
            got = np.concatenate([p[b] for p in parts])
            np.testing.assert_array_equal(got, tokens[(3 + b) * 16:(4 + b) * 16])


def test_packed_features_match_seqio_lm_feature_converter(synthetic):
    import seqio
    import tensorflow as tf

    _, tokens, _ = synthetic
    features = stream_loader.packed_features(tokens[:3], eos_id=1)
    for r in range(3):
        row = tokens[r]
        docs = [d for d in np.split(row, np.nonzero(row == 1)[0] + 1) if len(d)]
        ds = tf.data.Dataset.from_generator(
            lambda: ({"targets": d} for d in docs),
            output_signature={"targets": tf.TensorSpec([None], tf.int32)})
        ref = next(seqio.LMFeatureConverter(pack=True)(ds, {"targets": LENGTH})
                   .as_numpy_iterator())
        for key, value in ref.items():
            np.testing.assert_array_equal(features[key][r], value, err_msg=key)


READER = """
import sys, numpy as np
from launch.inputs.stream_loader import StreamLoader
path, host, hosts, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
loader = StreamLoader(path, host, hosts)
np.savez(out, *[loader.batch(step, 8, [(4, 16)])["decoder_input_tokens"] for step in range(7)])
"""


def test_two_processes_read_the_batches_one_process_reads(synthetic, tmp_path):
    path, _, _ = synthetic
    env = {**os.environ, "PYTHONPATH": ROOT}
    procs = [subprocess.Popen([sys.executable, "-c", READER, path, str(h), str(n),
                               str(tmp_path / f"{h}of{n}.npz")], env=env, cwd=ROOT)
             for h, n in ((0, 1), (0, 2), (1, 2))]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    one = np.load(tmp_path / "0of1.npz")
    two = [np.load(tmp_path / f"{h}of2.npz") for h in (0, 1)]
    for key in one.files:
        np.testing.assert_array_equal(one[key], np.concatenate([t[key] for t in two]))


def test_reading_past_the_end_says_how_to_fix_it(synthetic):
    path, _, _ = synthetic
    loader = stream_loader.StreamLoader(path)
    with pytest.raises(stream_format.StreamError, match="larger --token_budget"):
        loader.batch(400 // BATCH, BATCH)


# ---------------------------------------------------------------------------------------------
# The Beam job, on the trainer tests' tiny mixture

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
    manifest = materialize.run([
        "--mixture", "tiny_mix", "--module", "tests.train_tasks", "--sequence_length",
        str(LENGTH), "--batch_size", str(BATCH), "--steps", "120", "--seed", "3",
        "--output_dir", out, "--num_shards", "3", *LOCAL_BEAM])
    return out, manifest


def test_job_writes_token_weighted_globally_shuffled_rows(tiny_stream):
    out, manifest = tiny_stream
    assert manifest["rows"] >= manifest["budget_rows"] == 120 * BATCH
    assert sorted(os.listdir(out)) == ["manifest.json"] + [
        stream_format.shard_name(i, 3) for i in range(3)]
    reader = stream_format.StreamReader(out)
    tokens, sources = reader.read(0, len(reader))
    counts = np.bincount(sources.ravel(), minlength=2)
    for i, source in enumerate(manifest["sources"]):
        assert source["tokens"] == counts[i]
        assert abs(source["token_share"] - 0.5) <= 0.01, source  # weights 1:1
        assert source["epochs"] > 1  # 20k tokens from small sources: repeated, and recorded
    # Globally shuffled: a source's rows are spread over the whole stream, not in runs.
    first = sources[:, 0]
    for i in range(2):
        where = np.nonzero(first == i)[0]
        assert where.min() < len(first) * 0.1 and where.max() > len(first) * 0.9
    assert np.mean(first[1:] != first[:-1]) > 0.3
    # Documents are joined by EOS (1) and split into rows: most rows hold several segments.
    assert np.mean((tokens == 1).sum(axis=1) >= 1) > 0.9


def test_the_stream_is_a_seqio_task(tiny_stream):
    import seqio

    from tasks.stream_task import register_stream

    out, manifest = tiny_stream
    name = register_stream(out)
    assert name == "tiny_mix.stream"
    rows = list(seqio.get_mixture_or_task(name).get_dataset(
        {"targets": LENGTH}, split="train", shuffle=False).take(5).as_numpy_iterator())
    tokens, _ = stream_format.StreamReader(out).read(0, 5)
    np.testing.assert_array_equal(np.stack([r["targets"] for r in rows]), tokens)


@pytest.mark.parametrize("change, message", [
    ({"--mixture": "no_such_mix"}, "registered mixtures: .*tiny_mix"),
    ({"--steps": None, "--token_budget": "100"}, "smaller than one batch"),
    ({"--no_such_flag": "1"}, "unknown flag"),
])
def test_bad_input_exits_2_and_writes_nothing(tiny, tmp_path, capsys, change, message):
    args = {"--mixture": "tiny_mix", "--module": "tests.train_tasks",
            "--sequence_length": str(LENGTH), "--batch_size": str(BATCH), "--steps": "4",
            "--output_dir": str(tmp_path / "out")}
    args.update(change)
    argv = [x for k, v in args.items() if v is not None for x in (k, v)]
    assert materialize.main(argv + LOCAL_BEAM) == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


def test_a_source_with_no_tokens_exits_2_and_writes_nothing(tiny, tmp_path, capsys):
    import functools

    import seqio
    import tensorflow as tf

    empty = tmp_path / "empty"
    empty.mkdir()
    with tf.io.TFRecordWriter(str(empty / "train-00000-of-00001.tfrecord")):
        pass
    features = {"targets": seqio.Feature(seqio.ByteVocabulary(), add_eos=True)}
    for name in ("tiny_empty.none", "tiny_empty"):
        for registry in (seqio.MixtureRegistry, seqio.TaskRegistry):
            if name in registry.names():
                registry.remove(name)
    seqio.TaskRegistry.add(
        "tiny_empty.none", source=seqio.TFExampleDataSource(
            {"train": str(empty / "train-*.tfrecord")},
            {"text": tf.io.FixedLenFeature([], tf.string)}),
        preprocessors=[functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text"}),
                       seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        output_features=features, metric_fns=[])
    seqio.MixtureRegistry.add("tiny_empty", [("tiny_mix.counting", 1), ("tiny_empty.none", 1)])
    out = tmp_path / "out"
    assert materialize.main(["--mixture", "tiny_empty", "--sequence_length", "64",
                             "--batch_size", "8", "--steps", "4", "--output_dir", str(out),
                             *LOCAL_BEAM]) == 2
    assert "tiny_empty.none" in capsys.readouterr().err and not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["empty"]


# ---------------------------------------------------------------------------------------------
# The trainer on the stream: kill -9 and resume reads the same batches

KILLER = """
import os, signal, sys, time
from launch import train
from launch.run import metrics
write = metrics.MetricsWriter.write
def write_then_die(self, step, scalars, *args, **kwargs):
    write(self, step, scalars, *args, **kwargs)
    if step == 5:
        for _ in range(600):  # checkpoint_3 complete on disk: the resume really starts at 3
            if os.path.isdir(os.path.join(os.path.dirname(self.path), "checkpoint_3")):
                break
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGKILL)
metrics.MetricsWriter.write = write_then_die
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_trainer_on_the_stream_resumes_exactly_after_kill_9(tiny_stream, tmp_path):
    out, _ = tiny_stream
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    extra = [f"--gin.TRAIN_STREAM='{out}'", "--gin.utils.SaveCheckpointConfig.period=3",
             "--gin.spikes.LossSpikeRecovery.skip_batches=8"]  # the stream's headroom
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    run = subprocess.run([sys.executable, "-m", "launch.train",
                          *train_tasks.train_args(straight, 6, *extra)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "materialised stream" in run.stderr
    killed = subprocess.run([sys.executable, "-c", KILLER,
                             *train_tasks.train_args(resumed, 6, *extra)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    done = subprocess.run([sys.executable, "-m", "launch.train",
                           *train_tasks.train_args(resumed, 6, *extra)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "resumed from" in done.stderr, done.stderr[-3000:]
    expected = {r["step"]: r["loss"] for r in train_tasks.read_metrics(straight)}
    for record in train_tasks.read_metrics(resumed):
        assert record["loss"] == expected[record["step"]], record["step"]


def test_a_stream_shorter_than_the_run_is_refused_before_anything_is_written(
        synthetic, tiny, tmp_path, capsys):
    """400 rows at batch 8 with skip_batches=2: 49 steps need 392 rows + 16 of spike headroom,
    one too many; the run exits 2 naming the rows, and MODEL_DIR is never made."""
    from launch.run import preflight
    from launch.utils import DatasetConfig

    path, _, _ = synthetic
    run = str(tmp_path / "run")
    args = train_tasks.train_args(run, 49, f"--gin.TRAIN_STREAM='{path}'",
                                  "--gin.spikes.LossSpikeRecovery.skip_batches=2")
    old = os.getcwd()
    os.chdir(ROOT)  # train_args' gin paths are relative to the repository
    try:
        assert train_cli.main(args) == 2
    finally:
        os.chdir(old)
    err = capsys.readouterr().err
    assert f"the training stream {path} holds 400 rows; steps 0 to 49 read rows up to 392, " \
        "plus 16 for one loss-spike recovery (2 skipped batches)" in err
    assert "materialise at least 408 rows" in err and not os.path.exists(run)
    cfg = DatasetConfig(mixture_or_task_name="tiny_mix", task_feature_lengths={"targets": LENGTH},
                        split="train", materialized_stream=path, batch_size=BATCH)
    for steps, fits in ((48, True), (49, False)):
        problems: list[str] = []
        preflight._check_stream_rows(cfg, start=0, examples=0, total_steps=steps,
                                     relative_steps=None, ramp=None, skip_batches=2,
                                     batches_ok=True, problems=problems)
        assert (not problems) == fits, problems


def test_run_report_reads_delivered_shares_from_the_stream(synthetic, tmp_path):
    from launch import run_report

    path, _, sources = synthetic
    delivered = run_report.stream_delivered(path, 100)
    counts = np.bincount(sources[:100].ravel(), minlength=3)
    assert delivered == {"a": counts[0], "b": counts[1], "c": counts[2]}
    config = tmp_path / "config.gin"
    config.write_text(f"TRAIN_STREAM = '{path}'\n")
    assert run_report._run_stream(str(config)) == path
    config.write_text("TRAIN_STREAM = None\n")
    assert run_report._run_stream(str(config)) is None
