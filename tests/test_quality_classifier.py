"""Quality classifier: training separates good from junk text, the saved model is safe and
reloads exactly, GLaM's Pareto rule keeps what numpy's pareto would, and the Beam stage is
deterministic with one or two workers."""

import io
import json
import os
import zipfile

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from scipy import stats as scipy_stats

from launch import demo_corpus
from pipeline import quality_model
from pipeline.corpus_stage import write_summaries
from pipeline.document import make_document
from pipeline.quality_classifier import QualityClassifier, QualityClassifierConfig
from pipeline.spec import SpecError


def _good(composer: demo_corpus.Composer) -> str:
    return "\n\n".join(composer.paragraph(3, 6) for _ in range(3))


def _junk(b: demo_corpus.SourceBuild, i: int) -> str:
    kind = i % 4
    if kind == 0:
        return demo_corpus.symbol_soup(b.rng)
    if kind == 1:
        return "\n\n".join(demo_corpus.lorem_paragraphs(b.rng, 3))
    if kind == 2:
        return demo_corpus.bullet_text(b)
    return demo_corpus.repetitive_text(b)[0]


@pytest.fixture(scope="module")
def texts():
    """Book/wikipedia-like prose and junk web text from the demo corpus's generators."""
    # The email package's docstrings: enough English prose, read in a fraction of a second.
    pool = demo_corpus.build_pool(os.path.join(demo_corpus.stdlib_root(), "email"))
    build = demo_corpus.SourceBuild("web", "webpages", "jsonl", "web", 0, pool)
    good = [_good(build.compose) for _ in range(240)]
    junk = [_junk(build, i) for i in range(240)]
    return good, junk


@pytest.fixture(scope="module")
def trained(texts):
    good, junk = texts
    features = quality_model.FeatureSettings(num_features=2 ** 16)
    training = quality_model.TrainingSettings(heldout_fraction=0.25, seed=1)
    return quality_model.train_model(
        [(f"g{i}", t) for i, t in enumerate(good[:160])],
        [(f"j{i}", t) for i, t in enumerate(junk[:160])], features, training)


def test_classifier_separates_good_from_junk(trained, texts):
    good, junk = texts
    meta = trained.metadata
    assert meta["heldout_auc"] is not None and meta["heldout_auc"] >= 0.95
    assert meta["heldout"]["positive"] + meta["train"]["positive"] == 160
    assert meta["heldout"]["negative"] > 10  # the held-out split really holds documents out
    # documents the model never saw
    unseen_good, unseen_junk = trained.score(good[160:]), trained.score(junk[160:])
    assert np.median(unseen_good) > 0.5 > np.median(unseen_junk)
    from sklearn.metrics import roc_auc_score
    labels = [1] * len(unseen_good) + [0] * len(unseen_junk)
    assert roc_auc_score(labels, np.concatenate([unseen_good, unseen_junk])) >= 0.95


def _shuffled(texts, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(np.asarray(t.split())[rng.permutation(len(t.split()))].tolist())
            for t in texts]


def test_word_order_features_catch_shuffled_prose(trained, texts):
    """Real prose the model never saw scores well above the same prose shuffled; a bag of
    words and word pairs trained on the same sample barely tells them apart."""
    good, junk = texts
    real, shuffled = trained.score(good[160:]), trained.score(_shuffled(good[160:]))
    assert trained.metadata["samples"]["shuffled_positives_as_negative"] > 40
    bag = quality_model.train_model(
        [(f"g{i}", t) for i, t in enumerate(good[:160])],
        [(f"j{i}", t) for i, t in enumerate(junk[:160])],
        quality_model.FeatureSettings(num_features=2 ** 16, order_features=0),
        quality_model.TrainingSettings(heldout_fraction=0.25, seed=1, shuffled_negatives=0.0))
    bag_gap = np.mean(bag.score(good[160:])) - np.mean(bag.score(_shuffled(good[160:])))
    gap = np.mean(real) - np.mean(shuffled)
    assert gap > 0.25 and gap > 3 * bag_gap
    assert np.median(trained.score(junk[160:])) < np.median(shuffled) < np.median(real)


