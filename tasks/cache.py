"""Caches the Tasks of a mixture spec with seqio's own Beam job (seqio.scripts.cache_tasks_main).

    python -m tasks.cache --spec tasks/specs/palm_demo.yaml --output_cache_dir DIR \
        [--tasks REGEX,...] [--min_shards N] [--overwrite] [Beam pipeline options]

Locally it runs on the DirectRunner in multi-processing mode (one worker per core); any other
runner by Beam's options. Beam workers find the Tasks by importing `tasks.from_env`, which
registers the spec named in $PALM_TASKS_SPEC (set here, inherited by local workers; on a
remote runner set it in the worker container). Training then reads the cache with
`use_cached=True` after `seqio.add_global_cache_dirs([DIR])`.
While it runs, a line every --progress_seconds gives the examples each task/split has produced
so far and per second (pipeline/progress.py); at the end, a summary per task/split: examples,
tokens and where the cache is. Two runs on the same data write identical cache files: examples
are placed in shards by a hash of their bytes (tasks/seqio_beam.py, which also holds the
progress tick).
Equivalent with seqio's own command line:
    PALM_TASKS_SPEC=SPEC python -m seqio.scripts.cache_tasks_main --module_import=tasks.from_env \
        --tasks='palm_demo\\..*' --output_cache_dir=DIR --pipeline_options=--runner=DirectRunner
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from typing import Sequence

import apache_beam as beam

from pipeline import console, disk_space, output_lease, progress, shuffle_meter
from pipeline.beam_flags import FlagError, check_beam_flags

SPEC_ENV = "PALM_TASKS_SPEC"

def run(argv: Sequence[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m tasks.cache",
                                     description=__doc__.split("\n\n")[0],
                                     epilog="Any other flag is a Beam pipeline option.")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--output_cache_dir", required=True)
    parser.add_argument("--data_dir", default=None, help="overrides the spec's data_dir")
    parser.add_argument("--vocabulary", default=None, help="overrides the spec's vocabulary")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated regexes of task names (default: the spec's tasks)")
    parser.add_argument("--min_shards", type=int, default=8)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--progress_seconds", type=float, default=10.0,
                        help="log examples so far and per second, per task and split, this "
                             "often while the job runs (0: off)")
    known, beam_args = parser.parse_known_args(argv)
    check_beam_flags(beam_args, [o for a in parser._actions for o in a.option_strings],
                     program="tasks.cache")

    # Workers (separate processes) register the same Tasks by importing tasks.from_env, so the
    # spec and overrides travel in the environment; restored afterwards, so that a caller in the
    # same process (a test, a notebook) does not have every later spec silently overridden.
    env = {SPEC_ENV: os.path.abspath(known.spec),
           "PALM_TASKS_DATA_DIR": os.path.abspath(known.data_dir) if known.data_dir else None,
           "PALM_TASKS_VOCABULARY": (os.path.abspath(known.vocabulary) if known.vocabulary
                                     else None)}
    saved = {key: os.environ.get(key) for key in env}
    try:
        _set_env(env)
        outputs, shuffle = _run_pipeline(known, beam_args)
    finally:
        _set_env(saved)
    print(summary_text(outputs, shuffle))
    return outputs


def summary_text(output_dirs: list[str], shuffle: dict | None = None) -> str:
    """Per cached task and split: examples and tokens (from seqio's stats files), and where;
    the shuffle volume (pipeline/shuffle_meter.py) when given."""
    lines = [f"cached {len(output_dirs)} task(s)"]
    for out in output_dirs:
        for name in sorted(os.listdir(out)) if os.path.isdir(out) else []:
            if not (name.startswith("stats.") and name.endswith(".json")):
                continue
            with open(os.path.join(out, name), encoding="utf-8") as f:
                stats = json.load(f)
            split = name[len("stats."):-len(".json")]
            tokens = ", ".join(f"{k[:-len('_tokens')]} {int(v):,} tokens"
                               for k, v in sorted(stats.items())
                               if k.endswith("_tokens") and not k.endswith("_max_tokens"))
            lines.append(f"  {os.path.basename(out)} {split}: {int(stats.get('examples', 0)):,} "
                         f"examples" + (f", {tokens}" if tokens else ""))
        lines.append(f"  -> {out}")
    if shuffle is not None:
        lines.append("shuffle: " + shuffle_meter.describe(shuffle) + " -- every serialised "
                     "example crosses the cache writer's group-by-shard; input = the Tasks' "
                     "source files")
    return "\n".join(lines)


def _set_env(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _run_pipeline(known: argparse.Namespace,
                  beam_args: Sequence[str]) -> tuple[list[str], dict]:
    import seqio
    from seqio.scripts import cache_tasks_main  # defines the absl flags run_pipeline reads

    import tasks
    from pipeline.beam_options import pipeline_options
    from tasks.seqio_beam import seqio_substitutions

    name = tasks.register_mixture(os.environ[SPEC_ENV])
    task_regexes = known.tasks.split(",") if known.tasks else [re.escape(name) + r"\..*"]
    cache_tasks_main.FLAGS([sys.argv[0], f"--min_shards={known.min_shards}",
                            f"--output_cache_dir={known.output_cache_dir}"])
    seqio.add_global_cache_dirs([known.output_cache_dir])
    os.makedirs(known.output_cache_dir, exist_ok=True)
    options = pipeline_options(beam_args)
    runner = options.get_all_options().get("runner") or "DirectRunner"
    with progress.ProgressMonitor("cache", runner, (), known.progress_seconds) as monitor:
        with beam.Pipeline(options=options) as p:
            with seqio_substitutions(monitor.directory):
                outputs = cache_tasks_main.run_pipeline(
                    p, task_regexes, known.output_cache_dir,
                    modules_to_import=["tasks.from_env"], overwrite=known.overwrite,
                    output_format="tfrecord")
    from pipeline.beam_counters import collect_counters

    return outputs, shuffle_meter.summary(collect_counters(p.result), _source_bytes(outputs))


def _source_bytes(output_dirs: list[str]) -> int:
    """Bytes of the source files of the cached Tasks (every split they list)."""
    import seqio

    total = 0
    for out in output_dirs:
        task = seqio.get_mixture_or_task(os.path.basename(out))
        for split in task.splits:
            try:
                shards = task.source.list_shards(split)
            except Exception:  # a source without files (a function source): nothing to count
                continue
            total += sum(os.path.getsize(path) for path in shards if os.path.exists(path))
    return total


def main(argv: Sequence[str] | None = None) -> int:
    console.log_to_console("%(levelname)s %(name)s: %(message)s", logging.INFO)
    # Importing Beam logged a warning, which set up the root logger at WARNING already (and
    # made basicConfig a no-op): without this, progress and other INFO lines never show.
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pipeline.mixture_spec import MixtureSpecError

    try:
        with output_lease.hold_flag(argv, "--output_cache_dir", "seqio cache job"), \
                disk_space.quiet_tracebacks():
            run(argv)
    except (MixtureSpecError, FlagError, output_lease.LeaseHeld) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if not disk_space.no_space(e):
            raise
        return disk_space.exit_status(e, "the seqio cache",
                                      output_lease.flag_value(argv, "--output_cache_dir"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
