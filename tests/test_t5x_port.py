"""A t5x user's files and habits: run files in the shape of t5x's configs/runs/{pretrain,finetune,
eval,infer}.gin (written here, imports changed as the porting guide says), train -> fine-tune from
that checkpoint with decoding evaluation -> eval -> infer, TensorBoard in t5x's layout, t5x's
train() parameters and absl-style flags."""

import glob
import inspect
import json
import os

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

from launch import eval as eval_cli
from launch import infer as infer_cli
from launch import train as train_cli
from launch.cli import flags as flags_lib
from launch.cli import multihost
from launch.run.tensorboard_layout import IntervalMeans, split_key
from launch.utils import DatasetConfig
from tests import train_tasks
from tests.train_tasks import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T2T = "t5x_port.successor"

# t5x's train() parameters at google-research/t5x main (April 2026), in its order. A new t5x
# parameter must be added here and to launch.train.train.
T5X_TRAIN_PARAMETERS = [
    "model", "train_dataset_cfg", "train_eval_dataset_cfg", "infer_eval_dataset_cfg",
    "checkpoint_cfg", "partitioner", "trainer_cls", "model_dir", "total_steps", "eval_steps",
    "eval_period", "relative_steps", "stats_period", "random_seed", "use_hardware_rng",
    "summarize_config_fn", "inference_evaluator_cls", "get_dataset_fn", "concurrent_metrics",
    "actions", "train_eval_get_dataset_fn", "run_eval_before_training",
    "train_state_initializer_cls", "use_orbax", "verify_matching_vocabs_fn", "gc_period"]
T5X_EVALUATE_PARAMETERS = [
    "model", "dataset_cfg", "restore_checkpoint_cfg", "partitioner", "output_dir",
    "inference_evaluator_cls", "training_evaluator_cls", "summarize_config_fn",
    "train_state_initializer_cls", "train_eval_get_dataset_fn", "fallback_init_rng", "use_orbax"]
T5X_INFER_PARAMETERS = [
    "mode", "model", "dataset_cfg", "restore_checkpoint_cfg", "partitioner", "output_dir",
    "checkpoint_period", "shard_id", "num_shards", "merge_chunked_results", "write_fn",
    "checkpoint_ds_iter", "train_state_initializer_cls", "fallback_init_rng", "merge_fn",
    "summarize_config_fn", "verify_matching_vocabs_fn", "output_vocab_feature_name",
    "file_extension", "keep_aux_as_numpy", "use_orbax"]

# --- Run files in the shape of t5x's, with the imports changed (`import __main__ as X` ->
# `from launch import train/eval/infer as X`, `from t5x import Y` -> `from launch import Y`).
PRETRAIN = """
from __gin__ import dynamic_registration
from launch import train as train_script
from launch import gin_utils
from launch import partitioning
from launch import utils
from launch import trainer

MIXTURE_OR_TASK_NAME = %gin.REQUIRED
TASK_FEATURE_LENGTHS = %gin.REQUIRED
TRAIN_STEPS = %gin.REQUIRED
MODEL_DIR = %gin.REQUIRED
BATCH_SIZE = 128
USE_CACHED_TASKS = True
MIXTURE_OR_TASK_MODULE = None
SHUFFLE_TRAIN_EXAMPLES = True
USE_HARDWARE_RNG = False
RANDOM_SEED = None
TRAIN_STEPS_RELATIVE = None

train_script.train:
  model = %MODEL
  model_dir = %MODEL_DIR
  train_dataset_cfg = @train/utils.DatasetConfig()
  train_eval_dataset_cfg = @train_eval/utils.DatasetConfig()
  infer_eval_dataset_cfg = None
  checkpoint_cfg = @utils.CheckpointConfig()
  partitioner = @partitioning.PjitPartitioner()
  trainer_cls = @trainer.Trainer
  total_steps = %TRAIN_STEPS
  eval_steps = 20
  eval_period = 1000
  relative_steps = %TRAIN_STEPS_RELATIVE
  random_seed = %RANDOM_SEED
  use_hardware_rng = %USE_HARDWARE_RNG
  summarize_config_fn = @gin_utils.summarize_gin_config

partitioning.PjitPartitioner:
  num_partitions = 1
  model_parallel_submesh = None
  logical_axis_rules = @partitioning.standard_logical_axis_rules()

train/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'train'
  batch_size = %BATCH_SIZE
  shuffle = %SHUFFLE_TRAIN_EXAMPLES
  seed = None
  use_cached = %USE_CACHED_TASKS
  pack = True
  module = %MIXTURE_OR_TASK_MODULE

train_eval/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'validation'
  batch_size = %BATCH_SIZE
  shuffle = False
  seed = 42
  use_cached = %USE_CACHED_TASKS
  pack = True
  module = %MIXTURE_OR_TASK_MODULE

utils.CheckpointConfig:
  restore = @utils.RestoreCheckpointConfig()
  save = @utils.SaveCheckpointConfig()
utils.RestoreCheckpointConfig:
  path = []
utils.SaveCheckpointConfig:
  period = 1000
  dtype = 'float32'
  keep = None
  save_dataset = False

trainer.Trainer:
  num_microbatches = None
  learning_rate_fn = @utils.create_learning_rate_scheduler()

utils.create_learning_rate_scheduler:
  factors = 'constant * rsqrt_decay'
  base_learning_rate = 1.0
  warmup_steps = 10000
"""

