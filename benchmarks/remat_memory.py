"""Remat policy per config from the compiled train step: memory and FLOPs of each policy.

    python benchmarks/remat_memory.py --configs 1b 8b --batch_size 8 --seq_len 2048

For each config and remat policy (none, minimal, full) the project's whole train step (loss,
gradient, PaLM's Adafactor update; model/train_step.py) is lowered on abstract arrays, one device,
bfloat16 compute with float32 parameters, and compiled by XLA without being run: nothing is
allocated, so an 8B-parameter step can be sized on a laptop. Recorded per policy: XLA's buffer
sizes (arguments: the train state and the batch; temporaries: activations, gradients and the
update's scratch; outputs aliasing the donated state are not counted twice), XLA's own FLOP count
of the step (recomputation included, so "full" shows its extra forward pass), and
model/memory.py's analytical estimate beside it.

The chosen policy for a device is the one that recomputes least (fewest compiled FLOPs) among
those whose arguments + temporaries fit in `--fraction` of the device's memory; the rest is left
for the runtime, the input pipeline and fragmentation. The compiler here is XLA's CPU backend: a
GPU or TPU compile assigns buffers differently (fusions, cuDNN workspaces), so these are sizes of
the program's live set as one XLA backend plans it, to be confirmed on the accelerator
(benchmarks/gpu_check.py times 1b's step under none, minimal and full). A config whose state
alone does not fit one device (8b: 96 GiB of arguments) needs a mesh; `launch.plan` sizes that.

Writes benchmarks/results/remat_memory.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp

import gin

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from model import flops, memory  # noqa: E402
from model import optimizer as optimizers  # noqa: E402
from model import train_step as train_steps  # noqa: E402
from model.config import PalmConfig  # noqa: E402
from model.partitioning import standard_logical_axis_rules  # noqa: E402

POLICIES = ("none", "minimal", "full")
GIB = 1024 ** 3
# Memory of one device, in bytes (datasheets).
DEVICES = {"H100 80GB": 80 * 10 ** 9, "H200 141GB": 141 * 10 ** 9, "TPU v4 32GiB": 32 * GIB}


def load_config(name: str, bindings: tuple[str, ...]) -> PalmConfig:
    gin.clear_config()
    gin.parse_config_files_and_bindings([str(ROOT / f"gin/models/palm_{name}.gin")],
                                        ["PalmConfig.dtype = 'bfloat16'", *bindings])
    config = PalmConfig()
    gin.clear_config()
    return config


def compiled_step(config: PalmConfig, batch_size: int, seq_len: int):
    """The donated train step compiled for abstract inputs: (compiled, seconds to compile)."""
    tx = optimizers.adafactor(optimizers.rsqrt_schedule())
    state = jax.eval_shape(lambda rng: train_steps.init_state(config, tx, rng),
                           jax.random.PRNGKey(0))
    tokens = jax.ShapeDtypeStruct((batch_size, seq_len), jnp.int32)
    batch = {"decoder_input_tokens": tokens, "decoder_target_tokens": tokens,
             "decoder_loss_weights": jax.ShapeDtypeStruct((batch_size, seq_len), jnp.float32)}
    step = jax.jit(train_steps.make_train_step(config, tx), donate_argnums=0)
    start = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    return compiled, time.perf_counter() - start


def measure(name: str, policy: str, batch_size: int, seq_len: int,
            bindings: tuple[str, ...]) -> dict:
    config = load_config(name, (*bindings, f"PalmConfig.remat_policy = '{policy}'"))
    compiled, seconds = compiled_step(config, batch_size, seq_len)
    analysis = compiled.memory_analysis()
    # XLA counts a loop body's FLOPs once, whatever its trip count, so the layers are unrolled
    # for the count (the loss's chunk loop is the same under every policy).
    unrolled, _ = compiled_step(dataclasses.replace(config, scan_layers=False), batch_size,
                                seq_len)
    cost = unrolled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    estimate = memory.memory_per_device(
        config, mesh={"data": 1, "model": 1}, rules=standard_logical_axis_rules(),
        param_dtype="float32", compute_dtype="bfloat16", optimizer="adafactor",
        batch_size=batch_size, seq_len=seq_len, remat=policy)
    model_flops = flops.flops_per_token(config, seq_len) * batch_size * seq_len
    entry = {
        "config": name, "remat_policy": policy, "batch_size": batch_size, "seq_len": seq_len,
        "params": flops.count_params(config), "compile_seconds": seconds,
        "argument_bytes": analysis.argument_size_in_bytes,
        "temp_bytes": analysis.temp_size_in_bytes,
        "output_bytes": analysis.output_size_in_bytes,
        "alias_bytes": analysis.alias_size_in_bytes,
        "compiled_flops_layers_unrolled": cost.get("flops"),
        "model_flops": model_flops,
        "estimate_activation_bytes": estimate["activations"][policy]["total"],
    }
    entry["peak_bytes"] = entry["argument_bytes"] + entry["temp_bytes"]
    print(f"{name} remat {policy}: arguments {entry['argument_bytes'] / GIB:.2f} GiB, temporaries "
          f"{entry['temp_bytes'] / GIB:.2f} GiB (estimated activations "
          f"{entry['estimate_activation_bytes'] / GIB:.2f} GiB), compiled "
          f"{(entry['compiled_flops_layers_unrolled'] or 0) / 1e12:.2f} TFLOP, "
          f"compiled in {seconds:.0f} s", flush=True)
    return entry


def choose(entries: list[dict], capacity: float, fraction: float) -> str | None:
    """The policy with the fewest compiled FLOPs among those that fit; None if none fits."""
    fitting = [e for e in entries if e["peak_bytes"] <= fraction * capacity]
    return (min(fitting, key=lambda e: e["compiled_flops_layers_unrolled"])["remat_policy"]
            if fitting else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["1b"])
    parser.add_argument("--batch_size", type=int, default=8, help="sequences per device")
    parser.add_argument("--seq_len", type=int, default=2048)
    parser.add_argument("--binding", action="append", default=[], help="extra gin binding")
    parser.add_argument("--fraction", type=float, default=0.85,
                        help="share of a device's memory the step may use")
    parser.add_argument("--output", type=pathlib.Path,
                        default=ROOT / "benchmarks/results/remat_memory.json")
    args = parser.parse_args()
    result = {"benchmark": "train step compiled per remat policy (not run), one device",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "jax": jax.__version__, "backend": jax.default_backend(),
              "compute_dtype": "bfloat16", "param_dtype": "float32",
              "fraction": args.fraction, "devices": DEVICES,
              "load_average_at_start": list(os.getloadavg()), "configs": {}}
    for name in args.configs:
        entries = [measure(name, p, args.batch_size, args.seq_len, tuple(args.binding))
                   for p in POLICIES]
        chosen = {device: choose(entries, capacity, args.fraction)
                  for device, capacity in DEVICES.items()}
        result["configs"][name] = {"policies": entries, "chosen": chosen}
        print(f"{name}: chosen per device {chosen}", flush=True)
    result["load_average_at_end"] = list(os.getloadavg())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
