"""tasks/: registration from a mixture spec, seqio's public API, the cache job."""

import json
import math
import os

import numpy as np
import pytest
import seqio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasks
from tasks.preprocessors import tokenize_batched

LENGTHS = {"targets": 128}


@pytest.fixture(scope="session")
def mixture(demo):
    name = tasks.register_mixture(demo["spec"], data_dir=demo["prep"], vocabulary=demo["model"])
    return name, demo


def test_registers_one_task_per_source_and_the_mixture(mixture):
    name, demo = mixture
    spec = tasks.load_mixture_spec(demo["spec"])
    assert name == "palm_demo"
    for source in spec.sources:
        task = seqio.get_mixture_or_task(f"palm_demo.{source.name}")
        assert set(task.splits) == {"train", "validation"}
    mixture = seqio.get_mixture_or_task(name)
    assert mixture.token_weights["palm_demo.conversations"] == pytest.approx(0.5)
    assert mixture.token_weights["palm_demo.news"] == pytest.approx(0.01)


def test_rates_are_token_true_at_the_requested_length(mixture):
    """rate = weight / mean tokens per example at the dataset's sequence length, so the expected
    token share of every task is its weight (issue 12: seqio's per-example rates gave books 17.9 %
    of tokens against 13 %)."""
    from tasks import mixture_rates

    name, _ = mixture
    m = seqio.get_mixture_or_task(name)
    m.get_dataset(LENGTHS, split="train", shuffle=False)
    rates = {t.name: m.get_rate(t) for t in m.tasks}
    assert rates == m.rates_at(LENGTHS["targets"])
    means = m.mean_tokens(LENGTHS["targets"])
    assert max(means.values()) <= LENGTHS["targets"]
    shares = mixture_rates.expected_token_shares(rates, means)
    assert shares == pytest.approx(m.token_weights, abs=1e-9)
    assert m.rates_at(None) != rates  # whole documents: other means, other rates


def test_registration_twice_is_harmless(mixture):
    name, demo = mixture
    before = seqio.get_mixture_or_task(name)
    assert tasks.register_mixture(demo["spec"], data_dir=demo["prep"],
                                  vocabulary=demo["model"]) == name
    assert seqio.get_mixture_or_task(name) is before


def test_packed_batches_with_public_api(mixture):
    name, _ = mixture
    ds = seqio.get_mixture_or_task(name).get_dataset(LENGTHS, split="train", shuffle=True,
                                                     seed=0, num_epochs=None)
    batches = list(seqio.LMFeatureConverter(pack=True)(ds, LENGTHS).batch(4).take(10)
                   .as_numpy_iterator())
    batch = batches[0]
    assert set(batch) == {"decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
                          "decoder_segment_ids", "decoder_positions"}
    assert all(v.shape == (4, 128) for v in batch.values())
    assert batch["decoder_segment_ids"].max() >= 1
    targets = np.concatenate([b["decoder_target_tokens"] for b in batches])
    segments = np.concatenate([b["decoder_segment_ids"] for b in batches])
    rows, cols = np.nonzero(targets == 1)
    assert len(rows)  # documents end in EOS, and an EOS ends its packed segment
    following = np.pad(segments, ((0, 0), (0, 1)))[rows, cols + 1]
    assert np.all(following != segments[rows, cols])


def test_validation_never_overlaps_train(mixture):
    name, _ = mixture
    for task in seqio.get_mixture_or_task(name).tasks:
        ids = {s: {ex["id"] for ex in task.source.get_dataset(split=s, shuffle=False)
                   .as_numpy_iterator()} for s in ("train", "validation")}
        assert ids["train"] and not ids["train"] & ids["validation"], task.name


def test_missing_paths_and_unknown_sources_are_named(mixture, tmp_path):
    _, demo = mixture
    with pytest.raises(tasks.MixtureSpecError, match="nope.model"):
        tasks.register_mixture(demo["spec"], data_dir=demo["prep"], vocabulary="/x/nope.model")
    spec = tmp_path / "other.yaml"
    spec.write_text(f"name: other\nvocabulary: {demo['model']}\ndata_dir: {demo['prep']}\n"
                    "sources:\n  - {name: ghost, weight: 1}\n")
    with pytest.raises(tasks.MixtureSpecError, match="ghost"):
        tasks.register_mixture(str(spec))


