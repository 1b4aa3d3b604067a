"""generate(): every source built, written and summarised."""

from __future__ import annotations

import json
import os
import platform
import shutil
from typing import Any

from launch.demo_corpus.code_source import build_code
from launch.demo_corpus.documents import SourceBuild
from launch.demo_corpus.layout import (
    EVAL_FILE,
    GENERATOR_NAME,
    GENERATOR_VERSION,
    MB,
    OUTPUT_FILES,
    OUTPUT_FOLDERS,
    SHARES,
    SOURCES,
)
from launch.demo_corpus.prose import build_pool
from launch.demo_corpus.text_sources import (
    build_books,
    build_conversations,
    build_news,
    build_web_wet,
    build_webpages,
    build_wikipedia,
    plant_cross_source,
    plant_foreign,
)
from launch.demo_corpus.truth import build_eval_set, count_boilerplate, ground_truth, sources_yaml
from launch.demo_corpus.writers import (
    jsonl_bytes,
    write_books,
    write_code,
    write_conversations,
    write_file,
    write_news,
    write_web_wet,
    write_webpages,
    write_wikipedia,
)


def _disk_bytes(out: str, files: list[str]) -> int:
    return sum(os.path.getsize(os.path.join(out, *rel.split("/"))) for rel in files)


def _prepare_output(out: str) -> None:
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(os.path.join(out, "corpus.json")):
            raise FileExistsError(f"{out} is not empty and holds no demo corpus (corpus.json); "
                                  "refusing to overwrite it; pick an empty or new folder")
        for folder in OUTPUT_FOLDERS:
            shutil.rmtree(os.path.join(out, folder), ignore_errors=True)
        for name in OUTPUT_FILES:
            path = os.path.join(out, name)
            if os.path.exists(path):
                os.remove(path)
    os.makedirs(out, exist_ok=True)


def generate(output_dir: str, size_mb: float = 8.0, seed: int = 0) -> dict[str, Any]:
    """Writes the demo corpus into output_dir and returns its summary (also in corpus.json)."""
    if not size_mb > 0:
        raise ValueError(f"size_mb must be positive, got {size_mb}")
    pool = build_pool()
    _prepare_output(output_dir)
    target = size_mb * MB
    builds = {name: SourceBuild(name, role, fmt, folder, seed, pool)
              for name, role, fmt, folder in SOURCES}
    budgets = {name: SHARES[name] * target for name in builds}
    # Code first: the stdlib caps it, and what it cannot fill goes to the conversations.
    budgets["conversations"] += build_code(builds["code"], budgets["code"])
    build_conversations(builds["conversations"], budgets["conversations"])
    build_webpages(builds["webpages"], budgets["webpages"])
    build_web_wet(builds["web_wet"], budgets["web_wet"])
    build_books(builds["books"], budgets["books"])
    build_wikipedia(builds["wikipedia"], budgets["wikipedia"])
    build_news(builds["news"], budgets["news"])
    plant_foreign(builds, seed)
    plant_cross_source(builds)

    writers = {"conversations": write_conversations, "webpages": write_webpages,
               "web_wet": write_web_wet, "books": write_books, "code": write_code,
               "wikipedia": write_wikipedia, "news": write_news}
    for name, b in builds.items():
        writers[name](b, output_dir)
    count_boilerplate(builds)

    truth = ground_truth(builds, seed, size_mb)
    eval_records, truth["contamination"] = build_eval_set(builds, seed)
    write_file(output_dir, EVAL_FILE, jsonl_bytes(eval_records))
    sources = {}
    for name, b in builds.items():
        sources[name] = {"role": b.role, "format": b.format, "folder": b.folder,
                         "files": b.files, "documents": b.documents, "raw_bytes": b.raw_bytes,
                         "disk_bytes": _disk_bytes(output_dir, b.files),
                         "planted": sum(1 for t in b.truth), "malformed": len(b.malformed)}
    summary = {
        "generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION,
        "seed": seed, "size_mb": size_mb, "target_raw_bytes": int(target),
        "raw_bytes": sum(s["raw_bytes"] for s in sources.values()),
        "disk_bytes": sum(s["disk_bytes"] for s in sources.values()),
        "documents": sum(s["documents"] for s in sources.values()),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "pool": {"sentences": len(pool.sentences), "units": len(pool.units),
                 "docstrings": pool.docstrings, "text_files": pool.text_files,
                 "code_files": len(pool.code_files)},
        "sources": sources,
        "planted": truth["counts"],
        "malformed": len(truth["malformed"]),
        "boilerplate_lines": len(truth["boilerplate"]),
        "eval_set": {"file": EVAL_FILE, "texts": len(eval_records),
                     "contaminated_documents": len(truth["contamination"]["contaminated"])},
    }
    with open(os.path.join(output_dir, "ground_truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(output_dir, "sources.yaml"), "w", encoding="utf-8") as f:
        f.write(sources_yaml(seed, size_mb))
    with open(os.path.join(output_dir, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return summary
