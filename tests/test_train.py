"""launch.train through its command line (in-process): artifacts, metrics, resumption, gin errors,
t5x run-file compatibility, loss-spike recovery, SIGTERM, the batch ramp, fine-tuning, eval."""

import glob
import os
import shutil
import signal

import jax
import numpy as np
import pytest

from launch import eval as eval_cli
from launch import train as train_cli
from launch.spikes import LossSpikeRecovery
from launch.trainer import Trainer
from launch.utils import CheckpointConfig, DatasetConfig, SaveCheckpointConfig
from model.config import PalmConfig
from tests import train_tasks
from tests.train_tasks import read_metrics, train_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = PalmConfig(vocab_size=512, num_layers=1, num_heads=4, d_model=64, head_dim=16,
                  dtype="float32")


@pytest.fixture(scope="module", autouse=True)
def tasks_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("train_tasks"))
    os.environ["PALM_TEST_TASKS_DIR"] = path
    train_tasks.write_data(path)
    train_tasks.register(path)
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    old = os.getcwd()
    os.chdir(ROOT)  # the relative gin paths of train_args
    yield path
    os.chdir(old)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """8 steps with checkpoints every 4 and an evaluation (whole validation split) at step 8."""
    model_dir = str(tmp_path_factory.mktemp("pretrain") / "run")
    assert train_cli.main(train_args(
        model_dir, 8, "--gin.utils.SaveCheckpointConfig.period=4",
        "--gin.train_script.train.eval_period=8", "--gin.train_script.train.eval_steps=None")) == 0
    return model_dir


def test_cli_writes_config_model_info_metrics_and_checkpoints(pretrained):
    model_dir = pretrained
    assert sorted(os.path.basename(p) for p in glob.glob(f"{model_dir}/checkpoint_*")) == \
        ["checkpoint_0", "checkpoint_4", "checkpoint_8"]
    config = open(f"{model_dir}/config.gin").read()
    assert f"MODEL_DIR = '{model_dir}'" in config and "TRAIN_STEPS = 8" in config
    info = open(f"{model_dir}/model-info.txt").read()
    assert "embedder/embedding" in info and "(512, 64)" in info and "P('model', None)" in info
    train = read_metrics(model_dir)
    assert [r["step"] for r in train] == list(range(1, 9))
    for key in ("loss", "accuracy", "z_loss", "cross_ent_loss", "grad_norm", "learning_rate"):
        assert all(np.isfinite(r[key]) for r in train), key
    timed = [r for r in train if "timing/seqs_per_second" in r]
    assert [r["step"] for r in timed] == [4, 8]
    assert all(r["timing/target_tokens_per_second"] > 0 and 0 < r["timing/mfu"] < 1
               for r in timed)
    assert train[-1]["loss"] < train[0]["loss"] - 0.5  # it learns
    (evaluation,) = read_metrics(model_dir, "eval")
    for task in ("tiny_mix.counting", "tiny_mix.words", "overall"):
        assert np.isfinite(evaluation[f"training_eval/{task}/loss"])
    assert glob.glob(f"{model_dir}/train/events.out.tfevents.*")


@pytest.mark.parametrize("binding, expected", [
    ("--gin.utils.SaveCheckpointConfig.perod=3", "doesn't have a parameter named 'perod'"),
    ("--gin.partitioning.PjitPartioner.num_partitions=2", "partitioning.PjitPartioner"),
])
def test_bad_bindings_fail_at_startup_naming_them(binding, expected, tmp_path, capsys):
    assert train_cli.main(train_args(str(tmp_path / "run"), 2, binding)) == 2
    assert expected in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")


def test_required_macro_and_bad_file_name_their_file(tmp_path, capsys):
    args = [a for a in train_args(str(tmp_path / "run"), 2) if "MODEL_DIR" not in a]
    assert train_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "MODEL_DIR" in err and "runs/pretrain.gin" in err and "--gin.MODEL_DIR=" in err
    bad = tmp_path / "bad.gin"
    bad.write_text("from __gin__ import dynamic_registration\nfrom launch import utils\n"
                   "utils.SaveCheckpointConfig.periodd = 3\n")
    assert train_cli.main(train_args(str(tmp_path / "run"), 2, f"--gin_file={bad}")) == 2
    err = capsys.readouterr().err
    assert "bad.gin" in err and "periodd" in err