def test_unregistered_name_says_how_to_register():
    with pytest.raises(ValueError, match=r"register_mixture\(.*specs found"):
        tasks.get_mixture_or_task("not_registered_anywhere")


def _import_from_env(monkeypatch, **env):
    """A fresh import of tasks.from_env under `env` (sys.modules is restored afterwards)."""
    import importlib
    import sys

    for name in ("PALM_TASKS_SPEC", "PALM_TASKS_STREAM", "PALM_TASKS_DATA_DIR",
                 "PALM_TASKS_VOCABULARY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "tasks.from_env", raising=False)
    return importlib.import_module("tasks.from_env")


def test_a_name_missing_after_from_env_names_the_variable_it_read(mixture, monkeypatch):
    from launch.inputs import data as data_lib

    _, demo = mixture
    _import_from_env(monkeypatch, PALM_TASKS_SPEC=demo["spec"], PALM_TASKS_DATA_DIR=demo["prep"],
                     PALM_TASKS_VOCABULARY=demo["model"])
    with pytest.raises(ValueError) as error:
        data_lib.lookup("my_own_mix")
    assert f"registered the mixture 'palm_demo' from $PALM_TASKS_SPEC={demo['spec']}" in \
        str(error.value)
    assert "$PALM_TASKS_STREAM is not set" in str(error.value)


def test_from_env_without_its_variable_says_to_set_it(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=r"PALM_TASKS_SPEC is not set: set PALM_TASKS_SPEC="):
        _import_from_env(monkeypatch, PALM_TASKS_VOCABULARY=str(tmp_path / "no_such.model"))


@pytest.fixture(scope="module")
def news_cache(mixture, tmp_path_factory):
    """palm_demo.news cached by seqio's Beam job (tasks.cache); the cache dir is then global."""
    from tasks import cache

    _, demo = mixture
    out = str(tmp_path_factory.mktemp("cache"))
    cache.run(["--spec", demo["spec"], "--output_cache_dir", out, "--data_dir", demo["prep"],
               "--vocabulary", demo["model"], "--tasks", r"palm_demo\.news", "--min_shards", "1"])
    return out


def test_cached_equals_uncached(news_cache):
    task = seqio.get_mixture_or_task("palm_demo.news")
    assert task.cache_dir
    for split in ("train", "validation"):
        kw = dict(split=split, shuffle=False)
        uncached = sorted(tuple(ex["targets"]) for ex in task.get_dataset(
            LENGTHS, use_cached=False, **kw).as_numpy_iterator())
        cached = sorted(tuple(ex["targets"]) for ex in task.get_dataset(
            LENGTHS, use_cached=True, **kw).as_numpy_iterator())
        assert cached == uncached and cached


def test_cache_job_shows_progress_and_a_summary(mixture, tmp_path, caplog, capsys):
    """Progress per task and split while seqio's job runs (multi-processing, as the demo
    runs it), and per task and split the examples and tokens at the end."""
    import json
    import logging

    from tasks import cache

    _, demo = mixture
    caplog.set_level(logging.INFO, logger="pipeline.progress")
    out = str(tmp_path / "cache")
    [task_dir] = cache.run([
        "--spec", demo["spec"], "--output_cache_dir", out, "--data_dir", demo["prep"],
        "--vocabulary", demo["model"], "--tasks", r"palm_demo\.books", "--min_shards", "1",
        "--direct_running_mode=multi_processing", "--direct_num_workers=2",
        "--progress_seconds=0.2"])
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    stats = {split: json.load(open(f"{task_dir}/stats.{split}.json"))
             for split in ("train", "validation")}
    assert lines and all(line.startswith("cache progress ") for line in lines)
    for split in ("train", "validation"):
        assert f"palm_demo.books {split} {stats[split]['examples']:,} (" in lines[-1]
    printed = capsys.readouterr().out
    assert f"books train: {stats['train']['examples']:,} examples, targets " in printed
    assert f"-> {task_dir}" in printed
    # The writer's group-by-shard moves every example (text and tokens): more than the input.
    volume = float(printed.split("crossed a shuffle (")[1].split(" per input byte")[0])
    assert volume > 1.0
    # seqio's classes are back once the pipeline is built
    from seqio import beam_utils
    assert beam_utils.PreprocessTask.__module__ == "seqio.beam_utils"
    assert beam_utils.WriteExampleTfRecord.__module__ == "seqio.beam_utils"


def _cache_run(cache, argv):
    """tasks.cache.run, with seqio's global cache dirs as they were before it."""
    saved = list(seqio.get_global_cache_dirs())  # a copy: seqio appends to its list
    try:
        return cache.run(argv)
    finally:
        seqio.set_global_cache_dirs(saved)


def test_two_cache_runs_write_identical_files(mixture, tmp_path):
    """Examples go to shards by a hash of their bytes (Beam's fixed-shard writer starts its
    round-robin at a random shard), so reruns give byte-identical caches that seqio reads."""
    import glob
    import hashlib

    from tasks import cache

    _, demo = mixture
    digests = []
    for run in ("a", "b"):  # each run's cache is forgotten (seqio skips a cached task)
        [task_dir] = _cache_run(cache, [
            "--spec", demo["spec"], "--output_cache_dir", str(tmp_path / run),
            "--data_dir", demo["prep"], "--vocabulary", demo["model"],
            "--tasks", r"palm_demo\.wikipedia", "--min_shards", "3",
            "--direct_running_mode=in_memory", "--progress_seconds=0"])
        files = sorted(glob.glob(f"{task_dir}/*"))
        digests.append({os.path.basename(f): hashlib.sha256(open(f, "rb").read()).hexdigest()
                        for f in files})
    shards = [name for name in digests[0] if name.startswith("train.tfrecord-")]
    n = len(shards)  # max(input shards, --min_shards), as seqio decides
    assert n >= 3 and sorted(shards) == [f"train.tfrecord-{i:05d}-of-{n:05d}" for i in range(n)]
    assert digests[0] == digests[1]
    # Every example written once, as a tf.train.Example (test_cached_equals_uncached reads
    # a cache made by this writer through seqio).
    import tensorflow as tf

    records = list(tf.data.TFRecordDataset(
        [f"{task_dir}/{name}" for name in sorted(shards)]).as_numpy_iterator())
    stats = json.load(open(f"{task_dir}/stats.train.json"))
    assert len(records) == stats["examples"] > 0
    assert all(tf.train.Example.FromString(r).features.feature["targets"].int64_list.value
               for r in records)


# --------------------------------------------------------------------------------------------
# tokenize_batched: the same examples as seqio.preprocessors.tokenize, in the same order

AWKWARD = st.one_of(
    st.just(""), st.text(max_size=40),
    st.text(alphabet="日本語の文章中文字符😀🎉👩‍💻 \t\n\u00a0\u2581é", max_size=60),
    st.from_regex(r"[ \t\n]{1,12}", fullmatch=True),
    st.builds(lambda word, n: word * n, st.sampled_from(["ab ", "💻", "長", "x\n"]),
              st.integers(200, 2000)))


def texts_dataset(texts):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        {"targets": tf.constant(texts, tf.string),
         "id": tf.constant([f"doc-{i}" for i in range(len(texts))])})


