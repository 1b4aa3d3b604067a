"""The prep job end to end on the generated corpus: counts, manifests, dead letters, the
report, cross-source dedup of the planted duplicates, the quality classifier, decontamination
of the planted evaluation-set overlaps, reruns that skip, config changes that redo, and
identical bytes with 1 or 2 workers."""

import gzip
import hashlib
import ipaddress
import json
import os
import re
import shutil

import pytest
import yaml

from launch import demo_corpus
from pipeline import prep, writers
from pipeline.dedup import minhash
from pipeline.dedup.components import reference_components
from pipeline.spec import load_spec

SIZE_MB = 1.5


def _shard_digests(prep_dir):
    """sha256 of every output file except the manifests (they hold wall times); of the
    quality model's record without its training time and its own path."""
    digests = {}
    for root, _, files in os.walk(prep_dir):
        for name in files:
            if name.startswith("manifest.json") or name.startswith("report."):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            if name == "quality_model.json":
                record = json.loads(data)
                assert record["train_seconds"] >= 0
                record = {k: v for k, v in record.items()
                          if k not in ("train_seconds", "model_path")}
                data = json.dumps(record, sort_keys=True).encode()
            digests[os.path.relpath(path, prep_dir)] = hashlib.sha256(data).hexdigest()
    return digests


def _read_docs(source_dir):
    import tensorflow as tf

    docs = []
    for name in sorted(os.listdir(source_dir)):
        if name.endswith(".tfrecord"):
            for record in tf.data.TFRecordDataset(os.path.join(source_dir, name)):
                docs.append(writers.parse_example(record.numpy()))
    return docs


def _jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    demo_corpus.generate(str(raw), size_mb=SIZE_MB, seed=0)
    return raw


