"""How `tasks.materialize` grows: the demo's tokens and 10x them, before and after issue 21.

    .venv/bin/python benchmarks/bench_materialize_scale.py --demo_dir DEMO_OUT \
        [--before_root DIR] [--scales 1,10] [--work_dir benchmarks/work/materialize_scale]

DEMO_OUT is a `make demo` output (or its first four steps): prep/, tokenizer/spm.model, cache/.
Scale k: a seqio cache with every train file of the demo's cache present k times (hard links
under new shard numbers, so k times the documents, each with its own key and hash), a data
directory whose recorded length histograms count every document k times (the demo's prep
manifests, so the records stay valid), and a stream of k times the demo's steps (k x 800 steps
of 8 rows of 256 tokens): k times the input and k times the output. Each run is
`python -m tasks.materialize` as the demo calls it (DirectRunner, multi-processing, one worker
per core), in a subprocess; measured: wall seconds, CPU seconds of the process tree (children
reaped, from getrusage), peak RSS of the process tree (summed every 0.5 s with psutil), and the
shuffle volume (the manifest's `shuffle_volume`; the code before issue 21 did not meter it, so
for it the figure is the lower bound its element sizes give: every copied token once as int32
into the packing groups, every row's int32 tokens and uint8 sources into the shards).
`--before_root` is a checkout of the code before the change (e.g. `git worktree add DIR
<commit>`); its streams are compared with the new ones byte for byte.

Writes benchmarks/results/materialize_scale.json (date, machine, load average inside).
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import glob
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "tasks", "specs", "palm_demo.yaml")
SEQ_LEN, BATCH, DEMO_STEPS = 256, 8, 800


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def scaled_inputs(demo_dir: str, factor: int, work: str) -> tuple[str, str]:
    """(data_dir, cache_dir) holding `factor` times the demo's train documents."""
    prep, cache = os.path.join(demo_dir, "prep"), os.path.join(demo_dir, "cache")
    if factor == 1:
        return prep, cache
    data_out, cache_out = os.path.join(work, f"prep_x{factor}"), os.path.join(work,
                                                                           f"cache_x{factor}")
    shutil.rmtree(data_out, ignore_errors=True)
    shutil.rmtree(cache_out, ignore_errors=True)
    for source_dir in sorted(glob.glob(os.path.join(prep, "*", "manifest.json"))):
        source = os.path.basename(os.path.dirname(source_dir))
        os.makedirs(os.path.join(data_out, source))
        for path in glob.glob(os.path.join(prep, source, "*")):
            name = os.path.basename(path)
            if name.startswith("token_lengths."):
                with open(path) as f:
                    record = json.load(f)
                record["counts"] = [c * factor for c in record["counts"]]
                record["documents"] *= factor
                record["tokens"] *= factor
                with open(os.path.join(data_out, source, name), "w") as f:
                    json.dump(record, f)
            else:
                os.symlink(os.path.abspath(path), os.path.join(data_out, source, name))
    for task_dir in sorted(glob.glob(os.path.join(cache, "*"))):
        out = os.path.join(cache_out, os.path.basename(task_dir))
        os.makedirs(out)
        trains = sorted(glob.glob(os.path.join(task_dir, "train.tfrecord-*")))
        for path in glob.glob(os.path.join(task_dir, "*")):
            name = os.path.basename(path)
            if name == "info.train.json":  # seqio reads train.tfrecord-*-of-<num_shards>
                with open(path) as f:
                    info = json.load(f)
                info["num_shards"] *= factor
                with open(os.path.join(out, name), "w") as f:
                    json.dump(info, f, indent=2)
            elif name.startswith("stats.train"):
                with open(path) as f:
                    stats = json.load(f)
                for key in stats:
                    if key == "examples" or (key.endswith("_tokens") and "max" not in key):
                        stats[key] *= factor
                with open(os.path.join(out, name), "w") as f:
                    json.dump(stats, f)
            elif not name.startswith("train.tfrecord-"):
                shutil.copy(path, os.path.join(out, name))
        n = len(trains)
        for copy in range(factor):
            for i, path in enumerate(trains):
                target = os.path.join(
                    out, f"train.tfrecord-{copy * n + i:05d}-of-{factor * n:05d}")
                try:
                    os.link(path, target)
                except OSError:  # another file system
                    shutil.copy(path, target)
    return data_out, cache_out