T5X_STYLE_RUN_FILE = """
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
USE_CACHED_TASKS = True
MIXTURE_OR_TASK_MODULE = None
SHUFFLE_TRAIN_EXAMPLES = True
USE_HARDWARE_RNG = False
RANDOM_SEED = None

train_script.train:
  model = %MODEL
  model_dir = %MODEL_DIR
  train_dataset_cfg = @train/utils.DatasetConfig()
  train_eval_dataset_cfg = @train_eval/utils.DatasetConfig()
  infer_eval_dataset_cfg = None
  checkpoint_cfg = @utils.CheckpointConfig()
  partitioner = @partitioning.ModelBasedPjitPartitioner()
  trainer_cls = @trainer.Trainer
  total_steps = %TRAIN_STEPS
  eval_steps = 20
  eval_period = 1000
  random_seed = %RANDOM_SEED
  use_hardware_rng = %USE_HARDWARE_RNG
  summarize_config_fn = @gin_utils.summarize_gin_config

partitioning.ModelBasedPjitPartitioner:
  num_partitions = 1
  model_parallel_submesh = ()

train/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'train'
  batch_size = 8
  shuffle = %SHUFFLE_TRAIN_EXAMPLES
  seed = None
  use_cached = %USE_CACHED_TASKS
  pack = True
  module = %MIXTURE_OR_TASK_MODULE

train_eval/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'validation'
  batch_size = 8
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
  weight_metrics_computer = @trainer.WeightMetricsComputer()

utils.create_learning_rate_scheduler:
  factors = 'constant * rsqrt_decay'
  base_learning_rate = 1.0
  warmup_steps = 10000
"""


def test_a_t5x_style_run_file_resumes_the_run_with_only_its_imports_changed(pretrained,
                                                                             tmp_path):
    """A run file with t5x pretrain.gin's bindings (imports changed) continues the run that
    pretrain.gin started: a re-run restores the latest checkpoint in MODEL_DIR."""
    run_file = tmp_path / "t5x_pretrain.gin"
    run_file.write_text(T5X_STYLE_RUN_FILE)
    model_dir = str(tmp_path / "run")
    shutil.copytree(pretrained, model_dir)
    os.remove(f"{model_dir}/metrics.jsonl")
    args = [f"--gin_file={run_file}", "--gin_file=gin/models/palm_tiny.gin",
            f"--gin.MODEL_DIR='{model_dir}'", "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'",
            "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'", "--gin.USE_CACHED_TASKS=False",
            "--gin.TASK_FEATURE_LENGTHS={'targets': 64}", "--gin.TRAIN_STEPS=10",
            "--gin.PalmConfig.dtype='float32'", "--gin.PalmConfig.num_layers=1"]
    assert train_cli.main(args) == 0
    train = read_metrics(model_dir)
    assert [r["step"] for r in train] == [9, 10]
    assert train[0]["learning_rate"] == pytest.approx(1e-2) and "weight_norm" in train[0]


def _train(model_dir, steps, trainer_cls=Trainer, **kwargs):
    dataset = DatasetConfig(mixture_or_task_name="tiny_mix", task_feature_lengths={"targets": 64},
                            split="train", batch_size=8, pack=True)
    return train_cli.train(model=TINY, model_dir=model_dir, train_dataset_cfg=dataset,
                           checkpoint_cfg=CheckpointConfig(save=SaveCheckpointConfig(period=3)),
                           trainer_cls=trainer_cls, total_steps=steps, random_seed=0,
                           summarize_config_fn=None, log_period=100, peak_flops_per_device=1e11,
                           **kwargs)


class SpikyTrainer(Trainer):
    """Reports a NaN loss at step 5 and a 10x loss at step 8, once each."""
    injected: set = set()

    def train_step(self, state, batch):
        new_state, metrics = super().train_step(state, batch)
        step = int(new_state.step)
        if step in (5, 8) and step not in self.injected:
            self.injected.add(step)
            metrics = dict(metrics, loss=metrics["loss"] * (np.nan if step == 5 else 10.0))
        return new_state, metrics


