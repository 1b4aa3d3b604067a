"""Importing this module registers the mixture spec named in $PALM_TASKS_SPEC (default: the demo
spec), and the materialised stream named in $PALM_TASKS_STREAM (if set) as a seqio Task. For
seqio's tools that take `--module_import`, for Beam workers of tasks.cache, and for runs that
name it in MIXTURE_OR_TASK_MODULE. `what_was_registered` is the line a "no such mixture" error
quotes, so a user who forgot the variable learns which one to set."""

import os

import tasks
from pipeline.mixture_spec import MixtureSpecError

SPEC_ENV, STREAM_ENV = "PALM_TASKS_SPEC", "PALM_TASKS_STREAM"
SPEC = os.environ.get(SPEC_ENV) or os.path.join(tasks.SPECS_DIR, "palm_demo.yaml")
try:
    MIXTURE_NAME = tasks.register_mixture(SPEC)
except MixtureSpecError as e:
    if os.environ.get(SPEC_ENV):
        raise
    raise MixtureSpecError(f"{e}. tasks.from_env read the demo spec because ${SPEC_ENV} is not "
                           f"set: set {SPEC_ENV}=path/to/your_spec.yaml") from None

if os.environ.get(STREAM_ENV):
    from tasks.stream_task import register_stream

    STREAM_TASK_NAME = register_stream(os.environ[STREAM_ENV])


def what_was_registered() -> str:
    """Which spec (and stream) this module registered, and from which environment variable."""
    where = (f"${SPEC_ENV}={SPEC}" if os.environ.get(SPEC_ENV) else
             f"the demo spec {SPEC}, because ${SPEC_ENV} is not set")
    stream = (f" and the stream Task {STREAM_TASK_NAME!r} from ${STREAM_ENV}"
              if os.environ.get(STREAM_ENV) else f" (${STREAM_ENV} is not set)")
    return (f"tasks.from_env registered the mixture {MIXTURE_NAME!r} from {where}{stream}: set "
            f"{SPEC_ENV}=path/to/your_spec.yaml (and {STREAM_ENV} for a materialised stream) in "
            "the environment of this command")
