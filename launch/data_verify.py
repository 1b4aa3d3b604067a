"""Verify a data directory against the sizes and CRC32Cs its manifest lists (the sibling of
launch.checkpoint_verify, for the data the project writes; pipeline/file_checksums.py).

    python -m launch.data_verify DIR

DIR is detected by what it holds:
- a prep output (`python -m pipeline.prep`): `<source>/manifest.json` per source, or one
  source's folder; every published file is listed in the manifest's `checksums` (a folder of
  shards without a manifest is an incomplete source; corpus stages' summaries are not listed);
- a seqio cache (`python -m tasks.cache`): `<task>/COMPLETED` per task, or one task's folder;
  each split's shards are listed in `checksums.<split>.json` beside `info.<split>.json`;
- a materialised stream (`python -m tasks.materialize`): `manifest.json` of format
  palm-packed-rows/1, whose `shards` list each file's bytes and crc32c.
Exit status: 0 every file verifies; 1 something is damaged or missing (each bad file and the
check it failed are printed); 2 bad usage (no such directory, or not one of the above).
"""

from __future__ import annotations

import argparse
import json
import sys

from launch.run import paths
from pipeline.file_checksums import Problem, verify_files

PREP_MANIFEST = STREAM_MANIFEST = "manifest.json"
STREAM_FORMAT = "palm-packed-rows/1"  # tasks/stream_format.py FORMAT
COMPLETED = "COMPLETED"


class UsageError(ValueError):
    pass


def _read_json(path: str) -> tuple[dict | None, Problem | None]:
    name = path.rsplit("/", 1)[-1]
    try:
        data = json.loads(paths.read_text(path))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data, None
    except (ValueError, UnicodeDecodeError) as e:
        return None, Problem(name, "manifest", f"unreadable: {e}")


def _prefixed(problems: list[Problem], folder: str) -> list[Problem]:
    return [Problem(f"{folder}/{p.file}", p.check, p.detail) for p in problems]


def verify_prep_source(directory: str) -> list[Problem]:
    manifest, problem = _read_json(paths.join(directory, PREP_MANIFEST))
    if problem:
        return [problem]
    if not manifest.get("complete"):
        return [Problem(PREP_MANIFEST, "completion marker", "the manifest is not complete")]
    listing = manifest.get("checksums")
    if not isinstance(listing, dict):
        return [Problem(PREP_MANIFEST, "manifest", "no checksums: written before they existed "
                        "(rerun prep to record them)")]
    unlisted = sorted(set(manifest.get("files") or []) - set(listing))
    return ([Problem(n, "manifest", "published but not checksummed") for n in unlisted]
            + verify_files(directory, listing))


def verify_stream(directory: str) -> list[Problem]:
    manifest, problem = _read_json(paths.join(directory, STREAM_MANIFEST))
    if problem:
        return [problem]
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(s, dict) and "file" in s
                                               for s in shards):
        return [Problem(STREAM_MANIFEST, "manifest", "no list of shards")]
    listing = {s["file"]: {k: s[k] for k in ("bytes", "crc32c") if k in s} for s in shards}
    return verify_files(directory, listing)


def verify_seqio_task(directory: str) -> list[Problem]:
    names = paths.listdir(directory)
    problems = []
    if COMPLETED not in names:
        problems.append(Problem(COMPLETED, "completion marker",
                                "absent: the cache job did not finish"))
    splits = sorted(n[len("info."):-len(".json")] for n in names
                    if n.startswith("info.") and n.endswith(".json"))
    for split in splits:
        name = f"checksums.{split}.json"
        if name not in names:
            problems.append(Problem(name, "manifest", "absent: the cache was written without "
                                    "checksums (before they existed, or liquid sharding)"))
            continue
        listing, problem = _read_json(paths.join(directory, name))
        if problem or not isinstance(listing.get("files"), dict):
            problems.append(problem or Problem(name, "manifest", "no files listed"))
            continue
        shards = {n for n in names if n.startswith(f"{split}.tfrecord")}
        problems += [Problem(n, "manifest", "a shard not in the checksums")
                     for n in sorted(shards - set(listing["files"]))]
        problems += verify_files(directory, listing["files"])
    return problems


def kind_of(directory: str) -> str:
    """"prep", "prep source", "seqio cache", "seqio task" or "stream"; UsageError otherwise."""
    if not paths.isdir(directory):
        raise UsageError(f"no such directory: {directory}")
    names = paths.listdir(directory)
    if STREAM_MANIFEST in names:
        manifest, _ = _read_json(paths.join(directory, STREAM_MANIFEST))
        return "stream" if (manifest or {}).get("format") == STREAM_FORMAT else "prep source"
    if COMPLETED in names or any(n.startswith("info.") and n.endswith(".json") for n in names):
        return "seqio task"
    subdirs = [n for n in names if not n.startswith("_") and paths.isdir(paths.join(directory, n))]
    if any(paths.exists(paths.join(directory, n, PREP_MANIFEST)) for n in subdirs):
        return "prep"
    if any(paths.exists(paths.join(directory, n, COMPLETED)) for n in subdirs):
        return "seqio cache"
    raise UsageError(f"{directory} is not a data directory the project writes: no manifest.json "
                     f"(a prep source or a stream), no COMPLETED (a seqio cache task), and no "
                     f"folder holding either")


def verify(directory: str) -> tuple[str, list[Problem]]:
    """(what the directory is, the problems found in it)."""
    kind = kind_of(directory)
    if kind == "stream":
        return kind, verify_stream(directory)
    if kind == "prep source":
        return kind, verify_prep_source(directory)
    if kind == "seqio task":
        return kind, verify_seqio_task(directory)
    per_folder, marker = ((verify_prep_source, PREP_MANIFEST) if kind == "prep"
                          else (verify_seqio_task, COMPLETED))
    problems = []
    for name in sorted(paths.listdir(directory)):
        folder = paths.join(directory, name)
        if name.startswith("_") or not paths.isdir(folder):
            continue
        if paths.exists(paths.join(folder, marker)):
            problems += _prefixed(per_folder(folder), name)
        elif kind == "prep" and any(n.endswith(".tfrecord") for n in paths.listdir(folder)):
            problems.append(Problem(name, "completion marker",
                                    f"no {PREP_MANIFEST}: the source's output is incomplete"))
    return kind, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.data_verify",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="a prep output, seqio cache or stream directory")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    directory = paths.resolve(args.directory)
    try:
        kind, problems = verify(directory)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{directory} ({kind}): {'OK' if not problems else 'FAILED'}")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
