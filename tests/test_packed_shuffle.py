"""PackedGroupByKey groups like beam.GroupByKey, whatever the packing."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import packed_shuffle

# Keys as prep uses them: 8-byte hashes and (source, unit) pairs (one kind per example).
keys = st.sampled_from([st.binary(max_size=9),
                        st.tuples(st.text(max_size=4), st.integers(0, 5))])
values = st.integers(-2**40, 2**40)
pairs = keys.flatmap(lambda k: st.tuples(st.lists(st.tuples(k, values), max_size=60),
                                         st.lists(st.tuples(k, values), max_size=60)))


@settings(max_examples=6, deadline=None)  # each example is a Beam pipeline (~2 s)
@given(both=pairs, per_element=st.integers(1, 7))
def test_packed_grouping_is_a_group_by_key(both, per_element):
    first, second = both
    expected: dict = {}
    for key, value in first + second:
        expected.setdefault(key, []).append(value)
    want = sorted((k, sorted(v)) for k, v in expected.items())
    old = packed_shuffle.RECORDS_PER_ELEMENT
    packed_shuffle.RECORDS_PER_ELEMENT = per_element  # read when the DoFn runs, in process
    try:
        with TestPipeline(options=beam.options.pipeline_options.PipelineOptions(
                ["--direct_running_mode=in_memory"])) as p:
            a = p | "A" >> beam.Create(first)
            b = p | "B" >> beam.Create(second)
            got = ((a, b) | packed_shuffle.PackedGroupByKey("test", partitions=3)
                   | beam.MapTuple(lambda k, v: (k, sorted(v))))
            assert_that(got, equal_to(want))
    finally:
        packed_shuffle.RECORDS_PER_ELEMENT = old


def test_partitions_do_not_depend_on_the_process():
    assert packed_shuffle.partition_of(("books", 3)) == packed_shuffle.partition_of(("books", 3))
