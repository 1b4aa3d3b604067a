"""Near-duplicate detection: this engine against datatrove and datasketch, same corpus, same run.

    .venv/bin/python benchmarks/bench_dedup.py                          # 25 MB and 100 MB
    .venv/bin/python benchmarks/bench_dedup.py --sizes_mb 5 20 --quick  # smoke test

What it does, on this machine, in one run:
1. corpus (per size, cached under benchmarks/work/dedup_corpus_<N>mb): unique documents of
   random words (a 40,000-word vocabulary drawn with Zipf weights; lower-case letters only, so
   every engine's tokeniser sees the same words), and for a share of them a copy: 2 % exact,
   18 % near copies whose word-5-gram Jaccard similarity to their original is drawn uniformly
   in [0.5, 1.0) by replacing words; the exact Jaccard of every pair is recorded. JSONL.gz
   shards of {id, text}.
2. ground truth: a copy is a duplicate iff its Jaccard with its original is >= the threshold
   (0.8). Per engine, a removed document is a true positive when it is one side of a duplicate
   pair whose other side was kept; everything else it removed is a false positive.
3. engines, each a timed subprocess on the same shards:
   - ours: `python -m pipeline.prep` with every per-document stage off and the default dedup
     (exact + near: word 5-grams, 128 permutations, threshold 0.8, bands x rows derived, true
     Jaccard verification), DirectRunner multi-processing, --workers workers; end to end
     (reading, writing TFRecords, rejected records, manifests, report);
   - datatrove 0.10.1 MinHash dedup (four executors, same bands x rows as ours; with
     --datatrove_unverified_optimum also 9 x 13, optimal for an unverified 0.8 threshold),
     --workers workers;
   - datasketch MinHashLSH (threshold 0.8, 128 permutations), streaming, one process.
4. memory: our job's peak resident memory at every size, the Beam controller process and the
   SDK worker processes measured separately (VmHWM from /proc, polled).

Writes benchmarks/results/dedup.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import pathlib
import random
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_prep  # noqa: E402  (machine, venv and process helpers shared with bench_prep)

WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
PEERS = ROOT / "benchmarks" / "dedup_peers_runner.py"
PEER_PACKAGES = ("datasketch==1.6.5", "xxhash==3.6.0", "tokenizers==0.23.3")
GENERATOR_VERSION = 1
THRESHOLD = 0.8
MB = 1_000_000
EXACT_SHARE, NEAR_SHARE = 0.02, 0.18
BINS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.01]


def log(msg: str) -> None:
    print(f"[bench_dedup {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Corpus with planted duplicates at known Jaccard similarities

def shingle_set(words: list[str]) -> set[tuple[str, ...]]:
    if len(words) < 5:
        return {tuple(words)}
    return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}


def jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = shingle_set(a), shingle_set(b)
    return len(sa & sb) / len(sa | sb)


def near_copy(words: list[str], target: float, vocab: list[str],
              rng: random.Random) -> tuple[list[str], float]:
    """Replaces a share of words so that the 5-gram Jaccard lands near `target`.

    With a share f of words replaced at random, about (1 - f)^5 of the shingles survive, and
    J = s / (2 - s) for a surviving share s; the recorded value is the exact Jaccard."""
    survive = 2 * target / (1 + target)
    share = 1 - survive ** (1 / 5)
    copy = [rng.choice(vocab) if rng.random() < share else w for w in words]
    return copy, jaccard(words, copy)


def ensure_corpus(size_mb: float, shards: int, seed: int) -> dict[str, Any]:
    folder = WORK / f"dedup_corpus_{size_mb:g}mb"
    info_path = folder / "corpus.json"
    key = {"size_mb": size_mb, "shards": shards, "seed": seed, "version": GENERATOR_VERSION}
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if info["key"] == key:
            log(f"corpus: reusing {folder.relative_to(ROOT)}")
            return info
    log(f"corpus: generating {size_mb:g} MB into {folder.relative_to(ROOT)}")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "input").mkdir(parents=True)
    rng = random.Random(seed)
    letters = "abcdefghijklmnoprstuvwxyz"
    vocab = sorted({"q" + "".join(rng.choice(letters) for _ in range(rng.randint(2, 8)))
                    for _ in range(45_000)})[:40_000]
    weights = [1 / (i + 10) for i in range(len(vocab))]  # Zipf-like
    outs = [gzip.open(folder / "input" / f"docs-{i:05d}.jsonl.gz", "wt", encoding="utf-8")
            for i in range(shards)]
    pairs = []
    written = n_docs = 0
    i = 0
    while written < size_mb * MB:
        words = rng.choices(vocab, weights, k=rng.randint(80, 700))
        records = [(f"b{i:08d}", words)]
        roll = rng.random()
        if roll < EXACT_SHARE:
            records.append((f"e{i:08d}", words))
            pairs.append({"copy": f"e{i:08d}", "original": f"b{i:08d}", "jaccard": 1.0})
        elif roll < EXACT_SHARE + NEAR_SHARE:
            copy, j = near_copy(words, rng.uniform(0.5, 1.0), vocab, rng)
            records.append((f"n{i:08d}", copy))
            pairs.append({"copy": f"n{i:08d}", "original": f"b{i:08d}", "jaccard": j})
        for doc_id, ws in records:
            text = " ".join(ws)
            outs[n_docs % shards].write(json.dumps({"id": doc_id, "text": text}) + "\n")
            written += len(text) + 1
            n_docs += 1
        i += 1
    for f in outs:
        f.close()
    info = {"key": key, "documents": n_docs, "text_bytes": written, "pairs": pairs,
            "input_dir": str(folder / "input")}
    info_path.write_text(json.dumps(info))
    log(f"corpus: {n_docs} documents, {len(pairs)} planted copies")
    return info


def score(removed: set[str], corpus: dict[str, Any]) -> dict[str, Any]:
    """Precision, recall and F1 of a set of removed ids against the planted pairs."""
    positives = [p for p in corpus["pairs"] if p["jaccard"] >= THRESHOLD]
    tp = 0
    for p in positives:
        if (p["copy"] in removed) != (p["original"] in removed):
            tp += 1
    fp = len(removed) - tp
    precision = tp / len(removed) if removed else 1.0
    recall = tp / len(positives) if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_bin = []
    for lo, hi in zip(BINS, BINS[1:]):
        in_bin = [p for p in corpus["pairs"] if lo <= p["jaccard"] < hi]
        hit = sum(1 for p in in_bin if p["copy"] in removed or p["original"] in removed)
        by_bin.append({"jaccard": f"[{lo}, {min(hi, 1.0)}{')' if hi <= 1.0 else ']'}",
                       "pairs": len(in_bin),
                       "removed_share": round(hit / len(in_bin), 4) if in_bin else None})
    return {"removed": len(removed), "true_positives": tp, "false_positives": fp,
            "false_negatives": len(positives) - tp, "positives": len(positives),
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "pairs_removed_by_jaccard": by_bin}


# ---------------------------------------------------------------------------------------------
# Timed runs with peak memory per process

def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class PeakMemory(threading.Thread):
    """Polls VmHWM (the kernel's peak resident set) of a process and its descendants."""

    def __init__(self, pid: int, interval_s: float = 0.2):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval_s = interval_s
        self.peaks: dict[int, tuple[int, str]] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for pid in [self.pid] + _descendants(self.pid):
                hwm = _status_kb(pid, "VmHWM")
                if hwm is None:
                    continue
                old = self.peaks.get(pid)
                cmd = old[1] if old else _cmdline(pid)
                self.peaks[pid] = (max(hwm, old[0] if old else 0), cmd)
            self.stop.wait(self.interval_s)

    def summary(self, worker_marker: str | None = None) -> dict[str, Any]:
        """Peaks of the main process, of the worker processes (`worker_marker` in their command
        line) and of everything else. Shell wrappers (`/bin/sh -c ...`) are left out: between
        vfork and exec they report their parent's peak, not their own."""
        root = self.peaks.get(self.pid, (0, ""))[0]
        others = [(kb, cmd) for pid, (kb, cmd) in self.peaks.items()
                  if pid != self.pid and not cmd.startswith("/bin/sh")]
        workers = [kb for kb, cmd in others if worker_marker and worker_marker in cmd]
        rest = [kb for kb, cmd in others if not (worker_marker and worker_marker in cmd)]
        return {"main_process_peak_mb": round(root / 1024, 1),
                "worker_processes": len(workers),
                "worker_peaks_mb": sorted(round(kb / 1024, 1) for kb in workers),
                "worker_peak_mb_max": round(max(workers) / 1024, 1) if workers else None,
                "worker_peak_mb_sum": round(sum(workers) / 1024, 1) if workers else None,
                "other_descendants_peak_mb_max": round(max(rest) / 1024, 1) if rest else None,
                "other_descendants": len(rest)}


def timed(cmd: list[str], log_path: pathlib.Path, env: dict[str, str] | None = None,
          worker_marker: str | None = None) -> dict[str, Any]:
    import resource

    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "w", encoding="utf-8") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        monitor = PeakMemory(proc.pid)
        monitor.start()
        rc = proc.wait()
        seconds = time.perf_counter() - t0
        monitor.stop.set()
        monitor.join()
    lingering = bench_prep.reap_descendants()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({rc}):\n{tail}")
    return {"wall_s": round(seconds, 2),
            "cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 1),
            "load_average_1min_before_after": [round(load_before, 2),
                                               round(os.getloadavg()[0], 2)],
            "descendants_alive_after_15s": lingering,
            "memory": monitor.summary(worker_marker)}


