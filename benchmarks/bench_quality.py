"""Quality classifier and decontamination on the demo corpus: training time, held-out AUC,
scoring and decontamination throughput per core, each against a baseline in the same run.

    .venv/bin/python benchmarks/bench_quality.py                   # 50 MB corpus
    .venv/bin/python benchmarks/bench_quality.py --size_mb 10      # quick check

What it does, in one process (so figures are per core; BLAS is held to one thread):
1. corpus: `launch.demo_corpus.generate` into benchmarks/work/quality_corpus (reused when its
   corpus.json matches), documents read through the project's readers (not timed);
2. training: positives sampled from books + wikipedia, negatives from webpages + web_wet (the
   GLaM/PaLM setup, `--sample_per_class` each, by the stage's own seeded-hash sample), trained by
   `quality_model.train_model` (HashingVectorizer 2^18, word 1-2-grams, logistic regression,
   10 % held out); reports wall time and held-out AUC;
3. scoring: every webpage document scored (a) by our batched path (one sparse mat-vec per batch
   of 512), (b) by scikit-learn's own `LogisticRegression.predict_proba` over the same batches,
   and (c) by the per-document baseline a straightforward implementation would write,
   `predict_proba(vectorizer.transform([text]))` one document at a time; docs/s and ratios;
   the three must agree to 1e-9;
4. decontamination: 10 evaluation sets of 1000 texts (9 synthetic sets of word salad from the
   corpus vocabulary, 10 % of their texts short questions matched whole, and one set in which
   5 % of the texts are runs of the prose sentences the corpus is made of, so that there are
   real hits), indexed with 13-grams;
   every prose document checked by `EvalIndex.match_batch` in batches of 1024 (docs/s), and,
   as the baseline, by the exact definition with Python sets of word tuples on a sample;
5. the Beam stages end to end (DirectRunner in_memory, one worker) on the same documents, read
   from a JSONL file: docs/s including Beam's overhead, next to a pipeline that only reads,
   parses and counts the same file (the overhead floor).

Writes benchmarks/results/quality.json (quality_<N>mb.json for other sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from launch import demo_corpus  # noqa: E402
from pipeline import decontamination, quality_model, readers  # noqa: E402
from pipeline.spec import load_spec  # noqa: E402

WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
POSITIVE = ("books", "wikipedia")
NEGATIVE = ("webpages", "web_wet")
MB = 1_000_000


def log(msg: str) -> None:
    print(f"[bench_quality {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_model": cpu or platform.processor(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def ensure_corpus(size_mb: float, seed: int) -> pathlib.Path:
    corpus_dir = WORK / ("quality_corpus" if size_mb == 50 else f"quality_corpus_{size_mb:g}mb")
    summary_path = corpus_dir / "corpus.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if (summary.get("size_mb") == size_mb and summary.get("seed") == seed
                and summary.get("generator_version") == demo_corpus.GENERATOR_VERSION):
            log(f"corpus: reusing {corpus_dir.relative_to(ROOT)}")
            return corpus_dir
    log(f"corpus: generating {size_mb:g} MB into {corpus_dir.relative_to(ROOT)}")
    demo_corpus.generate(str(corpus_dir), size_mb=size_mb, seed=seed)
    return corpus_dir


def read_documents(corpus_dir: pathlib.Path) -> dict[str, list[dict[str, Any]]]:
    """Prose documents per source, through the project's readers (dead letters skipped)."""
    spec = load_spec(str(corpus_dir / "sources.yaml"))
    out: dict[str, list[dict[str, Any]]] = {}
    for source in spec.sources:
        if source.is_code:
            continue
        docs = out.setdefault(source.name, [])
        for unit in readers.plan_units(source):
            docs.extend(r for r in readers.read_unit(unit, source) if "text" in r)
    return out


