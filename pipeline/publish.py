"""Publishing from staging: a job writes into `<output_dir>/_staging/<folder>/` and, once it
succeeded, moves the files to `<output_dir>/<folder>/`. Every output folder (a source's shards,
a corpus stage's summaries) is published by `publish_folder`, so a crash leaves either the old
folder or the staged one, never a mix that looks complete."""

from __future__ import annotations

import os

from apache_beam.io.filesystems import FileSystems

STAGING = "_staging"


def staging_dir(output_dir: str, folder: str) -> str:
    return FileSystems.join(output_dir, STAGING, folder)


def delete_tree(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def prepare_staging(output_dir: str, folder: str) -> str:
    """An empty staging folder (leftovers of a crashed run are removed)."""
    path = staging_dir(output_dir, folder)
    delete_tree(path)
    FileSystems.mkdirs(path)
    return path


def publish_folder(output_dir: str, folder: str) -> list[str]:
    """Replaces `<output_dir>/<folder>/` by the staged folder's files; returns their names."""
    staged = staging_dir(output_dir, folder)
    final = FileSystems.join(output_dir, folder)
    delete_tree(final)
    FileSystems.mkdirs(final)
    names = sorted(os.path.basename(m.path) for m in
                   FileSystems.match([FileSystems.join(staged, "*")])[0].metadata_list)
    if names:
        FileSystems.rename([FileSystems.join(staged, n) for n in names],
                           [FileSystems.join(final, n) for n in names])
    delete_tree(staged)
    return names


def remove_empty_staging(output_dir: str) -> None:
    """Removes `_staging/` once everything in it has been published."""
    root = FileSystems.join(output_dir, STAGING)
    if FileSystems.exists(root) and not FileSystems.match(
            [FileSystems.join(root, "**")])[0].metadata_list:
        FileSystems.delete([root])
