"""The command line of t5x's train/eval/infer entry points, in absl's syntax, on argparse.

t5x defines its flags with absl. A t5x user types them the absl way, so every spelling absl accepts
for these flags is accepted here:

  * booleans: `--multiprocess_gpu`, `--multiprocess_gpu=true|false|1|0|yes|no` (any case) and
    `--nomultiprocess_gpu`;
  * lists (`--gin_search_paths`, `--seqio_additional_cache_dirs`): one comma-separated value;
  * repeatable strings (`--gin_file`, `--gin_bindings`), and t5x's `--gin.NAME=VALUE` shorthand;
  * `--flag value` as well as `--flag=value`, and a single leading dash (`-gin_file=...`).

Flags and defaults are t5x's (t5x/train.py, eval.py, infer.py `__main__` blocks):
gin_file, gin_bindings, gin_search_paths, tfds_data_dir, seqio_additional_cache_dirs,
multiprocess_gpu, coordinator_address, process_count, process_index, initialization_timeout.
"""

from __future__ import annotations

import argparse
import re

BOOLEAN_FLAGS = ("multiprocess_gpu",)
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


def parse_bool(value: str) -> bool:
    """absl's boolean spellings."""
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false (or 1/0, yes/no), got {value!r}")


def add_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds t5x's gin, data and multi-host flags to `parser`."""
    parser.add_argument("--gin_file", action="append", default=[],
                        help="gin file (repeatable; later files override earlier ones)")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="one gin binding, e.g. 'TRAIN_STEPS = 100' (repeatable); "
                             "--gin.TRAIN_STEPS=100 is the same")
    parser.add_argument("--gin_search_paths", default="",
                        help="comma-separated directories in which gin files (and their "
                             "includes) are looked up")
    parser.add_argument("--tfds_data_dir", default=None,
                        help="TFDS data directory, overriding the one of every TfdsDataSource")
    parser.add_argument("--seqio_additional_cache_dirs", default="",
                        help="comma-separated directories of seqio caches (tasks.cache output)")
    parser.add_argument("--multiprocess_gpu", nargs="?", const=True, default=False,
                        type=parse_bool, metavar="BOOL",
                        help="initialise jax.distributed for a multi-process run with "
                             "--coordinator_address, --process_count, --process_index "
                             "(absl syntax: --multiprocess_gpu, =true/false, --nomultiprocess_gpu)")
    parser.add_argument("--coordinator_address", default=None,
                        help="host:port of process 0, for jax.distributed (multi-host)")
    parser.add_argument("--process_count", type=int, default=None,
                        help="number of processes in a multi-host run")
    parser.add_argument("--process_index", type=int, default=None,
                        help="this process's index in a multi-host run")
    parser.add_argument("--initialization_timeout", type=int, default=None,
                        help="seconds jax.distributed.initialize waits for every process "
                             "(default: JAX's)")
    return parser


def normalise_argv(argv: list[str]) -> list[str]:
    """Rewrites absl-only spellings into ones argparse reads: `--nofoo` -> `--foo=false` for the
    boolean flags, a single leading dash -> two, `--gin.NAME=VALUE` -> `--gin_bindings=...`."""
    out = []
    for arg in argv:
        if re.match(r"-[A-Za-z_]\w+(=|$)", arg):
            arg = "-" + arg  # absl accepts -flag as --flag (a negative number stays as it is)
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else ""
        if name.startswith("no") and name[2:] in BOOLEAN_FLAGS and "=" not in arg:
            arg = f"--{name[2:]}=false"
        elif name.startswith("gin.") and "=" in arg:
            binding, value = arg[len("--gin."):].split("=", 1)
            arg = f"--gin_bindings={binding} = {value}"
        out.append(arg)
    return out


def parse_flags(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parses `argv` (absl spellings included); a bad flag exits with status 2 and the usage."""
    return parser.parse_args(normalise_argv(argv))