def test_too_few_or_unbalanced_examples_are_warned_about(texts):
    good, junk = texts
    model = quality_model.train_model(
        [(f"g{i}", t) for i, t in enumerate(good[:184])],
        [(f"j{i}", t) for i, t in enumerate(junk[:3])],
        quality_model.FeatureSettings(num_features=2 ** 12),
        quality_model.TrainingSettings(heldout_fraction=0.1, seed=1, shuffled_negatives=0.0))
    warnings = model.metadata["warnings"]
    assert any("too few examples to train on: 3 negative against 184 positive" in w
               for w in warnings)
    assert any(w.startswith("held-out AUC n/a") for w in warnings) == \
        (model.metadata["heldout_auc"] is None)
    unbalanced = quality_model.sample_warnings(
        {"samples": {"positive": 900, "negative": 60}, "heldout_auc": 0.9,
         "heldout": {"positive": 90, "negative": 6}})
    assert unbalanced == ["classes too unbalanced: 900 positive against 60 negative "
                          "(more than 10:1)"]
    assert quality_model.sample_warnings(
        {"samples": {"positive": 200, "negative": 180}, "heldout_auc": 0.97,
         "heldout": {"positive": 20, "negative": 18}}) == []


def test_training_is_deterministic(texts):
    good, junk = texts
    args = ([(f"g{i}", t) for i, t in enumerate(good[:40])],
            [(f"j{i}", t) for i, t in enumerate(junk[:40])],
            quality_model.FeatureSettings(num_features=2 ** 12),
            quality_model.TrainingSettings(heldout_fraction=0.2))
    a = quality_model.train_model(*args)
    b = quality_model.train_model(args[0][::-1], args[1][::-1], *args[2:])
    assert a.version == b.version


def test_training_on_references_reads_texts_a_chunk_at_a_time_and_gives_the_same_model(
        texts, monkeypatch):
    """With `read`, the sample is (id, reference) and texts are read while featurising: the
    same model (weights, version, metadata) as training on the texts, shuffled negatives and
    ties of equal ids included, and never more than a chunk of texts read but unfeaturised."""
    good, junk = texts
    positives = [(f"d{i % 50}", t) for i, t in enumerate(good[:60])]  # ids d0..d9 twice
    negatives = [(f"d{i % 45}", t) for i, t in enumerate(junk[:60])]  # and shared with these
    features = quality_model.FeatureSettings(num_features=2 ** 12)
    training = quality_model.TrainingSettings(heldout_fraction=0.2, shuffled_negatives=0.5)
    on_texts = quality_model.train_model(positives, negatives, features, training)

    monkeypatch.setattr(quality_model, "FEATURE_CHUNK", 16)
    store = {("p", i): t for i, (_, t) in enumerate(positives)}
    store.update({("n", i): t for i, (_, t) in enumerate(negatives)})
    pending, featurising = [], []
    real_features = quality_model.QualityModel.features

    def features_of(self, chunk):
        featurising.append(True)
        pending.clear()  # what was read is featurised now
        return real_features(self, chunk)

    def read(key):  # (before the first chunk, ties of equal ids are ordered by their texts)
        pending.append(key)
        assert not featurising or len(pending) <= 16
        return store[key]

    monkeypatch.setattr(quality_model.QualityModel, "features", features_of)
    on_refs = quality_model.train_model(
        [(i, ("p", n)) for n, (i, _) in enumerate(positives)],
        [(i, ("n", n)) for n, (i, _) in enumerate(negatives)], features, training, read=read)
    assert on_refs.version == on_texts.version
    assert np.array_equal(on_refs.weights, on_texts.weights)
    assert on_refs.metadata == on_texts.metadata
    assert on_texts.metadata["samples"]["shuffled_positives_as_negative"] > 0


def test_save_load_round_trip_scores_identically_and_holds_no_pickle(trained, texts, tmp_path):
    path = str(tmp_path / "model.npz")
    version = quality_model.save_model(trained, path)
    assert version == trained.version
    with np.load(path, allow_pickle=False) as data:  # would raise on an object array
        for name in data.files:
            assert data[name].dtype != object
        assert str(data["version"]) == version
    with zipfile.ZipFile(path) as z:  # every member is a plain .npy array
        assert all(n.endswith(".npy") for n in z.namelist())
    loaded = quality_model.load_model(path)
    assert loaded.version == version and loaded.settings == trained.settings
    sample = texts[0][:20] + texts[1][:20]
    np.testing.assert_array_equal(loaded.score(sample), trained.score(sample))
    assert loaded.metadata["heldout_auc"] == trained.metadata["heldout_auc"]


