"""Fault injection: damaged, interrupted and refused runs of launch.train (and a killed prep job).

Every damaged run must resume from the newest checkpoint that verifies and end bitwise equal to
an undisturbed run; every run that cannot start must leave MODEL_DIR exactly as it was.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launch import checkpoint_verify
from launch import train as train_cli
from launch.run import checksums, jsonl
from launch.run import run_dir as run_dir_lib
from launch.spikes import LossSpikeRecovery
from launch.trainer import Trainer
from launch.utils import CheckpointConfig, DatasetConfig, SaveCheckpointConfig
from model.config import PalmConfig
from tests import train_tasks
from tests.train_tasks import train_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, PERIOD = 6, "--gin.utils.SaveCheckpointConfig.period=2"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tasks = str(tmp_path_factory.mktemp("train_tasks"))
    train_tasks.write_data(tasks)
    train_tasks.register(tasks)
    os.environ["PALM_TEST_TASKS_DIR"] = tasks
    cache = str(tmp_path_factory.mktemp("jax_cache"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    old = os.getcwd()
    os.chdir(ROOT)  # the relative gin paths of train_args
    yield {**os.environ, "PYTHONPATH": ROOT, "PALM_TEST_TASKS_DIR": tasks,
           "JAX_COMPILATION_CACHE_DIR": cache, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PLATFORMS": "cpu"}
    os.chdir(old)


@pytest.fixture(scope="module")
def straight(env, tmp_path_factory):
    """The undisturbed run: 6 steps, checkpoints 0, 2, 4, 6."""
    model_dir = str(tmp_path_factory.mktemp("straight") / "run")
    assert train_cli.main(train_args(model_dir, STEPS, PERIOD)) == 0
    return model_dir


def strict_lines(model_dir: str) -> list[dict]:
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line, parse_constant=refuse) for line in f]


def train_lines(model_dir: str) -> list[dict]:
    return [r for r in strict_lines(model_dir) if r["kind"] == "train"]


def tensorboard_points(run_dir: str) -> dict:
    """tag -> [(step, value)] as TensorBoard's reader sees the run (orphaned points purged).
    The plugin EventAccumulator is the one TensorBoard reads tf.summary (tensor) data with."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as ea
    from tensorboard.util import tensor_util

    accumulator = ea.EventAccumulator(run_dir, size_guidance={ea.TENSORS: 0})
    accumulator.Reload()
    out = {}
    for tag in accumulator.Tags()["tensors"]:
        values = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in
                  accumulator.Tensors(tag)]
        out[tag] = [(step, float(v) if v.dtype.kind == "f" else v) for step, v in values]
    return out


# Measurements of each start of the loop, written at the step it starts from: a rewind to the
# step a start began at (here: to 0) records a second start there, by design.
PER_START = ("timing/compilation_seconds", "timing/init_or_restore_seconds")


def assert_one_point_per_step(run_dir: str) -> dict:
    points = tensorboard_points(run_dir)
    assert "loss" in points
    for tag, values in points.items():
        steps = [step for step, _ in values]
        if tag in PER_START:
            continue
        assert len(steps) == len(set(steps)), f"{tag}: steps {steps} in {run_dir}"
    return points


def state_of(checkpoint: str):
    return ocp.StandardCheckpointer().restore(os.path.join(checkpoint, "state"))


def assert_bitwise_equal(a: str, b: str) -> None:
    left, right = jax.tree.leaves(state_of(a)), jax.tree.leaves(state_of(b))
    assert len(left) == len(right) > 10
    for x, y in zip(left, right):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def snapshot(path: str) -> dict | None:
    """Every file under `path` with its bytes' hash (None if `path` does not exist)."""
    if not os.path.exists(path):
        return None
    out = {}
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, path)
            out[rel] = (hashlib.sha256(open(full, "rb").read()).hexdigest()
                        if os.path.isfile(full) else "dir")
    return out


