"""Completion markers, staging and atomic publication of each source's outputs.

A source's folder is complete exactly when its `manifest.json` exists with `"complete": true`
and the config hash of the current spec. Outputs are written to `_staging/<source>/` and only
published after the whole pipeline succeeded: delete the old manifest first, then the old
files, move the staged files in, and write the new manifest last (through a temporary name
and a rename). A crash at any point leaves no manifest, so the source is redone next time;
a complete-looking folder is always really complete.
"""

from __future__ import annotations

import json
import os
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import writers

MANIFEST = "manifest.json"
STAGING = "_staging"


def source_dir(output_dir: str, source: str) -> str:
    return FileSystems.join(output_dir, source)


def staging_dir(output_dir: str, source: str) -> str:
    return FileSystems.join(output_dir, STAGING, source)


def read_manifest(output_dir: str, source: str) -> dict[str, Any] | None:
    path = FileSystems.join(source_dir(output_dir, source), MANIFEST)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        try:
            return json.loads(f.read().decode("utf-8"))
        except ValueError:
            return None


def is_complete(output_dir: str, source: str, config_hash: str) -> bool:
    manifest = read_manifest(output_dir, source)
    return bool(manifest and manifest.get("complete") and
                manifest.get("config_hash") == config_hash)


def _delete_tree(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def prepare_staging(output_dir: str, source: str) -> str:
    """An empty staging folder for the source (leftovers of a crashed run are removed)."""
    path = staging_dir(output_dir, source)
    _delete_tree(path)
    FileSystems.mkdirs(path)
    return path


def fill_missing_shards(staged: str, shard_counts: dict[str, int]) -> None:
    """Shards that received no record still exist (as valid empty files), so readers always
    find exactly N files of a split named `-of-N`."""
    expected = [writers.shard_name(kind, i, n)
                for kind, n in shard_counts.items() for i in range(n)]
    expected.append(writers.DEAD_LETTERS_FILE)
    for name in expected:
        path = FileSystems.join(staged, name)
        if FileSystems.exists(path):
            continue
        if name.endswith(".tfrecord"):
            writers.write_tfrecord(path, [])
        else:
            writers.write_jsonl_gz(path, [])


def publish(output_dir: str, source: str, manifest: dict[str, Any]) -> str:
    """Moves the staged files into the source's folder and writes its manifest last."""
    final = source_dir(output_dir, source)
    staged = staging_dir(output_dir, source)
    old_manifest = FileSystems.join(final, MANIFEST)
    if FileSystems.exists(old_manifest):
        FileSystems.delete([old_manifest])
    _delete_tree(final)
    FileSystems.mkdirs(final)
    names = sorted(os.path.basename(m.path) for m in
                   FileSystems.match([FileSystems.join(staged, "*")])[0].metadata_list)
    FileSystems.rename([FileSystems.join(staged, n) for n in names],
                       [FileSystems.join(final, n) for n in names])
    _delete_tree(staged)
    manifest = dict(manifest, complete=True, files=names)
    tmp = FileSystems.join(final, MANIFEST + ".tmp")
    with FileSystems.create(tmp) as f:
        f.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
    FileSystems.rename([tmp], [old_manifest])
    return final


def remove_empty_staging(output_dir: str) -> None:
    """Removes `_staging/` once every source in it has been published."""
    root = FileSystems.join(output_dir, STAGING)
    if FileSystems.exists(root) and not FileSystems.match(
            [FileSystems.join(root, "**")])[0].metadata_list:
        FileSystems.delete([root])