FINETUNE = """
from __gin__ import dynamic_registration
from launch import train as train_script
import seqio
from launch import gin_utils
from launch import partitioning
from launch import utils
from launch import trainer

MODEL_DIR = %gin.REQUIRED
MIXTURE_OR_TASK_NAME = %gin.REQUIRED
TASK_FEATURE_LENGTHS = %gin.REQUIRED
MIXTURE_OR_TASK_MODULE = %gin.REQUIRED
TRAIN_STEPS = %gin.REQUIRED
INITIAL_CHECKPOINT_PATH = %gin.REQUIRED
DROPOUT_RATE = 0.1
USE_CACHED_TASKS = True
BATCH_SIZE = 128
EVAL_STEPS = 20
EVAL_PERIOD = 1000
EVALUATOR_USE_MEMORY_CACHE = True
EVALUATOR_NUM_EXAMPLES = None
JSON_WRITE_N_RESULTS = None
USE_HARDWARE_RNG = False
RANDOM_SEED = None
TRAIN_STEPS_RELATIVE = None
MIXTURE_OR_TASK_MODULE = None

train_script.train:
  model = %MODEL
  model_dir = %MODEL_DIR
  train_dataset_cfg = @train/utils.DatasetConfig()
  train_eval_dataset_cfg = @train_eval/utils.DatasetConfig()
  infer_eval_dataset_cfg = @infer_eval/utils.DatasetConfig()
  checkpoint_cfg = @utils.CheckpointConfig()
  partitioner = @partitioning.PjitPartitioner()
  trainer_cls = @trainer.Trainer
  total_steps = %TRAIN_STEPS
  eval_steps = %EVAL_STEPS
  eval_period = %EVAL_PERIOD
  relative_steps = %TRAIN_STEPS_RELATIVE
  random_seed = %RANDOM_SEED
  use_hardware_rng = %USE_HARDWARE_RNG
  summarize_config_fn = @gin_utils.summarize_gin_config
  inference_evaluator_cls = @seqio.Evaluator

partitioning.PjitPartitioner:
  num_partitions = 1
  model_parallel_submesh = None
  logical_axis_rules = @partitioning.standard_logical_axis_rules()

seqio.Evaluator:
  logger_cls = [@seqio.PyLoggingLogger, @seqio.TensorBoardLogger, @seqio.JSONLogger]
  num_examples = %EVALUATOR_NUM_EXAMPLES
  use_memory_cache = %EVALUATOR_USE_MEMORY_CACHE

seqio.JSONLogger:
  write_n_results = %JSON_WRITE_N_RESULTS

train/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'train'
  batch_size = %BATCH_SIZE
  shuffle = True
  seed = None
  use_cached = %USE_CACHED_TASKS
  pack = True
  module = %MIXTURE_OR_TASK_MODULE

train_eval/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'validation'
  batch_size = %BATCH_SIZE
  shuffle = False
  seed = 42
  use_cached = %USE_CACHED_TASKS
  pack = True
  module = %MIXTURE_OR_TASK_MODULE

infer_eval/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = None
  split = 'validation'
  batch_size = %BATCH_SIZE
  shuffle = False
  seed = 42
  use_cached = %USE_CACHED_TASKS
  pack = False
  module = %MIXTURE_OR_TASK_MODULE

utils.CheckpointConfig:
  restore = @utils.RestoreCheckpointConfig()
  save = @utils.SaveCheckpointConfig()
utils.RestoreCheckpointConfig:
  path = %INITIAL_CHECKPOINT_PATH
  mode = 'specific'
  dtype = 'float32'
utils.SaveCheckpointConfig:
  period = 5000
  dtype = 'float32'
  keep = None
  save_dataset = False

trainer.Trainer:
  num_microbatches = None
  learning_rate_fn = @utils.create_learning_rate_scheduler()
utils.create_learning_rate_scheduler:
  factors = 'constant'
  base_learning_rate = 0.001
  warmup_steps = 1000
"""

