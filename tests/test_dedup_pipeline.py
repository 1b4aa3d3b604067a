"""Exact and near dedup as Beam transforms on a small generated corpus with known answers:
precision and recall on planted duplicates, LSH false positives removed by verification, the
keeper rules, code by edit similarity, bad input, and identical results on a rerun."""

import json
import os
import random
import shutil
import tempfile

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from pipeline import json_files, prep
from pipeline.dedup import minhash
from pipeline.dedup.config import DedupConfig, NearConfig
from pipeline.dedup.exact import ExactDedup
from pipeline.dedup.near import NearDedup

# Clusters here have 2 members: 4 component rounds are plenty and keep each run short.
CONFIG = DedupConfig(near=NearConfig(component_rounds=4))
VOCAB = [f"{a}{b}{c}" for a in "bcdfghjklm" for b in "aeiou" for c in "nprstvxz"]


def _doc(i, text, source="web", role="webpages", **meta):
    return {"id": f"d{i:05d}", "text": text, "source": source, "role": role, "lang": "en",
            "meta": meta}


def _mutate(words, rng, target):
    """A copy of `words` whose word-5-gram Jaccard with the original is close to `target`."""
    best = None
    for fraction in [x / 400 for x in range(1, 200)]:
        r = random.Random(rng.random())
        other = [r.choice(VOCAB) if r.random() < fraction else w for w in words]
        j = minhash.jaccard(minhash.shingles(" ".join(words)), minhash.shingles(" ".join(other)))
        if best is None or abs(j - target) < abs(best[1] - target):
            best = (other, j)
        if j < target - 0.05:
            break
    return best


def make_corpus(seed=0, n=120):
    """Unique documents, exact copies (case and spacing changed), and near copies at known
    Jaccard similarities from 0.5 to 1.0. Returns docs and {copy id: (original id, jaccard)}."""
    rng = random.Random(seed)
    docs, truth = [], {}
    for i in range(n):
        words = [rng.choice(VOCAB) for _ in range(rng.randint(80, 200))]
        docs.append(_doc(i, " ".join(words), source="web" if i % 2 else "books",
                         role="webpages" if i % 2 else "books"))
        if i % 6 == 0:
            text = "  ".join(words).upper()
            docs.append(_doc(10_000 + i, text, source="news", role="news"))
            truth[f"d{10_000 + i:05d}"] = (f"d{i:05d}", 1.0)
        elif i % 6 in (1, 2, 3):
            other, j = _mutate(words, rng, rng.uniform(0.5, 1.0))
            docs.append(_doc(20_000 + i, " ".join(other), source="web"))
            truth[f"d{20_000 + i:05d}"] = (f"d{i:05d}", j)
    return docs, truth


def _store(folder, name):
    path = os.path.join(folder, f"{name}.json")
    return beam.Map(lambda value: json_files.write_json(path, value))


def run_dedup(docs, config, code_sources=frozenset()):
    """Runs the transforms; returns kept ids, rejected records and the summaries."""
    folder = tempfile.mkdtemp(prefix="dedup_test_")
    p = TestPipeline()  # run below rather than in a `with`, to read its counters
    kept, rejected = p | beam.Create(docs), []
    if config.exact is not None:
        kept, rej, summary = kept | ExactDedup(config)
        rejected.append(rej)
        summary | "StoreExact" >> _store(folder, "exact")
    if config.near is not None:
        kept, rej, summary = kept | NearDedup(config, code_sources)
        rejected.append(rej)
        summary | "StoreNear" >> _store(folder, "near")
    (kept | "KeptIds" >> beam.Map(lambda d: d["id"]) | "AllKept" >> beam.combiners.ToList()
     | "StoreKept" >> _store(folder, "kept"))
    (rejected | beam.Flatten() | "AllRejected" >> beam.combiners.ToList()
     | "StoreRejected" >> _store(folder, "rejected"))
    result = p.run()
    result.wait_until_finish()
    out = {"counters": prep.collect_counters(result).get("dedup", {})}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            out[name[:-len(".json")]] = json.load(f)
    shutil.rmtree(folder)
    out["kept"] = sorted(out["kept"])
    out["rejected"] = sorted(out["rejected"], key=lambda r: r["id"])
    return out


