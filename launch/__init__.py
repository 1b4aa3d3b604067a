"""The trainer side: t5x-compatible commands and the packages they are built from.

At this level live the commands a user types (`python -m launch.train`, `eval`, `infer`,
`sample`, `plan`, `demo`, `checkpoint_verify`, `local_multiprocess`, `run_report`,
`demo_corpus`) and the modules t5x run files bind in gin under t5x's names (`utils`,
`partitioning`, `trainer`, `gin_utils`, `spikes`, `t5x_compat`), so a t5x run file ports by its
import lines. The rest is grouped by role: `run/` (run state in MODEL_DIR), `inputs/` (batches),
`evaluation/` (scoring and decoding), `cli/` (flags and start-up).
"""

# First, before a command imports TensorFlow, JAX or Beam: their start-up noise off at its source.
import pipeline.console  # noqa: E402, F401
