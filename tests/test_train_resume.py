"""Exact resumption: 2N steps straight == N steps, `kill -9`, resume to 2N (same per-step losses,
bit-identical final parameters on CPU)."""

import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from launch import train as train_cli
from tests import train_tasks
from tests.train_tasks import read_metrics, train_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 4

# Runs launch.train but SIGKILLs its own process right after step N + 2 is recorded, once
# checkpoint_N is complete on disk with its checksums (so the resumed run really starts from N).
KILLER = f"""
import os, signal, sys, time
from launch import train
from launch.run import metrics
write = metrics.MetricsWriter.write
def write_then_die(self, step, scalars, *args, **kwargs):
    write(self, step, scalars, *args, **kwargs)
    if step == {N} + 2:
        model_dir = os.path.dirname(self.path)
        for _ in range(600):
            if os.path.exists(os.path.join(model_dir, "checkpoint_{N}", "checksums",
                                           "process_0.json")):
                break
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGKILL)
metrics.MetricsWriter.write = write_then_die
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tasks = str(tmp_path_factory.mktemp("train_tasks"))
    train_tasks.write_data(tasks)
    train_tasks.register(tasks)
    os.environ["PALM_TEST_TASKS_DIR"] = tasks
    cache = str(tmp_path_factory.mktemp("jax_cache"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return {**os.environ, "PYTHONPATH": ROOT, "PALM_TEST_TASKS_DIR": tasks,
            "JAX_COMPILATION_CACHE_DIR": cache, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PLATFORMS": "cpu"}


def final_params(model_dir: str, step: int):
    state = ocp.StandardCheckpointer().restore(os.path.join(model_dir, f"checkpoint_{step}",
                                                            "state"))
    return state["params"]


@pytest.mark.slow
def test_kill_9_and_resume_is_exact(env, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    extra = [f"--gin.utils.SaveCheckpointConfig.period={N}"]
    straight = str(tmp_path / "straight")
    assert train_cli.main(train_args(straight, 2 * N, *extra)) == 0

    resumed = str(tmp_path / "resumed")
    killed = subprocess.run([sys.executable, "-c", KILLER, *train_args(resumed, 2 * N, *extra)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    first_part = read_metrics(resumed)
    assert first_part[-1]["step"] >= N + 1 and not os.path.isdir(f"{resumed}/checkpoint_{2 * N}")

    done = subprocess.run([sys.executable, "-m", "launch.train",
                           *train_args(resumed, 2 * N, *extra)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {resumed}/checkpoint_{N}" in done.stderr

    expected = {r["step"]: r["loss"] for r in read_metrics(straight)}
    got = read_metrics(resumed)
    assert [r["step"] for r in got] == list(range(1, 2 * N + 1))  # lines after N were redone
    for record in got:
        assert record["loss"] == expected[record["step"]], record["step"]
    a, b = final_params(straight, 2 * N), final_params(resumed, 2 * N)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