def as_lists(ds):
    return [{k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in ex.items()}
            for ex in ds.as_numpy_iterator()]


@pytest.fixture(scope="module")
def features(demo):
    return tasks.output_features(demo["model"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(AWKWARD, min_size=1, max_size=9), batch_size=st.sampled_from([1, 2, 4, 64]))
def test_tokenize_batched_equals_seqio_tokenize(features, texts, batch_size):
    reference = seqio.preprocessors.tokenize(texts_dataset(texts), features)
    batched = tokenize_batched(texts_dataset(texts), features, batch_size=batch_size)
    assert batched.element_spec == reference.element_spec
    expected = as_lists(reference)
    assert as_lists(batched) == expected
    assert [ex["targets_pretokenized"].decode() for ex in expected] == texts


def test_tokenize_batched_across_batch_boundaries_and_nondeterministic_options(features):
    import tensorflow as tf

    texts = [f"{i} " + "word " * (i % 37) + "😀" * (i % 3) for i in range(203)]
    expected = as_lists(seqio.preprocessors.tokenize(texts_dataset(texts), features))
    options = tf.data.Options()
    options.deterministic = False  # the batched map must keep the order regardless
    for batch_size in (1, 10, 64, 203, 500):  # 203 = 7 x 29: most sizes leave a remainder
        ds = tokenize_batched(texts_dataset(texts), features, batch_size=batch_size)
        assert as_lists(ds.with_options(options)) == expected, batch_size
    without_copy = tokenize_batched(texts_dataset(texts), features, copy_pretokenized=False)
    assert "targets_pretokenized" not in without_copy.element_spec


def test_tokenize_batched_rejects_what_it_cannot_batch(features):
    import tensorflow as tf

    lists = tf.data.Dataset.from_tensor_slices({"targets": [["a", "b"]]})
    with pytest.raises(ValueError, match="'targets' must be a scalar string"):
        tokenize_batched(lists, features)
    ragged_other = tf.data.Dataset.from_tensor_slices(
        {"targets": ["a", "b"], "ids": tf.ragged.constant([[1], [2, 3]])})
    with pytest.raises(ValueError, match="'ids' has a variable shape"):
        tokenize_batched(ragged_other, features)
    bytes_features = {"targets": seqio.Feature(seqio.ByteVocabulary())}
    with pytest.raises(ValueError, match="ByteVocabulary"):
        tokenize_batched(texts_dataset(["a"]), bytes_features)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        tokenize_batched(texts_dataset(["a"]), features, batch_size=0)


def test_tasks_tokenize_in_batches(mixture):
    task = seqio.get_mixture_or_task("palm_demo.news")
    assert tokenize_batched in task.preprocessors
    assert seqio.preprocessors.tokenize not in task.preprocessors


# --------------------------------------------------------------------------------------------
# split_to_sequence_length: long documents become consecutive pieces, nothing is trimmed


def token_dataset(sequences):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices({
        "targets": tf.ragged.constant(sequences, dtype=tf.int32),
        "targets_pretokenized": [f"text {i}" for i in range(len(sequences))],
        "id": [f"doc-{i}" for i in range(len(sequences))]}).map(
            lambda ex: {**ex, "targets": ex["targets"]})  # ragged rows -> 1-D tensors


@settings(max_examples=10, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8), length=st.integers(1, 12))
def test_split_to_sequence_length_keeps_every_token_in_order(features, sizes, length):
    from tasks.preprocessors import split_to_sequence_length

    sequences = [list(range(100 * i, 100 * i + n)) for i, n in enumerate(sizes)]
    pieces = as_lists(split_to_sequence_length(token_dataset(sequences), features,
                                               {"targets": length}))
    expected = [(f"doc-{i}".encode(), seq[start:start + length])
                for i, seq in enumerate(sequences) for start in range(0, max(len(seq), 1), length)]
    assert [(p["id"], p["targets"]) for p in pieces] == expected
    assert all("targets_pretokenized" not in p for p in pieces)
    unsplit = split_to_sequence_length(token_dataset(sequences), features, None)
    assert [p["targets"] for p in as_lists(unsplit)] == sequences