@pytest.fixture(scope="module")
def corpus():
    return make_corpus()


@pytest.fixture(scope="module")
def deduped(corpus):
    docs, _ = corpus
    return run_dedup(docs, CONFIG)


def test_planted_duplicates_found_with_high_precision_and_recall(corpus, deduped):
    docs, truth = corpus
    threshold = CONFIG.near.threshold
    removed = {r["id"]: r for r in deduped["rejected"]}
    should = {c for c, (_, j) in truth.items() if j >= threshold}
    must_not = {d["id"] for d in docs} - should
    true_positive = should & set(removed)
    recall = len(true_positive) / len(should)
    precision = len(true_positive) / len(removed)
    assert precision == 1.0, sorted(set(removed) & must_not)
    assert recall >= 0.95, sorted(should - set(removed))
    for copy in true_positive:
        original, j = truth[copy]
        assert removed[copy]["meta"]["duplicate_of"] == original
        assert removed[copy]["reason"] == ("dedup.exact" if j == 1.0 else "dedup.near")
    assert sorted(deduped["kept"] + list(removed)) == sorted(d["id"] for d in docs)
    exact = deduped["exact"]
    assert exact["removed"] == sum(1 for _, j in truth.values() if j == 1.0)
    assert exact["size_histogram"] == {"2": exact["removed"]}
    near = deduped["near"]
    assert near["removed"] == sum(1 for r in removed.values() if r["reason"] == "dedup.near")
    assert near["examples"] and all(g["members"][0]["kept"] for g in near["examples"])


def test_rerun_and_reordered_input_give_identical_results(corpus, deduped):
    docs, _ = corpus
    shuffled = list(docs)
    random.Random(1).shuffle(shuffled)
    again = run_dedup(shuffled, CONFIG)
    assert again == deduped


def test_verification_removes_lsh_false_positives():
    """With 1-row bands nearly every pair sharing vocabulary becomes a candidate; only pairs
    whose true Jaccard reaches the threshold may go."""
    docs, truth = make_corpus(seed=3, n=40)
    loose = DedupConfig(exact=None, near=NearConfig(num_perm=32, bands=32, rows=1,
                                                    threshold=0.8, component_rounds=4))
    out = run_dedup(docs, loose)
    removed = {r["id"] for r in out["rejected"]}
    assert removed == {c for c, (_, j) in truth.items() if j >= 0.8}
    # Copies at Jaccard 0.5-0.8 share a 1-row band with probability > 1 - 0.5^32: they were
    # candidates, and verification turned them down.
    below = [c for c, (_, j) in truth.items() if 0.5 <= j < 0.8]
    assert below and out["counters"]["near.false_positive_pairs"] >= len(below)
    assert out["counters"]["near.verified_pairs"] == len(removed)


KEEP_DOCS_TEXT = "one two three four five six seven eight nine ten eleven twelve"
NEAR_TEXT = (KEEP_DOCS_TEXT.replace("six", "SIX!") +
             " thirteen fourteen fifteen sixteen seventeen eighteen")


def _code_docs():
    rng = random.Random(5)
    lines = [f"def f{i}(x):\n    return x * {rng.randint(0, 99)} + {i}" for i in range(40)]
    original = "\n".join(lines)
    edited = "\n".join(line.replace("return x", "return y") if i % 10 == 0 else line
                       for i, line in enumerate(lines))
    rewritten = "\n".join(f"def g{i}(v): return v - {i}" for i in range(40))
    return [_doc(101, original, source="code", role="code"),
            _doc(102, edited, source="code", role="code"),
            _doc(103, rewritten, source="code", role="code"),
            # the same text with a comment added, as prose: a different family, never compared
            _doc(104, original + "\n# from a web page", source="web")]


