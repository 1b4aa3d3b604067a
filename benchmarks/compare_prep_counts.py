"""Compares two prep output folders file by file and count by count, for changes to how the
job counts (issue 23: one DropCounter for every step and stage) that must not change what it
writes nor any count it already reported.

    python benchmarks/compare_prep_counts.py --base OUT_MAIN --new OUT_BRANCH \
        [--json benchmarks/results/prep_counts_compare.json]

Every file but the manifests and the report must be byte-identical (corpus-stage summaries
are compared as JSON without path and timing fields). In each manifest, every count the base
has must be equal in the new one; counts only the new one has are listed (expected: the
bytes and lines of corpus-stage drops, the time of steps that were not timed). Exit 1 when
anything differs.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys

# Fields that name paths or time, not counts.
VOLATILE = {"files", "wall_time_s", "runner", "beam_options", "input_units", "shuffle",
            "step_seconds", "config", "model_path", "path", "train_seconds"}
SKIPPED_FILES = {"manifest.json", "report.json", "report.html"}


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _files(root: str) -> dict[str, str]:
    out = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = path
    return out


def _strip(data):
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


def _count_changes(base, new, where: str, out: dict) -> None:
    """Counts in `base` that `new` lacks or changed -> out["changed"]; new keys -> out["added"]."""
    if isinstance(base, dict) and isinstance(new, dict):
        for key in base:
            if key not in new:
                out["changed"].append(f"{where}.{key} (missing)")
            else:
                _count_changes(base[key], new[key], f"{where}.{key}", out)
        out["added"] += [f"{where}.{key}" for key in new if key not in base]
    elif base != new:
        out["changed"].append(f"{where}: {base!r} -> {new!r}")


def compare(base: str, new: str) -> dict:
    fb, fn = _files(base), _files(new)
    result = {"files_compared": 0, "files_differ": [], "files_missing": [],
              "counts_changed": [], "counts_added": []}
    for rel, path in sorted(fb.items()):
        if os.path.basename(rel) in SKIPPED_FILES or rel.startswith("_staging"):
            continue
        if rel not in fn:
            result["files_missing"].append(rel)
            continue
        result["files_compared"] += 1
        if rel.endswith(".json") and rel.split(os.sep)[0] in (
                "dedup", "quality_classifier", "decontamination"):
            with open(path, encoding="utf-8") as f, open(fn[rel], encoding="utf-8") as g:
                same = _strip(json.load(f)) == _strip(json.load(g))
        else:
            same = _digest(path) == _digest(fn[rel])
        if not same:
            result["files_differ"].append(rel)
    changes = {"changed": [], "added": []}
    for rel in sorted(fb):
        if os.path.basename(rel) == "manifest.json" and rel in fn:
            with open(fb[rel], encoding="utf-8") as f, open(fn[rel], encoding="utf-8") as g:
                _count_changes(_strip(json.load(f)), _strip(json.load(g)),
                               os.path.dirname(rel), changes)
    result["counts_changed"], result["counts_added"] = changes["changed"], changes["added"]
    result["same"] = not (result["files_differ"] or result["files_missing"]
                          or result["counts_changed"])
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
              "load_average": os.getloadavg(), "base": args.base, "new": args.new,
              **compare(args.base, args.new)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if result["same"] else 1


if __name__ == "__main__":
    sys.exit(main())