def test_loss_spikes_restore_the_last_checkpoint_and_skip_batches(tmp_path):
    model_dir = str(tmp_path / "run")
    result = _train(model_dir, 10, SpikyTrainer, spike_recovery=LossSpikeRecovery(
        factor=3.0, min_history=2, skip_batches=4))
    assert result.status == "finished" and result.step == 10
    nan_event, factor_event = result.spike_events
    assert nan_event["spike_step"] == 5 and "non-finite" in nan_event["reason"]
    assert nan_event["restored_step"] == 3 and nan_event["batches_skipped"] == 4
    # After the first recovery the data position is 3 + 4 batches: step 4 reads batch 8 and so on.
    assert factor_event["spike_step"] == 8 and "x recent mean" in factor_event["reason"]
    assert factor_event["restored_step"] == 6 and factor_event["batches_skipped"] == 4
    events = read_metrics(model_dir, "event")
    assert [e["spike_step"] for e in events] == [5, 8]
    train = read_metrics(model_dir)
    assert all(np.isfinite(r["loss"]) for r in train) and train[-1]["step"] == 10


class NanAtFiveTrainer(Trainer):
    """Reports a NaN loss at step 5, once."""
    injected: set = set()

    def train_step(self, state, batch):
        new_state, metrics = super().train_step(state, batch)
        if int(new_state.step) == 5 and 5 not in self.injected:
            self.injected.add(5)
            metrics = dict(metrics, loss=metrics["loss"] * np.nan)
        return new_state, metrics


