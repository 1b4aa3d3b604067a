"""Third-party start-up noise, silenced at its source before the libraries load.

A command should print its own progress, warnings and summary, and nothing a user has to learn
to ignore. Imported first by the `pipeline`, `tasks` and `launch` packages (their __init__), so
every `python -m pipeline.X`, `tasks.X` and `launch.X` runs this before TensorFlow, JAX or Beam
is imported. What it does, each for one known message, never for a library's real warnings:

- TensorFlow's C++ INFO banners (CPU features; oneDNN, which TF prints whatever the log level
  unless TF_ENABLE_ONEDNN_OPTS is set): TF_CPP_MIN_LOG_LEVEL=1 keeps its warnings and errors,
  TF_ENABLE_ONEDNN_OPTS=0 (TF only tokenises and packs integers here; the model is JAX). With
  no banner, absl's "All log messages before absl::InitializeLog()" preamble goes too; it only
  prints before a first C++ message. Both are defaults: a value already set wins.
- Beam's "apitools not found, and bigquery client libraries are not available" (a root-logger
  WARNING at import, about an optional GCP client this project never uses): a filter on the
  root logger drops exactly that message.
- absl-logged INFO lines (seqio's "Using cache directory ..." and its per-dataset chatter,
  orbax's per-save lines): the `absl` logger at WARNING. This project logs through `logging`.
- JAX's INFO when a backend is missing (libtpu on a CPU machine): that logger at WARNING.
- Beam's INFO chatter (optional modules, worker start-up forwarded by the local job service):
  the `apache_beam` logger at WARNING; its warnings and errors still show, except a worker's
  "Discarding unparseable args" about options of Beam's own runner (a filter). The runner's
  data-plane and worker-handler errors after a worker process died keep their line but lose
  their traceback (the job's own message says what happened and what to do).

Local Beam workers are new processes that import Beam before any project module:
`quiet_beam_workers()` (called by pipeline.beam_options for local runs) puts
`pipeline/worker_startup/` on their PYTHONPATH, whose sitecustomize imports this module first.
"""

from __future__ import annotations

import logging
import os
import sys

BEAM_OPTIONAL_GCP = ("apitools not found, and bigquery client libraries are not available "
                     "despite the import not raising an ImportError.")


# A local Beam worker's start-up warning, forwarded by the job service: options the runner
# passes that the worker's parser does not know (Beam's own, e.g. --pipeline_type_check).
BEAM_WORKER_UNPARSED = "Discarding unparseable args"


class DropMessages(logging.Filter):
    """Drops records whose message template is one of `messages` (exact match), or whose
    formatted message contains one of `fragments`."""

    def __init__(self, messages: frozenset[str] = frozenset(), fragments: tuple[str, ...] = ()):
        super().__init__()
        self.messages, self.fragments = messages, fragments

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self.messages:
            return False
        return not (self.fragments and any(f in record.getMessage() for f in self.fragments))


class ConsoleHandler(logging.StreamHandler):
    """The commands' console: writes to `sys.stderr` as it is when a record is emitted, not as it
    was at set-up, so a command run twice in one process (tests, notebooks) never writes to a
    stream that an earlier caller has since closed."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def is_console(handler: logging.Handler) -> bool:
    """A handler that prints to the terminal: ours, or the plain one `logging.basicConfig` (or a
    library's root-logger warning) installs; not a test's log capture or a file."""
    return type(handler) in (ConsoleHandler, logging.StreamHandler)


def log_to_console(fmt: str, level: int = logging.INFO) -> None:
    """What every command's main() calls instead of `logging.basicConfig`: one ConsoleHandler on
    the root logger in `fmt`, replacing console handlers installed before (by importing Beam,
    absl, or an earlier run in the same process); other handlers stay."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if is_console(h)]:
        root.removeHandler(handler)
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)


class OneLine(logging.Filter):
    """Keeps a record but drops its traceback: for errors whose stack says nothing a user can act
    on (Beam's channel errors after a worker process died; the job's own message follows)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


# Beam's runner logs these with a traceback when a worker process dies under it.
BEAM_DEAD_WORKER_LOGGERS = ("apache_beam.runners.worker.data_plane",
                            "apache_beam.runners.portability.fn_api_runner.worker_handlers")


def quiet() -> None:
    """Idempotent; also safe in a Beam worker that imports a project module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    root = logging.getLogger()
    if not any(isinstance(f, DropMessages) for f in root.filters):
        root.addFilter(DropMessages(frozenset({BEAM_OPTIONAL_GCP})))
    # absl's logger must be created by absl (an ABSLLogger): import it before setting its level.
    from absl import logging as absl_logging

    absl_logging.get_absl_logger().setLevel(logging.WARNING)
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    job_service = logging.getLogger("apache_beam.runners.portability.local_job_service")
    if not any(isinstance(f, DropMessages) for f in job_service.filters):
        job_service.addFilter(DropMessages(fragments=(BEAM_WORKER_UNPARSED,)))
    for name in BEAM_DEAD_WORKER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLine) for f in logger.filters):
            logger.addFilter(OneLine())


def quiet_beam_workers() -> None:
    """Local Beam workers (subprocesses that inherit the environment) run quiet() at start-up."""
    startup = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_startup")
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if startup not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([startup] + [p for p in paths if p])


def import_beam_quietly() -> None:
    """For a Beam worker's start-up: imports Beam with a NullHandler on a root logger that has
    none, because logging.warning() on a handler-less root installs a stderr handler first
    (basicConfig) even when a filter then drops the record, and that handler would print the
    worker's start-up INFO lines."""
    root = logging.getLogger()
    null = None if root.handlers else logging.NullHandler()
    if null is not None:
        root.addHandler(null)
    try:
        import apache_beam  # noqa: F401
    finally:
        if null is not None:
            root.removeHandler(null)


quiet()