def train_shards(text_bytes: int) -> int:
    """One train shard per 5 MB, as a user sizes shards to the data: the writer sorts each
    shard's records in memory, so a fixed shard count would make worker memory grow with the
    corpus for a reason unrelated to dedup."""
    return max(1, math.ceil(text_bytes / (5 * MB)))


def write_spec(path: pathlib.Path, input_dir: str, shards: int, dedup: bool = True) -> None:
    off = {s: False for s in ("normalize", "langid", "boilerplate", "gopher_repetition",
                              "gopher_quality", "c4", "pii")}
    spec = {"seed": 0, "validation_fraction": 0.0, "shards": {"train": shards}, "dedup": dedup,
            "sources": [{
        "name": "bench", "role": "webpages", "format": "jsonl",
        "paths": [f"{input_dir}/*.jsonl.gz"],
        "text_field": "text", "id_field": "id", "steps": off}]}
    path.write_text(json.dumps(spec, indent=1))


def run_ours(corpus: dict[str, Any], workers: int, tag: str,
             dedup: bool = True) -> tuple[dict, set[str]]:
    run_dir = WORK / "dedup_run" / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    write_spec(run_dir / "spec.yaml", corpus["input_dir"], train_shards(corpus["text_bytes"]),
               dedup)
    cmd = [bench_prep.OUR_PYTHON, "-m", "pipeline.prep", "--sources", str(run_dir / "spec.yaml"),
           "--output_dir", str(run_dir / "out"), "--runner=DirectRunner",
           "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log(f"{tag}: python -m pipeline.prep, {workers} workers")
    timing = timed(cmd, run_dir / "prep.log", env=env, worker_marker="sdk_worker_main")
    removed = set()
    for path in sorted((run_dir / "out" / "bench").glob("rejected-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if record["reason"].startswith("dedup."):
                    removed.add(record["meta"]["location"])  # the corpus id (id_field)
    timing["train_shards"] = train_shards(corpus["text_bytes"])
    if dedup:
        near = json.loads((run_dir / "out" / "dedup" / "near.json").read_text())
        timing["near_counters"] = near["counters"]
        timing["components"] = {k: near["components"][k] for k in
                                ("rounds_run", "rounds_with_changes", "converged")}
    log(f"{tag}: {timing['wall_s']} s, removed {len(removed)}")
    return timing, removed


def run_peer(kind: str, corpus: dict[str, Any], workers: int, tag: str,
             extra: list[str]) -> tuple[dict, set[str]]:
    run_dir = WORK / "dedup_run" / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    removed_path = run_dir / "removed.txt"
    cmd = [str(bench_prep.DT_PYTHON), str(PEERS), kind, "--input_dir", corpus["input_dir"],
           "--removed", str(removed_path), "--work_dir", str(run_dir / "work"),
           "--workers", str(workers), *extra]
    log(f"{tag}: {kind} {' '.join(extra)}")
    timing = timed(cmd, run_dir / f"{kind}.log", env=dict(os.environ, PYTHONPATH=""))
    removed = set(removed_path.read_text().split())
    log(f"{tag}: {timing['wall_s']} s, removed {len(removed)}")
    return timing, removed


def ensure_peers() -> None:
    bench_prep.ensure_datatrove_venv()
    probe = "import datasketch, xxhash, tokenizers"
    if subprocess.run([str(bench_prep.DT_PYTHON), "-c", probe], capture_output=True).returncode:
        subprocess.run([str(bench_prep.DT_PYTHON), "-m", "pip", "install", "-q",
                        *PEER_PACKAGES], check=True)


def rates(timing: dict[str, Any], corpus: dict[str, Any], cores: int) -> dict[str, Any]:
    docs, wall = corpus["documents"], timing["wall_s"]
    return {"docs_per_s": round(docs / wall, 1),
            "mb_per_s": round(corpus["text_bytes"] / MB / wall, 3),
            "docs_per_s_per_core": round(docs / wall / cores, 1),
            "docs_per_cpu_s": round(docs / timing["cpu_s"], 1) if timing["cpu_s"] else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes_mb", type=float, nargs="+", default=[25, 100],
                        help="corpus sizes; the peers run on the largest")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "dedup.json"))
    parser.add_argument("--skip_peers", action="store_true")
    parser.add_argument("--dedup_off", action="store_true",
                        help="our job without dedup (what reading and writing alone cost); "
                             "implies --skip_peers")
    parser.add_argument("--datatrove_unverified_optimum", action="store_true",
                        help="also run datatrove with 9 x 13, the bands x rows that are optimal "
                             "for an unverified 0.8 threshold (datasketch's choice)")
    args = parser.parse_args(argv)
    bench_prep.SUBREAPER = bench_prep.become_subreaper()

    sys.path.insert(0, str(ROOT))
    from pipeline.dedup.config import NearConfig

    near = NearConfig()
    bands, rows = near.bands_rows()
    result: dict[str, Any] = {
        "benchmark": "near-duplicate detection: ours vs datatrove vs datasketch",
        "machine": bench_prep.machine(),
        "versions": {"ours": bench_prep.versions_in(bench_prep.OUR_PYTHON,
                                                    ("apache-beam", "numpy", "rapidfuzz")),
                     "peers": None},
        "settings": {"threshold": THRESHOLD, "shingles": "word 5-grams", "num_perm": 128,
                     "our_bands_rows": [bands, rows], "workers": args.workers,
                     "shards": args.shards, "seed": args.seed,
                     "planted": {"exact_share": EXACT_SHARE, "near_share": NEAR_SHARE,
                                 "near_jaccard": "uniform in [0.5, 1.0)"}},
        "sizes": {},
    }
    corpora = {size: ensure_corpus(size, args.shards, args.seed) for size in args.sizes_mb}
    for size in args.sizes_mb:
        corpus = corpora[size]
        timing, removed = run_ours(corpus, args.workers, f"ours_{size:g}mb",
                                   dedup=not args.dedup_off)
        result["sizes"][f"{size:g}mb"] = {
            "documents": corpus["documents"], "text_mb": round(corpus["text_bytes"] / MB, 2),
            "planted_pairs": len(corpus["pairs"]),
            "ours": {**timing, **rates(timing, corpus, args.workers),
                     "quality": score(removed, corpus)}}
    largest = max(args.sizes_mb)
    corpus = corpora[largest]
    entry = result["sizes"][f"{largest:g}mb"]
    if args.dedup_off:
        result["settings"]["dedup"] = False
    if not (args.skip_peers or args.dedup_off):
        ensure_peers()
        result["versions"]["peers"] = bench_prep.versions_in(
            bench_prep.DT_PYTHON, ("datatrove", "datasketch", "xxhash", "spacy", "numpy"))
        runs = [("datatrove_same_bands", "datatrove",
                 ["--buckets", str(bands), "--hashes_per_bucket", str(rows),
                  "--tasks", str(args.shards)]),
                ("datasketch", "datasketch", ["--threshold", str(THRESHOLD)])]
        if args.datatrove_unverified_optimum:
            runs.insert(1, ("datatrove_9x13", "datatrove",
                            ["--buckets", "9", "--hashes_per_bucket", "13",
                             "--tasks", str(args.shards)]))
        for tag, kind, extra in runs:
            timing, removed = run_peer(kind, corpus, args.workers, f"{tag}_{largest:g}mb", extra)
            cores = 1 if kind == "datasketch" else args.workers
            entry[tag] = {**timing, **rates(timing, corpus, cores),
                          "quality": score(removed, corpus)}
        ours = entry["ours"]
        dt = entry["datatrove_same_bands"]
        entry["ratios"] = {
            "ours_vs_datatrove_docs_per_s": round(ours["docs_per_s"] / dt["docs_per_s"], 2),
            "ours_vs_datatrove_docs_per_cpu_s": round(
                ours["docs_per_cpu_s"] / dt["docs_per_cpu_s"], 2),
            "ours_vs_datasketch_docs_per_s": round(
                ours["docs_per_s"] / entry["datasketch"]["docs_per_s"], 2)}
    sizes = sorted(args.sizes_mb)
    if len(sizes) >= 2:
        small, big = result["sizes"][f"{sizes[0]:g}mb"]["ours"], \
            result["sizes"][f"{sizes[-1]:g}mb"]["ours"]
        result["memory_scaling"] = {
            "corpus_ratio": round(sizes[-1] / sizes[0], 2),
            "controller_peak_ratio": round(big["memory"]["main_process_peak_mb"] /
                                           small["memory"]["main_process_peak_mb"], 2),
            "worker_peak_ratio": round(big["memory"]["worker_peak_mb_max"] /
                                       small["memory"]["worker_peak_mb_max"], 2)
            if small["memory"]["worker_peak_mb_max"] else None}
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.output}")
    print(json.dumps({k: v for k, v in result.items() if k in ("sizes", "memory_scaling")},
                     indent=1, default=str)[:6000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