LICENCE_HEADER = "".join(
    f"# {line}\n" for line in (
        "Copyright 2019-2024 The Example Project Authors. All rights reserved.",
        "Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use",
        "this file except in compliance with the License. You may obtain a copy at",
        "    http://www.apache.org/licenses/LICENSE-2.0",
        "Unless required by applicable law or agreed to in writing, software distributed",
        "under the License is distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR",
        "CONDITIONS OF ANY KIND, either express or implied. See the License for the",
        "specific language governing permissions and limitations under the License.",
    ) * 3)


def _licence_docs():
    """Two package __init__.py files that are mostly the same licence header: distinct code."""
    return [_doc(111, LICENCE_HEADER + "from .client import Client, Session\n"
                 "__all__ = ['Client', 'Session']\n", source="code", role="code"),
            _doc(112, LICENCE_HEADER + "from .parser import parse_file, parse_text\n"
                 "__all__ = ['parse_file', 'parse_text']\n", source="code", role="code")]


def _bad_docs():
    return [_doc(201, ""), _doc(202, "!!! ... ???"), _doc(203, "\u200b\u0301 zero-width"),
            _doc(204, "x" * 50_000), _doc(205, "a", quality_score="high"),
            _doc(206, "tab\tseparated\u00a0words and more"), _doc(207, "")]


@pytest.fixture(scope="module")
def edge_cases():
    """One run over keeper, code and bad-input cases (each pipeline run costs seconds)."""
    docs = [_doc(3, KEEP_DOCS_TEXT, source="web", role="webpages", quality_score=0.9),
            _doc(1, KEEP_DOCS_TEXT, source="chat", role="conversations"),
            _doc(2, KEEP_DOCS_TEXT.upper(), source="books", role="books", quality_score=0.2),
            _doc(5, NEAR_TEXT, source="web", quality_score=0.1),
            _doc(4, NEAR_TEXT + ".", source="web")] + _code_docs() + _licence_docs() + _bad_docs()
    config = DedupConfig(keep="quality_score", near=NearConfig(component_rounds=4))
    out = run_dedup(docs, config, code_sources=frozenset({"code"}))
    out["why"] = {r["id"]: (r["reason"], r["meta"]["duplicate_of"]) for r in out["rejected"]}
    return out


def test_keep_rule_picks_the_configured_copy_in_both_stages(edge_cases):
    """quality_score keeps the best-scored copy, not the smallest id (the order of every rule
    is tested in test_dedup_hashing.py)."""
    assert {"d00003", "d00005"} <= set(edge_cases["kept"])
    assert {"d00001", "d00002", "d00004"}.isdisjoint(edge_cases["kept"])
    assert edge_cases["why"]["d00001"] == ("dedup.exact", "d00003")
    assert edge_cases["why"]["d00002"] == ("dedup.exact", "d00003")
    assert edge_cases["why"]["d00004"] == ("dedup.near", "d00005")


def test_code_is_compared_by_edit_similarity(edge_cases):
    assert edge_cases["why"]["d00102"] == ("dedup.near", "d00101")
    assert {"d00101", "d00103", "d00104"} <= set(edge_cases["kept"])


def test_a_shared_licence_header_does_not_make_files_duplicates(edge_cases):
    from pipeline.dedup.verify import edit_similarity
    a, b = (d["text"] for d in _licence_docs())
    assert edit_similarity(a, b) > 0.9  # compared whole, the two would be merged
    assert {"d00111", "d00112"} <= set(edge_cases["kept"])


def test_bad_input_never_crashes_and_is_never_removed_by_accident(edge_cases):
    assert {"d00201", "d00202", "d00203", "d00204", "d00205", "d00206"} <= \
        set(edge_cases["kept"])
    assert edge_cases["why"]["d00207"] == ("dedup.exact", "d00201")  # the second empty text
    assert len(edge_cases["rejected"]) == 5
