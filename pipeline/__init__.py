"""Beam data engine: ingest, clean, filter and write raw text sources as clean shards."""