def array_file(checkpoint: str) -> str:
    """The biggest array data file the checkpoint's host 0 wrote."""
    folder = os.path.join(checkpoint, "state", "ocdbt.process_0", "d")
    return max((os.path.join(folder, n) for n in os.listdir(folder)), key=os.path.getsize)


def flip_bytes(checkpoint: str) -> str:
    path = array_file(checkpoint)
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    open(path, "wb").write(bytes(data))
    return "crc32c"


def truncate(checkpoint: str) -> str:
    path = array_file(checkpoint)
    os.truncate(path, os.path.getsize(path) // 2)
    return "size"


def delete_metadata(checkpoint: str) -> str:
    os.remove(os.path.join(checkpoint, "data", "metadata"))
    return "missing file"


@pytest.mark.parametrize("damage", [flip_bytes, truncate, delete_metadata])
def test_damaged_newest_checkpoint_resumes_from_the_previous_one_bitwise(
        straight, tmp_path, damage, capsys, monkeypatch):
    """The run stopped after checkpoint_4 (its later metrics lines were written); then
    checkpoint_4 is damaged. The rerun skips it, says why, and ends as the undisturbed run."""
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    shutil.rmtree(run / "checkpoint_6")
    check = damage(str(run / "checkpoint_4"))
    monkeypatch.chdir(tmp_path)  # MODEL_DIR given relative to the working directory
    assert train_cli.main(train_args("run", STEPS, PERIOD)) == 0
    err = capsys.readouterr().err
    assert "checkpoint_4 fails verification, skipped: checkpoint_4: " in err
    assert f"{check} check failed" in err
    assert "resuming from checkpoint_2, the newest checkpoint that verifies" in err
    assert os.path.isdir(run / "set_aside" / "checkpoint_4-corrupt")  # kept, not deleted
    expected = {r["step"]: r["loss"] for r in train_lines(straight)}
    got = train_lines(str(run))
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))  # once each, in order
    assert {r["step"]: r["loss"] for r in got} == expected
    assert_bitwise_equal(f"{straight}/checkpoint_6", str(run / "checkpoint_6"))
    assert checksums.verify(str(run / "checkpoint_6")) == []
    # TensorBoard: the copied run had points at steps 4 and 6; they were redone, and show once.
    # (Train scalars are means over the logging period since the last report: the resumed run's
    # mean at step 4 covers steps 3-4 only; at step 6 both runs average steps 5-6.)
    redone = assert_one_point_per_step(str(run / "train"))
    assert [step for step, _ in redone["loss"]] == [4, 6]
    assert redone["loss"][1] == tensorboard_points(f"{straight}/train")["loss"][1]


def test_every_checkpoint_corrupt_is_a_clear_error_and_nothing_is_touched(straight, tmp_path,
                                                                            capsys):
    run = str(tmp_path / "run")
    shutil.copytree(straight, run)
    for step in (0, 2, 4, 6):
        flip_bytes(f"{run}/checkpoint_{step}")
    before = snapshot(run)
    assert train_cli.main(train_args(run, STEPS + 2, PERIOD)) == 2
    err = capsys.readouterr().err
    assert f"no checkpoint in {run} verifies" in err and "Nothing was deleted" in err
    for step in (0, 2, 4, 6):
        assert f"checkpoint_{step}: state/ocdbt.process_0/d/" in err
    assert snapshot(run) == before


# Shared by the scripts below: wait (at most 30 s) until `marker` exists, then SIGKILL this
# process, so the kill lands at a known point of a checkpoint's life.
DIE_ONCE_WRITTEN = """
def die_once_written(marker):
    for _ in range(600):
        if os.path.exists(marker):
            break
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
"""

