"""tasks/: registration from a mixture spec, seqio's public API, the cache job."""

import collections

import numpy as np
import pytest
import seqio

import tasks
from tests.test_tokenizer import build_demo

LENGTHS = {"targets": 128}


@pytest.fixture(scope="session")
def mixture(tmp_path_factory):
    demo = build_demo(tmp_path_factory.mktemp("demo"))
    name = tasks.register_mixture(demo["spec"], data_dir=demo["prep"], vocabulary=demo["model"])
    return name, demo


def test_registers_one_task_per_source_and_the_mixture(mixture):
    name, demo = mixture
    spec = tasks.load_mixture_spec(demo["spec"])
    assert name == "palm_demo"
    for source in spec.sources:
        task = seqio.get_mixture_or_task(f"palm_demo.{source.name}")
        assert set(task.splits) == {"train", "validation"}
    rates = {t.name: seqio.get_mixture_or_task(name).get_rate(t)
             for t in seqio.get_mixture_or_task(name).tasks}
    assert rates["palm_demo.conversations"] == 50 and rates["palm_demo.news"] == 1


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
    batch = next(seqio.LMFeatureConverter(pack=True)(ds, LENGTHS).batch(4).as_numpy_iterator())
    assert set(batch) == {"decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
                          "decoder_segment_ids", "decoder_positions"}
    assert all(v.shape == (4, 128) for v in batch.values())
    assert batch["decoder_segment_ids"].max() >= 1
    assert (batch["decoder_target_tokens"] == 1).any()  # EOS between documents


def test_mixture_proportions_match_weights(mixture):
    name, demo = mixture
    mix = seqio.get_mixture_or_task(name)
    weights = tasks.load_mixture_spec(demo["spec"]).normalized_weights()
    # Identify each example's task by a feature only the mixture adds: sample task indices.
    counts = collections.Counter()
    datasets = [t.get_dataset(LENGTHS, split="train", shuffle=True, seed=1, num_epochs=None)
                .map(lambda ex, i=i: {"task": i}) for i, t in enumerate(mix.tasks)]
    import tensorflow as tf
    rates = [mix.get_rate(t) for t in mix.tasks]
    sampled = tf.data.Dataset.sample_from_datasets(datasets, weights=rates, seed=2)
    n = 4000
    for ex in sampled.take(n).as_numpy_iterator():
        counts[mix.tasks[ex["task"]].name.split(".")[1]] += 1
    for source, w in weights.items():
        sd = np.sqrt(n * w * (1 - w))
        assert abs(counts[source] - n * w) < 5 * sd + 1, (source, counts[source], n * w)


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


def test_cached_equals_uncached(mixture, tmp_path):
    from tasks import cache

    name, demo = mixture
    out = str(tmp_path / "cache")
    cache.run(["--spec", demo["spec"], "--output_cache_dir", out, "--data_dir", demo["prep"],
               "--vocabulary", demo["model"], "--tasks", r"palm_demo\.news", "--min_shards", "1"])
    task = seqio.get_mixture_or_task("palm_demo.news")
    assert task.cache_dir
    for split in ("train", "validation"):
        kw = dict(split=split, shuffle=False)
        uncached = sorted(tuple(ex["targets"]) for ex in task.get_dataset(
            LENGTHS, use_cached=False, **kw).as_numpy_iterator())
        cached = sorted(tuple(ex["targets"]) for ex in task.get_dataset(
            LENGTHS, use_cached=True, **kw).as_numpy_iterator())
        assert cached == uncached and cached
