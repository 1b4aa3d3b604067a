"""The command line shared by the gin-configured entry points that read a checkpoint (eval,
infer): t5x's flags, multi-host start-up, gin parsing, then the configured function, with every
error a user can fix printed as one message and exit status 2 instead of a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import gin
from launch import gin_utils
from launch.cli import gin_checks, multihost
from launch.evaluation import defaults as eval_defaults
from launch.run.checksums import CheckpointCorrupt
from pipeline import console, disk_space
from pipeline.file_checksums import DataCorrupt

# Errors of input the user can fix: a missing split, no checkpoint at the path, a damaged one.
USER_ERRORS = (eval_defaults.SplitError, FileNotFoundError, CheckpointCorrupt)


def run(fn: Callable, prog: str, description: str, argv: list[str] | None, *,
        user_errors: tuple = (), gin_required: str | None = None) -> int:
    """Parses the flags and gin files, then calls the gin-configured `fn`; 0, or 2 on bad input.

    `user_errors` are exception types the command adds to USER_ERRORS (printed as one message);
    `gin_required`, when set, is the usage error for a command line without any gin file."""
    parser = gin_utils.add_flags(argparse.ArgumentParser(prog=prog, description=description))
    args = gin_utils.parse_flags(parser, sys.argv[1:] if argv is None else argv)
    console.log_to_console("%(asctime)s %(levelname)s %(message)s", logging.INFO)
    try:
        multihost.initialize(args)
        multihost.configure_data(args)
        if gin_required and not args.gin_file and not args.gin_bindings:
            parser.error(gin_required)
        gin_utils.parse_gin(args.gin_file, args.gin_bindings, args.gin_search_paths)
        configured = gin.get_configurable(fn)
    except (multihost.MultihostFlagError, gin_utils.GinConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with disk_space.quiet_tracebacks():
            configured()
    except (*USER_ERRORS, *user_errors) as e:
        print(f"error: {gin_checks.plain_message(e)}", file=sys.stderr)
        return 2
    except DataCorrupt as e:  # not bad usage: a data file is damaged (exit 1)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a full disk: one message naming the path, exit 1
        if not disk_space.no_space(e):
            raise
        full = disk_space.as_disk_full(e, "the run's files")
        print(f"error: {gin_checks.plain_message(full)}", file=sys.stderr)
        disk_space.quiet_from_now_on()
        return 1
    return 0