def test_task_pieces_are_the_whole_documents_with_one_eos(mixture):
    task = seqio.get_mixture_or_task("palm_demo.books")  # documents far longer than 128 tokens
    kw = dict(split="train", shuffle=False, use_cached=False)
    documents = [ex["targets"] for ex in task.get_dataset(None, **kw).as_numpy_iterator()]
    pieces = [ex["targets"] for ex in task.get_dataset(LENGTHS, **kw).as_numpy_iterator()]
    assert max(len(d) for d in documents) > 4 * LENGTHS["targets"]
    assert all(len(p) <= LENGTHS["targets"] for p in pieces)
    assert np.array_equal(np.concatenate(pieces), np.concatenate(documents))
    assert int(np.sum(np.concatenate(documents) == 1)) == len(documents)  # EOS ends each once
    assert all(d[-1] == 1 for d in documents)


# --------------------------------------------------------------------------------------------
# Mixture proportions: drawn from the Mixture's own get_dataset

def write_tagged_sources(data_dir, docs_per_source: dict[str, int]) -> None:
    """A prep-output layout whose every text starts with its source's digit tag ("0 ...")."""
    import tensorflow as tf

    for tag, (source, count) in enumerate(docs_per_source.items()):
        folder = data_dir / source
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(
            {"complete": True, "documents_out": {"train": count, "validation": 2}}))
        for split, n in (("train", count), ("validation", 2)):
            with tf.io.TFRecordWriter(str(folder / f"{split}-00000-of-00001.tfrecord")) as w:
                for i in range(n):
                    text = f"{tag} tagged {source} document {i} of {split}"
                    w.write(tf.train.Example(features=tf.train.Features(feature={
                        "text": tf.train.Feature(bytes_list=tf.train.BytesList(
                            value=[text.encode()])),
                        "id": tf.train.Feature(bytes_list=tf.train.BytesList(
                            value=[f"{source}-{split}-{i}".encode()])),
                    })).SerializeToString())