@pytest.fixture(scope="module")
def prepped(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep")
    summary = prep.run(["--sources", str(corpus / "sources.yaml"), "--output_dir", str(out),
                        "--direct_num_workers=2"])
    return out, summary


def test_every_source_is_complete_with_consistent_counts(corpus, prepped):
    out, summary = prepped
    info = json.loads((corpus / "corpus.json").read_text())
    spec = yaml.safe_load((corpus / "sources.yaml").read_text())
    names = [s["name"] for s in spec["sources"]]
    assert summary["ran"] == names and summary["skipped"] == []
    assert not os.path.exists(out / "_staging")
    for name in names:
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["complete"] is True
        dropped = sum(manifest["dropped"].values())
        kept = sum(manifest["documents_out"].values())
        assert manifest["documents_in"] == kept + dropped, name
        assert kept == len(_read_docs(out / name)), name
        assert manifest["documents_in"] > 0 and kept > 0, name
        planned = info["sources"][name]["documents"]
        # Everything the generator wrote is either read or dead-lettered.
        assert manifest["documents_in"] + manifest["dead_letters"] >= planned - 1, name
        for key in ("config_hash", "runner", "wall_time_s", "config"):
            assert key in manifest


def test_planted_problems_are_caught(corpus, prepped):
    out, _ = prepped
    truth = json.loads((corpus / "ground_truth.json").read_text())
    kept = {}
    for name in os.listdir(out):
        if (out / name / "manifest.json").exists():  # a source folder (not dedup/)
            for doc in _read_docs(out / name):
                kept[doc["id"]] = doc
    planted = truth["planted"]
    by_category = {}
    for item in planted:
        by_category.setdefault(item["category"], []).append(item)
    for category in ("non_english", "junk_lorem_ipsum", "junk_symbols", "junk_too_short",
                     "junk_repetitive"):
        leaked = [i["doc_id"] for i in by_category.get(category, []) if i["doc_id"] in kept]
        assert not leaked, f"{category} documents kept: {leaked}"
    # PII is redacted: no planted e-mail, phone or global IP address survives. Addresses that
    # identify no one (documentation, private, loopback ranges) are kept by design.
    redacted = 0
    for item in by_category.get("pii", []):
        doc = kept.get(item["doc_id"])
        if doc is None:
            continue
        for pii in item["details"]["items"]:
            if pii["kind"] in ("ipv4", "ipv6") and not ipaddress.ip_address(pii["value"]).is_global:
                continue
            assert pii["value"] not in doc["text"], (item["doc_id"], pii)
            redacted += 1
    assert redacted >= 3
    all_text = "\n".join(d["text"] for d in kept.values() if d["role"] != "code")
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", all_text)
    # Mojibake is repaired in kept documents.
    for item in by_category.get("mojibake", []):
        doc = kept.get(item["doc_id"])
        if doc is not None:
            for broken, fixed in zip(item["details"]["fragments"], item["details"]["originals"]):
                assert broken not in doc["text"] and fixed in doc["text"]


def test_malformed_input_is_dead_lettered_not_lost(corpus, prepped):
    out, _ = prepped
    truth = json.loads((corpus / "ground_truth.json").read_text())
    dead = []
    for name in os.listdir(out):
        if (out / name / "manifest.json").exists():  # a source folder (not dedup/)
            dead += _jsonl_gz(out / name / writers.DEAD_LETTERS_FILE)
    assert all(d["reason"] and d["file"] and d["position"] for d in dead)
    found = {(d["source"], d["file"]) for d in dead}
    expected = {(m["source"], m["file_in_source"]) for m in truth["malformed"]
                if m["kind"] != "binary_payload"}  # non-HTML WARC responses are skipped
    assert expected <= found, expected - found


def test_rejected_documents_are_kept_for_audit(prepped):
    out, summary = prepped
    for name, source in summary["sources"].items():
        rejected = []
        for f in os.listdir(out / name):
            if f.startswith("rejected-"):
                rejected += _jsonl_gz(out / name / f)
        assert len(rejected) == sum(source["dropped"].values()), name
        assert all(r["reason"] in source["dropped"] and r["text"] for r in rejected)


def test_report_is_written(prepped):
    out, summary = prepped
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["documents_in"] == sum(
        s["documents_in"] for s in report["sources"].values())
    html = (out / "report.html").read_text()
    # funnel, language, dedup, quality-score and contamination charts
    assert html.count("data:image/png;base64,") == 5
    assert "Deduplication" in html
    assert set(report["dedup"]) == {"exact", "near"}
    model = report["quality_classifier"]["quality_model"]
    assert "Quality classifier" in html and model["model_version"] in html
    assert f"held-out AUC {model['heldout_auc']:.4f}" in html
    assert set(report["quality_classifier"]["quality_scores"]["sources"]) == {"webpages",
                                                                             "web_wet"}
    assert "Decontamination" in html and "demo_eval" in html
    assert report["decontamination"]["eval_sets"]["demo_eval"]["documents_contaminated"] > 0
    assert report["corpus_stages"] == ["dedup", "quality_classifier", "decontamination"]
    funnel_stages = [stage for stage, _ in report["sources"]["webpages"]["funnel"]]
    assert funnel_stages.index("dedup") < funnel_stages.index("quality_classifier")
    for name in summary["sources"]:
        assert name in html


def _all_records(out):
    """Every document at the end of the job: kept ones and rejected ones (with reason)."""
    records = {}
    for name in os.listdir(out):
        if not (out / name / "manifest.json").exists():  # not a source folder
            continue
        for doc in _read_docs(out / name):
            records[doc["id"]] = dict(doc, reason=None)
        for f in os.listdir(out / name):
            if f.startswith("rejected-"):
                for r in _jsonl_gz(out / name / f):
                    records[r["id"]] = r
    return records


def test_planted_duplicates_are_removed_across_sources(corpus, prepped):
    """Ground truth from the generator: every whole-document copy whose two sides survive the
    per-document stages loses exactly one side to dedup, pointing at the other; near copies
    do when their true Jaccard reaches the threshold; and nothing outside the planted groups
    is removed as a duplicate (precision 1 on this corpus)."""
    out, summary = prepped
    truth = json.loads((corpus / "ground_truth.json").read_text())
    records = _all_records(out)
    threshold = 0.8
    pairs = [(p["doc_id"], p["details"]["original"]["doc_id"], p["category"])
             for p in truth["planted"] if p["category"] in ("exact_duplicate", "near_duplicate")]
    groups = reference_components([(a, b) for a, b, _ in pairs])
    should, found = 0, 0
    for copy, original, category in pairs:
        a, b = records.get(copy), records.get(original)
        if not a or not b or any(r["reason"] and not r["reason"].startswith("dedup.")
                                 for r in (a, b)):
            continue  # one side was dropped by a quality rule first
        similarity = minhash.jaccard(minhash.shingles(a["text"]), minhash.shingles(b["text"]))
        if category == "near_duplicate" and similarity < threshold and \
                a["role"] != "code":
            assert not (a["reason"] or b["reason"]), (copy, original, similarity)
            continue
        should += 1
        removed = [r for r in (a, b) if r["reason"]]
        if len(removed) == 1:
            found += 1
            assert removed[0]["meta"]["duplicate_of"] in (copy, original)
    assert should >= 8 and found == should
    removals = [r for r in records.values() if (r["reason"] or "").startswith("dedup.")]
    for r in removals:
        kept = r["meta"]["duplicate_of"]
        assert groups.get(r["id"]) is not None and groups.get(r["id"]) == groups.get(kept), r
        # The keeper survives dedup; a later corpus stage may still drop it on its merits.
        assert (records[kept]["reason"] or "quality_classifier.").startswith(
            ("quality_classifier.", "decontamination.")), records[kept]["reason"]
    by_source = {}
    for r in removals:
        by_source[r["source"]] = by_source.get(r["source"], 0) + 1
    for name, source in summary["sources"].items():
        dedup_drops = sum(n for k, n in source["dropped"].items() if k.startswith("dedup."))
        assert dedup_drops == by_source.get(name, 0), name
    near = json.loads((out / "dedup" / "near.json").read_text())
    assert near["components"]["converged"] and near["removed"] == sum(
        near["removed_per_source"].values())


def test_planted_contamination_is_removed_and_nothing_else(corpus, prepped):
    """Ground truth from the generator: each planted document shares a 16-word span with one
    evaluation-set text and no other document does. Every planted one that reaches the stage
    is removed as `decontamination.demo_eval`, nothing else is, and the counts agree."""
    out, summary = prepped
    truth = json.loads((corpus / "ground_truth.json").read_text())["contamination"]
    planted = {c["doc_id"] for c in truth["contaminated"]}
    records = _all_records(out)
    removed = {i for i, r in records.items() if (r["reason"] or "").startswith("decontamination")}
    reached = {i for i in planted if i in records and (
        records[i]["reason"] is None or records[i]["reason"].startswith("decontamination"))}
    assert len(reached) >= 8
    assert removed == reached
    assert all(records[i]["reason"] == "decontamination.demo_eval" for i in removed)
    assert all(records[i]["meta"]["contaminated_by"] == ["demo_eval"] for i in removed)
    stats = json.loads((out / "decontamination" / "decontamination.json").read_text())
    demo = stats["eval_sets"]["demo_eval"]
    assert demo["documents_contaminated"] == len(removed)
    assert demo["texts"] == truth["texts"] and demo["texts_too_short"] >= 1
    for name, source in summary["sources"].items():
        mine = sum(1 for i in removed if records[i]["source"] == name)
        assert source["dropped"].get("decontamination.demo_eval", 0) == mine, name
        assert stats["sources"][name]["by_eval_set"]["demo_eval"] == mine, name
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["decontamination"]["contamination"].get("demo_eval", 0) == mine
        assert manifest["decontamination"]["checked"] == stats["sources"][name]["checked"]


def test_quality_classifier_scores_and_filters_the_web_sources(prepped):
    out, summary = prepped
    folder = out / "quality_classifier"
    assert sorted(os.listdir(folder)) == ["quality_model.json", "quality_model.npz",
                                          "quality_scores.json"]
    model = json.loads((folder / "quality_model.json").read_text())
    assert 0.0 <= model["heldout_auc"] <= 1.0 and model["trained"]
    assert model["model_path"] == str(folder / "quality_model.npz")
    assert model["samples"]["positive"] > 0 and model["samples"]["negative"] > 0
    scores = json.loads((folder / "quality_scores.json").read_text())
    assert scores["model_version"] == model["model_version"] and scores["keep"] == "pareto"
    records = _all_records(out)
    for name in ("webpages", "web_wet"):
        data = scores["sources"][name]
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["quality_classifier"]["scored"] == data["scored"] == sum(
            data["histogram"])
        assert summary["sources"][name]["dropped"]["quality_classifier.pareto"] == \
            data["dropped"] > 0
        assert data["kept"] > 0  # the demo's alpha keeps part of the web, not 0.2 %
        rejected = [r for r in records.values() if r["source"] == name
                    and r["reason"] == "quality_classifier.pareto"]
        assert len(rejected) == data["dropped"]
        assert all(0.0 <= r["meta"]["quality_score"] <= 1.0 for r in rejected)
    # Sources that are not scored lose nothing to the classifier.
    for name in ("books", "wikipedia", "news", "conversations", "code"):
        assert not any(k.startswith("quality_classifier")
                       for k in summary["sources"][name]["dropped"])


def test_rerun_skips_completed_sources_and_config_change_redoes_all(corpus, prepped,
                                                                    tmp_path):
    out, _ = prepped
    before = _shard_digests(out)
    last_report = {name: (out / name).read_bytes() for name in ("report.json", "report.html")}
    summary = prep.run(["--sources", str(corpus / "sources.yaml"), "--output_dir", str(out)])
    assert summary["ran"] == [] and len(summary["skipped"]) == len(summary["sources"])
    assert summary["report_rewritten"] is False
    assert _shard_digests(out) == before
    # a run that did nothing leaves the last report (what ran, how long) as it was
    assert {name: (out / name).read_bytes() for name in last_report} == last_report

    # Dedup ties the sources together: changing one source's config redoes all of them,
    # and so does a source left incomplete by a crash.
    spec = yaml.safe_load((corpus / "sources.yaml").read_text())
    spec["decontamination"]["eval_sets"] = {"demo_eval": str(corpus / demo_corpus.EVAL_FILE)}
    for source in spec["sources"]:
        source["paths"] = [os.path.join(str(corpus), p) for p in source["paths"]]
        if source["name"] == "news":
            source["steps"] = {"c4": False}
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(spec))
    todo, skipped = prep.plan_sources(load_spec(str(changed)), str(out))
    assert [s.name for s in todo] == [s["name"] for s in spec["sources"]] and not skipped
    original = load_spec(str(corpus / "sources.yaml"))
    partial = tmp_path / "partial"  # as if the job had died before publishing books
    for source in original.sources:
        if source.name != "books":
            (partial / source.name).mkdir(parents=True)
            shutil.copy(out / source.name / "manifest.json", partial / source.name)
    todo, skipped = prep.plan_sources(original, str(partial))
    assert len(todo) == len(original.sources) and not skipped
    spec["dedup"] = False
    changed.write_text(yaml.safe_dump(spec))
    without = load_spec(str(changed))
    assert all(without.source_config_hash(s) != original.source_config_hash(s)
               for s in original.sources)

    # The same spec elsewhere (absolute paths) is still complete; an edited evaluation set
    # redoes every source although the spec text is the same.
    spec = yaml.safe_load((corpus / "sources.yaml").read_text())
    for source in spec["sources"]:
        source["paths"] = [os.path.join(str(corpus), p) for p in source["paths"]]
    eval_file = corpus / demo_corpus.EVAL_FILE
    spec["decontamination"]["eval_sets"] = {"demo_eval": str(eval_file)}
    moved = tmp_path / "moved.yaml"
    moved.write_text(yaml.safe_dump(spec))
    todo, skipped = prep.plan_sources(load_spec(str(moved)), str(out))
    assert not todo and len(skipped) == len(spec["sources"])
    original_eval = eval_file.read_bytes()
    try:
        eval_file.write_bytes(original_eval + b'{"id": "new", "text": "a new question"}\n')
        todo, skipped = prep.plan_sources(load_spec(str(moved)), str(out))
    finally:
        eval_file.write_bytes(original_eval)
    assert len(todo) == len(spec["sources"]) and not skipped


