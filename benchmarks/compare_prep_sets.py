"""Compares two prep output folders as sets, for changes that move documents between files but
must not change what is kept (issue 21: files per input unit instead of hash shards).

    python benchmarks/compare_prep_sets.py --base OUT_MAIN --new OUT_BRANCH \
        [--json benchmarks/results/prep_sets_compare.json]

Per source: the examples of each split (train, validation) by id; the rejected records as a
sorted list; the dead-letter bytes; the manifest without the fields that name files, time or
input paths (`files`, `wall_time_s`, `runner`, `beam_options`, `input_units`, `shuffle`,
`config_hash`, `config`, `step_seconds`); every corpus-stage summary (dedup/, quality_classifier/,
decontamination/) as JSON, without path and timing fields. Exit 1 when anything differs.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys

VOLATILE = {"files", "wall_time_s", "runner", "beam_options", "input_units", "shuffle",
            "step_seconds",
            "config_hash", "config"}


def _examples(folder: str, split: str) -> dict[str, str]:
    import tensorflow as tf

    from pipeline import writers

    out = {}
    for path in sorted(glob.glob(os.path.join(folder, f"{split}-*.tfrecord"))):
        for record in tf.data.TFRecordDataset(path):
            doc = writers.parse_example(record.numpy())
            out[doc["id"]] = json.dumps(doc, sort_keys=True)
    return out


def _rejected(folder: str) -> list[str]:
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "rejected-*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows += [json.dumps(json.loads(line), sort_keys=True) for line in f]
    return sorted(rows)


def _read(path: str) -> bytes | None:
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def _manifest(folder: str) -> dict:
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        return {k: v for k, v in json.load(f).items() if k not in VOLATILE}


def compare(base: str, new: str) -> dict:
    result = {"sources": {}, "stage_files": {}}
    sources = sorted(d for d in os.listdir(base)
                     if os.path.exists(os.path.join(base, d, "manifest.json")))
    for source in sources:
        b, n = os.path.join(base, source), os.path.join(new, source)
        row = {}
        for split in ("train", "validation"):
            eb, en = _examples(b, split), _examples(n, split)
            row[split] = {"documents_base": len(eb), "documents_new": len(en),
                          "same_ids": set(eb) == set(en), "same_examples": eb == en}
        rb, rn = _rejected(b), _rejected(n)
        row["rejected"] = {"base": len(rb), "new": len(rn), "same": rb == rn}
        row["dead_letters_same_bytes"] = (_read(os.path.join(b, "dead_letters.jsonl.gz"))
                                          == _read(os.path.join(n, "dead_letters.jsonl.gz")))
        mb, mn = _manifest(b), _manifest(n)
        row["manifest_same"] = mb == mn
        if mb != mn:
            row["manifest_differs"] = sorted(k for k in set(mb) | set(mn)
                                             if mb.get(k) != mn.get(k))
        result["sources"][source] = row
    for stage in ("dedup", "quality_classifier", "decontamination"):
        for path in sorted(glob.glob(os.path.join(base, stage, "*.json"))):
            rel = os.path.relpath(path, base)
            with open(path, encoding="utf-8") as f:
                jb = json.load(f)
            other = os.path.join(new, rel)
            if not os.path.exists(other):
                result["stage_files"][rel] = "missing in new"
                continue
            with open(other, encoding="utf-8") as f:
                jn = json.load(f)
            for d in (jb, jn):
                for key in ("model_path", "path", "wall_time_s", "train_seconds"):
                    d.pop(key, None) if isinstance(d, dict) else None
            result["stage_files"][rel] = "same" if jb == jn else "differs"
    ok = all(r["train"]["same_examples"] and r["validation"]["same_examples"]
             and r["rejected"]["same"] and r["dead_letters_same_bytes"] and r["manifest_same"]
             for r in result["sources"].values()) and all(
        v == "same" for v in result["stage_files"].values())
    result["identical_as_sets"] = ok
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    result = compare(args.base, args.new)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if result["identical_as_sets"] else 1


if __name__ == "__main__":
    sys.exit(main())
