"""Tiny score-based seqio tasks for tests/test_scoring.py, made here (importing registers them):
`score_test.choice`, multiple choice by rank classification (prompt "n", candidates n+1 (the
correct one), n+7 and "x"), `score_test.t2t`, text-to-text ("n" -> "n+1") with the product's
text metrics, and the Mixture `score_test.mix` of both. Byte vocabulary: ids fit a 512-entry
model."""

from __future__ import annotations

import functools

import seqio
import tensorflow as tf

from tasks import metrics, rank_classification

CHOICE, T2T, MIXTURE = "score_test.choice", "score_test.t2t", "score_test.mix"
EXAMPLES = 12


def _choices(split: str, shuffle_files: bool = False, seed=None) -> tf.data.Dataset:
    numbers = list(range(EXAMPLES))
    return tf.data.Dataset.from_tensor_slices({
        "prompt": [f"{n} then" for n in numbers],
        "choices": [[str(n + 1), str(n + 7), "x"] for n in numbers],
        "label": [0] * len(numbers)})


def _t2t(split: str, shuffle_files: bool = False, seed=None) -> tf.data.Dataset:
    numbers = list(range(EXAMPLES))
    return tf.data.Dataset.from_tensor_slices({"inputs": [str(n) for n in numbers],
                                               "targets": [str(n + 1) for n in numbers]})


def register() -> None:
    vocabulary = seqio.ByteVocabulary()
    features = {name: seqio.Feature(vocabulary=vocabulary, add_eos=True, dtype=tf.int32)
                for name in ("inputs", "targets")}
    for name in (CHOICE, T2T):
        if name in seqio.TaskRegistry.names():
            seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        CHOICE, source=seqio.FunctionDataSource(_choices, splits=["validation"]),
        preprocessors=[
            functools.partial(
                rank_classification.preprocess, inputs_fn=lambda ex: ex["prompt"],
                targets_fn=lambda ex: ex["choices"],
                is_correct_fn=lambda ex: tf.equal(tf.range(3), tf.cast(ex["label"], tf.int32))),
            seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        postprocess_fn=rank_classification.postprocess,
        metric_fns=[rank_classification.metric], output_features=features)
    seqio.TaskRegistry.add(
        T2T, source=seqio.FunctionDataSource(_t2t, splits=["validation"]),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        metric_fns=[metrics.exact_match, metrics.bleu, metrics.chrf, metrics.rouge],
        output_features=features)
    if MIXTURE in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove(MIXTURE)
    seqio.MixtureRegistry.add(MIXTURE, [(CHOICE, 1.0), (T2T, 1.0)])


register()