# A run that SIGKILLs itself while checkpoint_4 is being written: inside Orbax's asynchronous
# write (right after the save was handed to it), or while its checksums are being computed.
KILLER = """
import os, signal, sys, time
import orbax.checkpoint as ocp
from launch import train
from launch.run import checksums
""" + DIE_ONCE_WRITTEN + """
where = sys.argv.pop(1)
if where == "orbax":
    save = ocp.CheckpointManager.save
    def save_then_die(self, step, *args, **kwargs):
        out = save(self, step, *args, **kwargs)
        if step == 4:  # once checkpoint_2 is complete, die while checkpoint_4 is being written
            die_once_written(os.path.join(str(self.directory), "checkpoint_2", "checksums",
                                          "process_0.json"))
        return out
    ocp.CheckpointManager.save = save_then_die
else:
    crc = checksums.crc32c_of
    def crc_then_die(path):
        if "checkpoint_4" in str(path):
            os.kill(os.getpid(), signal.SIGKILL)
        return crc(path)
    checksums.crc32c_of = crc_then_die
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("where", ["orbax", pytest.param("checksums", marks=pytest.mark.slow)])
def test_kill_9_during_a_checkpoint_write_resumes_from_the_previous_one(straight, env,
                                                                        tmp_path, where,
                                                                        capsys):
    run = str(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-c", KILLER, where,
                             *train_args(run, STEPS, PERIOD)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert os.path.isdir(f"{run}/checkpoint_2")
    assert train_cli.main(train_args(run, STEPS, PERIOD)) == 0
    err = capsys.readouterr().err
    assert f"resumed from {run}/checkpoint_2 " in err
    if where == "checksums" or os.path.isdir(f"{run}/set_aside"):  # committed, no checksums
        assert "completion marker check failed" in err
        assert os.path.isdir(f"{run}/set_aside/checkpoint_4-corrupt")
    assert [r["step"] for r in train_lines(run)] == list(range(1, STEPS + 1))
    assert_bitwise_equal(f"{straight}/checkpoint_6", f"{run}/checkpoint_6")


TINY = PalmConfig(vocab_size=512, num_layers=1, num_heads=4, d_model=64, head_dim=16,
                  dtype="float32")


class CorruptingSpikyTrainer(Trainer):
    """Step 5: damages checkpoint_4 (once its checksums are down) and reports a NaN loss; the
    first redo of step 3 after the rewind reports a NaN again (no checkpoint saved since)."""
    model_dir = ""
    calls: dict = {}

    def train_step(self, state, batch):
        new_state, metrics = super().train_step(state, batch)
        step = int(new_state.step)
        self.calls[step] = self.calls.get(step, 0) + 1
        if step == 5 and self.calls[step] == 1:
            marker = os.path.join(self.model_dir, "checkpoint_4", "checksums", "process_0.json")
            for _ in range(600):
                if os.path.exists(marker):
                    break
                time.sleep(0.05)
            flip_bytes(os.path.join(self.model_dir, "checkpoint_4"))
        if (step, self.calls[step]) in ((5, 1), (3, 2)):
            metrics = dict(metrics, loss=metrics["loss"] * np.nan)
        return new_state, metrics


def test_spike_walks_back_past_a_corrupt_checkpoint_and_never_repeats_a_rewind(env, tmp_path):
    model_dir = str(tmp_path / "run")
    CorruptingSpikyTrainer.model_dir, CorruptingSpikyTrainer.calls = model_dir, {}
    dataset = DatasetConfig(mixture_or_task_name="tiny_mix", task_feature_lengths={"targets": 64},
                            split="train", batch_size=8, pack=True)
    result = train_cli.train(
        model=TINY, model_dir=model_dir, train_dataset_cfg=dataset,
        checkpoint_cfg=CheckpointConfig(save=SaveCheckpointConfig(period=2)),
        trainer_cls=CorruptingSpikyTrainer, total_steps=7, random_seed=0,
        summarize_config_fn=None, log_period=100, peak_flops_per_device=1e11,
        spike_recovery=LossSpikeRecovery(factor=None, skip_batches=1))
    assert result.status == "finished" and result.step == 7
    first, second = result.spike_events
    # checkpoint_4 fails verification: the newest verified checkpoint before step 5 is 2.
    assert (first["spike_step"], first["restored_step"]) == (5, 2)
    # The loss spikes again before any new checkpoint: 2 is not chosen again; 0 is.
    assert (second["spike_step"], second["restored_step"]) == (3, 0)
    aside = sorted(os.listdir(f"{model_dir}/set_aside"))
    assert aside == ["checkpoint_2-rewound", "checkpoint_4-corrupt"]
    lines = strict_lines(model_dir)
    assert [r["step"] for r in lines if r["kind"] == "train"] == list(range(1, 8))
    assert [r["spike_step"] for r in lines if r["kind"] == "event"] == [5, 3]
    assert all(r["loss"] is not None for r in lines if r["kind"] == "train")
    for step in (2, 4, 6, 7):
        assert checksums.verify(f"{model_dir}/checkpoint_{step}") == []
    # TensorBoard after two in-process rewinds: every point of a redone step shows once.
    points = assert_one_point_per_step(f"{model_dir}/train")
    assert [step for step, _ in points["timing/checkpoint_seconds"]] == [2, 4, 6, 7]
    assert [step for step, _ in points["timing/compilation_seconds"]] == [0, 0]  # 2 starts at 0


def _bad_gin_file(tmp_path) -> str:
    path = tmp_path / "steps.gin"
    path.write_text("# a run file with a typo\nTRAIN_STEPS = 6O\n")
    return f"--gin_file={path}"


def _finetune(args: list[str], initial: str) -> list[str]:
    return ["--gin_file=gin/runs/finetune.gin", *args[1:],
            f"--gin.INITIAL_CHECKPOINT_PATH='{initial}'"]


# (name, existing MODEL_DIR?, how the flags are changed, what the error must say)
FAILED_STARTS = [
    ("shards_vs_batch", False, lambda a, t, s: a + ["--gin.train_script.train.num_data_shards=3"],
     ["batch size 8 is not divisible by the 3 data shards",
      "--gin.train_script.train.num_data_shards"]),
    ("shards_vs_recorded", True,
     lambda a, t, s: a + ["--gin.train_script.train.num_data_shards=2"],
     ["records num_data_shards=1 but the flags say 2",
      "drop --gin.train_script.train.num_data_shards or set it to 1"]),
    ("seed_vs_recorded", True, lambda a, t, s: a + ["--gin.RANDOM_SEED=7"],
     ["records run_seed=0 but the flags say 7"]),
    ("ramp_vs_shards", False,
     lambda a, t, s: a + ["--gin.train_script.train.num_data_shards=8",
                          "--gin.train_script.train.batch_size_ramp=[(2, 12)]"],
     ["batch size 12 is not divisible by the 8 data shards"]),
    ("missing_cache", False, lambda a, t, s: a + ["--gin.USE_CACHED_TASKS=True"],
     ["has no seqio cache", "--seqio_additional_cache_dirs", "USE_CACHED_TASKS=False"]),
    ("missing_task", False, lambda a, t, s: a + ["--gin.MIXTURE_OR_TASK_NAME='no_such_mix'"],
     ["No Task or Mixture found with name 'no_such_mix'", "--gin.MIXTURE_OR_TASK_NAME"]),
    ("vocabulary_vs_model", False, lambda a, t, s: a + ["--gin.PalmConfig.vocab_size=100"],
     ["vocabulary of 259 ids", "PalmConfig.vocab_size=259"]),
    ("mesh", False, lambda a, t, s: a + ["--gin.partitioning.PjitPartitioner.num_partitions=3"],
     ["num_partitions=3 must divide", "--gin.partitioning.PjitPartitioner.num_partitions"]),
    ("wrong_restore_path", False, lambda a, t, s: _finetune(a, str(t / "no_such_run")),
     ["no checkpoint found", "--gin.INITIAL_CHECKPOINT_PATH"]),
    ("corrupt_initial_checkpoint", False,
     lambda a, t, s: _finetune(a, _corrupt_copy(s, t)),
     ["initial checkpoint fails verification", "crc32c check failed"]),
    ("gin_syntax_in_a_binding", False, lambda a, t, s: a + ["--gin.TRAIN_STEPS=6O"],
     ["gin syntax error in --gin_bindings #", "'TRAIN_STEPS = 6O'"]),
    ("gin_syntax_in_a_file", False, lambda a, t, s: a + [_bad_gin_file(t)],
     ["gin syntax error in binding `TRAIN_STEPS = 6O` (TRAIN_STEPS)", "steps.gin:2"]),
    ("gin_type", False, lambda a, t, s: a + ["--gin.BATCH_SIZE='eight'"],
     ["BATCH_SIZE = 'eight' is a str, int expected", "--gin_bindings #"]),
    ("model_dir_is_a_file", None, lambda a, t, s: a, ["is a file", "--gin.MODEL_DIR"]),
]


def _corrupt_copy(straight: str, tmp_path) -> str:
    target = str(tmp_path / "initial" / "checkpoint_6")
    shutil.copytree(f"{straight}/checkpoint_6", target)
    flip_bytes(target)
    return target


@pytest.mark.parametrize("name, existing, change, expected", FAILED_STARTS,
                         ids=[case[0] for case in FAILED_STARTS])
def test_a_run_that_cannot_start_leaves_model_dir_untouched(straight, tmp_path, capsys, name,
                                                            existing, change, expected):
    run = str(tmp_path / "run")
    if existing:
        shutil.copytree(straight, run)
    elif existing is None:
        open(run, "w").write("not a folder\n")
    before = snapshot(run)
    assert train_cli.main(change(train_args(run, STEPS + 2, PERIOD), tmp_path, straight)) == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, err[-2000:]
    assert "Traceback" not in err
    assert snapshot(run) == before  # None stays None: not even the folder was made
    if existing is None:
        assert open(run).read() == "not a folder\n"


def test_sample_takes_a_relative_checkpoint_path(straight, tmp_path, monkeypatch):
    from launch import sample as sample_cli
    monkeypatch.chdir(os.path.dirname(straight))
    out = tmp_path / "samples.json"
    assert sample_cli.main(["--gin_file=run/config.gin", "--checkpoint=run", "--vocabulary=byte",
                            "--prompt=1 2 3", "--max_new_tokens=4", f"--output={out}"]) == 0
    assert json.load(open(out))["checkpoint"] == f"{straight}/checkpoint_6"


def test_sample_and_eval_name_a_damaged_checkpoint(straight, tmp_path, capsys):
    from launch import eval as eval_cli
    from launch import sample as sample_cli
    checkpoint = _corrupt_copy(straight, tmp_path)
    assert sample_cli.main([f"--gin_file={straight}/config.gin", f"--checkpoint={checkpoint}",
                            "--vocabulary=byte", "--prompt=1 2 3"]) == 2
    err = capsys.readouterr().err
    assert "crc32c check failed" in err and "does not match the configured" not in err
    assert eval_cli.main(["--gin_file=gin/runs/eval.gin", "--gin_file=gin/models/palm_tiny.gin",
                          f"--gin.CHECKPOINT_PATH='{checkpoint}'",
                          "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'",
                          "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'", "--gin.PalmConfig.num_layers=1",
                          f"--gin.EVAL_OUTPUT_DIR='{tmp_path / 'eval'}'",
                          "--gin.TASK_FEATURE_LENGTHS={'targets': 64}"]) == 2
    assert "crc32c check failed" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "eval" / "eval_results.json")
    from launch import infer as infer_cli
    assert infer_cli.main(["--gin_file=gin/runs/infer.gin", "--gin_file=gin/models/palm_tiny.gin",
                           f"--gin.CHECKPOINT_PATH='{checkpoint}'",
                           "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'",
                           "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'", "--gin.PalmConfig.num_layers=1",
                           f"--gin.INFER_OUTPUT_DIR='{tmp_path / 'infer'}'",
                           "--gin.TASK_FEATURE_LENGTHS={'targets': 64}"]) == 2
    err = capsys.readouterr().err
    assert "crc32c check failed" in err and "Traceback" not in err


def test_verify_cli_names_each_failed_check(straight, tmp_path, capsys):
    run = str(tmp_path / "run")
    shutil.copytree(straight, run)
    truncate(f"{run}/checkpoint_2")
    os.remove(f"{run}/checkpoint_4/state/_METADATA")
    os.remove(f"{run}/checkpoint_6/checksums/process_0.json")
    assert checkpoint_verify.main([run]) == 1
    out = capsys.readouterr().out
    assert f"{run}/checkpoint_0: OK" in out
    assert "size (" in out and "state/_METADATA: missing file" in out
    assert "checksums/process_0.json: completion marker" in out
    assert checkpoint_verify.main([f"{run}/checkpoint_6", "--write"]) == 0  # trust it again
    assert checksums.verify(f"{run}/checkpoint_6") == []


def test_each_host_checksums_its_own_shards(tmp_path):
    folder = tmp_path / "checkpoint_3"
    for rel in ("state/_METADATA", "state/ocdbt.process_0/d/a", "state/ocdbt.process_1/d/b",
                "state/array_metadatas/process_1", "data/metadata"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(rel.encode() * 100)
    host0 = checksums.write_manifest(str(folder), 0, 2)
    assert set(host0["files"]) == {"state/_METADATA", "state/ocdbt.process_0/d/a",
                                   "data/metadata"}
    problems = checksums.verify(str(folder))
    assert [(p.file, p.check) for p in problems] == [("checksums/process_1.json",
                                                      "completion marker")]
    host1 = checksums.write_manifest(str(folder), 1, 2)
    assert set(host1["files"]) == {"state/ocdbt.process_1/d/b", "state/array_metadatas/process_1"}
    assert checksums.verify(str(folder)) == []
    # On resumption with one host, that host checks both manifests.
    (folder / "state/ocdbt.process_1/d/b").write_bytes(b"x")
    assert [p.check for p in checksums.verify(str(folder))] == ["size"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "loss": st.floats(allow_nan=True, allow_infinity=True),
    "accuracy": st.floats(0, 1)}), min_size=1, max_size=12), st.integers(0, 12))
def test_metrics_lines_are_strict_json_and_truncation_keeps_one_line_per_step(tmp_path_factory,
                                                                              records, keep):
    path = str(tmp_path_factory.mktemp("m") / "metrics.jsonl")
    with open(path, "w") as f:
        for step, record in enumerate(records, 1):
            f.write(jsonl.strict_line({"step": step, "kind": "train", **record}))
        f.write(jsonl.strict_line({"step": 3, "kind": "event", "loss": float("inf")}))
        f.write('{"step": 99, "kind": "train", "loss"')  # cut short by a kill
    jsonl.truncate_after(path, keep)
    lines = [json.loads(line, parse_constant=lambda c: 1 / 0) for line in open(path)]
    train = [r for r in lines if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, min(keep, len(records)) + 1))
    for r in train:
        original = records[r["step"] - 1]["loss"]
        if np.isfinite(original):
            assert r["loss"] == original and "nonfinite" not in r
        else:
            assert r["loss"] is None and r["nonfinite"] == {"loss": repr(original)}
    assert [r["nonfinite"] for r in lines if r["kind"] == "event"] == [{"loss": "inf"}]


@pytest.mark.slow
def test_killing_a_prep_job_ends_its_beam_workers(tmp_path):
    import psutil

    from launch import demo_corpus
    raw = str(tmp_path / "raw")
    demo_corpus.generate(raw, size_mb=1.0, seed=0)
    job = subprocess.Popen(
        [sys.executable, "-m", "pipeline.prep", "--sources", f"{raw}/sources.yaml",
         "--output_dir", str(tmp_path / "out"), "--direct_num_workers=2"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = []
    deadline = time.time() + 240
    while time.time() < deadline and job.poll() is None:
        workers = psutil.Process(job.pid).children(recursive=True)
        if len(workers) >= 2:
            break
        time.sleep(0.5)
    assert len(workers) >= 2, "the job's Beam workers did not start"
    time.sleep(2)
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 128 + signal.SIGTERM
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == [], f"workers outlived the job: {alive}"
    assert "SIGTERM received: stopped" in job.stderr.read().decode()


# --- Everything a run writes goes through launch/run/paths.py: an object store (fsspec's in-memory
# filesystem, no network) instead of a disk. A full training run cannot use it: Orbax writes
# checkpoints through TensorStore, whose kvstores are file, gcs, s3 and its own memory store,
# not fsspec's; so the writers are driven directly here, as the trainer drives them.

def _fresh_memory_dir(name: str) -> str:
    import fsspec
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)
    return f"memory://{name}/run"


def _drive_metrics(model_dir: str) -> None:
    """Writes like a run killed after its checkpoint at 4 (steps 5, 6 done), resumed from 4, hit
    by a spike at 6 and rewound to 2, then finished at 6."""
    from launch.run.metrics import MetricsWriter

    first = MetricsWriter(model_dir)
    for step in range(1, 7):
        first.write(step, {"loss": 10.0 - step})
        if step in (2, 4):
            first.flush()  # checkpoints 2 and 4 were saved
    del first  # killed: never closed (on an object store, steps 5-6 were never put)
    resumed = MetricsWriter(model_dir)
    resumed.rewind(4)
    for step in (5, 6):
        resumed.write(step, {"loss": float("inf") if step == 6 else 5.0})
    resumed.event(6, {"event": "loss_spike", "restored_step": 2})
    resumed.rewind(2)
    for step in range(3, 7):
        resumed.write(step, {"loss": 1.0 / step})
    resumed.close()


def test_metrics_log_on_an_object_store_keeps_one_line_per_step(tmp_path):
    from launch.run import paths
    from launch.run.metrics import tensorboard_can_write

    remote = _fresh_memory_dir("metrics_store")
    assert not paths.can_append(remote) and not tensorboard_can_write(remote)
    _drive_metrics(remote)
    _drive_metrics(str(tmp_path / "run"))  # the same writes on a local disk (appends)
    text = paths.read_text(f"{remote}/metrics.jsonl")
    lines = [json.loads(line, parse_constant=lambda c: 1 / 0) for line in text.splitlines()]
    assert [r["step"] for r in lines if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in lines if r["kind"] == "train"][2:] == [1 / 3, 1 / 4, 1 / 5, 1 / 6]
    assert [r["event"] for r in lines if r["kind"] == "event"] == ["loss_spike"]
    assert text == (tmp_path / "run" / "metrics.jsonl").read_text()  # same file either way
    assert paths.listdir(remote) == ["metrics.jsonl"]  # no temporary objects left
    # Between checkpoints the object is put at most every flush_seconds (here: every write).
    watched = jsonl.MetricsLog(f"{remote}/watched.jsonl", flush_seconds=0)
    watched.write({"step": 1, "kind": "train", "loss": 2.0})
    assert json.loads(paths.read_text(f"{remote}/watched.jsonl")) == {"step": 1, "kind": "train",
                                                                    "loss": 2.0}


def test_run_files_are_written_through_the_file_layer(tmp_path):
    import gin
    from launch import gin_utils
    from launch.partitioning import PjitPartitioner
    from launch.run import paths

    remote = _fresh_memory_dir("run_files")
    gin.clear_config()
    try:
        gin_utils.parse_gin(["gin/models/palm_tiny.gin"], [], finalize=False)
        path = gin_utils.summarize_gin_config(remote)
        assert path == f"{remote}/config.gin"
        assert "PalmConfig.num_layers" in paths.read_text(path)
        run_dir_lib.write_model_info(f"{remote}/model-info.txt",
                                   Trainer(model=TINY, partitioner=PjitPartitioner()))
    finally:
        gin.clear_config()
    assert "parameters:" in paths.read_text(f"{remote}/model-info.txt")
    assert paths.listdir(remote) == ["config.gin", "model-info.txt"]
    assert paths.write_problem(f"{remote}/more") is None
    assert paths.listdir(remote) == ["config.gin", "model-info.txt"]  # the probe is gone


def test_write_probe_leaves_the_folder_as_it_was(tmp_path):
    from launch.run import paths

    (tmp_path / "kept").write_text("x")
    before = (sorted(os.listdir(tmp_path)), os.stat(tmp_path).st_mtime_ns)
    assert paths.write_problem(str(tmp_path / "new" / "run")) is None
    assert (sorted(os.listdir(tmp_path)), os.stat(tmp_path).st_mtime_ns) == before
    assert "is not a folder" in paths.write_problem(str(tmp_path / "kept" / "run"))


@pytest.mark.parametrize("model_dir", ["/proc/palm_run", "{tmp}/a_file/run"])
def test_an_unwritable_model_dir_is_found_by_writing_even_as_root(env, tmp_path, capsys,
                                                                 model_dir):
    """os.access says yes to /proc for root; creating a file there fails for everyone."""
    (tmp_path / "a_file").write_text("not a folder\n")
    model_dir = model_dir.format(tmp=tmp_path)
    before = snapshot(str(tmp_path))
    assert train_cli.main(train_args(model_dir, STEPS, PERIOD)) == 2
    err = capsys.readouterr().err
    assert f"MODEL_DIR {model_dir} cannot be written" in err and "--gin.MODEL_DIR" in err
    assert "Traceback" not in err
    assert not os.path.exists(model_dir) and snapshot(str(tmp_path)) == before


def test_run_report_reads_a_run_on_an_object_store(straight, tmp_path):
    from launch import run_report
    from launch.run import paths

    remote = _fresh_memory_dir("report")
    for name in ("metrics.jsonl", "config.gin"):
        paths.write_text(f"{remote}/{name}", open(f"{straight}/{name}").read())
    page = run_report.render(prep_dir=None, model_dir=remote, samples_path=None, mixture=None)
    assert f"<h2>Training ({remote})</h2><p>{STEPS} steps" in page
    assert run_report._run_data_seed(straight) == 0  # from checkpoint_6's data record
    assert run_report._run_data_seed(remote) is None  # no checkpoints there
    assert run_report.main(["--model_dir", remote, "--output", f"{remote}/report.html"]) == 0
    assert paths.read_text(f"{remote}/report.html") == page


# A full run whose run files are written as on an object store (no append, no rename: the
# file layer is told so) and that is SIGKILLed at step 7, after checkpoint_4 is complete.
OBJECT_STORE_RUN = """
import os, signal, sys, time
from launch import train, trainer
from launch.run import paths
""" + DIE_ONCE_WRITTEN + """
paths.can_append = lambda path: False
step_fn = trainer.Trainer.train_step
def step_then_die(self, state, batch):
    out = step_fn(self, state, batch)
    if int(out[0].step) == 7 and os.environ.get("KILL_AT_7"):
        die_once_written(os.path.join(sys.argv[-1], "checkpoint_4", "checksums",
                                      "process_0.json"))
    return out
trainer.Trainer.train_step = step_then_die
model_dir = sys.argv.pop()
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.slow  # two training runs in subprocesses: about a minute
def test_a_run_with_object_store_semantics_keeps_one_line_per_step_after_a_kill(straight, env,
                                                                               tmp_path):
    run = str(tmp_path / "run")
    args = [sys.executable, "-c", OBJECT_STORE_RUN,
            *train_args(run, 8, "--gin.utils.SaveCheckpointConfig.period=4"), run]
    killed = subprocess.run(args, cwd=ROOT, env={**env, "KILL_AT_7": "1"}, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    # Steps 5 and 6 were logged in memory only: the object was last put at checkpoint_4.
    assert [r["step"] for r in train_lines(run)] == [1, 2, 3, 4]
    resumed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {run}/checkpoint_4" in resumed.stderr
    got = train_lines(run)
    assert [r["step"] for r in got] == list(range(1, 9))
    expected = {r["step"]: r["loss"] for r in train_lines(straight)}
    assert {r["step"]: r["loss"] for r in got if r["step"] <= STEPS} == expected
    assert not [n for n in os.listdir(run) if ".tmp" in n]  # whole puts, no temporary names
