"""Tiny seqio Tasks and a Mixture for the trainer's tests (and for smoke runs), made here.

    PALM_TEST_TASKS_DIR=/tmp/tt python -c "import tests.train_tasks as t; t.write_data()"
    ... DatasetConfig.module = 'tests.train_tasks'   # importing registers the tasks

Two tasks with different text (so per-task evaluation differs): `tiny_mix.counting` (number
sequences, learnable) and `tiny_mix.words` (seeded random word sentences), each with train and
validation splits of TFRecord shards of tf.train.Example {'text'}, and the Mixture `tiny_mix`
(weights 1:1). Byte-level vocabulary: nothing to train, and ids fit the 512-entry tiny model.
Files are sharded so that several hosts can each read their own shard (seqio.ShardInfo).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import seqio
import tensorflow as tf

MIXTURE = "tiny_mix"
TEXT_TO_TEXT = "tiny_t2t.successor"  # inputs "n" -> targets "n+1": a text-to-text task for eval
TASKS = ("counting", "words")
NUM_SHARDS = 4
EXAMPLES = {"train": 400, "validation": 48}
_WORDS = np.array("the a cat dog sat ran on under mat tree big small red blue and then".split())


def data_dir() -> str:
    path = os.environ.get("PALM_TEST_TASKS_DIR")
    if not path:
        raise RuntimeError("set PALM_TEST_TASKS_DIR to the folder of tests.train_tasks.write_data")
    return path


def _t2t_dataset(split: str, shuffle_files: bool = False, seed=None):
    numbers = np.arange(40) if split == "validation" else np.arange(40, 400)
    return tf.data.Dataset.from_tensor_slices({"inputs": [str(n) for n in numbers],
                                               "targets": [str(n + 1) for n in numbers]})


def _texts(task: str, split: str) -> list[str]:
    rng = np.random.default_rng([TASKS.index(task), list(EXAMPLES).index(split)])
    texts = []
    for _ in range(EXAMPLES[split]):
        if task == "counting":
            start, length = rng.integers(0, 50), rng.integers(5, 25)
            texts.append(" ".join(str(i) for i in range(start, start + length)))
        else:
            texts.append(" ".join(rng.choice(_WORDS, size=rng.integers(4, 20))) + ".")
    return texts


def write_data(path: str | None = None) -> str:
    """Writes every task's shards under `path` (default $PALM_TEST_TASKS_DIR); idempotent."""
    path = path or data_dir()
    for task in TASKS:
        for split in EXAMPLES:
            texts = _texts(task, split)
            for shard in range(NUM_SHARDS):
                name = os.path.join(path, task, f"{split}-{shard:05d}-of-{NUM_SHARDS:05d}.tfrecord")
                if os.path.exists(name):
                    continue
                os.makedirs(os.path.dirname(name), exist_ok=True)
                with tf.io.TFRecordWriter(name + ".tmp") as writer:
                    for text in texts[shard::NUM_SHARDS]:
                        feature = {"text": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[text.encode()]))}
                        writer.write(tf.train.Example(features=tf.train.Features(
                            feature=feature)).SerializeToString())
                os.replace(name + ".tmp", name)
    return path


def register(path: str | None = None) -> str:
    """Registers the Tasks and the Mixture over the files in `path`; returns the Mixture name."""
    path = path or data_dir()
    vocabulary = seqio.ByteVocabulary()
    features = {"targets": seqio.Feature(vocabulary=vocabulary, add_eos=True, dtype=tf.int32)}
    for task in TASKS:
        name = f"{MIXTURE}.{task}"
        if name in seqio.TaskRegistry.names():
            seqio.TaskRegistry.remove(name)
        seqio.TaskRegistry.add(
            name,
            source=seqio.TFExampleDataSource(
                split_to_filepattern={split: os.path.join(path, task, f"{split}-*.tfrecord")
                                      for split in EXAMPLES},
                feature_description={"text": tf.io.FixedLenFeature([], tf.string)}),
            preprocessors=[functools.partial(seqio.preprocessors.rekey,
                                             key_map={"targets": "text"}),
                           seqio.preprocessors.tokenize,
                           seqio.preprocessors.append_eos_after_trim],
            output_features=features, metric_fns=[])
    if TEXT_TO_TEXT in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(TEXT_TO_TEXT)
    seqio.TaskRegistry.add(
        TEXT_TO_TEXT, source=seqio.FunctionDataSource(_t2t_dataset, splits=list(EXAMPLES)),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        output_features={"inputs": features["targets"], "targets": features["targets"]},
        metric_fns=[])
    if MIXTURE in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove(MIXTURE)
    seqio.MixtureRegistry.add(MIXTURE, [(f"{MIXTURE}.{task}", 1.0) for task in TASKS])
    return MIXTURE


if os.environ.get("PALM_TEST_TASKS_DIR"):
    register()


def train_args(model_dir: str, steps: int, *extra: str) -> list[str]:
    """launch.train flags for a tiny run on `tiny_mix` (seed 0, batch 8 x 64 tokens; palm_tiny cut
    to one layer, which halves compile times and changes nothing the tests look at)."""
    return ["--gin_file=gin/runs/pretrain.gin", "--gin_file=gin/models/palm_tiny.gin",
            f"--gin.MODEL_DIR='{model_dir}'", "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'",
            "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'",
            "--gin.TASK_FEATURE_LENGTHS={'targets': 64}", f"--gin.TRAIN_STEPS={steps}",
            "--gin.BATCH_SIZE=8", "--gin.USE_CACHED_TASKS=False", "--gin.RANDOM_SEED=0",
            "--gin.train_script.train.eval_period=None", "--gin.train_script.train.log_period=4",
            "--gin.PalmConfig.dtype='float32'", "--gin.PalmConfig.num_layers=1", *extra]


def read_metrics(model_dir: str, kind: str = "train") -> list[dict]:
    import json
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r["kind"] == kind]