@pytest.fixture(scope="module")
def tagged(demo, tmp_path_factory):
    """Mixture 'tagged' of three sources with weights 6 : 3 : 1 and different sizes."""
    root = tmp_path_factory.mktemp("tagged")
    sizes = {"alpha": 60, "beta": 10, "gamma": 30}
    write_tagged_sources(root / "prep", sizes)
    spec = root / "tagged.yaml"
    spec.write_text(f"name: tagged\nvocabulary: {demo['model']}\ndata_dir: {root / 'prep'}\n"
                    "sources:\n  - {name: alpha, weight: 6}\n  - {name: beta, weight: 3}\n"
                    "  - {name: gamma, weight: 1}\n")
    name = tasks.register_mixture(str(spec))
    return name, str(spec), sizes


def test_mixture_token_shares_match_weights(tagged):
    """Weights are shares of TOKENS (PaLM Table 2): the sources' documents differ in length, so
    the Mixture's example rates differ from the weights and its token shares equal them."""
    name, spec, sizes = tagged
    weights = tasks.load_mixture_spec(spec).normalized_weights()
    mix = seqio.get_mixture_or_task(name)
    vocab = mix.output_features["targets"].vocabulary
    tag_ids = {}  # digits are always single pieces (split_digits): the first token names the task
    for tag, source in enumerate(sizes):
        (tag_ids[vocab.encode(str(tag))[0]],) = [source]
    n = 6000
    ds = mix.get_dataset({"targets": 64}, split="train", shuffle=True, seed=3)  # one piece each
    examples = [ex["targets"] for ex in ds.take(n).as_numpy_iterator()]
    first = np.array([ex[0] for ex in examples])
    lengths = np.array([len(ex) for ex in examples])
    assert set(first) <= set(tag_ids)  # every example came from one of the tagged tasks
    tokens = {source: int(lengths[first == tid].sum()) for tid, source in tag_ids.items()}
    total = sum(tokens.values())
    for source, w in weights.items():
        assert abs(tokens[source] / total - w) < 0.025, (source, tokens, w)
    examples_share = {s: np.mean(first == t) for t, s in tag_ids.items()}
    rates = {t.name.split(".")[1]: mix.get_rate(t) for t in mix.tasks}
    assert rates != pytest.approx(weights)  # per-example rates are not the weights...
    for source in weights:  # ...and the examples follow the rates
        assert abs(examples_share[source] - rates[source]) < 0.025


def test_rate_table_shows_weight_rate_and_expected_token_share(tagged):
    from tasks.mixture_rates import format_mixture_table
    from tasks.token_mixture import rate_table

    name, spec, _ = tagged
    rows = rate_table(name, 64)
    weights = {f"tagged.{k}": v for k, v in tasks.load_mixture_spec(spec).normalized_weights()
               .items()}
    assert {r["task"] for r in rows} == set(weights)
    for r in rows:
        assert r["expected_token_share"] == pytest.approx(weights[r["task"]])
        assert r["weight"] == pytest.approx(weights[r["task"]])
    assert [round(r["rate"], 6) for r in rows] != [round(r["weight"], 6) for r in rows]
    text = format_mixture_table(rows, 64)
    assert "at sequence length 64" in text and "token share" in text
    assert rate_table("tagged.alpha", 64) is None  # a lone Task has no mixing rates


# --------------------------------------------------------------------------------------------
# python -m tasks.inspect_mixture

