"""Turning a source's path patterns into sorted `ReadUnit`s, through Beam's FileSystems.

Pattern rules (Beam 2.77 `FileSystems.match`, used for every filesystem):
  * `*` matches within one path component, `**` matches across components (`/` included),
    `?` one character, `[...]` a character class. Beam's own `a/**/b` needs at least one folder
    between `a` and `b`; here `/**/` may also match no folder at all (`data/**/*.jsonl` finds
    `data/x.jsonl` too), as in most glob dialects, by also matching the pattern with `/**/`
    replaced by `/`.
  * A path without glob characters that names a folder means every file under it, recursively;
    one that names a file means that file.
  * For `text_dir` and `code_dir`, a glob names folders (`repos/*` is every repository under
    `repos`), and falls back to naming files when it matches no folder.
  * Files and folders whose name starts with '.' (`.git`, `.DS_Store`) below the pattern's root
    are skipped (unless the pattern names the file exactly).
  * `source.extensions`, when given, keeps only files whose name ends with one of them.

Each unit's `display` is its path relative to the pattern's root: the longest leading part of
the pattern without glob characters, cut back to a folder (a folder pattern's root is the folder
itself). Two different files with the same display would get the same document ids, so that is
an error naming both; point one pattern at their common parent instead.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Callable

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipeline.readers.base import ReaderError, ReadUnit
from pipeline.spec import SourceSpec

_FIXED_PREFIX = re.compile(r"[^*?\[]*")


def has_glob(pattern: str) -> bool:
    return _FIXED_PREFIX.match(pattern).group(0) != pattern


def plan_files(source: SourceSpec, *, folders: bool = False,
               keep: Callable[[str], bool] | None = None, keep_rule: str = "") -> list[ReadUnit]:
    """Units for every file the source's patterns name.

    folders: patterns name folders (text_dir, code_dir) rather than files.
    keep: called with a file's display path; False leaves the file out (`keep_rule` describes
          the rule for the error raised when a pattern keeps nothing).
    """
    if not source.paths:
        raise ReaderError(f"source '{source.name}': no paths given")
    by_path: dict[str, ReadUnit] = {}
    for raw_pattern in source.paths:
        pattern = _normalise(raw_pattern)
        matched, root, listed = _match(source, pattern, folders)
        kept = 0
        for path, size in matched:
            display = _relative(path, root)
            if (listed and _hidden(display)) or not _extension_ok(display, source.extensions):
                continue
            if keep is not None and not keep(display):
                continue
            kept += 1
            by_path.setdefault(path, ReadUnit(source=source.name, display=display, path=path,
                                              size=size))
        if not kept:
            rules = []
            if source.extensions:
                rules.append(f"extensions {', '.join(source.extensions)}")
            if keep_rule:
                rules.append(keep_rule)
            rules.append("hidden files skipped")
            raise ReaderError(
                f"source '{source.name}': path pattern '{raw_pattern}' matched {len(matched)} "
                f"file(s) but none is left to read ({'; '.join(rules)})")
    units = sorted(by_path.values())
    for previous, unit in zip(units, units[1:]):
        if previous.display == unit.display:
            raise ReaderError(
                f"source '{source.name}': '{previous.path}' and '{unit.path}' both appear as "
                f"'{unit.display}' (paths are taken relative to each pattern's root), so their "
                "documents would get the same ids; use one pattern on their common parent folder")
    return units


def _normalise(pattern: str) -> str:
    if "://" in pattern:
        return pattern.rstrip("/")
    return os.path.abspath(os.path.expanduser(pattern))


def _match(source: SourceSpec, pattern: str,
           folders: bool) -> tuple[list[tuple[str, int]], str, bool]:
    """(path, size) of the files the pattern names, the root they are relative to, and whether
    they were found by listing (False for one file named exactly)."""
    prefix = _FIXED_PREFIX.match(pattern).group(0)
    # A plain path may name a folder; with `folders`, a glob names folders too.
    if not has_glob(pattern) or folders:
        under = _match_globs(source, pattern, pattern + "/**")
        if under:
            root = pattern + "/" if not has_glob(pattern) else _folder_of(prefix)
            return under, root, True
    matched = [(p, s) for p, s in _match_globs(source, pattern, pattern) if not _is_local_dir(p)]
    if not matched:
        kind = "folders or files" if folders else "files"
        raise ReaderError(f"source '{source.name}': path pattern '{pattern}' matched no {kind}")
    return matched, _folder_of(prefix), has_glob(pattern)


def _match_globs(source: SourceSpec, pattern: str, glob: str) -> list[tuple[str, int]]:
    found: dict[str, int] = {}
    try:
        results = FileSystems.match(_zero_folder_variants(glob))
    except (BeamIOError, ValueError) as e:  # ValueError: no filesystem for the URL's scheme
        raise ReaderError(f"source '{source.name}': could not list path pattern '{pattern}': "
                          f"{e}") from None
    for result in results:
        for meta in result.metadata_list:
            found.setdefault(meta.path, meta.size_in_bytes)
    return sorted(found.items())


def _zero_folder_variants(glob: str) -> list[str]:
    """`a/**/b` also as `a/b`, for every combination of its `/**/`s."""
    parts = glob.split("/**/")
    if len(parts) == 1:
        return [glob]
    variants = []
    for seps in itertools.product(("/**/", "/"), repeat=len(parts) - 1):
        variants.append(parts[0] + "".join(s + p for s, p in zip(seps, parts[1:])))
    return variants


def _folder_of(prefix: str) -> str:
    """The fixed prefix cut back to its last '/' (kept), e.g. '/data/web/part-' -> '/data/web/'."""
    cut = prefix.rfind("/")
    return prefix[:cut + 1] if cut >= 0 else ""


def _relative(path: str, root: str) -> str:
    if root and path.startswith(root):
        return path[len(root):].lstrip("/")
    return path.rsplit("/", 1)[-1]


def _hidden(display: str) -> bool:
    return any(part.startswith(".") for part in display.split("/"))


def _extension_ok(display: str, extensions: tuple[str, ...]) -> bool:
    if not extensions:
        return True
    lower = display.lower()
    return any(lower.endswith(ext.lower()) for ext in extensions)


def _is_local_dir(path: str) -> bool:
    return "://" not in path and os.path.isdir(path)