EVAL = """
from __gin__ import dynamic_registration
from launch import eval as eval_script
import seqio
from launch import partitioning
from launch import utils

MIXTURE_OR_TASK_NAME = %gin.REQUIRED
CHECKPOINT_PATH = %gin.REQUIRED
EVAL_OUTPUT_DIR = %gin.REQUIRED
TASK_FEATURE_LENGTHS = None
MIXTURE_OR_TASK_MODULE = None

eval_script.evaluate:
  model = %MODEL
  dataset_cfg = @utils.DatasetConfig()
  partitioner = @partitioning.PjitPartitioner()
  restore_checkpoint_cfg = @utils.RestoreCheckpointConfig()
  output_dir = %EVAL_OUTPUT_DIR
  inference_evaluator_cls = @seqio.Evaluator

partitioning.PjitPartitioner:
  num_partitions = 1
  logical_axis_rules = @partitioning.standard_logical_axis_rules()

seqio.Evaluator:
  logger_cls = [@seqio.PyLoggingLogger, @seqio.TensorBoardLogger, @seqio.JSONLogger]
  num_examples = None
  use_memory_cache = True

utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'test'
  batch_size = 32
  shuffle = False
  seed = 42
  use_cached = False
  pack = False
  use_custom_packing_ops = False
  module = %MIXTURE_OR_TASK_MODULE

utils.RestoreCheckpointConfig:
  path = %CHECKPOINT_PATH
  mode = 'specific'
"""

INFER = """
from __gin__ import dynamic_registration
from launch import infer as infer_script
from launch import partitioning
from launch import utils

MIXTURE_OR_TASK_NAME = %gin.REQUIRED
TASK_FEATURE_LENGTHS = %gin.REQUIRED
CHECKPOINT_PATH = %gin.REQUIRED
INFER_OUTPUT_DIR = %gin.REQUIRED
MIXTURE_OR_TASK_MODULE = None

infer_script.infer:
  mode = 'predict'
  model = %MODEL
  output_dir = %INFER_OUTPUT_DIR
  dataset_cfg = @utils.DatasetConfig()
  partitioner = @partitioning.PjitPartitioner()
  restore_checkpoint_cfg = @utils.RestoreCheckpointConfig()
  checkpoint_period = 100
  shard_id = 0
  num_shards = 1

partitioning.PjitPartitioner:
  num_partitions = 1
  logical_axis_rules = @partitioning.standard_logical_axis_rules()

utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  module = %MIXTURE_OR_TASK_MODULE
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  use_cached = False
  split = 'test'
  batch_size = 32
  shuffle = False
  seed = 0
  pack = False

utils.RestoreCheckpointConfig:
  path = %CHECKPOINT_PATH
  mode = 'specific'
  dtype = 'bfloat16'
"""


