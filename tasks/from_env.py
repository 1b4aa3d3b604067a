"""Importing this module registers the mixture spec named in $PALM_TASKS_SPEC (default: the demo
spec), and the materialised stream named in $PALM_TASKS_STREAM (if set) as a seqio Task. For
seqio's tools that take `--module_import`, and for Beam workers of tasks.cache."""

import os

import tasks

MIXTURE_NAME = tasks.register_mixture(os.environ.get("PALM_TASKS_SPEC")
                                      or os.path.join(tasks.SPECS_DIR, "palm_demo.yaml"))

if os.environ.get("PALM_TASKS_STREAM"):
    from tasks.stream_task import register_stream

    STREAM_TASK_NAME = register_stream(os.environ["PALM_TASKS_STREAM"])