def replicated_prep(demo_dir: str, factor: int, work: str) -> str:
    """A prep output with every train shard of the demo's present `factor` times (links under
    new shard numbers): the seqio cache job's input at `factor` times the demo's."""
    prep = os.path.join(demo_dir, "prep")
    if factor == 1:
        return prep
    out = os.path.join(work, f"prep_raw_x{factor}")
    shutil.rmtree(out, ignore_errors=True)
    for manifest in sorted(glob.glob(os.path.join(prep, "*", "manifest.json"))):
        source = os.path.dirname(manifest)
        os.makedirs(os.path.join(out, os.path.basename(source)))
        trains = sorted(glob.glob(os.path.join(source, "train-*-of-*.tfrecord")))
        for path in glob.glob(os.path.join(source, "*")):
            if path not in trains and not os.path.basename(path).startswith("token_lengths"):
                os.symlink(os.path.abspath(path),
                           os.path.join(out, os.path.basename(source), os.path.basename(path)))
        n = len(trains)
        for copy in range(factor):
            for i, path in enumerate(trains):
                os.symlink(os.path.abspath(path), os.path.join(
                    out, os.path.basename(source),
                    f"train-{copy * n + i:05d}-of-{factor * n:05d}.tfrecord"))
    return out


def run_cache_job(demo_dir: str, factor: int, work: str) -> dict:
    """seqio's cache job (tasks.cache, as the demo runs it) on `factor` x the demo's prep."""
    data_dir = replicated_prep(demo_dir, factor, work)
    out = os.path.join(work, f"seqio_cache_x{factor}")
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "tasks.cache", "--spec", SPEC, "--data_dir", data_dir,
               "--vocabulary", os.path.join(demo_dir, "tokenizer", "spm.model"),
               "--output_cache_dir", out]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    figures = measured(command, ROOT, env)
    source_bytes = sum(os.path.getsize(p) for p in glob.glob(
        os.path.join(data_dir, "*", "*-of-*.tfrecord")))
    shuffle_line = [x for x in figures["output_tail"] if "crossed a shuffle" in x]
    figures.update(scale=factor, date=now(), input_mb=round(source_bytes / 1e6, 2),
                   shuffle=shuffle_line[0] if shuffle_line else None,
                   wall_s_per_input_mb=round(figures["wall_s"] / (source_bytes / 1e6), 2),
                   load_average_after=[round(x, 2) for x in os.getloadavg()])
    return figures


