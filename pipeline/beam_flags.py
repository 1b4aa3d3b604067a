"""Strict command-line flags for Beam jobs: a misspelt flag is an error, not a silent no-op.

Beam's `PipelineOptions` keeps any flag it does not know and `get_all_options()` drops it
(`retain_unknown_options=False`) after at most a log line, so `--forse` or `--direct_num_worker=2`
runs the job with the defaults and exits 0. `check_beam_flags` parses the flags with the same
parser Beam builds from every registered options class (captured through `get_all_options`'s
`add_extra_args_fn` hook) plus the job's own flags, and raises `FlagError` naming each unknown
flag and the nearest valid one; a value Beam's parser refuses (`--direct_num_workers=two`), a
worker count out of range or a --runner Beam does not know is a FlagError naming the flag too.
Runner-specific options (Dataflow, Flink, Spark, portable) are all registered options classes,
so every flag Beam documents passes.
"""

from __future__ import annotations

import argparse
import difflib
import logging
from typing import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

MAX_WORKERS = 1024  # local worker processes; more is a typo, not a machine


class FlagError(ValueError):
    """Unknown command-line flags; the message names each and the nearest valid flag."""


def _beam_parser() -> argparse.ArgumentParser:
    captured: list[argparse.ArgumentParser] = []
    beam_log = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_log.level
    beam_log.setLevel(logging.ERROR)  # its "Discarding unparseable args" would repeat ours
    try:  # no flags parsed here: Beam's parser would print its usage and exit on a bad value
        PipelineOptions([]).get_all_options(add_extra_args_fn=captured.append)
    finally:
        beam_log.setLevel(level)
    return captured[0]


def _parse(flags: Sequence[str], program: str = "this job") -> tuple[argparse.Namespace, list]:
    """Beam's parse of `flags`; a value of the wrong type or not among a flag's choices is a
    FlagError naming the flag (Beam's own parser would exit with its whole usage text)."""
    parser = _beam_parser()

    def error(message: str):
        if message.startswith("ambiguous option: "):  # Beam's parser ignores these too
            return
        raise FlagError(f"{program}: {message}")

    parser.error = error
    return parser.parse_known_args(list(flags))


def unknown_flags(flags: Sequence[str]) -> list[str]:
    """The flags (not their values) that no Beam options class defines."""
    _, unknown = _parse(flags)
    return [arg for arg in unknown if arg.startswith("-") and arg != "--"]


def check_runner(name: str | None, program: str = "this job") -> None:
    """A --runner that Beam knows (by name, or a class path with a dot)."""
    from apache_beam.runners import runner

    if name is None or "." in name:
        return
    known = runner._RUNNER_MAP  # what create_runner looks names up in
    if name.lower() in known or name.lower() + "runner" in known:
        return
    names = sorted(path.rsplit(".", 1)[-1] for path in StandardOptions.ALL_KNOWN_RUNNERS)
    raise FlagError(f"{program}: --runner={name} is not a runner Beam knows; one of "
                    f"{', '.join(names)} (or a runner class path)")


def check_beam_flags(flags: Sequence[str], own_flags: Sequence[str] = (),
                     program: str = "this job") -> None:
    """Raises FlagError when `flags` (what the job's own parser left over) holds a flag that
    Beam does not define. `own_flags` are the job's flags, offered as suggestions too."""
    known, rest = _parse(flags, program)
    check_runner(getattr(known, "runner", None), program)
    workers = getattr(known, "direct_num_workers", None)
    if workers is not None and not 0 <= workers <= MAX_WORKERS:
        raise FlagError(f"{program}: --direct_num_workers={workers}: expected 0 (one per core) "
                        f"to {MAX_WORKERS}")
    unknown = [arg for arg in rest if arg.startswith("-") and arg != "--"]
    if not unknown:
        return
    parser = _beam_parser()
    valid = sorted({opt for action in parser._actions for opt in action.option_strings
                    if opt.startswith("--")} | set(own_flags))
    lines = []
    for arg in unknown:
        name = arg.split("=", 1)[0]
        near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near else ""
        lines.append(f"unknown flag {name}{hint}")
    raise FlagError(f"{program}: " + "; ".join(lines)
                    + " (see --help for the job's flags; any Beam pipeline option is accepted)")
