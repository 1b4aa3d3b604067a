"""The project's train step against MaxText's on the same shape, on this machine, runs alternated.

    python benchmarks/bench_vs_maxtext.py                       # 32k vocab: ours vs MaxText
    python benchmarks/bench_vs_maxtext.py --vocab 256000 --skip_maxtext \
        --ours_chunks 0 64 --output benchmarks/results/chunked_loss_256k.json

Shape (issue 15): d_model 256, 4 layers, 4 query heads x 64 sharing one K/V head, SwiGLU d_ff 1024,
tied embeddings, z-loss 1e-4, vocabulary 32,000, sequence 256, batch 8, float32. Ours is
`bench_model.py --configs d256 --train_step` (PaLM's Adafactor update included; one variant per
`--ours_chunks` value of PalmConfig.loss_chunk_length, 0 being the full-logits loss). MaxText 0.2.5
runs its own trainer (`maxtext.trainers.pre_train.train`, synthetic data) from its own Python 3.12
venv, benchmarks/work/venv-maxtext, built by `--setup` with pip from PyPI. MaxText has neither a
parallel block nor Adafactor: it runs its llama2 block (serial attention then MLP: the same matmuls)
with AdamW, its default optimizer, and its fastest listed remat policy (minimal_with_context). Its
step time is the "seconds" its trainer logs per step; the first `--skip` steps (compilation,
warm-up)
are dropped on both sides. Every variant runs in its own process, in the order A, B, C, A, B, C, ...
(`--rounds`), and the medians over rounds are compared. A float32 4096^3 matmul measured before
and after gives this CPU's peak, for the share of it each step reaches (PaLM's 6N + 12 LHQT FLOPs
per
token; MaxText's own TFLOP/s figure counts differently and is not used). Load averages are recorded:
on a shared machine compare only ratios from the same run. Each step's process CPU time (all
threads; for MaxText read from its step log lines, extended by a small launcher) is recorded too:
it is far less disturbed by other processes than wall time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV = ROOT / "benchmarks/work/venv-maxtext"
MAXTEXT_VERSION = "0.2.5"
SHAPE = dict(batch=8, seq=256, d_model=256, layers=4, heads=4, head_dim=64, d_ff=1024)


def maxtext_command(vocab: int, steps: int, output_dir: str) -> list[str]:
    base_yml = next(VENV.glob("lib/python3.*/site-packages/maxtext/configs/base.yml"))
    flags = dict(
        run_name="bench", base_output_directory=output_dir, dataset_type="synthetic",
        hardware="cpu", steps=steps, per_device_batch_size=SHAPE["batch"],
        max_target_length=SHAPE["seq"], vocab_size=vocab, base_emb_dim=SHAPE["d_model"],
        base_num_decoder_layers=SHAPE["layers"], base_num_query_heads=SHAPE["heads"],
        base_num_kv_heads=1, head_dim=SHAPE["head_dim"], base_mlp_dim=SHAPE["d_ff"],
        logits_via_embedding="true", z_loss_multiplier=1e-4, dtype="float32",
        weight_dtype="float32", enable_checkpointing="false", attention="dot_product",
        decoder_block="llama2", remat_policy="minimal_with_context", enable_tensorboard="false")
    return [str(VENV / "bin/python"), "-c", MAXTEXT_LAUNCHER, str(base_yml),
            *(f"{k}={v}" for k, v in flags.items())]


# Runs MaxText's trainer with its "completed step" log lines extended by the process CPU time (all
# threads), so that a per-step CPU time can be read next to its wall time.
MAXTEXT_LAUNCHER = """
import runpy, sys, time
from maxtext.utils import max_logging
_log = max_logging.log
def log(message, *args, **kwargs):
    if isinstance(message, str) and message.startswith("completed step"):
        message = f"{message}, process_cpu_seconds: {time.process_time():.4f}"
    return _log(message, *args, **kwargs)
