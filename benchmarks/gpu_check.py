"""One prepared accelerator check: the 1b and tiny configs' model step, train step and training loop
on one H100/H200, with MFU, in under 8 minutes including compilation.

    python benchmarks/gpu_check.py          # on the GPU: writes benchmarks/results/*_gpu.json
    python benchmarks/gpu_check.py --smoke    # anywhere (CPU): the same code path on tiny shapes

Writes (full mode):
  benchmarks/results/model_gpu.json   the 1b config at sequence 2048, bfloat16 compute with float32
                                      parameters: value_and_grad and the whole train step (PaLM's
                                      Adafactor), variants of attention implementation (cuDNN vs
                                      XLA), remat policy and loss chunking; tiny the same way;
  benchmarks/results/train_gpu.json   the training loop (benchmarks/bench_train.py: data, metrics,
                                      checkpoints) for tiny and 1b.
MFU is PaLM's: model FLOPs 6N + 12 L H Q T per token over the datasheet dense bfloat16 peak of the
device (model/hardware.py; H100 SXM and H200: 989 TFLOP/s). A variant that fails (out of memory, a
shape cuDNN refuses) is recorded with its error and the others go on; variants that no longer fit
in the time budget are recorded as skipped. Smoke mode (`--smoke`) runs every code path on tiny
shapes and writes to a temporary folder (or `--output_dir`), never to benchmarks/results; it
ignores the time budget, so that every variant runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import traceback

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_model  # noqa: E402

from model import hardware  # noqa: E402

# (name, config, train_step, extra gin bindings, steps): the full-mode plan, most important first.
FULL_PLAN = [
    ("1b_train_step", "1b", True, (), 10),
    ("1b_value_and_grad", "1b", False, (), 10),
    ("1b_train_step_attention_xla", "1b", True, ("PalmConfig.attention_impl='xla'",), 6),
    ("1b_train_step_remat_none", "1b", True, ("PalmConfig.remat_policy='none'",), 6),
    ("1b_train_step_remat_full", "1b", True, ("PalmConfig.remat_policy='full'",), 6),
    ("1b_train_step_full_logits", "1b", True, ("PalmConfig.loss_chunk_length=0",), 6),
    ("1b_train_step_loss_chunk_512", "1b", True, ("PalmConfig.loss_chunk_length=512",), 6),
    ("tiny_train_step", "tiny", True, (), 20),
    ("tiny_value_and_grad", "tiny", False, (), 20),
]
SHAPES = {"1b": (8, 2048), "tiny": (8, 256)}


def smoke_plan() -> list:
    """The same variants on tiny shapes (the 1b entries run the tiny config, 2 steps)."""
    return [(name, "tiny", train, bindings, 2) for name, _, train, bindings, _ in FULL_PLAN]


def run_variant(name, config, train_step, bindings, steps, batch, seq, peak) -> dict:
    start = time.perf_counter()
    entry = bench_model.bench_config(config, "bfloat16", batch_size=batch, seq_len=seq,
                                     steps=steps, warmup=1, bindings=bindings,
                                     train_step=train_step)
    entry["variant"] = name
    entry["wall_seconds"] = time.perf_counter() - start
    entry["mfu"] = entry["model_flops_per_second"] / peak
    entry["mfu_best_step"] = entry["model_flops_per_second_best_step"] / peak
    try:
        stats = jax.devices()[0].memory_stats() or {}
        entry["device_peak_bytes_in_use"] = stats.get("peak_bytes_in_use")
    except Exception:  # noqa: BLE001 - not every backend reports memory
        entry["device_peak_bytes_in_use"] = None
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, any backend")
    parser.add_argument("--budget_seconds", type=float, default=450,
                        help="start no model variant after this many seconds (the loop "
                             "benchmark gets what remains of --total_seconds)")
    parser.add_argument("--total_seconds", type=float, default=470)
    parser.add_argument("--output_dir", type=pathlib.Path)
    parser.add_argument("--skip_loop", action="store_true", help="no training-loop benchmark")
    args = parser.parse_args()
    started = time.perf_counter()

    device = jax.devices()[0]
    accelerator = hardware.guess_accelerator(device.device_kind)
    if not args.smoke and (jax.default_backend() != "gpu" or accelerator is None):
        print(f"error: full mode needs an H100/H200-class GPU, found {jax.default_backend()} "
              f"({device.device_kind}); use --smoke to exercise the script elsewhere",
              file=sys.stderr)
        return 2
    if args.smoke:
        output_dir = args.output_dir or pathlib.Path(tempfile.mkdtemp(prefix="gpu_check_smoke_"))
        plan, shapes = smoke_plan(), {"tiny": (2, 32)}
        peak, peak_source = 1e11, "nominal 100 GFLOP/s (smoke mode: MFU not meaningful)"
    else:
        output_dir = args.output_dir or ROOT / "benchmarks/results"
        plan, shapes = FULL_PLAN, SHAPES
        peak, peak_source = accelerator.peak_bf16_flops, f"datasheet bf16 dense, {accelerator.name}"
    output_dir.mkdir(parents=True, exist_ok=True)
    suffix = "smoke" if args.smoke else "gpu"

    result = {
        "benchmark": "gpu_check: model step and train step (bfloat16 compute, float32 params)",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": bench_model.machine(), "smoke": args.smoke,
        "peak_flops_per_second": peak, "peak_source": peak_source, "variants": [],
    }
    for name, config, train_step, bindings, steps in plan:
        elapsed = time.perf_counter() - started
        if elapsed > args.budget_seconds and not args.smoke:
            result["variants"].append({"variant": name,
                                       "skipped": f"time budget ({elapsed:.0f} s)"})
            continue
        batch, seq = shapes[config]
        try:
            entry = run_variant(name, config, train_step, bindings, steps, batch, seq, peak)
            print(f"{name}: step {entry['step_seconds_median'] * 1e3:.1f} ms, "
                  f"{entry['tokens_per_second']:.0f} tokens/s, MFU {entry['mfu']:.1%} "
                  f"(compile {entry['compile_seconds']:.0f} s)", flush=True)
        except Exception as e:  # noqa: BLE001 - record the failure, run the other variants
            entry = {"variant": name, "bindings": list(bindings),
                     "error": f"{type(e).__name__}: {e}"[:2000],
                     "traceback_tail": traceback.format_exc()[-2000:]}
            print(f"{name}: FAILED {entry['error'][:300]}", flush=True)
        result["variants"].append(entry)
        jax.clear_caches()
    result["load_average_at_end"] = list(os.getloadavg())
    model_path = output_dir / f"model_{suffix}.json"
    model_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {model_path}", flush=True)

    if not args.skip_loop:
        remaining = args.total_seconds - (time.perf_counter() - started)
        loop_path = output_dir / f"train_{suffix}.json"
        command = [sys.executable, str(ROOT / "benchmarks/bench_train.py"), "--dtype", "bfloat16",
                   "--output", str(loop_path)]
        # 60 steps: bench_train reports the logging intervals after the first (the compilation),
        # so it needs at least two log periods past it (tiny logs every 25 steps, 1b every 20).
        command += ["--configs", "tiny", "--steps", "60"] if args.smoke else \
            ["--configs", "tiny", "1b", "--steps", "60"]
        if remaining < 30:
            print(f"training loop skipped: {remaining:.0f} s left", flush=True)
        else:
            try:
                subprocess.run(command, check=True, timeout=remaining,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                print(f"training loop benchmark did not finish: {e}", flush=True)
    print(f"gpu_check done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
