"""Forward+backward step time, tokens/s and model FLOPs utilisation of the PaLM network.

    python benchmarks/bench_model.py --configs tiny small            # on this machine's CPU
    python benchmarks/bench_model.py --configs 1b --dtype bfloat16   # on a GPU

A step is one jitted `value_and_grad` of the LM loss (z-loss included) on random tokens: the model's
share of a training step, without the optimizer update. Model FLOPs per token are PaLM's (App. B)
6N + 12 L H Q T. MFU divides the achieved model FLOP/s by the machine's own matrix-multiply peak,
measured in the same run with a large square `jnp.dot` in the same dtype (the better of one
measurement before and one after the model steps), so the figure is a ratio to what this machine
can physically do, not to a datasheet. MFU is given for the median step and for the best step; on a
shared machine the best step is the one least disturbed by other processes.

Writes benchmarks/results/model_<backend>.json (e.g. model_cpu.json).
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

import gin
import jax
import jax.numpy as jnp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, installed or not

from model import flops  # noqa: E402
from model.config import PalmConfig  # noqa: E402
from model.loss import compute_loss  # noqa: E402
from model.network import PalmModel  # noqa: E402

# Per-config defaults (batch, sequence length, timed steps), overridable by flags. The small config
# is kept short on CPU: a few steps of a small batch.
PRESETS = {
    "tiny": dict(batch_size=8, seq_len=256, steps=10),
    "small": dict(batch_size=2, seq_len=512, steps=3),
    "1b": dict(batch_size=8, seq_len=2048, steps=10),
}


def machine() -> dict:
    device = jax.devices()[0]
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
    }


def time_calls(fn, *args, steps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return times


def matmul_peak(n: int, dtype, repeats: int) -> dict:
    """Best FLOP/s of an n x n x n matmul (2 n^3 FLOPs) in `dtype`."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
    dot = jax.jit(jnp.dot)
    times = time_calls(dot, a, b, steps=repeats, warmup=2)
    return {"n": n, "dtype": jnp.dtype(dtype).name, "seconds": times,
            "flops_per_second": 2 * n ** 3 / min(times)}


def load_config(name: str, dtype: str) -> PalmConfig:
    gin.clear_config()
    gin.parse_config_files_and_bindings([str(ROOT / f"gin/models/palm_{name}.gin")],
                                        [f"PalmConfig.dtype = '{dtype}'"])
    config = PalmConfig()
    gin.clear_config()
    return config


def bench_config(name: str, dtype: str, batch_size: int, seq_len: int, steps: int,
                 warmup: int) -> dict:
    config = load_config(name, dtype)
    model = PalmModel(config)
    tokens = jax.random.randint(jax.random.PRNGKey(0), (batch_size, seq_len + 1), 2,
                                config.vocab_size)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    params = jax.jit(lambda rng: model.init(rng, inputs)["params"])(jax.random.PRNGKey(0))

    @jax.jit
    def step(params, inputs, targets):
        def loss_fn(p):
            logits = model.apply({"params": p}, inputs)
            return compute_loss(logits, targets, z_loss=config.z_loss).loss
        return jax.value_and_grad(loss_fn)(params)

    start = time.perf_counter()
    compiled = step.lower(params, inputs, targets).compile()
    compile_seconds = time.perf_counter() - start
    times = time_calls(compiled, params, inputs, targets, steps=steps, warmup=warmup)

    num_params = flops.count_params(config)
    flops_per_token = flops.flops_per_token(config, seq_len, num_params=num_params)
    step_seconds = statistics.median(times)
    tokens_per_second = batch_size * seq_len / step_seconds
    model_flops_per_second = flops_per_token * tokens_per_second
    return {
        "config": name,
        "params": num_params,
        "compute_dtype": jnp.dtype(config.compute_dtype).name,
        "scan_layers": config.scan_layers,
        "remat_policy": config.remat_policy,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "compile_seconds": compile_seconds,
        "step_seconds": times,
        "step_seconds_median": step_seconds,
        "tokens_per_second": tokens_per_second,
        "model_flops_per_token": flops_per_token,
        "model_flops_per_second": model_flops_per_second,
        "step_seconds_min": min(times),
        "model_flops_per_second_best_step": flops_per_token * batch_size * seq_len / min(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"],
                        help="names of gin/models/palm_<name>.gin files")
    parser.add_argument("--dtype", default="auto",
                        help="compute dtype: auto (float32 on CPU, bfloat16 on GPU/TPU), float32, "
                             "bfloat16")
    parser.add_argument("--batch_size", type=int, help="override the preset for every config")
    parser.add_argument("--seq_len", type=int, help="override the preset for every config")
    parser.add_argument("--steps", type=int, help="timed steps (override the preset)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after compilation")
    parser.add_argument("--matmul_n", type=int, default=4096, help="size of the peak matmul")
    parser.add_argument("--output", type=pathlib.Path,
                        help="default: benchmarks/results/model_<backend>.json")
    args = parser.parse_args()

    compute_dtype = load_config(args.configs[0], args.dtype).compute_dtype
    result = {
        "benchmark": "model forward+backward (value_and_grad of LM loss + z-loss, no optimizer)",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    print(json.dumps(result["machine"]), flush=True)
    # The peak is the best of two measurements, before and after the configs, so that a burst of
    # load from other processes during one of them does not understate it (and inflate MFU).
    result["matmul_peak_before"] = matmul_peak(args.matmul_n, compute_dtype, repeats=5)
    result["configs"] = []
    for name in args.configs:
        preset = PRESETS.get(name, PRESETS["tiny"])
        result["configs"].append(bench_config(
            name, args.dtype,
            batch_size=args.batch_size or preset["batch_size"],
            seq_len=args.seq_len or preset["seq_len"],
            steps=args.steps or preset["steps"], warmup=args.warmup))
    result["matmul_peak_after"] = matmul_peak(args.matmul_n, compute_dtype, repeats=5)
    peak = max(result["matmul_peak_before"]["flops_per_second"],
               result["matmul_peak_after"]["flops_per_second"])
    result["matmul_peak_flops_per_second"] = peak
    result["load_average_at_end"] = list(os.getloadavg())
    print(f"matmul peak ({args.matmul_n}^3, {jnp.dtype(compute_dtype).name}): "
          f"{peak / 1e9:.1f} GFLOP/s", flush=True)
    for entry in result["configs"]:
        entry["mfu"] = entry["model_flops_per_second"] / peak  # median step
        entry["mfu_best_step"] = entry["model_flops_per_second_best_step"] / peak
        print(f"{entry['config']}: {entry['params'] / 1e6:.1f}M params, batch "
              f"{entry['batch_size']} x {entry['seq_len']}, median step "
              f"{entry['step_seconds_median'] * 1e3:.1f} ms, {entry['tokens_per_second']:.0f} "
              f"tokens/s, {entry['model_flops_per_second'] / 1e9:.2f} GFLOP/s, MFU "
              f"{entry['mfu']:.1%} (best step {entry['mfu_best_step']:.1%})", flush=True)

    output = args.output or ROOT / f"benchmarks/results/model_{jax.default_backend()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