def test_token_counts_by_tokenizing_equal_the_task_output_and_the_cache_stats(news_cache):
    from tasks import inspect_mixture, mixture_stats

    task = seqio.get_mixture_or_task("palm_demo.news")
    for split in ("train", "validation"):
        examples = list(task.get_dataset(None, split=split, shuffle=False, use_cached=False)
                        .as_numpy_iterator())
        truth = {"examples": len(examples), "tokens": sum(len(ex["targets"]) for ex in examples)}
        assert inspect_mixture.tokenized_counts("palm_demo.news", split, batch_size=7,
                                                progress=False) == truth
        assert mixture_stats.cached_token_counts(news_cache, ["palm_demo.news"], split) == {
            "palm_demo.news": truth}
        counted = inspect_mixture.token_counts("palm_demo.news", split)
        assert counted["counted_from"].startswith("cache stats")
        assert {k: counted[k] for k in truth} == truth


def test_inspect_json_weights_examples_and_epochs(tagged, capsys):
    from tasks import inspect_mixture

    name, spec, sizes = tagged
    budget = 2000.0
    assert inspect_mixture.main([spec, "--json", "--num_examples", "2", "--chars", "12",
                                 "--token_budget", str(budget), "--max_epochs", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "tagged" and report["split"] == "train"
    by_task = {t["task"]: t for t in report["tasks"]}
    assert {t: round(v["weight"], 6) for t, v in by_task.items()} == {
        "tagged.alpha": 0.6, "tagged.beta": 0.3, "tagged.gamma": 0.1}
    for t in by_task.values():
        assert t["examples"] == sizes[t["task"].split(".")[1]]
        assert t["counted_from"] == "tokenized"
        assert math.isclose(t["epochs"], t["weight"] * budget / t["tokens"])
        shown = t["examples_shown"]
        assert len(shown) == 2 and all(len(ex["text"]) <= 12 and ex["truncated"] for ex in shown)
        tag = list(sizes).index(t["task"].split(".")[1])
        assert shown[0]["text"] == f"{tag} tagged {t['task'].split('.')[1]}"[:12]
    assert report["total_tokens"] == sum(t["tokens"] for t in by_task.values())
    assert report["over_repeated"] == sorted(
        t for t, v in by_task.items() if v["epochs"] > 3) and report["over_repeated"]


def test_inspect_table_names_a_task_and_warns(tagged, capsys):
    from tasks import inspect_mixture

    assert inspect_mixture.main(["tagged.gamma", "--num_examples", "1",
                                 "--token_budget", "1e6"]) == 0
    out = capsys.readouterr().out
    assert "tagged.gamma" in out and "1.0000" in out and "WARNING: tagged.gamma" in out
    assert "[0]" in out and "0 tagged" not in out and "2 tagged gamma" in out


def test_inspect_errors_name_what_is_wrong(tagged, capsys):
    from tasks import inspect_mixture

    assert inspect_mixture.main(["no_such_mixture"]) == 2
    err = capsys.readouterr().err
    assert "unknown mixture or task 'no_such_mixture'" in err and "tagged" in err
    assert "palm_demo.yaml" in err
    assert inspect_mixture.main(["/nowhere/spec.yaml"]) == 2
    assert "mixture spec not found: '/nowhere/spec.yaml'" in capsys.readouterr().err


def test_epochs_per_source_arithmetic():
    from tasks.mixture_stats import MixtureStatsError, epochs_per_source, over_repeated

    epochs = epochs_per_source({"a": 3, "b": 1, "c": 0}, {"a": 100, "b": 10, "c": 5}, 400)
    assert epochs == {"a": 3.0, "b": 10.0, "c": 0.0}
    assert over_repeated(epochs, 4) == ["b"]
    assert epochs_per_source({"a": 1}, {"a": 0}, 10) == {"a": math.inf}
    with pytest.raises(MixtureStatsError, match=r"\['b'\]"):
        epochs_per_source({"a": 1, "b": 1}, {"a": 1}, 10)


def test_cache_job_rejects_a_misspelt_flag_and_writes_nothing(tmp_path, capsys):
    from tasks import cache
    out = tmp_path / "cache"
    args = ["--spec", str(tmp_path / "spec.yaml"), "--output_cache_dir", str(out)]
    assert cache.main(args + ["--min_shrads=2"]) == 2
    assert "unknown flag --min_shrads; did you mean --min_shards?" in capsys.readouterr().err
    assert not out.exists()