def test_same_bytes_with_one_or_two_workers(corpus, prepped, tmp_path):
    out, _ = prepped
    single = tmp_path / "single"
    prep.run(["--sources", str(corpus / "sources.yaml"), "--output_dir", str(single),
              "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    two = _shard_digests(out)
    one = _shard_digests(single)
    for folder in ("dedup/", "quality_classifier/", "decontamination/"):
        assert any(k.startswith(folder) for k in one), folder
    assert one == two


def test_invalid_spec_fails_before_running(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"sources": [
        {"name": "web", "role": "webpages", "format": "jsonl", "paths": ["missing/*.jsonl"]}]}))
    assert prep.main(["--sources", str(spec), "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "web" in err and "missing/*.jsonl" in err
    assert not os.path.exists(tmp_path / "out" / "web")


def test_a_misspelt_flag_is_an_error_that_names_the_nearest_flag(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    spec.write_text(yaml.safe_dump({"sources": [
        {"name": "web", "role": "webpages", "format": "jsonl", "paths": ["in.jsonl"]}]}))
    base = ["--sources", str(spec), "--output_dir", str(tmp_path / "out")]
    assert prep.main(base + ["--forse"]) == 2
    assert "unknown flag --forse; did you mean --force?" in capsys.readouterr().err
    assert prep.main(base + ["--direct_num_worker=2"]) == 2
    assert "did you mean --direct_num_workers?" in capsys.readouterr().err
    assert prep.main(base + ["--outp", "x"]) == 2  # no abbreviations of our own flags either
    assert not os.path.exists(tmp_path / "out")
