"""Examples of the lines a line rule removed (C4's line checks, boilerplate) reach report.json
and report.html beside the lines and bytes removed per source and rule; the examples are chosen
by a fixed rank, so every run and every bundling picks the same ones."""

from __future__ import annotations

import json
import random

import yaml

from pipeline import prep
from pipeline.document import document_id
from pipeline.step_runner import RemovedLineSampler, example_rank

STORY = ("The keeper climbed the narrow stairs every evening to light the lamp for the ships. "
         "He wrote a short note in his logbook about the weather and the boats that passed by. "
         "Visitors asked whether he felt lonely, and he said the sea was company enough for him.")
NOTICE = ("This page is part of the harbour archive, and copies may be shared freely with "
          "anyone who keeps this notice.")


def _page(i: int) -> str:
    return "\n\n".join([
        f"Harbour log {i}",                        # a heading: C4 removes it (no full stop)
        f"On day {i} of the season the weather was calm. {STORY}",
        NOTICE,                                    # in every page: boilerplate removes it
        f"Share on social media {i}",              # C4 again
    ])


def test_removed_lines_are_counted_and_shown_with_examples(tmp_path):
    records = [{"id": f"page-{i:02d}", "text": _page(i)} for i in range(8)]
    (tmp_path / "web.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records),
                                        encoding="utf-8")
    spec = {"dedup": False, "sources": [
        {"name": "web", "role": "webpages", "format": "jsonl", "paths": ["web.jsonl"],
         "id_field": "id", "languages": ["en"]}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert prep.main(["--sources", str(tmp_path / "spec.yaml"), "--output_dir", str(out),
                      "--direct_running_mode=in_memory", "--direct_num_workers=1"]) == 0

    web = json.loads((out / "report.json").read_text())["sources"]["web"]
    assert web["documents_out"]["train"] + web["documents_out"]["validation"] == 8
    assert web["lines_removed"]["boilerplate.repeated_line"] == 8
    assert web["bytes_removed"]["boilerplate.repeated_line"] == 8 * (len(NOTICE) + 1)
    # Two headings per page, plus the blank lines between paragraphs (C4 counts a blank
    # line as a line without terminal punctuation, as datatrove does; one byte each).
    headings = sum(len(f"Harbour log {i}") + len(f"Share on social media {i}") + 2
                   for i in range(8))
    blank = web["lines_removed"]["c4.no_terminal_punct"] - 16
    assert 0 <= blank <= 8 * 3
    assert web["bytes_removed"]["c4.no_terminal_punct"] == headings + blank

    examples = web["removed_line_examples"]
    assert set(examples) == {"boilerplate.repeated_line", "c4.no_terminal_punct"}
    ids = [document_id("web", r["id"]) for r in records]
    for reason, found in examples.items():
        # the three documents of smallest rank for the reason, in rank order
        expected = sorted(ids, key=lambda d: example_rank(d, reason))[:3]
        assert [x["id"] for x in found] == expected
    assert all(x["excerpt"] == NOTICE and x["lines"] == 1
               for x in examples["boilerplate.repeated_line"])
    assert all(x["excerpt"].startswith("Harbour log ")
               for x in examples["c4.no_terminal_punct"])
    assert json.loads((out / "web" / "removed_lines.json").read_text()) == examples

    html = (out / "report.html").read_text()
    assert "examples of removed lines" in html and "Lines removed by line rules" in html
    assert NOTICE in html and "c4.no_terminal_punct" in html


def test_the_sampler_keeps_the_smallest_ranks_whatever_the_order_and_split():
    docs = [{"id": f"doc-{i}", "lang": "en"} for i in range(200)]
    expected = sorted((d["id"] for d in docs), key=lambda d: example_rank(d, "c4.x"))[:3]
    for seed in range(3):
        order = docs[:]
        random.Random(seed).shuffle(order)
        emitted = []
        for worker in (order[:70], order[70:]):         # two workers, each its own heap
            sampler = RemovedLineSampler(k=3)
            for doc in worker:
                emitted += [tagged.value[1] for tagged in
                            sampler.candidates(doc, {"c4.x": "a removed line"})]
        assert len(emitted) < 60                        # far fewer than one per document
        best = sorted(emitted, key=lambda c: c["rank"])[:3]
        assert [c["id"] for c in best] == expected
