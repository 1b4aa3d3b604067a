"""Beam data engine: ingest, clean, filter and write raw text sources as clean shards."""

# Before any submodule imports TensorFlow, JAX or Beam: their start-up noise off at its source.
from pipeline import console  # noqa: E402, F401
