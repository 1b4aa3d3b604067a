"""Compares two `make demo` output folders: are the prep, tokenizer and cache outputs the same
bytes, and are the training losses the same numbers?

    python benchmarks/compare_demo_outputs.py --base /tmp/demo_base --new /tmp/stages_demo \
        [--replace /work/main=/work/wt/stages] [--json benchmarks/results/demo_outputs.json]

Every file under prep/, tokenizer/ and cache/ is compared byte for byte. A JSON file whose
bytes differ is compared again after normalisation: the two output folders' paths (and any
--replace pair) are replaced by placeholders and timing fields (wall_time_s, train_seconds)
are dropped; the table says which files needed it and which keys differed. A source's
`config_hash` covers its input paths, so it differs between two output folders; it is checked
instead by recomputing the base run's hashes from the base run's own spec with this checkout's
code (`--check_config_hash`, needs the repository on PYTHONPATH), and dropped when they agree.
Losses: every `*loss*` value of every record of runs/tiny/metrics.jsonl must be equal (exact
floats).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

FOLDERS = ("prep", "tokenizer", "cache")
TIMING_KEYS = {"wall_time_s", "train_seconds"}
HASH_KEYS = {"config_hash"}


def _files(root: str) -> set[str]:
    out = set()
    for folder in FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            out.update(os.path.relpath(os.path.join(dirpath, n), root) for n in names)
    return out


def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _normalised(path: str, replacements: list[tuple[str, str]], drop: set[str]) -> Any:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for old, new in replacements:
        text = text.replace(old, new)
    return _drop(json.loads(text), drop)


def _drop(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_drop(v, keys) for v in value]
    return value


def check_config_hashes(base: str) -> dict[str, Any]:
    """The base run's config hashes, recomputed from its spec with this checkout's code."""
    from pipeline.spec import load_spec

    spec = load_spec(os.path.join(base, "raw", "sources.yaml"))
    rows = {}
    for source in spec.sources:
        with open(os.path.join(base, "prep", source.name, "manifest.json"),
                  encoding="utf-8") as f:
            recorded = json.load(f)["config_hash"]
        rows[source.name] = {"recorded": recorded,
                             "recomputed": spec.source_config_hash(source)}
    return {"sources": rows, "agree": all(r["recorded"] == r["recomputed"]
                                          for r in rows.values())}


def _differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = []
        for k in sorted(set(a) | set(b)):
            keys += _differing_keys(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return keys
    return [] if a == b else [prefix or "<root>"]


def compare_files(base: str, new: str, replacements: list[tuple[str, str]],
                  drop: set[str]) -> dict[str, Any]:
    base_files, new_files = _files(base), _files(new)
    rows = []
    for rel in sorted(base_files | new_files):
        if rel not in base_files or rel not in new_files:
            rows.append({"file": rel, "result": "only in " + ("new" if rel in new_files
                                                                else "base")})
            continue
        a, b = os.path.join(base, rel), os.path.join(new, rel)
        if _sha(a) == _sha(b):
            rows.append({"file": rel, "result": "identical"})
            continue
        row = {"file": rel, "result": "differs"}
        if rel.endswith(".json"):
            na = _normalised(a, [(base, "<DEMO>")] + [(o, "<REPO>") for o, _ in replacements],
                             drop)
            nb = _normalised(b, [(new, "<DEMO>")] + [(n, "<REPO>") for _, n in replacements],
                             drop)
            changed = _differing_keys(_raw_keys(a), _raw_keys(b))
            if na == nb:
                row = {"file": rel, "result": "same after normalisation",
                       "raw_differences": changed}
            else:
                row["differing_keys"] = _differing_keys(na, nb)
        rows.append(row)
    return {"files": rows}


def _raw_keys(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def compare_losses(base: str, new: str) -> dict[str, Any]:
    def records(root):
        with open(os.path.join(root, "runs", "tiny", "metrics.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    if not all(os.path.exists(os.path.join(r, "runs", "tiny", "metrics.jsonl"))
               for r in (base, new)):
        return {"records_base": 0, "records_new": 0, "loss_values_compared": 0,
                "mismatches": [], "mismatch_count": 0, "identical": False,
                "missing": "runs/tiny/metrics.jsonl"}
    a, b = records(base), records(new)
    values = 0
    mismatches = []
    for ra, rb in zip(a, b):
        keys = sorted(k for k in set(ra) | set(rb) if "loss" in k)
        for k in keys:
            values += 1
            if ra.get(k) != rb.get(k):
                mismatches.append({"step": ra.get("step"), "kind": ra.get("kind"), "key": k,
                                   "base": ra.get(k), "new": rb.get(k)})
    return {"records_base": len(a), "records_new": len(b), "loss_values_compared": values,
            "mismatches": mismatches[:20], "mismatch_count": len(mismatches),
            "identical": len(a) == len(b) and not mismatches}


def table(result: dict[str, Any]) -> str:
    lines = [f"{'folder':<10}{'files':>7}{'identical':>11}{'normalised':>12}{'differ':>8}"]
    for folder in FOLDERS:
        rows = [r for r in result["files"] if r["file"].split(os.sep)[0] == folder]
        count = {k: sum(r["result"] == k for r in rows)
                 for k in ("identical", "same after normalisation")}
        differ = len(rows) - sum(count.values())
        lines.append(f"{folder:<10}{len(rows):>7}{count['identical']:>11}"
                     f"{count['same after normalisation']:>12}{differ:>8}")
    for r in result["files"]:
        if r["result"] != "identical":
            detail = r.get("differing_keys") or r.get("raw_differences") or ""
            lines.append(f"  {r['file']}: {r['result']} {detail}")
    hashes = result.get("config_hashes")
    if hashes:
        lines.append(f"config hashes of the base run recomputed with this code: "
                     f"{'all agree' if hashes['agree'] else 'DIFFER'} "
                     f"({len(hashes['sources'])} sources)")
    losses = result["losses"]
    lines.append(f"losses: {losses['loss_values_compared']} values in "
                 f"{losses['records_base']}/{losses['records_new']} records, "
                 f"{'identical' if losses['identical'] else 'DIFFER'} "
                 f"({losses['mismatch_count']} mismatches)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the reference demo output folder")
    parser.add_argument("--new", required=True, help="the demo output folder to check")
    parser.add_argument("--replace", action="append", default=[], metavar="OLD=NEW",
                        help="a path of the base run and the new run's equivalent (e.g. the "
                             "repository checkout each ran from)")
    parser.add_argument("--check_config_hash", action="store_true",
                        help="recompute the base run's config hashes with this checkout")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    replacements = [tuple(r.split("=", 1)) for r in args.replace]
    drop = set(TIMING_KEYS)
    hashes = check_config_hashes(args.base) if args.check_config_hash else None
    if hashes and hashes["agree"]:
        drop |= HASH_KEYS
    result = compare_files(os.path.abspath(args.base), os.path.abspath(args.new), replacements,
                           drop)
    result["config_hashes"] = hashes
    result["losses"] = compare_losses(args.base, args.new)
    result.update(base=args.base, new=args.new, replacements=args.replace,
                  load_average=os.getloadavg())
    print(table(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, sort_keys=True)
    same = result["losses"]["identical"] and all(
        r["result"] in ("identical", "same after normalisation") for r in result["files"])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
