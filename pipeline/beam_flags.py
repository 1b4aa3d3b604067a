"""Strict command-line flags for Beam jobs: a misspelt flag is an error, not a silent no-op.

Beam's `PipelineOptions` keeps any flag it does not know and `get_all_options()` drops it
(`retain_unknown_options=False`) after at most a log line, so `--forse` or `--direct_num_worker=2`
runs the job with the defaults and exits 0. `check_beam_flags` parses the flags with the same
parser Beam builds from every registered options class (captured through `get_all_options`'s
`add_extra_args_fn` hook) plus the job's own flags, and raises `FlagError` naming each unknown
flag and the nearest valid one. Runner-specific options (Dataflow, Flink, Spark, portable) are
all registered options classes, so every flag Beam documents passes.
"""

from __future__ import annotations

import argparse
import difflib
import logging
from typing import Sequence

from apache_beam.options.pipeline_options import PipelineOptions


class FlagError(ValueError):
    """Unknown command-line flags; the message names each and the nearest valid flag."""


def _beam_parser(flags: Sequence[str]) -> argparse.ArgumentParser:
    captured: list[argparse.ArgumentParser] = []
    beam_log = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_log.level
    beam_log.setLevel(logging.ERROR)  # its "Discarding unparseable args" would repeat ours
    try:
        PipelineOptions(list(flags)).get_all_options(add_extra_args_fn=captured.append)
    finally:
        beam_log.setLevel(level)
    return captured[0]


def unknown_flags(flags: Sequence[str]) -> list[str]:
    """The flags (not their values) that no Beam options class defines."""
    _, unknown = _beam_parser(flags).parse_known_args(list(flags))
    return [arg for arg in unknown if arg.startswith("-") and arg != "--"]


def check_beam_flags(flags: Sequence[str], own_flags: Sequence[str] = (),
                     program: str = "this job") -> None:
    """Raises FlagError when `flags` (what the job's own parser left over) holds a flag that
    Beam does not define. `own_flags` are the job's flags, offered as suggestions too."""
    unknown = unknown_flags(flags)
    if not unknown:
        return
    parser = _beam_parser([])
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