def sequence_accuracy(targets, predictions):
    """A seqio metric function: the share of predictions equal to their target."""
    return {"sequence_accuracy": 100.0 * float(np.mean(
        [t == p for t, p in zip(targets, predictions)]))}


def _successor(split, shuffle_files=False, seed=None):
    numbers = np.arange(24) if split == "validation" else np.arange(24, 400)
    return tf.data.Dataset.from_tensor_slices({"inputs": [str(n) for n in numbers],
                                               "targets": [str(n + 1) for n in numbers]})


def register_t2t_task():
    """A text-to-text task with a seqio metric function and train/validation splits only."""
    vocabulary = seqio.ByteVocabulary()
    feature = seqio.Feature(vocabulary=vocabulary, add_eos=True, dtype=tf.int32)
    if T2T in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(T2T)
    seqio.TaskRegistry.add(
        T2T, source=seqio.FunctionDataSource(_successor, splits=["train", "validation"]),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        output_features={"inputs": feature, "targets": feature}, metric_fns=[sequence_accuracy])


@pytest.fixture(scope="module", autouse=True)
def tasks_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("train_tasks"))
    os.environ["PALM_TEST_TASKS_DIR"] = path
    train_tasks.write_data(path)
    train_tasks.register(path)
    register_t2t_task()
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    old = os.getcwd()
    os.chdir(ROOT)
    yield path
    os.chdir(old)


TINY_MODEL = ["--gin_file=gin/models/palm_tiny.gin", "--gin.PalmConfig.dtype='float32'",
              "--gin.PalmConfig.num_layers=1"]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return f"--gin_file={path}"


