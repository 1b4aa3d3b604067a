"""Tokenizer and loader throughput of the seqio mixture, against the tokens/s the trainer consumes.

    python benchmarks/bench_tasks.py [--work_dir benchmarks/work/demo] [--seconds 15]

Measures, on the demo's prep output and vocabulary (built with `python -m launch.demo` into
--work_dir when missing):
  (a) tokenization through seqio's Beam cache job (tasks/cache.py, one DirectRunner worker, the
      whole job pinned to one core), and the bare batched tokenizer (tasks.inspect_mixture's
      counter);
  (b) the loader: packed tokens/s out of `Mixture.get_dataset` -> `LMFeatureConverter(pack=True)`
      -> batches, at the feature length and batch size of the tiny and small model benchmarks
      (benchmarks/bench_model.py PRESETS), from the seqio cache and uncached (tokenizing on the
      fly), each in a subprocess restricted to ONE core: CPU affinity pinned to one CPU before
      TensorFlow starts (so every TF thread shares it), TF inter/intra-op pools of 1 thread, and
      the tf.data pipeline's private thread pool of 1 thread; for the tiny shape uncached, also
      the peer: the same sources as stock seqio Tasks (per-example seqio.preprocessors.tokenize,
      append_eos_after_trim), i.e. the project's Tasks before tasks/preprocessors.py;
  (c) the trainer: the jitted forward+backward step (value_and_grad of model/loss.compute_loss on
      PalmModel, bench_model.bench_config) for the same configs on the whole machine, in the same
      run; the ratio loader tokens/s (one core) / trainer tokens/s (all cores) is the figure of
      merit (target >= 10x: one input core keeps up with the model with room to spare).

Tokens are the packed sequence slots the trainer sees (batch x length, padding included, which is
what a train step consumes); the non-padding share is recorded too. The ratios are also given
against the trainer's tokens/s of benchmarks/results/model_cpu.json (bench_model.py on an idle
machine), since this run's trainer competes with everything else on the machine.
Writes benchmarks/results/tasks.json.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, installed or not
sys.path.insert(0, str(ROOT / "benchmarks"))

SPEC = ROOT / "tasks" / "specs" / "palm_demo.yaml"
CONFIGS = ("tiny", "small")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def one_cpu() -> int:
    """The CPU the single-core measurements are pinned to: the last one this process may use."""
    return max(os.sched_getaffinity(0))


def child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PALM_TASKS_DATA_DIR", None)
    env.pop("PALM_TASKS_VOCABULARY", None)
    return env


def ensure_demo(work_dir: pathlib.Path) -> dict[str, str]:
    paths = {"prep": work_dir / "prep", "vocabulary": work_dir / "tokenizer" / "spm.model",
             "cache": work_dir / "cache"}
    if not (paths["vocabulary"].exists() and (paths["cache"] / "palm_demo.news" / "COMPLETED")
            .exists()):
        print(f"building the demo outputs in {work_dir} (python -m launch.demo)", flush=True)
        subprocess.run([sys.executable, "-m", "launch.demo", "--output_dir", str(work_dir)],
                       check=True, cwd=ROOT, env=child_env())
    return {k: str(v) for k, v in paths.items()}


def cache_stats(cache_dir: str) -> dict[str, dict[str, int]]:
    out = {}
    for path in sorted(glob.glob(os.path.join(cache_dir, "*", "stats.*.json"))):
        split = os.path.basename(path)[len("stats."):-len(".json")]
        with open(path, encoding="utf-8") as f:
            stats = json.load(f)
        out[f"{os.path.basename(os.path.dirname(path))}/{split}"] = {
            "examples": stats["examples"], "tokens": stats.get("targets_tokens", 0)}
    return out


def bench_cache_job(demo: dict[str, str], out_dir: pathlib.Path) -> dict:
    """(a) seqio's Beam cache job over every task of the demo mixture, pinned to one core."""
    shutil.rmtree(out_dir, ignore_errors=True)
    cpu = one_cpu()
    command = [sys.executable, "-m", "tasks.cache", "--spec", str(SPEC), "--data_dir",
               demo["prep"], "--vocabulary", demo["vocabulary"], "--output_cache_dir",
               str(out_dir), "--direct_num_workers=1", "--min_shards", "8"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL,
                   preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = cache_stats(str(out_dir))
    tokens = sum(s["tokens"] for s in stats.values())
    text_bytes = 0
    for manifest in glob.glob(os.path.join(demo["prep"], "*", "manifest.json")):
        with open(manifest, encoding="utf-8") as f:
            text_bytes += sum(json.load(f)["bytes_out"].values())
    return {
        "what": "python -m tasks.cache over all 7 tasks x 2 splits, --direct_num_workers=1, the "
                "whole job (driver and worker processes) pinned to one CPU with sched_setaffinity",
        "command": " ".join(command[1:]),
        "cpu": cpu,
        "wall_seconds": wall,
        "cpu_seconds": cpu_seconds,
        "text_bytes": text_bytes,
        "tokens": tokens,
        "examples": sum(s["examples"] for s in stats.values()),
        "tokens_per_second_one_core": tokens / wall,
        "tokens_per_cpu_second": tokens / cpu_seconds if cpu_seconds else None,
        "per_task_split": stats,
        "load_average_before_after": None,  # filled by the caller
    }


# ---------------------------------------------------------------------------------------------
# (b) in a single-core subprocess

def loader_worker(spec: dict) -> dict:
    """Runs inside the pinned subprocess: TensorFlow is imported only after the pinning."""
    os.sched_setaffinity(0, {spec["cpu"]})
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    import numpy as np
    import seqio

    import tasks
    from tasks import inspect_mixture

    seqio.add_global_cache_dirs([spec["cache"]])
    name = tasks.register_mixture(str(SPEC), data_dir=spec["prep"],
                                  vocabulary=spec["vocabulary"])
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    result = {"affinity": sorted(os.sched_getaffinity(0)),
              "tf_threads": {"inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                             "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                             "tf_data_private_threadpool": 1}}

    # The bare tokenizer: tasks.inspect_mixture's batched counter over every task's train split.
    start, cpu0 = time.perf_counter(), time.process_time()
    counted = {t.name: inspect_mixture.tokenized_counts(t.name, "train", progress=False)
               for t in seqio.get_mixture_or_task(name).tasks}
    wall = time.perf_counter() - start
    tokens = sum(c["tokens"] - c["examples"] for c in counted.values())  # without the EOS
    task = seqio.get_mixture_or_task(name).tasks[0]
    result["task_preprocessors"] = [
        type(p).__name__ if isinstance(p, seqio.CacheDatasetPlaceholder) else
        getattr(getattr(p, "func", p), "__module__", "") + "." + getattr(p, "func", p).__name__
        for p in task.preprocessors]
    result["batched_tokenizer"] = {
        "what": "tasks.inspect_mixture.tokenized_counts: read TFRecords, SentencePiece on batches "
                "of 256 texts (seqio vocabulary encode_tf), all train splits",
        "tokens": tokens, "wall_seconds": wall, "cpu_seconds": time.process_time() - cpu0,
        "tokens_per_second_one_core": tokens / wall}

    result["loader"] = []
    for case in spec["cases"]:
        length, batch = case["seq_len"], case["batch_size"]
        start = time.perf_counter()
        mixture = name if case["tasks"] == "project" else stock_seqio_mixture(name)
        ds = seqio.get_mixture_or_task(mixture).get_dataset(
            {"targets": length}, split="train", use_cached=case["cached"], shuffle=True, seed=0,
            num_epochs=None)
        ds = seqio.LMFeatureConverter(pack=True)(ds, {"targets": length})
        ds = ds.batch(batch, drop_remainder=True).with_options(options)
        iterator = ds.as_numpy_iterator()
        first = next(iterator)
        first_batch_seconds = time.perf_counter() - start
        assert first["decoder_target_tokens"].shape == (batch, length)
        for _ in range(case["warmup_batches"]):
            next(iterator)
        batches = real = 0
        start, cpu0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < spec["seconds"]:
            b = next(iterator)
            batches += 1
            real += int(np.count_nonzero(b["decoder_segment_ids"]))
        wall = time.perf_counter() - start
        slots = batches * batch * length
        result["loader"].append(dict(
            case, batches=batches, wall_seconds=wall, cpu_seconds=time.process_time() - cpu0,
            first_batch_seconds=first_batch_seconds, tokens=slots, non_padding_tokens=real,
            non_padding_fraction=real / slots, tokens_per_second=slots / wall,
            non_padding_tokens_per_second=real / wall))
        print(f"loader {case['config']} {'cached' if case['cached'] else 'uncached'} "
              f"({case['tasks']} tasks): "
              f"{slots / wall:,.0f} tokens/s on one core ({real / slots:.1%} non-padding)",
              file=sys.stderr, flush=True)
    return result


def stock_seqio_mixture(name: str) -> str:
    """The mixture's sources and rates as seqio Tasks of the stock shape: per-example
    seqio.preprocessors.tokenize, and append_eos_after_trim, which keeps the first length - 1
    tokens of a document. The project's Tasks before tasks.preprocessors; the loader's peer."""
    import functools

    import seqio

    mixture = seqio.get_mixture_or_task(name)
    stock = f"{name}_seqio_stock"
    if stock in seqio.MixtureRegistry.names():
        return stock
    rates = []
    for task in mixture.tasks:
        seqio.TaskRegistry.add(
            f"{task.name}_seqio_stock", source=task.source,
            preprocessors=[
                functools.partial(seqio.preprocessors.rekey, key_map={"targets": "text"}),
                seqio.preprocessors.tokenize, seqio.CacheDatasetPlaceholder(),
                seqio.preprocessors.append_eos_after_trim],
            output_features=task.output_features, metric_fns=[])
        rates.append((f"{task.name}_seqio_stock", mixture.get_rate(task)))
    seqio.MixtureRegistry.add(stock, rates)
    return stock


def bench_loader(demo: dict[str, str], seconds: float) -> dict:
    from bench_model import PRESETS

    cases = [dict(config=c, seq_len=PRESETS[c]["seq_len"], batch_size=PRESETS[c]["batch_size"],
                  cached=cached, warmup_batches=20, tasks="project")
             for c in CONFIGS for cached in (True, False)]
    # The peer: the same sources through seqio's stock per-example tokenize and trim.
    cases.append(dict(cases[1], tasks="seqio_stock"))
    spec = dict(demo, cpu=one_cpu(), cases=cases, seconds=seconds)
    proc = subprocess.run([sys.executable, __file__, "--_loader_worker", json.dumps(spec)],
                          check=True, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                          text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# (c) the trainer's step, in this process, on every core

def bench_trainer() -> list[dict]:
    from bench_model import PRESETS, bench_config

    out = []
    for name in CONFIGS:
        p = PRESETS[name]
        entry = bench_config(name, "auto", batch_size=p["batch_size"], seq_len=p["seq_len"],
                             steps=p["steps"], warmup=1)
        out.append(entry)
        print(f"trainer {name}: {entry['tokens_per_second']:,.0f} tokens/s "
              f"(batch {p['batch_size']} x {p['seq_len']}, all cores)", flush=True)
    return out


IDLE_TRAINER = ROOT / "benchmarks" / "results" / "model_cpu.json"


def idle_trainer_tokens_per_second() -> dict[str, float]:
    """The trainer's tokens/s per config from bench_model.py's run on an idle machine, if any:
    this run's trainer shares the machine with whatever else runs, so the ratio against a
    slower-than-usual trainer flatters the loader."""
    if not IDLE_TRAINER.exists():
        return {}
    with open(IDLE_TRAINER, encoding="utf-8") as f:
        configs = json.load(f).get("configs", [])
    return {c["config"]: c["tokens_per_second"] for c in configs if c.get("config") in CONFIGS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work_dir", type=pathlib.Path, default=ROOT / "benchmarks/work/demo",
                        help="the demo's output directory (built when missing)")
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="timed seconds per loader case, after warm-up")
    parser.add_argument("--output", type=pathlib.Path,
                        default=ROOT / "benchmarks/results/tasks.json")
    parser.add_argument("--_loader_worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._loader_worker:
        print(json.dumps(loader_worker(json.loads(args._loader_worker))))
        return

    # JAX is imported only after the subprocesses are started: forking a process that already
    # runs JAX's threads is unsafe.
    demo = ensure_demo(args.work_dir)
    result = {
        "benchmark": "seqio tokenization and loader throughput vs the trainer's step",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()},
        "inputs": {**demo, "spec": str(SPEC)},
    }
    print(json.dumps(result["machine"]), flush=True)

    before = load()
    result["cache_job"] = bench_cache_job(demo, args.work_dir.parent / "bench_cache")
    result["cache_job"]["load_average_before_after"] = [before, load()]
    print(f"cache job: {result['cache_job']['tokens']:,} tokens in "
          f"{result['cache_job']['wall_seconds']:.1f} s on one core = "
          f"{result['cache_job']['tokens_per_second_one_core']:,.0f} tokens/s", flush=True)

    before = load()
    loader = bench_loader(demo, args.seconds)
    loader["load_average_before_after"] = [before, load()]
    result["single_core_subprocess"] = loader

    import jax

    result["machine"].update(jax=jax.__version__, backend=jax.default_backend())
    before = load()
    result["trainer"] = bench_trainer()
    result["trainer_load_average_before_after"] = [before, load()]

    result["ratios"] = []
    for step in result["trainer"]:
        for case in loader["loader"]:
            if case["config"] == step["config"]:
                result["ratios"].append({
                    "config": step["config"], "cached": case["cached"], "tasks": case["tasks"],
                    "loader_tokens_per_second_one_core": case["tokens_per_second"],
                    "trainer_tokens_per_second_all_cores": step["tokens_per_second"],
                    "loader_over_trainer": case["tokens_per_second"] / step["tokens_per_second"],
                    "target": 10.0,
                    "meets_target": case["tokens_per_second"] >= 10 * step["tokens_per_second"]})
    idle = idle_trainer_tokens_per_second()
    for r in result["ratios"]:
        if r["config"] in idle:
            r["idle_trainer_tokens_per_second_all_cores"] = idle[r["config"]]
            r["loader_over_idle_trainer"] = (r["loader_tokens_per_second_one_core"] /
                                             idle[r["config"]])
        print(f"{r['config']} {'cached' if r['cached'] else 'uncached'} ({r['tasks']} tasks): "
              f"loader/trainer = "
              f"{r['loader_over_trainer']:.1f}x (target >= 10x)"
              + (f"; against the idle-machine trainer of {IDLE_TRAINER.name}: "
                 f"{r['loader_over_idle_trainer']:.1f}x" if "loader_over_idle_trainer" in r
                 else ""), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