def record_histograms(root: str, data_dir: str, cache: str) -> None:
    """Counts (once, untimed) the demo's document-length histograms, which scale k copies."""
    code = ("import seqio, tasks; seqio.add_global_cache_dirs([%r]); "
            "n = tasks.register_mixture(%r, data_dir=%r, vocabulary=%r); "
            "m = seqio.get_mixture_or_task(n); [m.histogram(t) for t in m.token_weights]"
            % (cache, SPEC, data_dir, os.path.join(os.path.dirname(data_dir), "tokenizer",
                                                     "spm.model")))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                   env={**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measured(command: list[str], cwd: str, env: dict) -> dict:
    """Wall, CPU and peak tree RSS of a subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak, done = [0], threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not done.wait(0.5):
            try:
                tree = [root] + root.children(recursive=True)
                rss = 0
                for p in tree:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output = proc.communicate()[0]
    done.set()
    thread.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{command} failed:\n{output[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "peak_rss_tree_mb": round(peak[0] / 1e6, 1),
            "cache_dir_lines": output.count("Using cache directory"),
            "output_tail": output.strip().splitlines()[-3:]}


def run_materialize(root: str, data_dir: str, cache: str, vocabulary: str, steps: int,
                    out: str) -> dict:
    command = [sys.executable, "-m", "tasks.materialize", "--spec", SPEC, "--data_dir", data_dir,
               "--vocabulary", vocabulary, "--cache_dir", cache, "--sequence_length",
               str(SEQ_LEN), "--batch_size", str(BATCH), "--steps", str(steps), "--seed", "0",
               "--output_dir", out, "--overwrite"]
    env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "2"}
    figures = measured(command, root, env)
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    tokens_in = sum(s["tokens_available"] for s in manifest["sources"])
    input_bytes = 4 * tokens_in  # what the job reads: every train token, once, as int32
    volume = manifest.get("shuffle_volume")
    if volume is None:  # the code before issue 21: rows and token copies crossed shuffles
        copied = manifest["tokens"] + manifest["packing"]["groups"] * SEQ_LEN
        volume = {"bytes": 4 * copied + 5 * manifest["tokens"], "method": "lower bound"}
        volume["per_input_byte"] = round(volume["bytes"] / input_bytes, 4)
    figures.update(rows=manifest["rows"], stream_tokens=manifest["tokens"],
                   input_tokens=tokens_in, input_mb=round(input_bytes / 1e6, 2),
                   shuffle=volume,
                   wall_s_per_input_mb=round(figures["wall_s"] / (input_bytes / 1e6), 2),
                   cpu_s_per_input_mb=round(figures["cpu_s"] / (input_bytes / 1e6), 2))
    return figures


def same_stream(a: str, b: str) -> bool:
    names = sorted(n for n in os.listdir(a) if n.endswith(".array_record"))
    if names != sorted(n for n in os.listdir(b) if n.endswith(".array_record")):
        return False
    return all(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False)
               for n in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo_dir", required=True)
    parser.add_argument("--before_root", default=None)
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--cache_scales", default="",
                        help="also run seqio's cache job (tasks.cache) at these multiples of "
                             "the demo's prep output, e.g. 1,4 (default: none)")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "benchmarks", "work",
                                                           "materialize_scale"))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results",
                                                          "materialize_scale.json"))
    args = parser.parse_args()
    demo = os.path.abspath(args.demo_dir)
    vocabulary = os.path.join(demo, "tokenizer", "spm.model")
    for needed in (os.path.join(demo, "prep"), os.path.join(demo, "cache"), vocabulary):
        if not os.path.exists(needed):
            print(f"error: {needed} missing: --demo_dir must hold a demo's prep/, cache/ and "
                  f"tokenizer/spm.model", file=sys.stderr)
            return 2
    os.makedirs(args.work_dir, exist_ok=True)
    record_histograms(ROOT, os.path.join(demo, "prep"), os.path.join(demo, "cache"))
    sides = {"after": ROOT} | ({"before": os.path.abspath(args.before_root)}
                               if args.before_root else {})
    results = []
    for factor in [int(x) for x in args.scales.split(",") if x]:
        data_dir, cache = scaled_inputs(demo, factor, args.work_dir)
        entry = {"scale": factor, "steps": DEMO_STEPS * factor, "date": now()}
        for side, root in sorted(sides.items(), reverse=True):  # after, then before
            out = os.path.join(args.work_dir, f"stream_x{factor}_{side}")
            entry[side] = run_materialize(root, data_dir, cache, vocabulary, entry["steps"],
                                          out)
            print(json.dumps({"scale": factor, side: entry[side]}), flush=True)
        entry["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        if "before" in entry:
            entry["byte_identical"] = same_stream(
                os.path.join(args.work_dir, f"stream_x{factor}_after"),
                os.path.join(args.work_dir, f"stream_x{factor}_before"))
        results.append(entry)
    cache_results = []
    for factor in [int(x) for x in args.cache_scales.split(",") if x]:
        cache_results.append(run_cache_job(demo, factor, args.work_dir))
        print(json.dumps({"cache_job": cache_results[-1]}), flush=True)
    if os.path.exists(args.output):  # scales measured by an earlier run stay, with their dates
        with open(args.output) as f:
            earlier = json.load(f)
        done = {r["scale"] for r in results}
        results += [r for r in earlier["results"] if r["scale"] not in done]
        done = {r["scale"] for r in cache_results}
        cache_results += [r for r in earlier.get("seqio_cache_job", []) if r["scale"] not in done]
    cache_results.sort(key=lambda r: r["scale"])
    results.sort(key=lambda r: r["scale"])
    ratios = {}
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        for side in [s for s in ("after", "before") if s in lo and s in hi]:
            ratios[side] = {
                "peak_rss": round(hi[side]["peak_rss_tree_mb"] / lo[side]["peak_rss_tree_mb"], 3),
                "wall_s_per_input_mb": round(hi[side]["wall_s_per_input_mb"]
                                             / lo[side]["wall_s_per_input_mb"], 3),
                "cpu_s_per_input_mb": round(hi[side]["cpu_s_per_input_mb"]
                                            / lo[side]["cpu_s_per_input_mb"], 3)}
    report = {
        "benchmark": "bench_materialize_scale",
        "date": now(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "settings": {"sequence_length": SEQ_LEN, "batch_size": BATCH, "demo_steps": DEMO_STEPS,
                     "runner": "DirectRunner multi_processing, one worker per core"},
        "results": results,
        "ratios_largest_over_smallest": ratios,
        "seqio_cache_job": cache_results,
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