def sample(docs: list[dict[str, Any]], n: int, seed: int, max_chars: int) -> list[tuple]:
    """The stage's own sample: the n smallest seeded id hashes."""
    keyed = sorted((quality_model.sample_key(seed, d["id"]), d["id"], d["text"][:max_chars])
                   for d in docs)
    return [(i, t) for _, i, t in keyed[:n]]


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def bench_training(by_source, args) -> tuple[quality_model.QualityModel, dict[str, Any]]:
    features = quality_model.FeatureSettings()
    positives = sample([d for s in POSITIVE for d in by_source.get(s, [])], args.sample_per_class,
                       args.seed, features.max_chars)
    negatives = sample([d for s in NEGATIVE for d in by_source.get(s, [])], args.sample_per_class,
                       args.seed, features.max_chars)
    log(f"training on {len(positives)} positive and {len(negatives)} negative documents")
    t0 = time.perf_counter()
    model = quality_model.train_model(positives, negatives, features,
                                      quality_model.TrainingSettings(heldout_fraction=0.1,
                                                                     seed=args.seed))
    seconds = time.perf_counter() - t0
    log(f"trained {model.version} in {seconds:.1f} s, held-out AUC {model.metadata['heldout_auc']}")
    return model, {"seconds": round(seconds, 2), "model_version": model.version,
                   "positive_sources": list(POSITIVE), "negative_sources": list(NEGATIVE),
                   "features": features.to_json(), **model.metadata}


def bench_scoring(model: quality_model.QualityModel, texts: list[str], per_doc_limit: int,
                  batch: int = 512) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    t0 = time.perf_counter()
    ours = np.concatenate([model.score(texts[i:i + batch]) for i in range(0, len(texts), batch)])
    ours_s = time.perf_counter() - t0

    # scikit-learn's own classifier object carrying the same weights
    classifier = LogisticRegression()
    classifier.coef_ = model.weights[None, :].copy()
    classifier.intercept_ = np.array([model.intercept])
    classifier.classes_ = np.array([0, 1])
    vectorizer = model.settings.vectorizer()
    clip = model.settings.clip
    t0 = time.perf_counter()
    sk_batched = np.concatenate([
        classifier.predict_proba(vectorizer.transform([clip(t) for t in texts[i:i + batch]]))[:, 1]
        for i in range(0, len(texts), batch)])
    sk_batched_s = time.perf_counter() - t0

    subset = texts[:per_doc_limit]
    t0 = time.perf_counter()
    per_doc = np.array([classifier.predict_proba(vectorizer.transform([clip(t)]))[0, 1]
                        for t in subset])
    per_doc_s = time.perf_counter() - t0

    max_diff = max(float(np.max(np.abs(ours - np.round(sk_batched, 6)))),
                   float(np.max(np.abs(ours[:len(subset)] - np.round(per_doc, 6)))))
    if max_diff > 2e-6:  # both are rounded to 6 decimals; the sums may differ in the last bit
        raise SystemExit(f"scores disagree by {max_diff}")
    out = {
        "documents": len(texts), "mb": round(n_bytes / MB, 2), "batch_size": batch,
        "ours_batched": {"seconds": round(ours_s, 2), "docs_per_s": rate(len(texts), ours_s),
                         "mb_per_s": round(n_bytes / MB / ours_s, 2)},
        "sklearn_predict_proba_batched": {"seconds": round(sk_batched_s, 2),
                                          "docs_per_s": rate(len(texts), sk_batched_s)},
        "sklearn_predict_proba_per_document": {"documents": len(subset),
                                               "seconds": round(per_doc_s, 2),
                                               "docs_per_s": rate(len(subset), per_doc_s)},
        "max_abs_score_difference": max_diff,
    }
    out["ratio_ours_vs_per_document"] = round(out["ours_batched"]["docs_per_s"]
                                              / out["sklearn_predict_proba_per_document"]
                                              ["docs_per_s"], 2)
    out["ratio_ours_vs_sklearn_batched"] = round(out["ours_batched"]["docs_per_s"]
                                                 / out["sklearn_predict_proba_batched"]
                                                 ["docs_per_s"], 2)
    log(f"scoring: ours {out['ours_batched']['docs_per_s']} docs/s, sklearn batched "
        f"{out['sklearn_predict_proba_batched']['docs_per_s']}, per document "
        f"{out['sklearn_predict_proba_per_document']['docs_per_s']} "
        f"({out['ratio_ours_vs_per_document']}x)")
    return out


