"""Forward+backward step time, tokens/s, memory and model FLOPs utilisation of the PaLM network.

    python benchmarks/bench_model.py --configs tiny small            # on this machine's CPU
    python benchmarks/bench_model.py --configs 1b --dtype bfloat16   # on a GPU
    python benchmarks/bench_model.py --configs d256 --train_step \
        --binding PalmConfig.loss_chunk_length=32 --output /tmp/d256.json

A step is one jitted `value_and_grad` of the LM loss (z-loss included) on random tokens: the model's
share of a training step, without the optimizer update; `--train_step` times the project's whole
train step instead (model/train_step.py with PaLM's Adafactor, the update included, the state
donated as the trainer does). `--binding` adds gin bindings (e.g. the vocabulary size, the loss
chunk length, the remat policy). Memory: XLA's temporary buffer size of the compiled step and the
process's peak resident set size. Model FLOPs per token are PaLM's (App. B)
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
import resource
import statistics
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

import gin

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, installed or not

from model import flops, hardware  # noqa: E402
from model import optimizer as optimizers  # noqa: E402
from model import train_step as train_steps  # noqa: E402
from model.config import PalmConfig  # noqa: E402
from model.layers import attention_implementation  # noqa: E402
from model.network import PalmModel  # noqa: E402

# Per-config defaults (batch, sequence length, timed steps), overridable by flags. The small config
# is kept short on CPU: a few steps of a small batch.
PRESETS = {
    "tiny": dict(batch_size=8, seq_len=256, steps=10),
    "small": dict(batch_size=2, seq_len=512, steps=3),
    "1b": dict(batch_size=8, seq_len=2048, steps=10),
    "d256": dict(batch_size=8, seq_len=256, steps=5),
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


def time_calls(fn, *args, steps: int, warmup: int, cpu_times: list | None = None) -> list[float]:
    """Wall seconds of each call; `cpu_times` receives each call's process CPU seconds."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
        if cpu_times is not None:
            cpu_times.append(time.process_time() - cpu_start)
    return times


def matmul_peak(n: int, dtype, repeats: int) -> dict:
    """Best FLOP/s of an n x n x n matmul (2 n^3 FLOPs) in `dtype`."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
    dot = jax.jit(jnp.dot)
    times = time_calls(dot, a, b, steps=repeats, warmup=2)
    return {"n": n, "dtype": jnp.dtype(dtype).name, "seconds": times,
            "flops_per_second": 2 * n ** 3 / min(times)}


def load_config(name: str, dtype: str, bindings: tuple[str, ...] = ()) -> PalmConfig:
    gin.clear_config()
    gin.parse_config_files_and_bindings([str(ROOT / f"gin/models/palm_{name}.gin")],
                                        [f"PalmConfig.dtype = '{dtype}'", *bindings])
    config = PalmConfig()
    gin.clear_config()
    return config


def synthetic_batch(config: PalmConfig, batch_size: int, seq_len: int) -> dict:
    """Random tokens, one document per row, every target trained."""
    tokens = jax.random.randint(jax.random.PRNGKey(0), (batch_size, seq_len + 1), 2,
                                config.vocab_size)
    return {"decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
            "decoder_loss_weights": jnp.ones((batch_size, seq_len), jnp.float32)}


def grad_step(config: PalmConfig, batch: dict):
    """value_and_grad of the summed LM loss (the train step's loss path, chunked or not)."""
    params = jax.jit(lambda rng: nn.unbox(PalmModel(config).init(
        rng, batch["decoder_input_tokens"])["params"]))(jax.random.PRNGKey(0))
    step = jax.jit(jax.value_and_grad(
        lambda p, b: train_steps._loss_sums(config, p, b), has_aux=True))
    return step, (params, batch)


def full_train_step(config: PalmConfig, batch: dict):
    """The trainer's step: loss, gradient, PaLM's Adafactor update; the state is donated."""
    tx = optimizers.adafactor(optimizers.rsqrt_schedule())
    state = jax.jit(train_steps.init_state, static_argnums=(0, 1))(config, tx,
                                                                    jax.random.PRNGKey(0))
    step = jax.jit(train_steps.make_train_step(config, tx), donate_argnums=0)
    return step, (state, batch)


def time_donated(compiled, state, batch, *, steps: int, warmup: int,
                 cpu_times: list | None = None) -> list[float]:
    """Like time_calls, for a step whose first argument is donated and returned updated.
    `cpu_times` receives each step's process CPU seconds (all threads)."""
    for _ in range(warmup):
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - start)
        if cpu_times is not None:
            cpu_times.append(time.process_time() - cpu_start)
    return times


