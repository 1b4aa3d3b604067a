"""Multiple choice the way t5x evaluates it: rank classification.

Each example with N candidate answers becomes N scored examples ("inputs" the prompt, "targets"
one candidate); the model's log-likelihood of each candidate given the prompt is its score
(launch/evaluation/score.py), and the example counts as correct when its highest-scoring
candidate is a correct one. These are the pieces of t5's `rank_classification` preprocessor,
postprocessor and metric, which are not installable beside this project:

    seqio.TaskRegistry.add(
        "my_choice_task", source=...,
        preprocessors=[functools.partial(rank_classification.preprocess,
                                         inputs_fn=..., targets_fn=..., is_correct_fn=...),
                       seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
        postprocess_fn=rank_classification.postprocess,
        metric_fns=[rank_classification.metric],
        output_features={"inputs": ..., "targets": ...})

`metric` takes scores, so seqio's Evaluator calls our score function for the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics


def preprocess(dataset: tf.data.Dataset, inputs_fn: Callable, targets_fn: Callable,
               is_correct_fn: Callable, weight_fn: Callable | None = None,
               mode: str = "eval") -> tf.data.Dataset:
    """One example per candidate: {"idx": [example, candidate], "inputs", "targets",
    "is_correct", "weight"}. The fns map an example to [N] tensors (inputs_fn may return one
    string for all candidates). mode 'eval' keeps every candidate; 'train' only correct ones."""
    if mode not in ("eval", "train"):
        raise ValueError(f"rank_classification mode must be 'eval' or 'train', got {mode!r}")

    def expand(index, example):
        targets = tf.convert_to_tensor(targets_fn(example))
        count = tf.shape(targets)[0]
        inputs = tf.convert_to_tensor(inputs_fn(example))
        if inputs.shape.rank == 0:
            inputs = tf.fill([count], inputs)
        is_correct = tf.cast(tf.convert_to_tensor(is_correct_fn(example)), tf.bool)
        weight = (tf.fill([count], 1.0) if weight_fn is None else
                  tf.cast(tf.fill([count], weight_fn(example)), tf.float32))
        idx = tf.stack([tf.fill([count], tf.cast(index, tf.int32)),
                        tf.range(count, dtype=tf.int32)], axis=1)
        out = tf.data.Dataset.from_tensor_slices({"idx": idx, "inputs": inputs,
                                                  "targets": targets, "is_correct": is_correct,
                                                  "weight": weight})
        if mode == "train":
            out = out.filter(lambda ex: ex["is_correct"])
        return out

    return dataset.enumerate().flat_map(expand)


def postprocess(output, example=None, is_target: bool = False):
    """seqio postprocess_fn: a target becomes (idx, is_correct, weight, target length), what
    `metric` groups and normalises by; a score passes through."""
    if not is_target:
        return output
    return (tuple(int(i) for i in example["idx"]), bool(example["is_correct"]),
            float(example.get("weight", 1.0)), len(example["targets"]))


def metric(targets: Sequence[tuple], scores: Sequence[float],
           normalize_by_target_length: bool = False) -> dict[str, float]:
    """Accuracy (percent) of the highest-scoring candidate per example, weighted by the
    examples' weights; with a fixed number of candidates also the macro F1 of the chosen
    candidate index against the first correct one (scikit-learn)."""
    groups: dict[int, list] = {}
    for (idx, is_correct, weight, length), score in zip(targets, scores):
        value = score / max(length, 1) if normalize_by_target_length else score
        groups.setdefault(idx[0], []).append((idx[1], value, is_correct, weight))
    chosen_correct, weights, chosen, gold = [], [], [], []
    for candidates in groups.values():
        candidates.sort()
        values = np.array([c[1] for c in candidates])
        best = int(np.argmax(values))
        chosen_correct.append(candidates[best][2])
        weights.append(candidates[best][3])
        chosen.append(candidates[best][0])
        gold.append(next((c[0] for c in candidates if c[2]), -1))
    out = {"accuracy": 100 * sk_metrics.accuracy_score(
        np.ones(len(chosen_correct), bool), np.array(chosen_correct), sample_weight=weights)}
    if len({len(c) for c in groups.values()}) == 1:
        out["f1_macro"] = 100 * sk_metrics.f1_score(gold, chosen, average="macro",
                                                    zero_division=0)
    return out
