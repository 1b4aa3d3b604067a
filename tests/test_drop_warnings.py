"""Warnings when a rule removes most of a source or a source ends empty."""

from __future__ import annotations

from pipeline.drop_warnings import rule_removals, source_warnings


def manifest(**changes):
    base = {"source": "books", "documents_in": 100, "bytes_in": 10_000,
            "documents_out": {"train": 60, "validation": 1},
            "dropped": {"gopher_quality.alpha_word_ratio": 30, "gopher_quality.stop_words": 5,
                        "langid.low_score": 4},
            "dropped_lines": {"gopher_quality.alpha_word_ratio": 900},
            "dropped_bytes": {"gopher_quality.alpha_word_ratio": 3_000,
                              "langid.low_score": 400},
            "lines_removed": {"c4.no_terminal_punct": 50},
            "bytes_removed": {"c4.no_terminal_punct": 2_500},
            "dead_letters": 0}
    base.update(changes)
    return base


def test_removals_are_summed_per_rule():
    removed = rule_removals(manifest())
    # stop_words' drops carry no byte count here: the rule's bytes are marked incomplete
    assert removed["gopher_quality"] == {"documents": 35, "lines": 900, "bytes": 3_000,
                                         "bytes_counted": False}
    assert removed["c4"] == {"documents": 0, "lines": 50, "bytes": 2_500, "bytes_counted": True}
    assert removed["langid"] == {"documents": 4, "lines": 0, "bytes": 400,
                                 "bytes_counted": True}


def test_no_warning_below_the_share():
    assert source_warnings(manifest()) == []


def test_a_rule_over_the_share_is_named_by_documents_or_bytes():
    m = manifest(dropped={"gopher_quality.alpha_word_ratio": 99},
                 documents_out={"train": 1})
    (w,) = source_warnings(m)
    assert w["kind"] == "rule_removed_most" and w["rule"] == "gopher_quality"
    assert "99 of 100 documents (99.0 %, more than 50 %; 30.0 % of the bytes)" in w["message"]
    assert not w["fatal"]
    # a corpus stage's drops carry no byte counts: the warning says so instead of "0 %"
    (w,) = source_warnings(manifest(dropped={"quality_classifier.pareto": 60}))
    assert ("60 of 100 documents (60.0 %, more than 50 %; bytes not counted for this stage)"
            in w["message"])
    # a line rule that deleted most of the bytes without dropping a document
    m = manifest(bytes_removed={"c4.no_terminal_punct": 6_000})
    assert [w["rule"] for w in source_warnings(m)] == ["c4"]
    assert source_warnings(m, max_share=0.7) == []


def test_a_rule_over_the_byte_share_leads_with_the_bytes():
    """The threshold that crossed is quoted first: a few long documents that hold most of the
    bytes read as bytes, not as "24 of 213 documents" with the crossing figure last."""
    m = manifest(dropped={"gopher_repetition.top_2gram": 24},
                 dropped_bytes={"gopher_repetition.top_2gram": 6_550},
                 documents_in=213)
    (w,) = source_warnings(m)
    assert ("rule gopher_repetition removed 65.5 % of the bytes, more than 50 % "
            "(24 of 213 documents, 11.3 %)") in w["message"]
    assert source_warnings(m, max_share=0.7) == []


def test_an_empty_source_is_fatal_unless_allowed():
    m = manifest(documents_out={"train": 0, "validation": 0})
    kinds = {w["kind"]: w for w in source_warnings(m, max_share=1.0)}
    assert kinds["source_empty"]["fatal"] and "allow_empty" in kinds["source_empty"]["message"]
    assert not source_warnings(m, max_share=1.0, allow_empty=True)[0]["fatal"]


def test_a_source_that_read_nothing_points_at_the_text_field():
    m = manifest(documents_in=0, bytes_in=0, documents_out={}, dropped={}, dead_letters=12,
                 lines_removed={}, bytes_removed={})
    (w,) = source_warnings(m)
    assert w["fatal"] and "text_field" in w["message"] and "12 here" in w["message"]
