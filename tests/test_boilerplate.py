"""Boilerplate removal judges paragraphs: a footer repeated across pages goes, a wrapped line
that recurs inside different sentences of hard-wrapped manuals stays."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.boilerplate import RemoveBoilerplate, distinct_line_keys

# The same display line ("for an explanation of the terms used in this section, see") falls
# inside three different wrapped sentences; the footer paragraph is the same on every page.
PAGES = [
    "The {name} function copies the string pointed to by src into the buffer\n"
    "pointed to by dst, including the terminating null byte, and returns dst;\n"
    "for an explanation of the terms used in this section, see the attributes\n"
    "page of the manual, which lists every function and its safety level.\n"
    "\n"
    "Report bugs to the maintainers of the Linux man-pages project.\n"
    .replace("{name}", name)
    for name in ("strcpy", "stpcpy", "strcat")
]


def _run(pages, scratch):
    docs = [{"id": str(i), "text": t, "source": "man", "role": "books", "lang": "en",
             "meta": {}, "_at": (0, i)} for i, t in enumerate(pages)]
    p = TestPipeline()
    kept, _, _ = p | beam.Create(docs) | RemoveBoilerplate("man", min_documents=3,
                                                              scratch_dir=str(scratch))
    texts = kept | beam.Map(lambda d: d["text"])
    expected = [t.replace("\n\nReport bugs to the maintainers of the Linux man-pages "
                          "project.\n", "").rstrip("\n") for t in pages]
    assert_that(texts, equal_to(expected))
    p.run().wait_until_finish()


def test_only_whole_repeated_paragraphs_are_removed(tmp_path):
    _run(PAGES, tmp_path)


def test_keys_are_paragraphs_of_wrapped_text():
    keys = distinct_line_keys(PAGES[0], min_line_chars=20)
    assert len(keys) == 2  # the wrapped sentence and the footer


def test_packed_counts_sum_across_bundles_like_a_counter():
    from collections import Counter

    from pipeline.boilerplate import frequent_keys, pack_counts

    keys = [bytes([i % 3]) + bytes(7 - len(str(i))) + str(i).encode() for i in range(40)]
    bundles = [Counter({k: 1 + (i % 4) for i, k in enumerate(keys[:30])}),
               Counter({k: 2 for k in keys[20:]})]
    total = bundles[0] + bundles[1]
    by_partition: dict[int, list] = {}
    for bundle in bundles:
        for partition, packed in pack_counts(bundle):
            assert partition in {key[0] for key in bundle}
            by_partition.setdefault(partition, []).append(packed)
    found = sorted(k for element in by_partition.items() for k in frequent_keys(element, 3))
    assert found == sorted(k for k, n in total.items() if n >= 3)
    assert sorted(k for element in by_partition.items() for k in frequent_keys(element, 1)) \
        == sorted(total)  # every key comes back whole, partition byte included
