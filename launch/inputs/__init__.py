"""Inputs: the batches a run trains and evaluates on, from seqio tasks or a materialised stream,
per host, deterministic and resumable."""
