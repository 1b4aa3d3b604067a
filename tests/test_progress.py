"""Progress while a job runs: worker-side tickers write running totals to a folder the
launcher polls; the launcher logs documents so far and per second, per stage. Checked on its
parts and on a small prep job on the DirectRunner in multi-processing mode, as the demo runs."""

from __future__ import annotations

import json
import logging

import yaml

from pipeline import prep, progress


def test_tickers_totals_and_line(tmp_path):
    a, b = progress.Ticker(str(tmp_path)), progress.Ticker(str(tmp_path))
    for _ in range(100):
        a.tick("read")
    for _ in range(40):
        b.tick("read")
        b.tick("langid")
    b.tick("written", 30)
    a.flush(), b.flush()
    totals = progress.read_totals(str(tmp_path))
    assert totals == {"read": 140, "langid": 40, "written": 30}
    line = progress.progress_line("prep", totals, {"read": 40}, 2.0, 75.0,
                                  order=["read", "langid", "written"])
    assert line == "prep progress 1:15  read 140 (50/s) | langid 40 (20/s) | written 30 (15/s)"


def test_a_ticker_without_a_monitor_ticks_nothing(tmp_path):
    assert progress.current_dir() is None
    ticker = progress.Ticker(progress.current_dir())
    ticker.tick("read")
    ticker.flush()
    assert ticker.counts == {}


def test_a_remote_runner_gets_no_folder_and_a_pointer_to_its_ui(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.progress")
    with progress.ProgressMonitor("prep", "DataflowRunner", interval_s=1) as monitor:
        assert monitor.directory is None and progress.current_dir() is None
    assert "runner's own UI" in caplog.text


def test_prep_logs_progress_per_stage_while_it_runs(tmp_path, caplog):
    sentences = [
        "The keeper climbed the narrow stairs every evening to light the lamp for the ships.",
        "He wrote a short note in his logbook about the weather and the boats that passed.",
        "Visitors asked whether he felt lonely, and he said the sea was company enough.",
        "In winter the storms came from the north and the waves broke over the harbour wall.",
        "His daughter brought bread and news from the village on the first day of each month.",
        "The old lens had been made in Paris and was polished with great care every week.",
    ]
    records = [{"text": f"Entry {i} of the logbook. " + " ".join(
        sentences[(i + k) % len(sentences)] for k in range(5))} for i in range(300)]
    (tmp_path / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    spec = {"dedup": False, "sources": [
        {"name": "notes", "role": "books", "format": "jsonl", "paths": ["notes.jsonl"]}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    caplog.set_level(logging.INFO, logger="pipeline.progress")
    assert prep.main(["--sources", str(tmp_path / "spec.yaml"),
                      "--output_dir", str(tmp_path / "out"), "--progress_seconds=0.2",
                      "--direct_running_mode=multi_processing",
                      "--direct_num_workers=2"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    assert len(lines) >= 2, lines                        # during the run, and the final one
    assert all(line.startswith("prep progress ") for line in lines)
    final = lines[-1]
    kept = json.loads((tmp_path / "out" / "report.json").read_text())["totals"]["documents_out"]
    assert "read 300 (" in final and "langid 300 (" in final and f"written {kept:,} (" in final
    assert final.index("read") < final.index("langid") < final.index("written")
    assert progress.current_dir() is None                # the folder is gone with the monitor


def test_the_command_line_prints_the_progress_lines(tmp_path):
    """As a user runs it: the lines reach stderr (importing Beam had set the root logger to
    WARNING, which silenced every INFO line of the command)."""
    import os
    import subprocess
    import sys

    (tmp_path / "notes.jsonl").write_text("".join(
        json.dumps({"text": f"Note {i}: the keeper lit the lamp and wrote in the logbook."})
        + "\n" for i in range(20)))
    spec = {"dedup": False, "sources": [
        {"name": "notes", "role": "books", "format": "jsonl", "paths": ["notes.jsonl"],
         "allow_empty": True}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.prep", "--sources", str(tmp_path / "spec.yaml"),
         "--output_dir", str(tmp_path / "out"), "--progress_seconds=0.2",
         "--direct_running_mode=in_memory"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=root), cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "prep progress" in done.stderr and "read 20 (" in done.stderr
