"""The prep job says what was dropped: a rule that removes most of a source is a warning on the
console and in the report (with examples), a source that ends empty (a wrong text_field) exits
non-zero unless the spec allows it, and the report carries a bytes funnel and per-rule lines
and bytes."""

from __future__ import annotations

import json

import yaml

from pipeline import prep

PROSE = (
    "The old lighthouse stood at the edge of the cliff, watching over the harbor with patient "
    "attention. Every evening the keeper climbed the narrow stairs to light the lamp, and every "
    "morning he wrote a short note in his logbook about the weather and the ships that passed. "
    "Visitors often asked him whether he felt lonely, but he always said that the sea was "
    "company enough for a man who liked quiet work and the sound of the waves at night.")


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_warnings_examples_and_exit_status(tmp_path, capsys):
    good = [{"text": f"{PROSE} Entry {i} of the logbook was written with care and with ink."}
            for i in range(4)]
    short = [{"text": f"Menu item {i}: home, about and contact."} for i in range(6)]
    _write_jsonl(tmp_path / "web.jsonl", good + short)
    _write_jsonl(tmp_path / "notes.jsonl", [{"body": PROSE} for _ in range(3)])
    spec = {"dedup": False, "sources": [
        {"name": "web", "role": "books", "format": "jsonl", "paths": ["web.jsonl"],
         "languages": ["en"]},
        {"name": "notes", "role": "books", "format": "jsonl", "paths": ["notes.jsonl"]}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    args = ["--sources", str(tmp_path / "spec.yaml"), "--output_dir", str(tmp_path / "out"),
            "--direct_running_mode=in_memory", "--direct_num_workers=1"]
    assert prep.main(args) == 1
    captured = capsys.readouterr()
    assert "source notes: no document was read" in captured.err
    assert "text_field" in captured.err
    (rates,) = [line for line in captured.out.splitlines()
                if line.startswith("throughput per step and stage (documents per CPU-second")]
    # every active step is listed, boilerplate (its own Beam expansion) included, in run order
    listed = [part.rsplit(" ", 1)[0] for part in rates.split("): ", 1)[1].split(", ")]
    assert listed == ["normalize", "langid", "boilerplate", "gopher_repetition",
                      "gopher_quality", "pii"]
    assert "WARNING: source web: rule gopher_repetition removed 6 of 10 documents (60.0 %, " \
        in captured.out

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    kinds = {(w["source"], w["kind"]): w for w in report["warnings"]}
    assert kinds[("notes", "source_empty")]["fatal"]
    assert not kinds[("web", "rule_removed_most")]["fatal"]
    web = report["sources"]["web"]
    assert web["step_documents"]["langid"] == 10 and web["step_documents"]["gopher_quality"] == 4
    assert web["step_seconds"]["langid"] > 0
    removed = web["removed_by_rule"]["gopher_repetition"]
    assert removed["documents"] == 6 and removed["lines"] == 6
    assert removed["bytes"] == sum(len(r["text"].encode()) for r in short)
    examples = web["examples"]["gopher_repetition.top_2_gram"]
    assert len(examples) == 3 and examples[0]["excerpt"].startswith("Menu item")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "What each rule removed" in html and "Menu item" in html and "bytes kept" in html

    # The spec may say that a source can end empty; one rule over a stricter share warns too.
    spec["sources"][1]["allow_empty"] = True
    spec["max_rule_drop_share"] = 0.9
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert prep.main(args) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(w["kind"], w["fatal"]) for w in report["warnings"]] == [("source_empty", False)]
