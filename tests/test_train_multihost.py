"""Multi-host SPMD: 2 processes x 2 CPU devices (jax.distributed over gloo, launched by
launch.local_multiprocess) train exactly like 1 process x 4 devices on the same (data 2 x model 2)
mesh, with PaLM's fully sharded layout."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests import train_tasks
from tests.train_tasks import read_metrics, train_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 3


@pytest.mark.slow
def test_two_processes_match_one_process_with_four_devices(tmp_path):
    tasks = train_tasks.write_data(str(tmp_path / "tasks"))
    env = {**os.environ, "PYTHONPATH": ROOT, "PALM_TEST_TASKS_DIR": tasks, "JAX_PLATFORMS": "cpu",
           "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    extra = ["--gin_file=gin/partitioning/palm_fully_sharded.gin",
             "--gin.partitioning.PjitPartitioner.num_partitions=2",
             "--gin.utils.SaveCheckpointConfig.period=None",
             "--gin.train_script.train.num_data_shards=2"]
    multi, single = str(tmp_path / "multi"), str(tmp_path / "single")
    procs = [
        subprocess.Popen([sys.executable, "-m", "launch.local_multiprocess", "-n", "2",
                          "--devices_per_process", "2", "--", *train_args(multi, STEPS, *extra)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True),
        subprocess.Popen([sys.executable, "-m", "launch.train", *train_args(single, STEPS, *extra)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}),
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out[-4000:]
    assert "[1] " in outputs[0] and "mesh {'data': 2, 'model': 2}" in outputs[0]
    assert "mesh {'data': 2, 'model': 2}" in outputs[1]
    multi_losses = [r["loss"] for r in read_metrics(multi)]
    single_losses = [r["loss"] for r in read_metrics(single)]
    assert len(multi_losses) == STEPS
    np.testing.assert_allclose(multi_losses, single_losses, rtol=1e-6)
    info = open(os.path.join(multi, "model-info.txt")).read()
    assert "processes: 2" in info and "P('data', 'model')" in info  # embed -> data, mlp -> model
    assert os.path.isdir(os.path.join(multi, f"checkpoint_{STEPS}"))
    # Each host recorded the checksums of its own shards; together they verify.
    from launch.run import checksums
    checkpoint = os.path.join(multi, f"checkpoint_{STEPS}")
    assert sorted(os.listdir(os.path.join(checkpoint, "checksums"))) == ["process_0.json",
                                                                        "process_1.json"]
    assert checksums.verify(checkpoint) == []
