"""One way to count, shared by every per-document step and every corpus stage.

Everything the manifests and the report say about a step or a stage comes from Beam counters
in the namespace `prep.<source>`, under these names (`<name>`: the step or stage, `<reason>`:
`<name>.<why>`):

    step_docs.<name>, step_us.<name>      documents through it and microseconds spent on them
    drop.<reason>                         documents dropped
    drop_bytes.<reason>, drop_lines.<reason>   their UTF-8 bytes and lines (and `drop_bytes`)
    lines_removed.<reason>, bytes_removed.<reason>   what it deleted from documents it kept

`DropCounter` is the one writer of these names, so every step and stage shows up in the same
tables (the per-step throughput, the funnel, the warnings of pipeline/drop_warnings.py).
"""

from __future__ import annotations

import time
from typing import Any

from apache_beam.metrics import Metrics


def metrics_namespace(source: str) -> str:
    return f"prep.{source}"


class Counters:
    """Lazily created Beam counters, one per (namespace, name)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._counters: dict[str, Any] = {}

    def inc(self, name: str, n: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(self.namespace, name)
        counter.inc(n)


class SourceCounters:
    """`Counters` per source (namespace `prep.<source>`), for stages that see every source."""

    def __init__(self):
        self._by_source: dict[str, Counters] = {}

    def __call__(self, source: str) -> Counters:
        counters = self._by_source.get(source)
        if counters is None:
            counters = self._by_source[source] = Counters(metrics_namespace(source))
        return counters


def text_size(text: str) -> tuple[int, int]:
    """(UTF-8 bytes, lines) of a text, as every drop is measured."""
    return len(text.encode("utf-8")), text.count("\n") + 1


class DropCounter:
    """The counts of one step or stage, per source. Create it in a DoFn's `setup` (Beam
    counters are per worker); `name` is the step's or stage's registry name."""

    def __init__(self, name: str):
        self.name = name
        self.counters = SourceCounters()

    def timed(self, source: str, started: float, documents: int = 1) -> None:
        """`documents` went through since `started` (a `time.perf_counter()` reading)."""
        self.spent(source, time.perf_counter() - started, documents)

    def timed_batch(self, sources: list[str], started: float) -> None:
        """A batch (one source per document) went through since `started`: each source is
        charged its share of the time."""
        seconds = time.perf_counter() - started
        per_source: dict[str, int] = {}
        for source in sources:
            per_source[source] = per_source.get(source, 0) + 1
        for source, n in per_source.items():
            self.spent(source, seconds * n / len(sources), n)

    def spent(self, source: str, seconds: float, documents: int) -> None:
        counters = self.counters(source)
        counters.inc(f"step_us.{self.name}", int(seconds * 1e6))
        counters.inc(f"step_docs.{self.name}", documents)

    def dropped(self, source: str, reason: str, text: str | None) -> None:
        """One document dropped for `reason`. `text` None: its size is counted later, where
        the text is at hand (`dropped_size`), as dedup does on references."""
        self.counters(source).inc(f"drop.{reason}")
        if text is not None:
            self.dropped_size(source, reason, text)

    def dropped_size(self, source: str, reason: str, text: str) -> None:
        size, lines = text_size(text)
        counters = self.counters(source)
        counters.inc("drop_bytes", size)
        counters.inc(f"drop_bytes.{reason}", size)
        counters.inc(f"drop_lines.{reason}", lines)

    def removed_lines(self, source: str, reason: str, lines: int, size: int) -> None:
        """Lines (and their bytes) deleted from a document that was kept."""
        counters = self.counters(source)
        counters.inc(f"lines_removed.{reason}", lines)
        counters.inc(f"bytes_removed.{reason}", size)

    def inc(self, source: str, name: str, n: int = 1) -> None:
        """Any other counter of the step or stage (`lang_seen.<lang>`, `pii.<kind>`...)."""
        self.counters(source).inc(name, n)
