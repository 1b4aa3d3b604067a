"""Completion markers, staging and atomic publication of each source's outputs.

A source's folder is complete exactly when its `manifest.json` exists with `"complete": true`
and the config hash of the current spec. Outputs are written to `_staging/<source>/` and only
published after the whole pipeline succeeded: delete the old manifest first, then the old
files, move the staged files in, and write the new manifest last (through a temporary name
and a rename). A crash at any point leaves no manifest, so the source is redone next time;
a complete-looking folder is always really complete. The manifest lists every file's size and
CRC32C (`checksums`), which `python -m launch.data_verify` checks.
"""

from __future__ import annotations

from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import file_checksums, json_files, writers
from pipeline import publish as publishing

MANIFEST = "manifest.json"
STAGING = publishing.STAGING
prepare_staging = publishing.prepare_staging
staging_dir = publishing.staging_dir
remove_empty_staging = publishing.remove_empty_staging


def source_dir(output_dir: str, source: str) -> str:
    return FileSystems.join(output_dir, source)


def read_manifest(output_dir: str, source: str) -> dict[str, Any] | None:
    try:
        return json_files.read_json(FileSystems.join(source_dir(output_dir, source), MANIFEST))
    except ValueError:
        return None


def is_complete(output_dir: str, source: str, config_hash: str) -> bool:
    manifest = read_manifest(output_dir, source)
    return bool(manifest and manifest.get("complete") and
                manifest.get("config_hash") == config_hash)


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
    old_manifest = FileSystems.join(final, MANIFEST)
    publishing.delete_tree(old_manifest)  # first: a crash from here on leaves no manifest
    names = publishing.publish_folder(output_dir, source)
    # Size and CRC32C of every file, checked by python -m launch.data_verify.
    manifest = dict(manifest, complete=True, files=names,
                    checksums=file_checksums.checksum_files(final, names))
    tmp = FileSystems.join(final, MANIFEST + ".tmp")
    json_files.write_json(tmp, manifest)
    FileSystems.rename([tmp], [old_manifest])
    return final
