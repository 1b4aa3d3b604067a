"""t5x's command line and gin handling: flags, search paths, clear errors, config summaries.

The flags are t5x's (`--gin_file` repeatable with later files overriding earlier ones,
`--gin_bindings` repeatable, `--gin.NAME=VALUE` shorthand, `--gin_search_paths`, `--tfds_data_dir`,
`--seqio_additional_cache_dirs`, and the multi-host flags). Gin files are looked up in the search
paths, then in the current directory, then in this project's root and its gin/ folder, so
`--gin_file=runs/pretrain.gin` and `--gin_file=gin/runs/pretrain.gin` both work from anywhere.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tokenize

import gin
from launch.cli import flags, gin_checks
from launch.run import paths

log = logging.getLogger("launch")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SEARCH_PATHS = (".", PROJECT_ROOT, os.path.join(PROJECT_ROOT, "gin"))


_PARSED: list = [[], []]  # (files, bindings) of the last parse_gin, for config.gin's header


def rewrite_gin_args(argv: list[str]) -> list[str]:
    """t5x's shorthand: `--gin.NAME=VALUE` becomes `--gin_bindings=NAME = VALUE`."""
    rewritten = []
    for arg in argv:
        if arg.startswith("--gin.") and "=" in arg:
            name, value = arg[len("--gin."):].split("=", 1)
            rewritten.append(f"--gin_bindings={name} = {value}")
        else:
            rewritten.append(arg)
    return rewritten


class GinConfigError(ValueError):
    """A gin file or binding that cannot be used; the message names the binding and its file."""


def add_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds t5x's gin, data and multi-host flags to `parser` (launch/cli/flags.py: absl syntax)."""
    return flags.add_flags(parser)


def parse_flags(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    return flags.parse_flags(parser, argv)


def _search_paths(extra: str) -> list[str]:
    return [p for p in extra.split(",") if p] + list(DEFAULT_SEARCH_PATHS)


def _resolve(path: str, search_paths: list[str]) -> str | None:
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    for directory in search_paths:
        candidate = os.path.join(directory, path)
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return None


def parse_gin(gin_files: list[str], gin_bindings: list[str], gin_search_paths: str = "",
              finalize: bool = True) -> list[str]:
    """Parses the files (in order) and then the bindings; returns the resolved file paths.

    Errors become GinConfigError with gin's own message (which names the binding and the file
    and line it is on), plus, for a `%gin.REQUIRED` macro left unset, the file that declared it
    and the flag that sets it.
    """
    search_paths = _search_paths(gin_search_paths)
    resolved = []
    for path in gin_files:
        found = _resolve(path, search_paths)
        if found is None:
            raise GinConfigError(f"gin file {path!r} not found in {search_paths} "
                                 "(add its folder with --gin_search_paths)")
        resolved.append(found)
    for path in resolved:  # gin would raise a bare UnicodeDecodeError, naming no file
        try:
            with open(path, encoding="utf-8") as f:
                f.read()
        except UnicodeDecodeError as e:
            raise GinConfigError(f"gin file {path!r} is not UTF-8 text ({e.reason} at byte "
                                 f"{e.start})") from None
        except OSError as e:
            raise GinConfigError(f"gin file {path!r} cannot be read: {e.strerror or e}") from None
    for directory in search_paths:
        gin.add_config_file_search_path(directory)
    try:
        with gin.unlock_config():  # a fresh config, so entry points can be called in-process too
            gin.clear_config()
            gin.parse_config_files_and_bindings(resolved, gin_bindings, finalize_config=finalize)
    except (ValueError, TypeError, NameError, AttributeError, SyntaxError, ImportError,
            tokenize.TokenError) as e:
        raise GinConfigError(gin_checks.explain_syntax_error(e, list(gin_bindings)) or
                             _explain(e, resolved)) from e
    type_errors = gin_checks.macro_type_errors(
        resolved, list(gin_bindings), lambda p, d: _resolve(p, [d, *DEFAULT_SEARCH_PATHS]))
    if type_errors:
        raise GinConfigError("; ".join(type_errors))
    _PARSED[:] = [resolved, list(gin_bindings)]
    return resolved


_REQUIRED = re.compile(r"(\S+) set to `%gin.REQUIRED` but not subsequently overridden")


def _explain(error: Exception, files: list[str]) -> str:
    message = str(error)
    match = _REQUIRED.search(message)
    if match and match.group(1).endswith("/macro.value"):  # a macro: gin scopes it by its name
        name = match.group(1).split("/")[0]
        where = _declaring_files(files).get(name, "a gin file")
        return (f"required macro {name} is not set (declared `{name} = %gin.REQUIRED` in "
                f"{where}): pass --gin.{name}=VALUE or bind it in a gin file")
    if match:
        # gin names the binding that uses the macro; find where the macro was declared REQUIRED.
        declared = _declaring_files(files)
        names = [name for name in declared if f"%{name}" in _uses(files, match.group(1))] or \
            sorted(declared)
        for name in names:
            return (f"required macro {name} is not set (declared `{name} = %gin.REQUIRED` in "
                    f"{declared[name]}; used by {match.group(1)}): pass --gin.{name}=VALUE or "
                    f"bind it in a gin file")
    return f"{type(error).__name__}: {message}"


def _included(path: str, seen: set[str]) -> list[str]:
    """The file and, recursively, the files it includes."""
    if path in seen or not os.path.exists(path):
        return []
    seen.add(path)
    out = [path]
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*include\s+['\"](.+)['\"]", line)
            if m:
                inc = _resolve(m.group(1), [os.path.dirname(path), *DEFAULT_SEARCH_PATHS])
                if inc:
                    out += _included(inc, seen)
    return out


def _declaring_files(files: list[str]) -> dict[str, str]:
    declared = {}
    for top in files:
        for path in _included(top, set()):
            with open(path) as f:
                for number, line in enumerate(f, 1):
                    m = re.match(r"\s*([A-Z_][A-Z0-9_]*)\s*=\s*%gin\.REQUIRED", line)
                    if m:
                        declared[m.group(1)] = f"{path}:{number}"
    return declared


def _uses(files: list[str], binding_key: str) -> str:
    """Text of the lines binding `binding_key`'s parameter (to see which macro it uses)."""
    param = binding_key.split(".")[-1]
    text = []
    for top in files:
        for path in _included(top, set()):
            with open(path) as f:
                text += [line for line in f if param in line]
    return "".join(text)


def summarize_gin_config(model_dir: str, summary_writer=None, step: int | None = None) -> str:
    """Writes the full gin config to MODEL_DIR/config.gin (t5x's file name); returns its path.

    The header records the files and bindings it was parsed from, so a run can be repeated from
    it. With a clu `summary_writer`, the config is also logged as TensorBoard text at `step`.
    """
    path = paths.join(model_dir, "config.gin")  # local or remote: launch/run/paths.py
    files, bindings = _PARSED
    header = ["# Written by launch: the full gin config of this run.",
              *[f"# --gin_file={f}" for f in files],
              *[f"# --gin_bindings={b!r}" for b in bindings], ""]
    config = gin.config_str()
    paths.write_text_atomic(path, "\n".join(header) + "\n" + config)
    if summary_writer is not None:
        summary_writer.write_texts(step or 0, {"config": gin.markdown(config)})
    return path