max_logging.log = log
sys.argv = ["train"] + sys.argv[1:]
runpy.run_module("maxtext.trainers.pre_train.train", run_name="__main__")
"""

# MaxText's CPU path calls jax.distributed.initialize with these (normally set by its launcher).
MAXTEXT_ENV = {"JAX_PLATFORMS": "cpu", "JAX_COORDINATOR_ADDRESS": "localhost", "JOB_INDEX": "0",
               "JOB_COMPLETION_INDEX": "0", "PROCESSES_IN_JOB": "1", "JAX_PROCESS_COUNT": "1"}


def niced(command: list[str], niceness: int) -> list[str]:
    """The command under `nice -n niceness` (0: unchanged). A negative niceness (root only) gives
    the benchmarked process nearly the whole machine while other jobs share it, for both sides."""
    return ["nice", "-n", str(niceness), *command] if niceness else command


def set_group_niceness(niceness: int) -> bool:
    """Where the kernel groups processes by session (autogroup), `nice` only ranks processes
    within one group; the group's own niceness ranks it against the other sessions' jobs.
    Sets it for this script's group (its runs inherit it); False where there is none."""
    path = pathlib.Path("/proc/self/autogroup")
    if not niceness or not path.exists():
        return False
    path.write_text(str(niceness))
    return True


def run_maxtext(vocab: int, steps: int, skip: int, timeout: int, niceness: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="maxtext_bench_") as out:
        command = niced(maxtext_command(vocab, steps, out), niceness)
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **MAXTEXT_ENV}, cwd=out)
        wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    lines = [line for line in log.splitlines() if "completed step:" in line]
    times = [float(re.search(r"seconds: ([0-9.]+)", line).group(1)) for line in lines]
    cpu = [float(re.search(r"process_cpu_seconds: ([0-9.]+)", line).group(1)) for line in lines]
    if proc.returncode or len(times) <= skip + 1:
        raise RuntimeError(f"MaxText failed (exit {proc.returncode}); last log lines:\n"
                           + "\n".join(log.splitlines()[-15:]))
    # Metrics are logged one step late, so the CPU time between two consecutive log lines is one
    # step's (plus its logging), as is the "seconds" MaxText reports.
    cpu_steps = [b - a for a, b in zip(cpu[skip:], cpu[skip + 1:])]
    return {"command": " ".join(f"{k}={v}" for k, v in MAXTEXT_ENV.items()) + " "
            + " ".join(command).replace(MAXTEXT_LAUNCHER, "\"$LAUNCHER\""),
            "launcher": MAXTEXT_LAUNCHER, "step_seconds": times[skip + 1:],
            "step_cpu_seconds": cpu_steps, "all_step_seconds": times, "wall_seconds": wall}


def run_ours(vocab: int, chunk: int, steps: int, skip: int, timeout: int,
             niceness: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="ours_bench_") as out:
        command = [sys.executable, str(ROOT / "benchmarks/bench_model.py"), "--configs", "d256",
                   "--train_step", "--dtype", "float32", "--matmul_n", "0",
                   "--steps", str(steps), "--warmup", str(skip),
                   "--batch_size", str(SHAPE["batch"]), "--seq_len", str(SHAPE["seq"]),
                   "--binding", f"PalmConfig.vocab_size={vocab}",
                   "--binding", f"PalmConfig.loss_chunk_length={chunk}",
                   "--output", f"{out}/ours.json"]
        command = niced(command, niceness)
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - start
        if proc.returncode:
            raise RuntimeError(f"our benchmark failed (exit {proc.returncode}):\n"
                               + proc.stderr[-3000:])
        entry = json.loads(pathlib.Path(f"{out}/ours.json").read_text())["configs"][0]
    command[command.index("--output") + 1] = "OUT.json"
    python = command.index(sys.executable)
    return {"command": " ".join(["PYTHONPATH=.", *command[:python], "python",
                                 *command[python + 1:]])
            .replace(str(ROOT) + "/", ""),
            "step_seconds": entry["step_seconds"], "step_cpu_seconds": entry["step_cpu_seconds"],
            "xla_temp_bytes": entry["xla_temp_bytes"],
            "peak_rss_bytes": entry["peak_rss_bytes_so_far"], "params": entry["params"],
            "model_flops_per_token": entry["model_flops_per_token"], "wall_seconds": wall}


def matmul_peak(niceness: int = 0) -> float:
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import bench_model, jax.numpy as jnp;"
            "print(bench_model.matmul_peak(4096, jnp.float32, 5)['flops_per_second'])")
    proc = subprocess.run(niced([sys.executable, "-c", code], niceness), capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=True)
    return float(proc.stdout.split()[-1])