def test_load_refuses_a_changed_or_foreign_file(trained, tmp_path):
    blob = quality_model.model_bytes(trained)
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["weights"] = arrays["weights"].copy()
    arrays["weights"][0] += 1.0
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **arrays)
    with pytest.raises(ValueError, match="does not match its contents"):
        quality_model.load_model(str(tampered))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a quality model"):
        quality_model.load_model(str(foreign))
    with pytest.raises(FileNotFoundError, match="cannot read"):
        quality_model.load_model(str(tmp_path / "missing.npz"))


def test_pareto_draws_follow_numpys_pareto_which_is_lomax():
    """numpy's pareto(a) is Lomax: survival (1 + t)^-a from t = 0; our draws match it."""
    alpha, n = 9.0, 20000
    ids = [f"doc{i}" for i in range(n)]
    ours = quality_model.pareto_draws(quality_model.unit_interval(3, "pareto", ids), alpha)
    numpys = np.random.default_rng(0).pareto(alpha, n)
    assert scipy_stats.ks_2samp(ours, numpys).pvalue > 1e-3
    assert scipy_stats.kstest(ours, scipy_stats.lomax(alpha).cdf).pvalue > 1e-3
    assert ours.min() >= 0.0  # Lomax starts at 0; the classical Pareto would start at 1


@pytest.mark.parametrize("alpha", [9.0, 2.0])
def test_pareto_keep_rate_matches_the_analytic_expectation(alpha):
    n = 40000
    ids = [f"{i:016x}" for i in range(n)]
    for score in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
        kept = quality_model.pareto_keep(np.full(n, score), ids, alpha, seed=7)
        expected = float(quality_model.pareto_keep_probability(np.array([score]), alpha)[0])
        assert expected == pytest.approx((2.0 - score) ** -alpha)
        sigma = np.sqrt(expected * (1 - expected) / n)
        assert abs(kept.mean() - expected) <= 4 * sigma + 1e-9, (score, kept.mean(), expected)


def test_pareto_decisions_depend_on_seed_and_id_only():
    ids = [f"id-{i}" for i in range(2000)]
    scores = np.linspace(0, 1, len(ids))
    a = quality_model.pareto_keep(scores, ids, 3.0, seed=0)
    order = np.random.default_rng(1).permutation(len(ids))  # other batch order and grouping
    b = np.empty_like(a)
    for chunk in np.array_split(order, 7):
        b[chunk] = quality_model.pareto_keep(scores[chunk], [ids[i] for i in chunk], 3.0, seed=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, quality_model.pareto_keep(scores, ids, 3.0, seed=1))


# ---------------------------------------------------------------------------------------------
# The Beam stage.

def _documents(texts):
    good, junk = texts
    docs = []
    for i, t in enumerate(good[:60]):
        docs.append(make_document(source="books", role="books", location=f"b{i}", text=t))
    for i in range(60):  # the web: half prose, half junk
        t = good[60 + i] if i % 2 else junk[i]
        docs.append(make_document(source="web", role="webpages", location=f"w{i}", text=t))
    for i, t in enumerate(junk[60:80]):  # a source the stage neither samples nor scores
        docs.append(make_document(source="forum", role="conversations", location=f"f{i}",
                                  text=t))
    return docs


