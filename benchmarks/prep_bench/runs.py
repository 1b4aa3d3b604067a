"""The two timed runs (our prep job and datatrove), with CPU seconds of every descendant."""

from __future__ import annotations

import glob
import gzip
import json
import os
import pathlib
import resource
import shutil
import subprocess
import time
from typing import Any

from prep_bench.common import (
    DT_PYTHON,
    LANGUAGES,
    MB,
    MIN_SCORE,
    OUR_PYTHON,
    ROOT,
    RUNNER,
    SOURCE_NAME,
    WORK,
    log,
)


def our_stage_params() -> dict[str, dict[str, Any]]:
    """Our rules in their datatrove-identical mode: tokens as datatrove counts them, display
    lines judged by C4, the first characters of the whole text scored by language ID against
    datatrove's one threshold, declared languages or not (the defaults count whitespace words,
    unwrap paragraphs, score the prose lines and take 0.3 for a declared language)."""
    return {"langid": {"min_score": MIN_SCORE, "min_score_declared": MIN_SCORE,
                       "score_on": "text"},
            "gopher_repetition": {"word_definition": "datatrove"},
            "gopher_quality": {"word_definition": "datatrove"}, "c4": {"unwrap": False}}


def write_spec(path: pathlib.Path, input_dir: pathlib.Path,
               stage_params: dict[str, dict[str, Any]] | None = None) -> None:
    stages = {"normalize": False, "boilerplate": False, "pii": False}
    params = our_stage_params() if stage_params is None else stage_params
    stages.update({k: (v or True) for k, v in params.items()})
    # Dedup off too: datatrove's side runs the four filters only.
    spec = {"seed": 0, "dedup": False, "sources": [{
        "name": SOURCE_NAME, "role": "webpages", "format": "jsonl",
        "paths": [str(input_dir / "*.jsonl.gz")], "text_field": "text", "id_field": "id",
        "languages": LANGUAGES, "stages": stages}]}
    path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")  # JSON is YAML


# Set by become_subreaper(): CPU seconds then include orphaned descendants.
SUBREAPER = False


def become_subreaper() -> bool:
    """Make orphaned descendants (datatrove's forkserver workers, Beam's SDK workers) our
    children, so their CPU time is counted when we reap them (Linux only). Records the outcome
    in SUBREAPER, which rates() reads."""
    global SUBREAPER
    try:
        import ctypes

        SUBREAPER = ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        SUBREAPER = False
    return SUBREAPER