def make_eval_sets(seed: int, n_sets: int, per_set: int) -> dict[str, list[str]]:
    pool = demo_corpus.build_pool()
    rng = random.Random(f"bench-quality-evals:{seed}")
    vocab = pool.vocab
    sets: dict[str, list[str]] = {}
    for j in range(n_sets - 1):
        texts = []
        for i in range(per_set):
            if i % 10 == 0:  # a short question, matched as a whole
                texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 12))) + "?")
            else:
                texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(20, 200))))
        sets[f"synthetic_{j}"] = texts
    sentences = pool.sentences
    leaked = []
    for i in range(per_set):  # 5 % runs of prose sentences the corpus is made of: real hits
        if i % 20 == 0:
            start = rng.randrange(len(sentences) - 3)
            leaked.append(" ".join(sentences[start:start + rng.randint(1, 3)]))
        else:
            leaked.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(20, 200))))
    sets["leaked_prose"] = leaked
    return sets


def bench_decontamination(texts: list[str], args) -> tuple[dict[str, Any], dict[str, list[str]]]:
    eval_sets = make_eval_sets(args.seed, 10, 1000)
    t0 = time.perf_counter()
    index = decontamination.EvalIndex.build(
        decontamination.hash_eval_set(name, set_texts, 13, 8)
        for name, set_texts in eval_sets.items())
    build_s = time.perf_counter() - t0
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    batch = 1024
    t0 = time.perf_counter()
    matches = []
    for i in range(0, len(texts), batch):
        matches.extend(index.match_batch(texts[i:i + batch]))
    ours_s = time.perf_counter() - t0

    # Baseline: the definition with Python sets of word tuples, on a sample of documents.
    grams_by_set = {}
    for name, set_texts in eval_sets.items():
        grams = set()
        for t in set_texts:
            w = decontamination.words(t)
            if len(w) >= 13:
                grams.update(tuple(w[i:i + 13]) for i in range(len(w) - 12))
            elif len(w) >= 8:
                grams.add(tuple(w))
        grams_by_set[name] = grams
    lengths = sorted({len(g) for grams in grams_by_set.values() for g in grams})
    subset = texts[:args.baseline_docs]
    t0 = time.perf_counter()
    reference = []
    for t in subset:
        w = decontamination.words(t)
        found = {name for name, grams in grams_by_set.items()
                 if any(tuple(w[i:i + k]) in grams for k in lengths
                        for i in range(len(w) - k + 1))}
        reference.append(tuple(sorted(found)))
    ref_s = time.perf_counter() - t0
    agree = sum(a == b for a, b in zip(matches, reference))
    per_set = {name: sum(name in m for m in matches) for name in eval_sets}
    out = {
        "eval_sets": len(eval_sets), "texts_per_set": 1000, "ngram": 13, "min_words": 8,
        "index": {"ngrams": int(index.hashes.size), "lengths": list(index.lengths),
                  "build_seconds": round(build_s, 2), "bytes": int(index.hashes.nbytes
                                                                   + index.owner.nbytes)},
        "documents": len(texts), "mb": round(n_bytes / MB, 2), "batch_size": batch,
        "ours": {"seconds": round(ours_s, 2), "docs_per_s": rate(len(texts), ours_s),
                 "mb_per_s": round(n_bytes / MB / ours_s, 2)},
        "python_sets_baseline": {"documents": len(subset), "seconds": round(ref_s, 2),
                                 "docs_per_s": rate(len(subset), ref_s)},
        "agreement_with_baseline": f"{agree}/{len(subset)}",
        "documents_contaminated": sum(bool(m) for m in matches),
        "documents_per_eval_set": per_set,
    }
    out["ratio_ours_vs_python_sets"] = round(out["ours"]["docs_per_s"]
                                             / out["python_sets_baseline"]["docs_per_s"], 2)
    log(f"decontamination: {out['ours']['docs_per_s']} docs/s, baseline "
        f"{out['python_sets_baseline']['docs_per_s']} ({out['ratio_ours_vs_python_sets']}x), "
        f"agreement {out['agreement_with_baseline']}, contaminated "
        f"{out['documents_contaminated']}")
    if agree != len(subset):
        raise SystemExit("decontamination disagrees with the exact definition")
    return out, eval_sets


