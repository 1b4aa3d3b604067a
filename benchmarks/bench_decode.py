"""Sampling throughput (what `launch.sample` runs) and prefill with last-position logits vs all.

    python benchmarks/bench_decode.py --configs tiny d256

For each config, on randomly initialised parameters: (1) prefill of [batch, prompt_len] prompts,
`model.decoding.prefill` (fused causal attention, the output layer at each row's last prompt token
only) against the same call computing the logits of every prompt position (`extend`, as before),
both compiled, median of `--repeats`; (2) `decoding.compile_generate` + run, as `launch.sample`
does it: generated tokens per second, compilation excluded (EOS disabled, so every row generates
`--new_tokens`). Records wall and process CPU seconds and the load average.
Writes benchmarks/results/decode_<backend>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_model  # noqa: E402

from model import decoding  # noqa: E402
from model.network import PalmModel  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float]:
    jax.block_until_ready(fn())
    wall, cpu = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return statistics.median(wall), statistics.median(cpu)


def bench(name: str, batch: int, prompt_len: int, new_tokens: int, repeats: int) -> dict:
    config = bench_model.load_config(name, "auto")
    prompts = jax.random.randint(jax.random.PRNGKey(1), (batch, prompt_len), 2, config.vocab_size)
    lengths = jnp.full((batch,), prompt_len, jnp.int32)
    params = jax.jit(lambda rng: nn.unbox(PalmModel(config).init(rng, prompts)["params"]))(
        jax.random.PRNGKey(0))
    cache = decoding.init_cache(config, batch, prompt_len + new_tokens)
    positions = jnp.broadcast_to(jnp.arange(prompt_len), prompts.shape)

    last_only = jax.jit(decoding.prefill, static_argnums=1)
    all_positions = jax.jit(decoding.extend, static_argnums=1)
    prefill_last = timed(lambda: last_only(params, config, cache, prompts, lengths), repeats)
    prefill_all = timed(lambda: all_positions(params, config, cache, prompts, positions), repeats)

    start = time.perf_counter()
    run = decoding.compile_generate(params, config, prompts, lengths, max_new_tokens=new_tokens,
                                    temperature=1.0, top_k=40, eos_id=-1)
    compile_seconds = time.perf_counter() - start
    generate = timed(lambda: run(jax.random.PRNGKey(2)).tokens, repeats)
    entry = {
        "config": name, "batch": batch, "prompt_len": prompt_len, "new_tokens": new_tokens,
        "vocab_size": config.vocab_size,
        "prefill_last_position_seconds": prefill_last[0],
        "prefill_last_position_cpu_seconds": prefill_last[1],
        "prefill_all_positions_seconds": prefill_all[0],
        "prefill_all_positions_cpu_seconds": prefill_all[1],
        "generate_compile_seconds": compile_seconds,
        "generate_seconds": generate[0], "generate_cpu_seconds": generate[1],
        "generated_tokens_per_second": batch * new_tokens / generate[0],
    }
    print(f"{name}: prefill {batch}x{prompt_len} last-position {prefill_last[0] * 1e3:.0f} ms "
          f"({prefill_last[1]:.3f} CPU s) vs all positions {prefill_all[0] * 1e3:.0f} ms "
          f"({prefill_all[1]:.3f} CPU s); generate {batch}x{new_tokens}: "
          f"{entry['generated_tokens_per_second']:.0f} tokens/s", flush=True)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "d256"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompt_len", type=int, default=256)
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=pathlib.Path)
    args = parser.parse_args()
    result = {"benchmark": "prefill and sampling (model/decoding.py, as launch.sample runs it)",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": bench_model.machine(), "configs": []}
    for name in args.configs:
        result["configs"].append(bench(name, args.batch, args.prompt_len, args.new_tokens,
                                       args.repeats))
    result["load_average_at_end"] = list(os.getloadavg())
    output = args.output or ROOT / f"benchmarks/results/decode_{jax.default_backend()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
