"""The benchmark's inputs: the demo corpus, its export to plain JSONL shards, seeded subsets."""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import pathlib
import shutil
import time
from typing import Any

from launch import demo_corpus
from pipeline import readers
from pipeline.spec import load_spec
from prep_bench.common import MB, ROOT, WORK, log


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