def test_spike_recovery_drops_abandoned_steps_from_the_tensorboard_means(tmp_path):
    """Logging every 5 steps, checkpoints every 3: the NaN at step 5 rewinds to step 3, so the
    step-5 mean is over steps 1-3 and the redone 4-5, never over the abandoned step 4."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as ea
    from tensorboard.util import tensor_util

    model_dir = str(tmp_path / "run")
    NanAtFiveTrainer.injected = set()
    result = _train(model_dir, 5, NanAtFiveTrainer, stats_period=5,
                    spike_recovery=LossSpikeRecovery(factor=None, skip_batches=1))
    assert [e["restored_step"] for e in result.spike_events] == [3]
    losses = {r["step"]: r["loss"] for r in read_metrics(model_dir)}  # the kept steps' lines
    assert sorted(losses) == [1, 2, 3, 4, 5]
    accumulator = ea.EventAccumulator(f"{model_dir}/train", size_guidance={ea.TENSORS: 0})
    accumulator.Reload()
    points = {e.step: float(tensor_util.make_ndarray(e.tensor_proto))
              for e in accumulator.Tensors("loss")}
    assert list(points) == [5]
    assert points[5] == pytest.approx(np.mean([losses[s] for s in range(1, 6)]), rel=1e-6)


class SigtermTrainer(Trainer):
    def train_step(self, state, batch):
        new_state, metrics = super().train_step(state, batch)
        if int(new_state.step) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return new_state, metrics


def test_sigterm_saves_a_checkpoint_and_returns(tmp_path):
    model_dir = str(tmp_path / "run")
    result = _train(model_dir, 50, SigtermTrainer)
    assert result.status == "preempted" and result.step == 2
    assert os.path.isdir(f"{model_dir}/checkpoint_2")
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back
    resumed = _train(model_dir, 4)
    assert resumed.status == "finished" and [r["step"] for r in read_metrics(model_dir)][-2:] \
        == [3, 4]


class RecordingTrainer(Trainer):
    instances: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instances.append(self)


def test_batch_size_ramp_compiles_once_per_stage(tmp_path):
    model_dir = str(tmp_path / "run")
    _train(model_dir, 5, RecordingTrainer, batch_size_ramp=[(3, 16)])
    assert RecordingTrainer.instances[-1].trace_count == 2
    timed = read_metrics(model_dir)
    assert [r["weight_sum"] > 0 for r in timed] == [True] * 5
    import orbax.checkpoint as ocp
    record = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(f"{model_dir}/checkpoint_5/data")
    assert record["examples_consumed"] == 3 * 8 + 2 * 16


def test_finetune_continues_from_the_initial_checkpoint(pretrained, tmp_path):
    model_dir = str(tmp_path / "finetune")
    args = train_args(model_dir, 9, f"--gin.INITIAL_CHECKPOINT_PATH='{pretrained}/checkpoint_8'",
                      "--gin.BATCH_SIZE=8")
    args[0] = "--gin_file=gin/runs/finetune.gin"
    assert train_cli.main(args) == 0
    train = read_metrics(model_dir)
    assert [r["step"] for r in train] == [9]
    assert train[0]["learning_rate"] == pytest.approx(1e-3)  # finetune.gin's constant rate


def test_eval_cli_matches_training_eval_and_decodes_text_to_text(pretrained, tmp_path):
    (training_eval,) = read_metrics(pretrained, "eval")
    common = ["--gin_file=gin/runs/eval.gin", "--gin_file=gin/models/palm_tiny.gin",
              f"--gin.CHECKPOINT_PATH='{pretrained}/checkpoint_8'",
              "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'",
              "--gin.PalmConfig.dtype='float32'", "--gin.PalmConfig.num_layers=1",
              "--gin.utils.DatasetConfig.batch_size=8"]
    out = str(tmp_path / "eval")
    assert eval_cli.main([*common, "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'",
                          f"--gin.EVAL_OUTPUT_DIR='{out}'", "--gin.utils.DatasetConfig.pack=True",
                          "--gin.TASK_FEATURE_LENGTHS={'targets': 64}"]) == 0
    import json
    results = json.load(open(f"{out}/eval_results.json"))
    assert results["step"] == 8 and set(results["tasks"]) == {"tiny_mix.counting",
                                                              "tiny_mix.words"}
    for task in ("tiny_mix.counting", "tiny_mix.words"):  # same checkpoint, same whole split
        assert results["tasks"][task]["loss"] == pytest.approx(
            training_eval[f"training_eval/{task}/loss"], rel=1e-5)
    assert results["overall"]["loss"] == pytest.approx(
        training_eval["training_eval/overall/loss"], rel=1e-5)
    t2t = str(tmp_path / "t2t")
    assert eval_cli.main([*common, f"--gin.MIXTURE_OR_TASK_NAME='{train_tasks.TEXT_TO_TEXT}'",
                          f"--gin.EVAL_OUTPUT_DIR='{t2t}'",
                          "--gin.eval_script.evaluate.max_decode_examples=8",
                          "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}"]) == 0
    entry = json.load(open(f"{t2t}/eval_results.json"))["tasks"][train_tasks.TEXT_TO_TEXT]
    assert entry["decoded_examples"] == 8 and 0.0 <= entry["exact_match"] <= 1.0
    assert np.isfinite(entry["loss"]) and len(entry["samples"]) == 5


def test_exact_match():
    assert eval_cli.exact_match(["12", " 7", "x"], ["12", "7", "y"]) == pytest.approx(2 / 3)


def _sample(pretrained, output, *extra):
    from launch import sample as sample_cli
    return sample_cli.main([f"--gin_file={pretrained}/config.gin", f"--checkpoint={pretrained}",
                            "--vocabulary=byte", "--prompt=1 2 3 4", "--prompt=the cat",
                            "--max_new_tokens=8", f"--output={output}", *extra])


def test_sample_cli_continues_prompts_reproducibly_from_the_latest_checkpoint(pretrained,
                                                                               tmp_path):
    import json
    assert _sample(pretrained, tmp_path / "a.json", "--seed=3") == 0
    assert _sample(pretrained, tmp_path / "b.json", "--seed=3") == 0
    a, b = (json.load(open(tmp_path / n)) for n in ("a.json", "b.json"))
    assert a["step"] == 8 and a["checkpoint"].endswith("checkpoint_8")
    assert a["samples"] == b["samples"]
    assert [s["prompt"] for s in a["samples"]] == ["1 2 3 4", "the cat"]
    assert all(1 <= s["tokens"] <= 8 for s in a["samples"])
    assert a["timing"]["generated_tokens"] == sum(s["tokens"] for s in a["samples"])
    assert a["timing"]["tokens_per_second"] > 0 and a["timing"]["compile_seconds"] > 0


def test_sample_cli_names_a_missing_checkpoint(tmp_path, capsys):
    from launch import sample as sample_cli
    assert sample_cli.main(["--gin_file=gin/models/palm_tiny.gin", f"--checkpoint={tmp_path}",
                            "--vocabulary=byte", "--prompt=x"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_delivered_mixture_names_each_examples_task_correctly():
    """The task named for every example of the Mixture's stream matches the example's content
    (counting: digits only; words: letters), so the delivered-mixture chart is the real one."""
    import itertools

    from launch import run_report
    seen = {}
    for task, example in itertools.islice(
            run_report.attributed_examples(train_tasks.MIXTURE, 64, seed=5, use_cached=False),
            300):
        text = bytes(int(t) - 3 for t in example["targets"] if int(t) >= 3).decode()
        assert (task == "tiny_mix.counting") == (not any(c.isalpha() for c in text)), (task, text)
        seen[task] = seen.get(task, 0) + 1
    assert set(seen) == {"tiny_mix.counting", "tiny_mix.words"}
    assert 0.35 < seen["tiny_mix.counting"] / 300 < 0.65  # weights 1:1


def test_run_report_shows_curves_mixture_and_samples(pretrained, tmp_path):
    from launch import run_report
    samples = tmp_path / "samples.json"
    assert _sample(pretrained, samples) == 0
    train, evals, _ = run_report.read_metrics(pretrained)
    delivered = run_report.delivered_mixture(train_tasks.MIXTURE, 64, seed=0,
                                             target_tokens=2000, use_cached=False)
    assert sum(delivered.values()) >= 2000 and set(delivered) == {"tiny_mix.counting",
                                                                   "tiny_mix.words"}
    page = run_report.render(prep_dir=None, model_dir=pretrained, samples_path=str(samples),
                             mixture={"delivered": delivered,
                                      "weights": {"tiny_mix.counting": 0.5,
                                                  "tiny_mix.words": 0.5}})
    assert f"{len(train)} steps" in page and "Validation loss per task" not in page or evals
    assert page.count("data:image/png;base64,") >= 3  # mixture, loss, per-task eval / MFU
    assert "1 2 3 4" in page and "Token mixture" in page


def test_finetune_on_a_text_to_text_task_then_eval_decodes_it(pretrained, tmp_path):
    """Fine-tuning on a seqio task with `inputs` (PrefixLM features: loss on the targets only),
    from the pretrained checkpoint, then launch.eval decodes its validation split."""
    import json
    model_dir = str(tmp_path / "t2t_ft")
    args = train_args(model_dir, 16, f"--gin.INITIAL_CHECKPOINT_PATH='{pretrained}/checkpoint_8'",
                      f"--gin.MIXTURE_OR_TASK_NAME='{train_tasks.TEXT_TO_TEXT}'",
                      "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}",
                      "--gin.utils.SaveCheckpointConfig.period=8")
    args[0] = "--gin_file=gin/runs/finetune.gin"
    assert train_cli.main(args) == 0
    train = read_metrics(model_dir)
    assert [r["step"] for r in train] == list(range(9, 17))
    from launch.inputs import data as data_lib
    cfg = DatasetConfig(mixture_or_task_name=train_tasks.TEXT_TO_TEXT,
                        task_feature_lengths={"inputs": 8, "targets": 8}, split="train",
                        batch_size=8, shuffle=False, seed=0, use_cached=False, pack=True)
    import seqio
    assert isinstance(data_lib.feature_converter(cfg), seqio.PrefixLMFeatureConverter)
    assert data_lib.decoder_length(cfg) == 16
    batch = next(data_lib.TrainStream(cfg, 0, [0], 1).batches(0, 4))
    # Only target tokens are trained: fewer weighted positions than tokens (inputs unweighted).
    weighted = int((batch["decoder_loss_weights"] > 0).sum())
    assert 0 < weighted < int((batch["decoder_target_tokens"] > 0).sum())
    assert "decoder_causal_attention" in batch
    out = str(tmp_path / "eval")
    assert eval_cli.main([
        "--gin_file=gin/runs/eval.gin", "--gin_file=gin/models/palm_tiny.gin",
        f"--gin.CHECKPOINT_PATH='{model_dir}/checkpoint_16'",
        "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'", "--gin.PalmConfig.dtype='float32'",
        "--gin.PalmConfig.num_layers=1", "--gin.utils.DatasetConfig.batch_size=8",
        f"--gin.MIXTURE_OR_TASK_NAME='{train_tasks.TEXT_TO_TEXT}'",
        f"--gin.EVAL_OUTPUT_DIR='{out}'",
        "--gin.eval_script.evaluate.max_decode_examples=8",
        "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}"]) == 0
    entry = json.load(open(f"{out}/eval_results.json"))["tasks"][train_tasks.TEXT_TO_TEXT]
    assert entry["decoded_examples"] == 8 and np.isfinite(entry["loss"])