def scalars_by_run(model_dir: str) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{run: {tag: [(step, value)]}} of every TensorBoard event file under model_dir."""
    runs: dict = {}
    for path in glob.glob(os.path.join(model_dir, "**", "events.out.tfevents.*"), recursive=True):
        run = os.path.relpath(os.path.dirname(path), model_dir)
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "text":
                    runs.setdefault(run, {}).setdefault(value.tag, []).append((event.step, None))
                    continue
                number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                          else float(value.simple_value))
                runs.setdefault(run, {}).setdefault(value.tag, []).append((event.step, number))
    return runs


@pytest.mark.slow
def test_t5x_run_files_train_finetune_eval_infer(tmp_path):
    """pretrain.gin -> finetune.gin (from that checkpoint, decoding evaluation) -> eval.gin
    (split and feature lengths by t5x's defaults) -> infer.gin, all in t5x's shape."""
    pretrain_dir, finetune_dir = str(tmp_path / "pretrain"), str(tmp_path / "finetune")
    # 1. Pretraining on the LM mixture; relative_steps as t5x binds it (None: TRAIN_STEPS).
    assert train_cli.main([
        _write(tmp_path, "pretrain.gin", PRETRAIN), *TINY_MODEL,
        f"--gin.MODEL_DIR='{pretrain_dir}'", "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'",
        "--gin.TASK_FEATURE_LENGTHS={'targets': 64}", "--gin.TRAIN_STEPS=4",
        "--gin.BATCH_SIZE=8", "--gin.USE_CACHED_TASKS=False", "--gin.RANDOM_SEED=0",
        "--gin.train_script.train.eval_period=4", "--gin.train_script.train.stats_period=2",
        "--gin.utils.SaveCheckpointConfig.period=4"]) == 0
    assert os.path.isdir(f"{pretrain_dir}/checkpoint_4")
    runs = scalars_by_run(pretrain_dir)
    assert {"train", "training_eval/tiny_mix.counting", "training_eval/tiny_mix.words"} <= \
        set(runs)
    train_run = runs["train"]
    for tag in ("loss", "accuracy", "learning_rate", "timing/seconds",
                "timing/compilation_seconds", "timing/seqs_per_second",
                "timing/target_tokens_per_second", "timing/steps_per_second",
                "non_padding_fraction/loss_weights", "timing/init_or_restore_seconds"):
        assert tag in train_run, tag
    assert "loss" in runs["training_eval/tiny_mix.counting"]  # the same tag: overlaid in TB
    assert "config" in train_run  # the gin config, as t5x's summarize_config_fn logs it
    # Train points are interval means (stats_period 2): step 2 is the mean of steps 1 and 2.
    per_step = {r["step"]: r["loss"] for r in read_metrics(pretrain_dir)}
    tb_loss = dict(train_run["loss"])
    assert sorted(tb_loss) == [2, 4]
    assert tb_loss[2] == pytest.approx((per_step[1] + per_step[2]) / 2, rel=1e-5)
    assert tb_loss[4] == pytest.approx((per_step[3] + per_step[4]) / 2, rel=1e-5)
    fraction = dict(train_run["non_padding_fraction/loss_weights"])[4]
    assert 0.5 < fraction <= 1.0  # packed LM rows: nearly every slot trained

    # 2. Fine-tuning from checkpoint_4 on the text-to-text task, TRAIN_STEPS_RELATIVE = 4, with
    # decoding evaluation scored by the task's seqio metric function.
    assert train_cli.main([
        _write(tmp_path, "finetune.gin", FINETUNE), *TINY_MODEL,
        f"--gin.MODEL_DIR='{finetune_dir}'", f"--gin.MIXTURE_OR_TASK_NAME='{T2T}'",
        f"--gin.INITIAL_CHECKPOINT_PATH='{pretrain_dir}/checkpoint_4'",
        "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}", "--gin.TRAIN_STEPS=1",
        "--gin.TRAIN_STEPS_RELATIVE=4", "--gin.EVAL_PERIOD=4", "--gin.BATCH_SIZE=8",
        "--gin.USE_CACHED_TASKS=False", "--gin.RANDOM_SEED=0"]) == 0
    assert [r["step"] for r in read_metrics(finetune_dir)] == [5, 6, 7, 8]
    (inference,) = read_metrics(finetune_dir, "infer_eval")
    assert inference["step"] == 8
    assert 0.0 <= inference[f"inference_eval/{T2T}/sequence_accuracy"] <= 100.0
    runs = scalars_by_run(finetune_dir)
    assert {"train", f"training_eval/{T2T}", f"inference_eval/{T2T}"} <= set(runs)
    # seqio's TensorBoardLogger (what t5x uses) names the tags eval/<metric>.
    assert dict(runs[f"inference_eval/{T2T}"]["eval/sequence_accuracy"])[8] == pytest.approx(
        inference[f"inference_eval/{T2T}/sequence_accuracy"])
    with open(f"{finetune_dir}/inference_eval/{T2T}-000008.jsonl") as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == 24 and {"prediction", "target"} <= set(lines[0])

    # 3. eval.gin: split 'test' (absent: falls back to 'validation'), lengths from the data.
    eval_dir = str(tmp_path / "eval")
    assert eval_cli.main([
        _write(tmp_path, "eval.gin", EVAL), *TINY_MODEL,
        f"--gin.CHECKPOINT_PATH='{finetune_dir}/checkpoint_8'",
        f"--gin.EVAL_OUTPUT_DIR='{eval_dir}'", f"--gin.MIXTURE_OR_TASK_NAME='{T2T}'"]) == 0
    results = json.load(open(f"{eval_dir}/eval_results.json"))
    assert results["step"] == 8 and results["split"] == "validation"
    assert "'test'" in results["split_note"]
    # inputs "0".."23" + EOS and targets "1".."24" + EOS: at most 3 tokens each.
    assert results["task_feature_lengths"] == {"inputs": 3, "targets": 3}
    entry = results["tasks"][T2T]
    assert np.isfinite(entry["loss"]) and 0.0 <= entry["sequence_accuracy"] <= 100.0
    assert os.path.isdir(f"{eval_dir}/inference_eval/{T2T}")

    # 4. infer.gin: JSON Lines as t5x writes them (bfloat16 restore, t5x's infer.gin default).
    infer_dir = str(tmp_path / "infer")
    assert infer_cli.main([
        _write(tmp_path, "infer.gin", INFER), *TINY_MODEL,
        f"--gin.CHECKPOINT_PATH='{finetune_dir}/checkpoint_8'",
        f"--gin.INFER_OUTPUT_DIR='{infer_dir}'", f"--gin.MIXTURE_OR_TASK_NAME='{T2T}'",
        "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}",
        "--gin.infer_script.infer.checkpoint_period=1", "--gin.utils.DatasetConfig.batch_size=8"
    ]) == 0
    output = f"{infer_dir}/{T2T}-predict.jsonl-00000-of-00001"
    with open(output) as f:
        records = [json.loads(line) for line in f]
    assert [r["inputs"]["inputs_pretokenized"] for r in records] == [str(n) for n in range(24)]
    assert all(isinstance(r["prediction"], str) for r in records)
    assert os.path.exists(output + ".COMPLETED")
    assert not glob.glob(f"{infer_dir}/tmp-*")  # the chunks were merged


def test_train_takes_every_parameter_of_t5x_train():
    ours = inspect.signature(train_cli.train).parameters
    assert [p for p in T5X_TRAIN_PARAMETERS if p not in ours] == []
    assert [p for p in T5X_EVALUATE_PARAMETERS
            if p not in inspect.signature(eval_cli.evaluate).parameters] == []
    assert [p for p in T5X_INFER_PARAMETERS
            if p not in inspect.signature(infer_cli.infer).parameters] == []


@pytest.mark.parametrize("binding, expected", [
    ({"get_dataset_fn": lambda *a: None}, "get_dataset_fn"),
    ({"train_eval_get_dataset_fn": lambda *a: None}, "train_eval_get_dataset_fn"),
    ({"train_state_initializer_cls": object}, "train_state_initializer_cls"),
    ({"use_orbax": False}, "use_orbax"),
    ({"actions": {"TRAINING": []}}, "actions keys"),
    ({"actions": {"TRAIN": [object()]}}, r"has no run\(train_state"),
])
def test_t5x_internal_hooks_other_than_the_default_are_refused(binding, expected, tmp_path):
    cfg = DatasetConfig(mixture_or_task_name="tiny_mix", task_feature_lengths={"targets": 64},
                        split="train", batch_size=8)
    with pytest.raises(ValueError, match=expected):
        train_cli.train(model_dir=str(tmp_path / "run"), train_dataset_cfg=cfg, total_steps=2,
                        **binding)
    assert not os.path.exists(tmp_path / "run")  # refused before anything is written


class StopAfterFirstEval:
    """A t5x-style action: asks to stop once it sees training-eval metrics."""
    seen: list = []

    def run(self, train_state, metrics_by_task):
        self.seen.append(sorted(metrics_by_task))
        return True


def test_actions_stop_training_and_relative_steps_count_from_the_checkpoint(tmp_path):
    from launch.utils import CheckpointConfig, SaveCheckpointConfig
    from model.config import PalmConfig
    tiny = PalmConfig(vocab_size=512, num_layers=1, num_heads=4, d_model=64, head_dim=16,
                      dtype="float32")
    cfg = DatasetConfig(mixture_or_task_name="tiny_mix", task_feature_lengths={"targets": 32},
                        split="train", batch_size=4, pack=True)
    eval_cfg = DatasetConfig(mixture_or_task_name="tiny_mix",
                             task_feature_lengths={"targets": 32}, split="validation",
                             batch_size=4, shuffle=False, pack=True)
    common = dict(model=tiny, model_dir=str(tmp_path / "run"), train_dataset_cfg=cfg,
                  checkpoint_cfg=CheckpointConfig(save=SaveCheckpointConfig(period=100)),
                  random_seed=0, summarize_config_fn=None, peak_flops_per_device=1e11)
    result = train_cli.train(**common, total_steps=50, train_eval_dataset_cfg=eval_cfg,
                             eval_period=2, eval_steps=1,
                             actions={"TRAIN_EVAL": [StopAfterFirstEval()]}, gc_period=1)
    assert result.status == "stopped" and result.step == 2
    assert StopAfterFirstEval.seen == [["overall", "tiny_mix.counting", "tiny_mix.words"]]
    assert os.path.isdir(tmp_path / "run" / "checkpoint_2")  # saved before stopping
    resumed = train_cli.train(**common, total_steps=1, relative_steps=3)
    assert resumed.status == "finished" and resumed.step == 5  # 2 + 3; TRAIN_STEPS ignored
    with pytest.raises(ValueError, match="below the step of the restored checkpoint"):
        train_cli.train(**common, total_steps=3)


def test_tensorboard_keys_map_to_t5x_runs_and_means_are_interval_means():
    assert split_key("loss") == ("train", "loss")
    assert split_key("timing/seconds") == ("train", "timing/seconds")
    assert split_key("training_eval/t.a/loss") == ("training_eval/t.a", "loss")
    assert split_key("inference_eval/t/accuracy") == ("inference_eval/t", "accuracy")
    means = IntervalMeans()
    means.add({"loss": 2.0, "accuracy": 0.5, "weight_sum": 10, "timing/seconds": 9.0})
    means.add({"loss": 4.0, "accuracy": 1.0, "weight_sum": 30})
    popped = means.pop()
    assert popped["loss"] == 3.0 and popped["accuracy"] == pytest.approx(0.875)
    assert "timing/seconds" not in popped and means.pop() == {}


def _parse(*argv):
    import argparse
    return flags_lib.parse_flags(flags_lib.add_flags(argparse.ArgumentParser()), list(argv))


@pytest.mark.parametrize("argv, expected", [
    (["--multiprocess_gpu"], True), (["--multiprocess_gpu=true"], True),
    (["--multiprocess_gpu=True"], True), (["--multiprocess_gpu=1"], True),
    (["--multiprocess_gpu=false"], False), (["--nomultiprocess_gpu"], False),
    (["-multiprocess_gpu"], True), ([], False),
])
def test_absl_boolean_spellings(argv, expected):
    assert _parse(*argv).multiprocess_gpu is expected


def test_absl_flag_forms_and_t5x_flags():
    args = _parse("--initialization_timeout", "30", "-gin_file=a.gin", "--gin_file", "b.gin",
                  "--gin.TRAIN_STEPS=5", "--gin_search_paths=x,y",
                  "--seqio_additional_cache_dirs=c1,c2", "--process_count=1")
    assert args.initialization_timeout == 30 and args.gin_file == ["a.gin", "b.gin"]
    assert args.gin_bindings == ["TRAIN_STEPS = 5"] and args.gin_search_paths == "x,y"
    assert _parse("--initialization_timeout", "-5").initialization_timeout == -5  # a value
    with pytest.raises(SystemExit) as exit_info:
        _parse("--multiprocess_gpu=maybe")
    assert exit_info.value.code == 2


@pytest.mark.parametrize("argv, expected", [
    (["--multiprocess_gpu"], "--multiprocess_gpu needs --coordinator_address"),
    (["--multiprocess_gpu=true", "--process_count=2"], "without --coordinator_address"),
    (["--coordinator_address=localhost:1234"], "needs --process_count and --process_index"),
    (["--coordinator_address=localhost:1234", "--process_count=2", "--process_index=2"],
     "--process_index must be in 0..1"),
    (["--multiprocess_gpu", "--coordinator_address=h:1", "--process_count=2",
      "--process_index=0", "--initialization_timeout=0"], "--initialization_timeout must be"),
])
def test_bad_multiprocess_flags_exit_2_with_a_clear_message(argv, expected, monkeypatch,
                                                             capsys):
    for name in multihost._CLUSTER_ENV:
        monkeypatch.delenv(name, raising=False)
    for main in (train_cli.main, eval_cli.main, infer_cli.main):
        assert main([*argv, "--gin_file=gin/runs/pretrain.gin"]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err


def test_eval_names_the_available_splits_when_a_non_default_split_is_missing():
    from launch.evaluation import defaults as eval_defaults
    assert eval_defaults.resolve_split("tiny_mix", "validation") == ("validation", None)
    split, note = eval_defaults.resolve_split("tiny_mix", "test")
    assert split == "validation" and "'test'" in note
    with pytest.raises(eval_defaults.SplitError, match=r"available splits: \['train', "
                                                        r"'validation'\]"):
        eval_defaults.resolve_split("tiny_mix", "dev")


@pytest.mark.slow
def test_t5x_eval_file_with_its_defaults_on_the_demo_mixture(demo, tmp_path, capsys):
    """t5x's eval.gin defaults (split 'test', TASK_FEATURE_LENGTHS = None) on the demo mixture,
    which has train and validation splits of long documents. The console says what happens to
    a loss-only mixture (the split fallback, losses, no decoding), without seqio's skip notices."""
    import tasks
    from launch.evaluation import defaults as eval_defaults
    name = tasks.register_mixture(demo["spec"], data_dir=demo["prep"], vocabulary=demo["model"])
    model = [*TINY_MODEL, "--gin.PalmConfig.vocab_size=2048"]
    run = str(tmp_path / "run")
    assert train_cli.main([
        _write(tmp_path, "pretrain.gin", PRETRAIN), *model, f"--gin.MODEL_DIR='{run}'",
        f"--gin.MIXTURE_OR_TASK_NAME='{name}'", "--gin.TASK_FEATURE_LENGTHS={'targets': 64}",
        "--gin.TRAIN_STEPS=2", "--gin.BATCH_SIZE=8", "--gin.USE_CACHED_TASKS=False",
        "--gin.RANDOM_SEED=0", "--gin.utils.SaveCheckpointConfig.period=2"]) == 0
    out = str(tmp_path / "eval")
    assert eval_cli.main([
        _write(tmp_path, "eval.gin", EVAL), *model, f"--gin.CHECKPOINT_PATH='{run}/checkpoint_2'",
        f"--gin.EVAL_OUTPUT_DIR='{out}'", f"--gin.MIXTURE_OR_TASK_NAME='{name}'"]) == 0
    results = json.load(open(f"{out}/eval_results.json"))
    assert results["split"] == "validation" and "'test'" in results["split_note"]
    console = capsys.readouterr().err
    assert "no decoding evaluation; every task gets its teacher-forced loss" in console
    assert f"on the 'validation' split ({results['split_note']}): overall loss " in console
    assert "No eval task with valid split" not in console
    assert "has no metrics defined" not in console
    # The derived length is the longest validation document, in tokens, up to the cap (the demo's
    # validation split holds whole books: one attention matrix over a book would not fit).
    longest = eval_defaults.derive_feature_lengths(name, "validation")
    assert results["task_feature_lengths"] == longest
    assert 64 < longest["targets"] <= eval_defaults.DERIVED_LENGTH_CAP
    uncapped = eval_defaults.derive_feature_lengths(name, "validation", cap=10 ** 9)
    capped = eval_defaults.derive_feature_lengths(name, "validation", cap=100)
    assert capped == {k: min(v, 100) for k, v in uncapped.items()}
    sources = {t.name for t in eval_defaults.tasks_of(name) if "validation" in t.splits}
    assert set(results["tasks"]) == sources
    # The small demo corpus leaves some sources without validation documents: no loss for those.
    evaluated = [entry for entry in results["tasks"].values() if entry]
    assert evaluated and all(np.isfinite(e["loss"]) and e["weight_sum"] > 0 for e in evaluated)
