"""A few examples of what each rule dropped, for the report: read back from a source's
rejected-*.jsonl.gz (the audit copy the writers keep), first `per_reason` records per reason in
shard order, each cut to `chars` characters. Reading stops once every reason has its examples,
so a large rejected output costs little.

Examples of the lines a line rule removed from documents it kept (C4's line checks,
boilerplate) cannot be read back from any output, so the job itself picks them
(pipeline/step_runner.py: a few per reason, of fixed pseudo-random rank) and writes them to the
source's `removed_lines.json`, read back here for the report."""

from __future__ import annotations

import gzip
import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import json_files

LINE_EXAMPLES_FILE = "removed_lines.json"


def drop_examples(source_dir: str, reasons: list[str], per_reason: int = 3,
                  chars: int = 300) -> dict[str, list[dict[str, Any]]]:
    """reason -> [{"id", "lang", "chars", "excerpt"}] for the reasons given."""
    wanted = set(reasons)
    out: dict[str, list[dict[str, Any]]] = {r: [] for r in reasons}
    pattern = FileSystems.join(source_dir, "rejected-*.jsonl.gz")
    paths = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    for path in paths:
        if not wanted:
            break
        with FileSystems.open(path, compression_type="uncompressed") as raw, \
                gzip.open(raw, "rt", encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                reason = record.get("reason")
                if reason not in wanted:
                    continue
                text = record.get("text", "")
                out[reason].append({"id": record.get("id"), "lang": record.get("lang"),
                                    "chars": len(text), "excerpt": text[:chars]})
                if len(out[reason]) >= per_reason:
                    wanted.discard(reason)
                    if not wanted:
                        break
    return out


def write_line_examples(examples: dict[str, list[dict[str, Any]]], source_dir: str) -> None:
    """reason -> examples of removed lines, as the job picked them, without their ranks."""
    data = {reason: [{k: v for k, v in x.items() if k != "rank"} for x in found]
            for reason, found in examples.items()}
    json_files.write_json(FileSystems.join(source_dir, LINE_EXAMPLES_FILE), data,
                          indent=1, ensure_ascii=False)


def read_line_examples(source_dir: str) -> dict[str, list[dict[str, Any]]]:
    """reason -> [{"id", "lang", "lines", "excerpt"}]; {} when the source has none."""
    return json_files.read_json(FileSystems.join(source_dir, LINE_EXAMPLES_FILE)) or {}
