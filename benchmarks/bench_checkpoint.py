"""What checkpoint checksums cost: disk bytes and training-thread stall per save, against the same
save without them, in the same process.

    python benchmarks/bench_checkpoint.py                     # small, and 1b width with 2 layers
    python benchmarks/bench_checkpoint.py --configs small 1b  # the full 1b: ~13 GB of state
    python benchmarks/bench_checkpoint.py --configs 1b_4layers --init_only --saves 2

`--init_only` builds the state by initialisation alone (no train step is compiled: a big config's
step does not fit beside its state on a small machine) and, in place of the train steps after each
save, runs `--steps` jitted reads of every array of the state (a global sum of squares) on the
training thread: the stall such memory-bound work sees while Orbax writes and the checksum thread
reads back. Results are merged into the output file by config name, so configs measured in
different runs are kept side by side; each config records its own date and load.

For each config: a real TrainState (PaLM Adafactor) is initialised, then saved `--saves` times by
launch.run.checkpoints.Checkpoints with checksums and by the same class with the checksum job
removed, alternating (so both see the same machine load). Per save it records

  * blocking_s: how long `save` held the training thread (device-to-host copy; the checksum job
    is only queued);
  * steps_after_save_s: wall time of `--steps` jitted train steps run right after the save, while
    Orbax writes (and, with checksums, the background thread reads the files back and CRCs them):
    the stall the training thread actually sees, GIL contention included;
  * durable_s: from `save` to the checkpoint being committed (and, with checksums, verified-able);
  * checksum_s: the checksum pass itself (read back + CRC32C + manifest write), as recorded in
    the manifest; background_s: the background job, which first waits for Orbax's commit;
  * verify_s: a full verification (every file read and CRC'd) as done before a restore;
  * bytes: the checkpoint folder and its checksums folder.

Writes benchmarks/results/checkpoint_checksums.json with the machine's load average (the machine is
shared: compare the two variants' ratios, not absolute seconds).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import shutil
import statistics
import sys
import time

import jax
import numpy as np

import gin

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launch.partitioning import PjitPartitioner  # noqa: E402
from launch.run import checksums  # noqa: E402
from launch.run.checkpoints import Checkpoints, step_dir  # noqa: E402
from launch.trainer import Trainer  # noqa: E402
from launch.utils import SaveCheckpointConfig  # noqa: E402
from model import flops  # noqa: E402
from model.config import PalmConfig  # noqa: E402

# Configs measured by default; "1b_2layers" is palm_1b.gin's width (d_model 2048, 8 heads of 256,
# vocab 32k) with 2 of its 16 layers: the largest that fits this shared 24 GB machine.
PRESETS = {"small": ("small", []), "1b": ("1b", []),
           "1b_2layers": ("1b", ["PalmConfig.num_layers = 2"]),
           "1b_4layers": ("1b", ["PalmConfig.num_layers = 4"]),
           "1b_8layers": ("1b", ["PalmConfig.num_layers = 8"])}


class WithoutChecksums(Checkpoints):
    """The same saves with the checksum job removed: the baseline."""

    def _record_checksums(self, step: int) -> None:
        self.manager.wait_until_finished()


def load_config(name: str) -> PalmConfig:
    model_file, bindings = PRESETS[name]
    gin.clear_config()
    gin.parse_config_files_and_bindings([str(ROOT / f"gin/models/palm_{model_file}.gin")],
                                        ["PalmConfig.dtype = 'float32'", *bindings])
    config = PalmConfig()
    gin.clear_config()
    return config


def folder_bytes(path: str, sub: str | None = None) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        if sub is not None and sub not in os.path.relpath(folder, path).split(os.sep):
            continue
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total


def _train_work(trainer: Trainer, config: PalmConfig):
    """`--steps` real train steps (batch 2 x 64): returns work(state) -> (state, result)."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, config.vocab_size, (2, 64)).astype(np.int32)
    batch = trainer.partitioner.make_global_batch({
        "decoder_input_tokens": tokens, "decoder_target_tokens": tokens,
        "decoder_loss_weights": np.ones_like(tokens), "decoder_segment_ids": np.ones_like(tokens),
        "decoder_positions": np.tile(np.arange(64, dtype=np.int32), (2, 1))})
    return lambda state: trainer.train_step(state, batch)


def _read_work():
    """A jitted read of every array of the state (sum of squares): memory-bound work on the
    training thread without a train step's memory."""
    total = jax.jit(lambda state: sum(jax.numpy.vdot(x, x) for x in jax.tree.leaves(state)
                                      if jax.numpy.issubdtype(x.dtype, jax.numpy.floating)))
    return lambda state: (state, total(state))


