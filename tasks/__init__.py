"""seqio Tasks and Mixtures of this project, registered from a mixture spec
(pipeline/mixture_spec.py).

    import tasks
    tasks.register_mixture("tasks/specs/palm_demo.yaml")     # Tasks palm_demo.<source> + Mixture
    ds = tasks.get_mixture_or_task("palm_demo").get_dataset({"targets": 2048}, split="train")

In gin (a training run file):
    import tasks
    tasks.register_mixture.spec = "tasks/specs/palm_demo.yaml"   # then call it, e.g. via
    MIXTURE_OR_TASK_NAME = @tasks.register_mixture()            # returns the mixture's name
"""

from __future__ import annotations

import functools
import glob
import logging
import os
from typing import Any

import gin
import pipeline.console  # noqa: F401  (before TF/JAX/Beam: their start-up noise off)
from pipeline.mixture_spec import MixtureSpec, MixtureSpecError, load_mixture_spec
from tasks.preprocessors import split_to_sequence_length, tokenize_batched

# seqio and TensorFlow are imported inside the functions that use them, so that the light parts
# of this package (tasks.mixture_stats, used by launch.plan) load without them.
log = logging.getLogger("tasks")
SPECS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs")
# mixture name -> (spec fingerprint, spec) for everything this process registered.
_REGISTERED: dict[str, tuple[tuple, MixtureSpec]] = {}


def _split_pattern(spec: MixtureSpec, source: str, split: str) -> str:
    return os.path.join(spec.data_dir, source, f"{split}-*-of-*.tfrecord")


def _check_paths(spec: MixtureSpec) -> None:
    import tensorflow as tf

    if not tf.io.gfile.exists(spec.vocabulary):
        raise MixtureSpecError(f"{spec.path}: vocabulary not found: {spec.vocabulary!r} (train it "
                               f"with python -m pipeline.train_tokenizer, or override it)")
    if not tf.io.gfile.isdir(spec.data_dir):
        raise MixtureSpecError(f"{spec.path}: data_dir not found: {spec.data_dir!r}")
    present = sorted(os.path.basename(os.path.dirname(p)) for p in
                     tf.io.gfile.glob(os.path.join(spec.data_dir, "*", "manifest.json")))
    for source in spec.sources:
        if source.name not in present:
            raise MixtureSpecError(f"{spec.path}: unknown source {source.name!r}: no "
                                   f"{source.name}/manifest.json in {spec.data_dir!r} "
                                   f"(sources there: {present})")
        for split in ("train", "validation"):
            if not tf.io.gfile.glob(_split_pattern(spec, source.name, split)):
                raise MixtureSpecError(f"source {source.name!r}: no {split} shards match "
                                       f"{_split_pattern(spec, source.name, split)!r}")


def output_features(vocabulary_path: str) -> dict[str, seqio.Feature]:  # noqa: F821
    import seqio
    import tensorflow as tf

    vocabulary = seqio.SentencePieceVocabulary(vocabulary_path)
    return {"targets": seqio.Feature(vocabulary=vocabulary, add_eos=True, dtype=tf.int32)}


def _add_task(spec: MixtureSpec, source: str) -> None:
    import seqio
    import tensorflow as tf

    data_source = seqio.TFExampleDataSource(
        split_to_filepattern={split: _split_pattern(spec, source, split)
                              for split in ("train", "validation")},
        feature_description={"text": tf.io.FixedLenFeature([], tf.string),
                             "id": tf.io.FixedLenFeature([], tf.string)},
    )
    seqio.TaskRegistry.add(
        spec.task_name(source),
        source=data_source,
        preprocessors=[
            functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text"}),
            tokenize_batched,
            seqio.CacheDatasetPlaceholder(),
            # Whole documents end in EOS, then are cut into sequence-length pieces: seqio would
            # otherwise trim each document to its first `length` tokens and drop the rest.
            seqio.preprocessors.append_eos,
            split_to_sequence_length,
        ],
        output_features=output_features(spec.vocabulary),
        metric_fns=[],
    )


@gin.configurable(module="tasks")
def register_mixture(spec: str = os.path.join(SPECS_DIR, "palm_demo.yaml"), *,
                     data_dir: str | None = None, vocabulary: str | None = None,
                     sequence_length: int | None = None) -> str:
    """Registers one Task per source of the spec and the Mixture; returns the Mixture's name.

    The Mixture's rates are token-true (tasks/token_mixture.py): each Task gets its weight's
    share of tokens at the sequence length a dataset is built for (`sequence_length` until then;
    None: whole documents).

    Calling it again with the same spec (and paths) does nothing; with a changed spec the
    Tasks and the Mixture are replaced.
    """
    import seqio

    loaded = load_mixture_spec(spec, data_dir=data_dir, vocabulary=vocabulary)
    fingerprint = (loaded.vocabulary, loaded.data_dir, loaded.sources, sequence_length)
    previous = _REGISTERED.get(loaded.name)
    if previous and previous[0] == fingerprint and loaded.name in seqio.MixtureRegistry.names():
        return loaded.name
    _check_paths(loaded)
    names = [loaded.task_name(s.name) for s in loaded.sources]
    for name in [*names, loaded.name]:
        if name in seqio.MixtureRegistry.names():
            seqio.MixtureRegistry.remove(name)
        if name in seqio.TaskRegistry.names():
            seqio.TaskRegistry.remove(name)
    for source in loaded.sources:
        _add_task(loaded, source.name)
    from tasks import token_mixture

    token_mixture.register(loaded.name, loaded, sequence_length)
    _REGISTERED[loaded.name] = (fingerprint, loaded)
    log.info("registered mixture %s (%d tasks) from %s", loaded.name, len(names), loaded.path)
    return loaded.name


def registered_spec(name: str) -> MixtureSpec | None:
    """The spec a mixture or one of its tasks was registered from in this process."""
    for mixture, (_, spec) in _REGISTERED.items():
        if name == mixture or name.startswith(mixture + "."):
            return spec
    return None


def available_specs() -> list[str]:
    return sorted(glob.glob(os.path.join(SPECS_DIR, "*.yaml")))


def get_mixture_or_task(name: str) -> Any:
    """seqio.get_mixture_or_task, with an error that says how to register the name."""
    import seqio

    try:
        return seqio.get_mixture_or_task(name)
    except ValueError as e:
        mixture = name.split(".")[0]
        candidates = [p for p in available_specs()
                      if os.path.splitext(os.path.basename(p))[0] == mixture]
        hint = (f"register it with tasks.register_mixture({candidates[0]!r})" if candidates else
                "register it with tasks.register_mixture('<spec.yaml>')")
        raise ValueError(f"{e} It is not registered in this process: {hint} (in gin: "
                         f"`import tasks` and call @tasks.register_mixture()); specs found: "
                         f"{available_specs()}") from None


__all__ = ["register_mixture", "get_mixture_or_task", "output_features", "registered_spec",
           "available_specs", "MixtureSpecError", "load_mixture_spec"]