def reap_descendants(timeout_s: float = 15.0) -> list[str]:
    """Waits for every exited descendant; returns the command lines of those still alive at
    the timeout (their CPU time is not counted)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []
        if pid == 0:
            if time.monotonic() > deadline:
                alive = []
                for entry in os.listdir("/proc"):
                    if entry.isdigit():
                        try:
                            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                                if int(f.read().rsplit(")", 1)[1].split()[1]) != os.getpid():
                                    continue
                            with open(f"/proc/{entry}/cmdline", "rb") as f:
                                alive.append(f.read().replace(b"\0", b" ").decode()[:120])
                        except (OSError, ValueError, IndexError):
                            pass
                return alive
            time.sleep(0.05)


def timed(cmd: list[str], log_path: pathlib.Path,
          env: dict[str, str] | None = None, cwd: pathlib.Path = ROOT) -> dict[str, Any]:
    """Runs cmd; wall seconds (perf_counter), CPU seconds of it and its reaped descendants,
    and the load average around it (other work on the machine shows there)."""
    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "w", encoding="utf-8") as out:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        seconds = time.perf_counter() - t0
    lingering = reap_descendants()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{tail}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"wall_s": seconds, "cpu_s": cpu, "descendants_alive_after_15s": lingering,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def run_ours(input_dir: pathlib.Path, workers: int, tag: str,
             stage_params: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    run_dir = WORK / "run" / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    spec_path = run_dir / "spec.yaml"
    write_spec(spec_path, input_dir, stage_params)
    out_dir = run_dir / "out"
    cmd = [OUR_PYTHON, "-m", "pipeline.prep", "--sources", str(spec_path),
           "--output_dir", str(out_dir), "--runner=DirectRunner",
           "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    log(f"{tag}: python -m pipeline.prep on {input_dir.relative_to(ROOT)}, "
        f"--direct_num_workers={workers}")
    timing = timed(cmd, run_dir / "prep.log")
    manifest = json.loads((out_dir / SOURCE_NAME / "manifest.json").read_text(encoding="utf-8"))
    kept = sum(manifest["documents_out"].values())
    dropped_ids: dict[str, str] = {}
    for path in sorted(glob.glob(str(out_dir / SOURCE_NAME / "rejected-*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                dropped_ids[r["id"]] = r["reason"]
    log(f"{tag}: {timing['wall_s']:.1f} s, kept {kept} of {manifest['documents_in']}")
    return {"command": " ".join(["python"] + cmd[1:]), **timing,
            "stages": manifest["config"]["source"]["stages"],
            "documents_in": manifest["documents_in"], "bytes_in": manifest["bytes_in"],
            "kept": kept, "dropped_by_reason": manifest["dropped"],
            "_dropped_ids": dropped_ids}


def run_datatrove(input_dir: pathlib.Path, workers: int, tasks: int, model: str,
                  tag: str) -> dict[str, Any]:
    run_dir = WORK / "run" / tag
    shutil.rmtree(run_dir, ignore_errors=True)  # also datatrove's completion markers
    run_dir.mkdir(parents=True)
    cmd = [str(DT_PYTHON), str(RUNNER), "pipeline", "--model", model,
           "--languages", *LANGUAGES, "--language_threshold", str(MIN_SCORE),
           "--c4_min_sentences", "3", "--input_dir", str(input_dir),
           "--output_dir", str(run_dir / "out"), "--logging_dir", str(run_dir / "logs"),
           "--tasks", str(tasks), "--workers", str(workers)]
    env = dict(os.environ, PYTHONPATH=str(RUNNER.parent))
    log(f"{tag}: LocalPipelineExecutor(tasks={tasks}, workers={workers}) on "
        f"{input_dir.relative_to(ROOT)}")
    timing = timed(cmd, run_dir / "datatrove.log", env=env)
    kept_ids = set()
    for path in sorted(glob.glob(str(run_dir / "out" / "*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                kept_ids.add(json.loads(line)["id"])
    stats = {}
    stats_path = run_dir / "logs" / "stats.json"
    if stats_path.exists():
        for step in json.loads(stats_path.read_text(encoding="utf-8")):
            name = step.get("name", "")
            dropped = {k[len("dropped_"):]: v["total"] if isinstance(v, dict) else v
                       for k, v in step.get("stats", {}).items() if k.startswith("dropped_")}
            if dropped:
                stats[name] = dropped
    log(f"{tag}: {timing['wall_s']:.1f} s, kept {len(kept_ids)}")
    return {"command": " ".join(["python"] + cmd[1:]), **timing,
            "kept": len(kept_ids), "dropped_by_reason": stats, "_kept_ids": kept_ids}


def rates(run: dict[str, Any], docs: int, text_bytes: int, workers: int) -> dict[str, Any]:
    wall_s = run["wall_s"]
    return {"wall_s": round(wall_s, 2), "cpu_s": round(run["cpu_s"], 1),
            "documents": docs, "text_mb": round(text_bytes / MB, 2),
            "docs_per_s": round(docs / wall_s, 1),
            "mb_per_s": round(text_bytes / MB / wall_s, 3),
            "docs_per_s_per_core": round(docs / wall_s / workers, 1),
            "mb_per_s_per_core": round(text_bytes / MB / wall_s / workers, 3),
            "docs_per_cpu_s": round(docs / run["cpu_s"], 1) if run["cpu_s"] else None,
            "cpu_s_complete": SUBREAPER and not run["descendants_alive_after_15s"],
            "descendants_alive_after_15s": run["descendants_alive_after_15s"],
            "load_average_1min_before_after": run["load_average_1min"]}
