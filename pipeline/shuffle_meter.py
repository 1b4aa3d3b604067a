"""Bytes that cross a shuffle, counted as they enter it: the figure every Beam job reports.

A shuffle (GroupByKey, CoGroupByKey, Reshuffle, a keyed Combine) moves its input between
workers; on Dataflow each of them costs about its input's size in network and disk, and the
DirectRunner holds it in memory. `metered(pcoll, label)` passes a PCollection through a DoFn
that adds the encoded size of every element to the Beam counter `shuffle/bytes.<label>`, using
the coder Beam itself would pick for the element type, so the figure is what a runner moves
(give the PCollection a precise type hint for a precise count). Call it on the PCollection
fed to each grouping transform; `summary(counters, input_bytes)` turns the counters into the
per-input-byte ratio the end-of-job summaries print.
"""

from __future__ import annotations

from typing import Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics

NAMESPACE = "shuffle"
PREFIX = "bytes."


class _Meter(beam.DoFn):
    def __init__(self, label: str, coder: beam.coders.Coder):
        self._label = label
        self._coder = coder

    def setup(self):
        self._bytes = Metrics.counter(NAMESPACE, PREFIX + self._label)
        self._elements = Metrics.counter(NAMESPACE, "elements." + self._label)

    def process(self, element):
        self._bytes.inc(len(self._coder.encode(element)))
        self._elements.inc()
        yield element


def metered(pcoll: beam.PCollection, label: str) -> beam.PCollection:
    """`pcoll`, unchanged, with its encoded bytes counted as shuffle input named `label`."""
    coder = beam.coders.registry.get_coder(pcoll.element_type)
    out = pcoll | f"ShuffleMeter[{label}]" >> beam.ParDo(_Meter(label, coder))
    out.element_type = pcoll.element_type
    return out


def summary(counters: Mapping[str, Mapping[str, int]], input_bytes: int) -> dict:
    """{'bytes': total, 'per_input_byte': ratio, 'by_shuffle': {label: bytes}} from the job's
    counters (namespace -> name -> value, as `pipeline.beam_counters.collect_counters` returns)."""
    mine = counters.get(NAMESPACE, {})
    by_label = {k[len(PREFIX):]: int(v) for k, v in sorted(mine.items()) if k.startswith(PREFIX)}
    total = sum(by_label.values())
    return {"bytes": total,
            "per_input_byte": round(total / input_bytes, 6) if input_bytes else None,
            "by_shuffle": by_label}


def describe(figures: Mapping) -> str:
    """One console line: '1.2 MB crossed a shuffle (0.031 per input byte)'."""
    ratio = figures.get("per_input_byte")
    ratio_text = f"{ratio:.3f} per input byte" if ratio is not None else "no input bytes"
    return f"{figures['bytes'] / 1e6:.1f} MB crossed a shuffle ({ratio_text})"
