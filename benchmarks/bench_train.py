"""The training loop's throughput, MFU and overhead over the bare jitted step; checkpoint stalls.

    python benchmarks/bench_train.py                                  # tiny and small on CPU
    python benchmarks/bench_train.py --configs 1b --dtype bfloat16    # on a GPU

For each config it runs the real loop (`launch.train.train`: seqio mixture -> packed batches ->
jitted sharded step -> metrics.jsonl/TensorBoard -> async Orbax checkpoints) and, in the same
process, the bare step (`Trainer.train_step` on one fixed device-resident batch in a tight loop).

  * tokens/s and MFU: steady state of the loop (the timing intervals after the first, which holds
    the compilation), MFU against this machine's measured matmul peak (CPU) or the datasheet
    (GPU/TPU, model/hardware.py);
  * loop overhead = bare steps/s / loop steps/s - 1 (data, host transfer, metrics, checkpoint
    dispatch; target under 5 %);
  * checkpoint stall: how long each async save held up the loop (the device-to-host copy), next
    to the step time;
  * wall time of the whole run, start-up and compilation included (e.g. 300 steps of tiny).

Data: the tests' tiny generated mixture (tests/train_tasks.py, byte vocabulary), written under
benchmarks/work/. Writes benchmarks/results/train_<backend>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp

import gin

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "work" / "train"
os.environ.setdefault("PALM_TEST_TASKS_DIR", str(WORK / "tasks"))

from launch import train as train_lib  # noqa: E402
from launch.inputs import data as data_lib  # noqa: E402
from launch.partitioning import PjitPartitioner  # noqa: E402
from launch.trainer import Trainer  # noqa: E402
from launch.utils import CheckpointConfig, DatasetConfig, SaveCheckpointConfig  # noqa: E402
from model import flops  # noqa: E402
from model.config import PalmConfig  # noqa: E402
from tests import train_tasks  # noqa: E402

PRESETS = {
    "tiny": dict(batch_size=8, seq_len=256, steps=300, log_period=25, checkpoint_period=100,
                 bare_steps=100),
    "small": dict(batch_size=2, seq_len=512, steps=8, log_period=2, checkpoint_period=4,
                  bare_steps=3),
    "1b": dict(batch_size=8, seq_len=2048, steps=200, log_period=20, checkpoint_period=100,
               bare_steps=50),
}


def load_config(name: str, dtype: str) -> PalmConfig:
    gin.clear_config()
    gin.parse_config_files_and_bindings([str(ROOT / f"gin/models/palm_{name}.gin")],
                                        [f"PalmConfig.dtype = '{dtype}'"])
    config = PalmConfig()
    gin.clear_config()
    return config


def matmul_peak(n: int, dtype) -> float:
    a = jnp.ones((n, n), dtype)
    dot = jax.jit(jnp.dot)
    dot(a, a).block_until_ready()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        dot(a, a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def bare_steps_per_second(config: PalmConfig, batch: dict, steps: int) -> list[float]:
    """Seconds per step of the jitted step alone, on one device-resident batch."""
    trainer = Trainer(config, PjitPartitioner())
    state = trainer.init_state(0)
    global_batch = trainer.partitioner.make_global_batch(batch)
    state, metrics = trainer.train_step(state, global_batch)  # compile
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = trainer.train_step(state, global_batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return times


def bench(name: str, dtype: str, preset: dict, peak: float | None, run_dir: pathlib.Path) -> dict:
    config = load_config(name, dtype)
    seq_len, batch_size = preset["seq_len"], preset["batch_size"]
    dataset = DatasetConfig(mixture_or_task_name=train_tasks.MIXTURE,
                            task_feature_lengths={"targets": seq_len}, split="train",
                            batch_size=batch_size, pack=True)
    model_dir = run_dir / name
    stream = data_lib.TrainStream(dataset, 0, [0], 1)
    batch = next(stream.batches(0, batch_size))
    # The bare step is timed before and after the loop, so a change of load on a shared machine
    # during the run shows up as a spread instead of as overhead.
    bare = bare_steps_per_second(config, batch, preset["bare_steps"])
    start = time.perf_counter()
    result = train_lib.train(
        model=config, model_dir=str(model_dir), train_dataset_cfg=dataset,
        checkpoint_cfg=CheckpointConfig(save=SaveCheckpointConfig(
            period=preset["checkpoint_period"], keep=2)),
        total_steps=preset["steps"], random_seed=0, summarize_config_fn=None,
        log_period=preset["log_period"], peak_flops_per_device=peak)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in open(model_dir / "metrics.jsonl")]
    timed = [r for r in records if "timing/steps_per_second" in r][1:]  # drop the compile interval
    loop_sps = statistics.median(r["timing/steps_per_second"] for r in timed)
    first_step = min(r["step"] for r in records if r["kind"] == "train")

    bare_after = bare_steps_per_second(config, batch, preset["bare_steps"])
    bare_step = statistics.median(bare + bare_after)
    tokens_per_step = batch_size * seq_len
    per_token = flops.flops_per_token(config, seq_len)
    devices = jax.device_count()
    entry = {
        "config": name, "params": flops.count_params(config),
        "compute_dtype": jnp.dtype(config.compute_dtype).name,
        "batch_size": batch_size, "seq_len": seq_len, "steps": preset["steps"],
        "wall_seconds_whole_run": wall, "first_step_logged": first_step,
        "loop_steps_per_second_median": loop_sps,
        "loop_tokens_per_second": loop_sps * tokens_per_step,
        "loop_mfu": loop_sps * tokens_per_step * per_token / (peak * devices),
        "bare_step_seconds_median": bare_step,
        "bare_step_seconds_median_before_after": [statistics.median(bare),
                                                  statistics.median(bare_after)],
        "bare_tokens_per_second": tokens_per_step / bare_step,
        "bare_mfu": tokens_per_step / bare_step * per_token / (peak * devices),
        "loop_overhead_fraction": (1 / bare_step) / loop_sps - 1,
        "checkpoint_blocking_seconds": result.checkpoint_blocking_seconds,
        "final_loss": result.last_metrics.get("loss"),
    }
    print(f"{name}: {entry['params'] / 1e6:.2f}M params, batch {batch_size} x {seq_len}: loop "
          f"{entry['loop_tokens_per_second']:,.0f} tok/s (MFU {entry['loop_mfu']:.1%}), bare step "
          f"{entry['bare_tokens_per_second']:,.0f} tok/s, loop overhead "
          f"{entry['loop_overhead_fraction']:+.1%}; {preset['steps']} steps in {wall:.1f} s; "
          f"checkpoint stalls {[round(s, 3) for s in entry['checkpoint_blocking_seconds']]} s vs "
          f"step {bare_step:.3f} s", flush=True)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"])
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--steps", type=int, help="override the presets' step count")
    parser.add_argument("--matmul_n", type=int, default=2048)
    parser.add_argument("--output", type=pathlib.Path)
    args = parser.parse_args()
    import logging
    logging.basicConfig(level=logging.WARNING)

    train_tasks.write_data(os.environ["PALM_TEST_TASKS_DIR"])
    train_tasks.register(os.environ["PALM_TEST_TASKS_DIR"])
    device = jax.devices()[0]
    compute_dtype = load_config(args.configs[0], args.dtype).compute_dtype
    from model import hardware
    accel = hardware.guess_accelerator(device.device_kind)
    if accel is None:
        peak, peak_source = matmul_peak(args.matmul_n, compute_dtype), \
            f"measured {args.matmul_n}^3 matmul"
    else:
        bf16 = jnp.dtype(compute_dtype) == jnp.dtype(jnp.bfloat16)
        peak, peak_source = (accel.peak_bf16_flops if bf16 else accel.peak_fp32_flops), accel.name
    result = {
        "benchmark": "training loop (launch.train.train) vs bare jitted step",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "load_average_at_start": list(os.getloadavg()), "jax": jax.__version__,
                    "backend": jax.default_backend(), "device_kind": device.device_kind,
                    "device_count": jax.device_count()},
        "peak_flops_per_device": peak, "peak_source": peak_source, "configs": [],
    }
    run_dir = WORK / f"runs-{int(time.time())}"
    for name in args.configs:
        preset = dict(PRESETS.get(name, PRESETS["tiny"]))
        if args.steps:
            preset["steps"] = args.steps
        result["configs"].append(bench(name, args.dtype, preset, peak, run_dir))
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    output = args.output or ROOT / f"benchmarks/results/train_{jax.default_backend()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
