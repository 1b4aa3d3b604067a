"""A GroupByKey that moves a few large elements instead of one per record (issue 21).

Beam's local runner keeps every element of a shuffle as Python objects until the grouping
stage runs: for the per-document groups of prep (exact dedup, the handle join, the group by
input unit) that is a few hundred bytes of bookkeeping per document, the main growth of the
runner's memory with the corpus. `PackedGroupByKey` gathers a bundle's (key, value) records
per partition (a stable hash of the key), sends each partition's records on as one pickled
list, groups those by partition, and regroups by key on the worker that reads the partition.
Its output is GroupByKey's: (key, [values]) once per key, in no particular order. A partition
holds 1/`partitions` of the records; 256 keeps it to a few MB per GB of documents.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pipeline import shuffle_meter

PARTITIONS = 256
RECORDS_PER_ELEMENT = 2048  # a bundle sends a partition's records on at this many


def partition_of(key: Any, partitions: int = PARTITIONS) -> int:
    """The same on every worker and run (not Python's salted hash)."""
    raw = key if isinstance(key, bytes) else repr(key).encode("utf-8", "surrogatepass")
    return zlib.crc32(raw) % partitions


class _PackFn(beam.DoFn):
    def __init__(self, partitions: int):
        self.partitions = partitions

    def start_bundle(self):
        self.pending: dict[int, list] = {}

    def process(self, element) -> Iterator[tuple[int, bytes]]:
        partition = partition_of(element[0], self.partitions)
        records = self.pending.setdefault(partition, [])
        records.append(element)
        if len(records) >= RECORDS_PER_ELEMENT:
            yield partition, pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
            records.clear()

    def finish_bundle(self):
        for partition, records in self.pending.items():
            if records:
                yield GlobalWindows.windowed_value(
                    (partition, pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)))
        self.pending = {}


def _regroup(element) -> Iterator[tuple[Any, list]]:
    _, packs = element
    groups: dict[Any, list] = {}
    for pack in packs:
        for key, value in pickle.loads(pack):
            groups.setdefault(key, []).append(value)
    yield from groups.items()


class PackedGroupByKey(beam.PTransform):
    """(key, value) -> (key, [values]), like beam.GroupByKey, from one PCollection or several
    (each is packed on its own, so no Flatten holds their records one by one); `meter`: the
    label its bytes are counted under (pipeline/shuffle_meter.py). Keys must be hashable and
    picklable."""

    def __init__(self, meter: str, partitions: int = PARTITIONS, label: str | None = None):
        super().__init__(label=label)
        self.meter = meter
        self.partitions = partitions

    def expand(self, pcolls):
        if isinstance(pcolls, beam.PCollection):
            pcolls = [pcolls]
        packs = [pcoll | f"Pack{i}" >> beam.ParDo(_PackFn(self.partitions))
                 for i, pcoll in enumerate(pcolls)]
        packed = packs[0] if len(packs) == 1 else packs | "Packs" >> beam.Flatten()
        return (shuffle_meter.metered(packed, self.meter)
                | "GroupPartitions" >> beam.GroupByKey()
                | "Regroup" >> beam.FlatMap(_regroup))