def bench_config(name: str, dtype: str, batch_size: int, seq_len: int, steps: int,
                 warmup: int, bindings: tuple[str, ...] = (), train_step: bool = False) -> dict:
    config = load_config(name, dtype, bindings)
    batch = synthetic_batch(config, batch_size, seq_len)
    make = full_train_step if train_step else grad_step
    step, args = make(config, batch)

    start = time.perf_counter()
    compiled = step.lower(*args).compile()
    compile_seconds = time.perf_counter() - start
    memory = compiled.memory_analysis()
    cpu_times = []
    if train_step:
        times = time_donated(compiled, *args, steps=steps, warmup=warmup, cpu_times=cpu_times)
    else:
        times = time_calls(compiled, *args, steps=steps, warmup=warmup, cpu_times=cpu_times)

    num_params = flops.count_params(config)
    flops_per_token = flops.flops_per_token(config, seq_len, num_params=num_params)
    step_seconds = statistics.median(times)
    tokens_per_second = batch_size * seq_len / step_seconds
    model_flops_per_second = flops_per_token * tokens_per_second
    return {
        "config": name,
        "step": "train step (Adafactor update included)" if train_step else "value_and_grad",
        "bindings": list(bindings),
        "params": num_params,
        "vocab_size": config.vocab_size,
        "compute_dtype": jnp.dtype(config.compute_dtype).name,
        "scan_layers": config.scan_layers,
        "remat_policy": config.remat_policy,
        "loss_chunk_length": config.loss_chunk_length,
        "attention_impl": attention_implementation(config),
        "xla_temp_bytes": getattr(memory, "temp_size_in_bytes", None),
        "peak_rss_bytes_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "compile_seconds": compile_seconds,
        "step_seconds": times,
        "step_cpu_seconds": cpu_times or None,
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
    parser.add_argument("--binding", action="append", default=[],
                        help="gin binding applied to every config (repeatable), e.g. "
                             "PalmConfig.loss_chunk_length=32")
    parser.add_argument("--remat_policies", nargs="*", default=[],
                        help="run every config once per remat policy (none minimal full)")
    parser.add_argument("--train_step", action="store_true",
                        help="time the whole train step (Adafactor update included)")
    parser.add_argument("--dtype", default="auto",
                        help="compute dtype: auto (float32 on CPU, bfloat16 on GPU/TPU), float32, "
                             "bfloat16")
    parser.add_argument("--batch_size", type=int, help="override the preset for every config")
    parser.add_argument("--seq_len", type=int, help="override the preset for every config")
    parser.add_argument("--steps", type=int, help="timed steps (override the preset)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after compilation")
    parser.add_argument("--matmul_n", type=int, default=4096,
                        help="size of the peak matmul; 0 skips the peak (and MFU)")
    parser.add_argument("--output", type=pathlib.Path,
                        help="default: benchmarks/results/model_<backend>.json")
    args = parser.parse_args()

    compute_dtype = load_config(args.configs[0], args.dtype, tuple(args.binding)).compute_dtype
    result = {
        "benchmark": ("train step (loss, gradient, Adafactor update)" if args.train_step else
                      "model forward+backward (value_and_grad of LM loss + z-loss, no optimizer)"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    print(json.dumps(result["machine"]), flush=True)
    # The peak is the best of two measurements, before and after the configs, so that a burst of
    # load from other processes during one of them does not understate it (and inflate MFU).
    if args.matmul_n:
        result["matmul_peak_before"] = matmul_peak(args.matmul_n, compute_dtype, repeats=5)
    result["configs"] = []
    sweep = [(f"PalmConfig.remat_policy='{p}'",) for p in args.remat_policies] or [()]
    for name in args.configs:
        preset = PRESETS.get(name, PRESETS["tiny"])
        for extra in sweep:
            result["configs"].append(bench_config(
                name, args.dtype,
                batch_size=args.batch_size or preset["batch_size"],
                seq_len=args.seq_len or preset["seq_len"],
                steps=args.steps or preset["steps"], warmup=args.warmup,
                bindings=tuple(args.binding) + extra, train_step=args.train_step))
    peaks = {}
    if args.matmul_n:
        result["matmul_peak_after"] = matmul_peak(args.matmul_n, compute_dtype, repeats=5)
        peaks["mfu"] = max(result["matmul_peak_before"]["flops_per_second"],
                           result["matmul_peak_after"]["flops_per_second"])
        result["matmul_peak_flops_per_second"] = peaks["mfu"]
        print(f"matmul peak ({args.matmul_n}^3, {jnp.dtype(compute_dtype).name}): "
              f"{peaks['mfu'] / 1e9:.1f} GFLOP/s", flush=True)
    accelerator = hardware.guess_accelerator(jax.devices()[0].device_kind)
    if accelerator is not None:  # MFU as PaLM defines it: against the datasheet peak
        bf16 = jnp.dtype(compute_dtype) == jnp.bfloat16
        peaks["mfu_datasheet"] = accelerator.peak_bf16_flops if bf16 else \
            accelerator.peak_fp32_flops
        result["datasheet"] = {"accelerator": accelerator.name,
                               "peak_flops_per_second": peaks["mfu_datasheet"]}
    result["load_average_at_end"] = list(os.getloadavg())
    for entry in result["configs"]:
        for key, peak in peaks.items():
            entry[key] = entry["model_flops_per_second"] / peak  # median step
            entry[f"{key}_best_step"] = entry["model_flops_per_second_best_step"] / peak
        mfu = ", ".join(f"{key} {entry[key]:.1%}" for key in peaks)
        cpu = entry["step_cpu_seconds"]
        cpu = f", {statistics.median(cpu):.3f} CPU s" if cpu else ""
        print(f"{entry['config']} (remat {entry['remat_policy']}, loss chunk "
              f"{entry['loss_chunk_length']}): {entry['params'] / 1e6:.1f}M params, batch "
              f"{entry['batch_size']} x {entry['seq_len']}, median step "
              f"{entry['step_seconds_median'] * 1e3:.1f} ms{cpu}, {entry['tokens_per_second']:.0f} "
              f"tokens/s, {entry['model_flops_per_second'] / 1e9:.2f} GFLOP/s {mfu}; XLA temp "
              f"{(entry['xla_temp_bytes'] or 0) / 2**20:.0f} MiB", flush=True)

    output = args.output or ROOT / f"benchmarks/results/model_{jax.default_backend()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