def setup_venv() -> None:
    """MaxText from PyPI into its own Python 3.12 venv (its `tpu` extra carries its CPU deps)."""
    python = os.environ.get("PYTHON312", "python3.12")
    subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin/pip"), "install", f"maxtext[tpu]=={MAXTEXT_VERSION}"],
                   check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--ours_chunks", type=int, nargs="+", default=[0, 64],
                        help="PalmConfig.loss_chunk_length of each of our variants "
                             "(0: full logits)")
    parser.add_argument("--rounds", type=int, default=2, help="A, B, ... repeated this often")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run")
    parser.add_argument("--skip", type=int, default=2, help="untimed first steps per run")
    parser.add_argument("--skip_maxtext", action="store_true")
    parser.add_argument("--setup", action="store_true", help="build the MaxText venv first")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--niceness", type=int, default=0,
                        help="run every variant under `nice -n N` (e.g. -20 as root on a "
                             "shared machine; recorded in the results)")
    parser.add_argument("--output", type=pathlib.Path,
                        default=ROOT / "benchmarks/results/maxtext_vs.json")
    args = parser.parse_args()
    if args.setup:
        setup_venv()
    if not args.skip_maxtext and not (VENV / "bin/python").exists():
        print(f"error: no MaxText venv at {VENV}; run with --setup (needs python3.12 and PyPI)",
              file=sys.stderr)
        return 2

    variants = [(f"ours_chunk{c}", c) for c in args.ours_chunks]
    if not args.skip_maxtext:
        variants.append(("maxtext", None))
    result = {"benchmark": "train step, issue-15 shape, alternated runs",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "shape": {**SHAPE, "vocab": args.vocab, "dtype": "float32"},
              "maxtext_version": MAXTEXT_VERSION, "cpu_count": os.cpu_count(),
              "niceness": args.niceness,
              "autogroup_niceness_set": set_group_niceness(args.niceness),
              "load_average_at_start": list(os.getloadavg()), "runs": []}
    result["matmul_peak_before"] = matmul_peak(args.niceness)
    for round_index in range(args.rounds):
        for name, chunk in variants:
            load = list(os.getloadavg())
            if chunk is None:
                run = run_maxtext(args.vocab, args.skip + args.steps, args.skip, args.timeout,
                                  args.niceness)
            else:
                run = run_ours(args.vocab, chunk, args.steps, args.skip, args.timeout,
                               args.niceness)
            run.update(variant=name, round=round_index, load_average_at_start=load,
                       load_average_at_end=list(os.getloadavg()),
                       median=statistics.median(run["step_seconds"]),
                       median_cpu=statistics.median(run["step_cpu_seconds"]))
            result["runs"].append(run)
            print(f"round {round_index} {name}: median step {run['median']:.3f} s, "
                  f"{run['median_cpu']:.3f} CPU s (load {load[0]:.1f})", flush=True)
    result["matmul_peak_after"] = matmul_peak(args.niceness)
    result["load_average_at_end"] = list(os.getloadavg())
    peak = max(result["matmul_peak_before"], result["matmul_peak_after"])
    summary = {}
    flops_per_step = None
    for name, _ in variants:
        runs = [r for r in result["runs"] if r["variant"] == name]
        if "model_flops_per_token" in runs[0]:
            flops_per_step = runs[0]["model_flops_per_token"] * SHAPE["batch"] * SHAPE["seq"]
        summary[name] = {"median_of_run_medians": statistics.median(r["median"] for r in runs),
                         "run_medians": [r["median"] for r in runs],
                         "cpu_median_of_run_medians": statistics.median(
                             r["median_cpu"] for r in runs),
                         "cpu_run_medians": [r["median_cpu"] for r in runs],
                         "command": runs[0]["command"]}
        for key in ("xla_temp_bytes", "peak_rss_bytes"):
            if key in runs[0]:
                summary[name][key] = runs[0][key]
    for entry in summary.values():
        entry["share_of_matmul_peak"] = flops_per_step / entry["median_of_run_medians"] / peak
    if "maxtext" in summary:
        for name, entry in summary.items():
            if name != "maxtext":
                entry["speedup_vs_maxtext"] = (summary["maxtext"]["median_of_run_medians"]
                                               / entry["median_of_run_medians"])
                entry["cpu_time_speedup_vs_maxtext"] = (
                    summary["maxtext"]["cpu_median_of_run_medians"]
                    / entry["cpu_median_of_run_medians"])
    result["matmul_peak_flops_per_second"] = peak
    result["model_flops_per_step"] = flops_per_step
    result["summary"] = summary
    print(json.dumps(summary, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
