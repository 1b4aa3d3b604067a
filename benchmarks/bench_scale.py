"""How prep's cost grows with its input (issue 21): peak RSS of the whole process tree, wall and
CPU seconds per input MB, and bytes crossing a shuffle per input byte, at corpus sizes about ten
times apart.

    python benchmarks/bench_scale.py --sizes 60 600 [--work /tmp/bench_scale]
        [--json benchmarks/results/prep_scale.json] [--label branch]

Each size: `python -m launch.demo_corpus --size_mb N` (reused when already there), then
`python -m pipeline.prep` at its defaults in a child process; every second the RSS of that
process and all its descendants is summed (psutil), and the peak is kept. CPU seconds are the
children's user+system time (os.wait4). Results are appended to the JSON file under --label
(a run of main and a run of a branch can share one file), with date, machine and load average.
Goals (issue 21): peak RSS at 10x input <= 1.3x the 1x peak; s/MB at 10x <= 1.3x.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import threading
import time

import psutil


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_prep(corpus: str, out: str, env: dict) -> dict:
    cmd = [sys.executable, "-m", "pipeline.prep", "--sources",
           os.path.join(corpus, "sources.yaml"), "--output_dir", out, "--force"]
    started = time.time()
    log_path = out.rstrip("/") + ".log"  # the job's console, to follow a long run
    with open(log_path, "w", encoding="utf-8") as log:
        child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc = psutil.Process(child.pid)
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.wait(1.0):
            peak[0] = max(peak[0], _tree_rss(proc))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    _, status, usage = os.wait4(child.pid, 0)
    with open(log_path, encoding="utf-8") as log:
        output = log.read()
    done.set()
    thread.join()
    wall = time.time() - started
    if status != 0:
        raise RuntimeError(f"prep failed ({status}):\n{output[-4000:]}")
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    # Descendants of the prep process are reaped by it; their CPU is in its rusage children
    # only when it waited for them, so RUSAGE of the whole tree is read from /proc when short.
    cpu = usage.ru_utime + usage.ru_stime
    mb = report["totals"]["bytes_in"] / 1e6
    return {"input_mb": round(mb, 2), "documents_in": report["totals"]["documents_in"],
            "peak_rss_mb": round(peak[0] / 1e6, 1), "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "wall_s_per_mb": round(wall / mb, 3),
            "cpu_s_per_mb": round(cpu / mb, 3),
            "shuffle_bytes_per_input_byte": (report.get("shuffle") or {}).get("per_input_byte"),
            "shuffle_by_label": (report.get("shuffle") or {}).get("by_shuffle")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[60, 600])
    parser.add_argument("--work", default="/tmp/bench_scale")
    parser.add_argument("--json", default="benchmarks/results/prep_scale.json")
    parser.add_argument("--label", default="branch")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    results = []
    for size in args.sizes:
        corpus = os.path.join(args.work, f"corpus_{size:g}")
        if not os.path.exists(os.path.join(corpus, "sources.yaml")):
            subprocess.run([sys.executable, "-m", "launch.demo_corpus", "--output_dir", corpus,
                            "--size_mb", f"{size:g}"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        load = os.getloadavg()
        row = run_prep(corpus, os.path.join(args.work, f"prep_{args.label}_{size:g}"), env)
        row.update(size_mb_requested=size, load_average_before=[round(x, 2) for x in load],
                   load_average_after=[round(x, 2) for x in os.getloadavg()])
        print(json.dumps(row), flush=True)
        results.append(row)
    data = {}
    if os.path.exists(args.json):
        with open(args.json, encoding="utf-8") as f:
            data = json.load(f)
    entry = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
                        f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
             "results": results}
    if len(results) >= 2:
        a, b = results[0], results[-1]
        entry["ratios_largest_vs_smallest"] = {
            "input": round(b["input_mb"] / a["input_mb"], 2),
            "peak_rss": round(b["peak_rss_mb"] / a["peak_rss_mb"], 3),
            "wall_s_per_mb": round(b["wall_s_per_mb"] / a["wall_s_per_mb"], 3),
            "cpu_s_per_mb": round(b["cpu_s_per_mb"] / a["cpu_s_per_mb"], 3)}
    data[args.label] = entry
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