def bench_beam_stages(by_source, model, eval_sets, work: pathlib.Path) -> dict[str, Any]:
    """Both stages as Beam transforms, DirectRunner in_memory (one worker), end to end."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.decontamination import Decontaminate, DecontaminationConfig
    from pipeline.quality_classifier import QualityClassifier, QualityClassifierConfig

    docs_path = work / "docs.jsonl"
    with open(docs_path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for docs in by_source.values() for d in docs)
    n_docs = sum(len(d) for d in by_source.values())
    model_path = work / "model.npz"
    quality_model.save_model(model, str(model_path))
    for name, texts in eval_sets.items():
        with open(work / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t}) + "\n" for t in texts)
    stages = {
        "read_and_count_only": None,
        "quality_classifier": lambda: QualityClassifier(QualityClassifierConfig.from_mapping(
            {"model_path": str(model_path), "apply_to": list(NEGATIVE)}), str(work / "stats")),
        "decontamination": lambda: Decontaminate(DecontaminationConfig.from_mapping(
            {"eval_sets": {n: str(work / f"{n}.jsonl") for n in eval_sets}}),
            str(work / "stats")),
    }
    results = {}
    for name, make in stages.items():
        p = beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory",
                                                   "--direct_num_workers=1"]))
        docs = (p | "read" >> beam.io.ReadFromText(str(docs_path))
                | "parse" >> beam.Map(json.loads))
        if make is not None:
            docs, _ = docs | make()
        docs | "count" >> beam.combiners.Count.Globally()
        t0 = time.perf_counter()
        p.run().wait_until_finish()
        seconds = time.perf_counter() - t0
        checked = (sum(len(by_source.get(s, [])) for s in NEGATIVE)
                   if name == "quality_classifier" else n_docs if make else 0)
        results[name] = {"documents_in": n_docs, "documents_checked": checked,
                         "seconds": round(seconds, 2), "docs_per_s": rate(n_docs, seconds)}
        log(f"beam {name}: {n_docs} docs in {seconds:.1f} s")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size_mb", type=float, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample_per_class", type=int, default=20000)
    parser.add_argument("--per_document_limit", type=int, default=3000,
                        help="documents timed on the per-document scoring baseline")
    parser.add_argument("--baseline_docs", type=int, default=1000,
                        help="documents timed on the Python-sets decontamination baseline")
    parser.add_argument("--skip_beam", action="store_true")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    result: dict[str, Any] = {"benchmark": "quality", "machine": machine(),
                              "args": vars(args)}
    corpus_dir = ensure_corpus(args.size_mb, args.seed)
    t0 = time.perf_counter()
    by_source = read_documents(corpus_dir)
    result["corpus"] = {"size_mb": args.size_mb, "read_seconds": round(time.perf_counter() - t0, 1),
                        "documents": {s: len(d) for s, d in by_source.items()},
                        "mb": {s: round(sum(len(x["text"].encode()) for x in d) / MB, 2)
                               for s, d in by_source.items()}}
    log(f"corpus: {result['corpus']['documents']}")
    with threadpool_limits(limits=1):
        model, result["training"] = bench_training(by_source, args)
        web_texts = [d["text"] for s in NEGATIVE for d in by_source.get(s, [])]
        result["scoring"] = bench_scoring(model, web_texts, args.per_document_limit)
        prose = [d["text"] for docs in by_source.values() for d in docs]
        result["decontamination"], eval_sets = bench_decontamination(prose, args)
    if not args.skip_beam:
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            result["beam_in_memory_one_worker"] = bench_beam_stages(by_source, model, eval_sets,
                                                                    pathlib.Path(tmp))
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "quality.json" if args.size_mb == 50 else f"quality_{args.size_mb:g}mb.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {(RESULTS / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