def _run(docs, config, stats_dir, out_dir, workers: int = 0):
    argv = (["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
            if workers else ["--direct_running_mode=in_memory"])
    p = beam.Pipeline(options=PipelineOptions(argv))
    kept, rejected, summaries = p | beam.Create(docs) | QualityClassifier(config, str(stats_dir))
    write_summaries(summaries, str(stats_dir))
    for name, pcoll in (("kept", kept), ("rejected", rejected)):
        (pcoll | f"{name}_json" >> beam.Map(json.dumps, sort_keys=True)
         | f"{name}_write" >> beam.io.WriteToText(os.path.join(out_dir, name)))
    result = p.run()
    result.wait_until_finish()
    out = {}
    for name in ("kept", "rejected"):
        lines = []
        for f in sorted(os.listdir(out_dir)):
            if f.startswith(name + "-"):
                with open(os.path.join(out_dir, f)) as fh:
                    lines += [json.loads(line) for line in fh]
        out[name] = sorted(lines, key=lambda d: d["id"])
    counters = {(c.key.metric.namespace, c.key.metric.name): c.committed
                for c in result.metrics().query(MetricsFilter())["counters"]}
    return out, counters


TRAIN_CONFIG = {"positive_sources": ["books"], "negative_sources": ["web"], "apply_to": ["web"],
                "sample_per_class": 50, "heldout_fraction": 0.2, "num_features": 4096,
                "pareto_alpha": 3.0, "seed": 5}


@pytest.mark.slow
def test_stage_gives_the_same_outputs_with_one_or_two_workers_and_on_reruns(texts, tmp_path):
    docs = _documents(texts)
    config = QualityClassifierConfig.from_mapping(TRAIN_CONFIG)
    one, _ = _run(docs, config, tmp_path / "s1", str(tmp_path / "o1"))
    two, _ = _run(docs, config, tmp_path / "s2", str(tmp_path / "o2"), workers=2)
    rerun, _ = _run(docs[::-1], config, tmp_path / "s3", str(tmp_path / "o3"))
    assert one == two == rerun
    for name in ("quality_scores.json", "quality_model.npz"):
        assert (tmp_path / "s1" / name).read_bytes() == (tmp_path / "s2" / name).read_bytes() \
            == (tmp_path / "s3" / name).read_bytes()


def test_stage_trains_scores_and_samples(texts, tmp_path):
    docs = _documents(texts)
    config = QualityClassifierConfig.from_mapping(TRAIN_CONFIG)
    one, counters = _run(docs, config, tmp_path / "s1", str(tmp_path / "o1"))
    model_stats = json.loads((tmp_path / "s1" / "quality_model.json").read_text())
    assert model_stats["samples"] == {"positive": 50, "negative": 50,
                                      "shuffled_positives_as_negative": 27}
    assert model_stats["warnings"] == []
    assert model_stats["heldout_auc"] is not None
    model = quality_model.load_model(str(tmp_path / "s1" / "quality_model.npz"))
    assert model.version == model_stats["model_version"]

    web = [d for d in one["kept"] if d["source"] == "web"] + one["rejected"]
    assert len(web) == 60 and all(r["reason"] == "quality_classifier.pareto"
                                  for r in one["rejected"])
    scores = np.array([d["meta"]["quality_score"] for d in web])
    np.testing.assert_array_equal(scores, model.score([d["text"] for d in web]))
    kept_ids = {d["id"] for d in one["kept"]}
    expected = quality_model.pareto_keep(scores, [d["id"] for d in web], 3.0, seed=5)
    assert [d["id"] in kept_ids for d in web] == expected.tolist()
    # other sources pass through unscored
    assert all("quality_score" not in d["meta"] for d in one["kept"] if d["source"] != "web")
    assert sum(d["source"] == "books" for d in one["kept"]) == 60
    assert sum(d["source"] == "forum" for d in one["kept"]) == 20

    hist = json.loads((tmp_path / "s1" / "quality_scores.json").read_text())
    assert list(hist["sources"]) == ["web"]
    web_hist = hist["sources"]["web"]
    assert sum(web_hist["histogram"]) == 60 and len(web_hist["histogram"]) == 20
    assert sum(web_hist["kept_histogram"]) == web_hist["kept"] == len(web) - len(one["rejected"])
    assert counters[("prep.web", "drop.quality_classifier.pareto")] == len(one["rejected"])
    assert counters[("prep.web", "quality_classifier.scored")] == 60


@pytest.mark.parametrize("keep", ["threshold", "score_only"])
def test_stage_with_a_pretrained_model(keep, trained, texts, tmp_path):
    model_path = tmp_path / "model.npz"
    quality_model.save_model(trained, str(model_path))
    config = QualityClassifierConfig.from_mapping(
        {"model_path": "model.npz", "apply_to": ["web", "forum"], "keep": keep,
         "threshold": 0.6}, base_dir=str(tmp_path))
    out, counters = _run(_documents(texts), config, tmp_path / "stats", str(tmp_path / "out"))
    scored = [d for d in out["kept"] + out["rejected"] if d["source"] != "books"]
    assert len(scored) == 80
    scores = {d["id"]: d["meta"]["quality_score"] for d in scored}
    if keep == "threshold":
        assert out["rejected"] and all(r["reason"] == "quality_classifier.threshold"
                                       and r["meta"]["quality_score"] < 0.6
                                       for r in out["rejected"])
        assert all(scores[d["id"]] >= 0.6 for d in out["kept"] if d["source"] != "books")
        assert counters[("prep.forum", "drop.quality_classifier.threshold")] == sum(
            r["source"] == "forum" for r in out["rejected"])
    else:
        assert out["rejected"] == [] and len(out["kept"]) == 140
    assert config.fingerprint()["model_version"] == trained.version
    stats = json.loads((tmp_path / "stats" / "quality_model.json").read_text())
    assert stats["trained"] is False and stats["model_version"] == trained.version
    assert not (tmp_path / "stats" / "quality_model.npz").exists()
    hist = json.loads((tmp_path / "stats" / "quality_scores.json").read_text())
    assert sorted(hist["sources"]) == ["forum", "web"]


def test_quality_chart_renders(tmp_path):
    from pipeline.corpus_stage_charts import quality_score_chart
    scores = {"model_version": "abc", "keep": "pareto", "pareto_alpha": 9.0, "threshold": None,
              "bin_edges": np.linspace(0, 1, 21).tolist(),
              "sources": {"web": {"scored": 3, "kept": 1, "histogram": [1] * 3 + [0] * 17,
                                  "kept_histogram": [0, 0, 1] + [0] * 17}}}
    png = quality_score_chart(scores, {"heldout_auc": 0.9})
    assert png.startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------------
# Configuration errors name the key.

@pytest.mark.parametrize("section, key", [
    ({"negative_sources": ["web"], "apply_to": ["web"]}, "quality_classifier.positive_sources"),
    ({**TRAIN_CONFIG, "keep": "best"}, "quality_classifier.keep"),
    ({**TRAIN_CONFIG, "pareto_alpha": -1}, "quality_classifier.pareto_alpha"),
    ({**TRAIN_CONFIG, "threshold": "high"}, "quality_classifier.threshold"),
    ({**TRAIN_CONFIG, "ngram_range": [2, 1]}, "quality_classifier.ngram_range"),
    ({**TRAIN_CONFIG, "sample_per_class": 1.5}, "quality_classifier.sample_per_class"),
    ({**TRAIN_CONFIG, "negative_sources": ["books"]}, "quality_classifier.negative_sources"),
    ({**TRAIN_CONFIG, "treshold": 0.5}, "quality_classifier.treshold"),
    ({"model_path": "m.npz", "apply_to": ["web"], "num_features": 8},
     "quality_classifier.num_features"),
    ({"positive_sources": ["books"], "negative_sources": ["web"]}, "quality_classifier.apply_to"),
])
def test_config_errors_name_the_key(section, key):
    with pytest.raises(SpecError, match=key.replace(".", r"\.") + ":"):
        QualityClassifierConfig.from_mapping(section)


def test_config_checks_source_names_and_model_file(tmp_path):
    config = QualityClassifierConfig.from_mapping(TRAIN_CONFIG)
    with pytest.raises(SpecError, match=r"quality_classifier\.apply_to: 'web' is not a source"):
        config.check_sources(["books", "news"])
    config.check_sources(["books", "web"])
    missing = QualityClassifierConfig.from_mapping({"model_path": str(tmp_path / "none.npz"),
                                                    "apply_to": ["web"]})
    with pytest.raises(SpecError, match="quality_classifier.model_path: .*none.npz"):
        QualityClassifier(missing, str(tmp_path))


def test_defaults_follow_glam():
    config = QualityClassifierConfig.from_mapping(
        {"positive_sources": ["books", "wikipedia"], "negative_sources": ["web"],
         "apply_to": "web"})
    assert (config.keep, config.pareto_alpha, config.ngram_range, config.num_features,
            config.apply_to) == ("pareto", 9.0, (1, 2), 2 ** 18, ("web",))