def state_bytes(state) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))


def bench(name: str, saves: int, steps: int, work: pathlib.Path, init_only: bool = False) -> dict:
    load_before = os.getloadavg()
    config = load_config(name)
    trainer = Trainer(model=config, partitioner=PjitPartitioner())
    start = time.perf_counter()
    state = trainer.init_state(0)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - start
    step_fn = _read_work() if init_only else _train_work(trainer, config)
    state, metrics = step_fn(state)  # compile
    jax.block_until_ready(metrics)
    variants = {"with_checksums": Checkpoints, "without_checksums": WithoutChecksums}
    managers = {v: cls(str(work / name / v), SaveCheckpointConfig(period=1, keep=2))
                for v, cls in variants.items()}
    rows = {v: [] for v in variants}
    step = 1
    for _ in range(saves):
        for variant, checkpoints in managers.items():
            start = time.perf_counter()
            checkpoints.save(step, state, {"examples_consumed": step})
            blocking = time.perf_counter() - start
            for _ in range(steps):
                state, metrics = step_fn(state)
            jax.block_until_ready(metrics)
            after = time.perf_counter() - start - blocking
            checkpoints.wait()
            durable = time.perf_counter() - start
            row = {"step": step, "blocking_s": blocking, "steps_after_save_s": after,
                   "durable_s": durable}
            if variant == "with_checksums":  # read now: `keep` deletes old checkpoints
                row["checksum_s"] = json.loads(pathlib.Path(
                    step_dir(checkpoints.model_dir, step), checksums.FOLDER,
                    "process_0.json").read_text())["seconds"]
            rows[variant].append(row)
            step += 1
    result = {"date": datetime.date.today().isoformat(),
              "load_average_before": load_before,
              "params": flops.count_params(config), "state_bytes": state_bytes(state),
              "d_model": config.d_model, "num_layers": config.num_layers, "init_s": init_s,
              ("state_reads_after_each_save" if init_only else "train_steps_after_each_save"):
                  steps,
              "state": "initialised only" if init_only else "after train steps"}
    for variant, checkpoints in managers.items():
        checkpoints.close()
        last = step_dir(checkpoints.model_dir, rows[variant][-1]["step"])
        entry = {"saves": rows[variant],
                 "checkpoint_bytes": folder_bytes(last),
                 "median_blocking_s": statistics.median(r["blocking_s"] for r in rows[variant]),
                 "median_steps_after_save_s": statistics.median(
                     r["steps_after_save_s"] for r in rows[variant]),
                 "median_durable_s": statistics.median(r["durable_s"] for r in rows[variant])}
        if variant == "with_checksums":
            entry["checksum_bytes"] = folder_bytes(last, checksums.FOLDER)
            entry["background_s"] = checkpoints.checksums.seconds
            entry["checksum_s"] = [r["checksum_s"] for r in rows[variant]]
            start = time.perf_counter()
            assert checksums.verify(last) == []
            entry["verify_s"] = time.perf_counter() - start
        result[variant] = entry
    with_, without = result["with_checksums"], result["without_checksums"]
    result["checksum_bytes_fraction"] = with_["checksum_bytes"] / with_["checkpoint_bytes"]
    result["stall_ratio_steps_after_save"] = (with_["median_steps_after_save_s"] /
                                              without["median_steps_after_save_s"])
    result["blocking_ratio"] = with_["median_blocking_s"] / without["median_blocking_s"]
    result["median_checksum_s"] = statistics.median(with_["checksum_s"])
    result["checksum_throughput_bytes_per_s"] = with_["checkpoint_bytes"] / result[
        "median_checksum_s"]
    result["load_average_after"] = os.getloadavg()
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    shutil.rmtree(work / name, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["small", "1b_2layers"],
                        choices=sorted(PRESETS))
    parser.add_argument("--saves", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--init_only", action="store_true",
                        help="state by initialisation only; reads of the state after each save")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "work" / "checkpoint"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" /
                                                "checkpoint_checksums.json"))
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    output = pathlib.Path(args.output)
    results = json.loads(output.read_text()) if output.exists() else {"configs": {}}
    results.update({"date": datetime.date.today().isoformat(), "machine": platform.node(),
                    "cpus": os.cpu_count(), "backend": jax.default_backend()})
    for name in args.configs:
        print(f"== {name}", flush=True)
        results["configs"][name] = bench(name, args.saves, args.steps, work, args.init_only)
        print(json.dumps({k: v for k, v in results["configs"][name].items()
                          if not isinstance(v, dict)}, indent=1), flush=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
