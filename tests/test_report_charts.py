"""Report charts that read at a glance: linear axes for small counts, one bar per source that has
any, legends only for what is drawn, and no matplotlib chatter while drawing them."""

from __future__ import annotations

import logging

import pytest

from pipeline import corpus_stage_charts as charts


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _contamination(sources: dict[str, dict[str, int]]) -> dict:
    return {"ngram": 13, "action": "remove", "eval_sets": {"a": {}, "b": {}},
            "sources": {s: {"by_eval_set": c} for s, c in sources.items()}}


def test_one_contaminated_source_of_seven_draws_its_bars_centred_and_no_legend():
    sources = {f"s{i}": {"a": 0, "b": 0} for i in range(6)}
    sources["books"] = {"a": 4, "b": 2}
    fig = charts.contamination_figure(_contamination(sources))
    ax = fig.axes[0]
    assert len(ax.patches) == 2                      # one bar per eval set, one source
    centres = sorted(p.get_y() + p.get_height() / 2 for p in ax.patches)
    assert centres == pytest.approx([0.0, 1.0])      # on the row's tick, not offset
    assert ax.get_legend() is None and "all in source books" in ax.get_title()
    assert ax.get_xscale() == "linear"


def test_a_legend_names_only_the_sources_drawn():
    sources = {"web": {"a": 3, "b": 0}, "books": {"a": 1, "b": 2}, "code": {"a": 0, "b": 0}}
    ax = charts.contamination_figure(_contamination(sources)).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["books", "web"]
    assert len(ax.patches) == 4


def test_small_group_counts_get_a_linear_axis_and_wide_ones_a_log_axis():
    small = {"exact": {"size_histogram": {"2": 20, "3": 6, "4": 1}}}
    ax = charts.dedup_figure(small).axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "groups"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "3", "4"]
    wide = {"near": {"size_histogram": {"2": 5000, "3": 40, "9": 1}}}
    ax = charts.dedup_figure(wide).axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "groups (log)"


def test_drawing_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger="matplotlib")
    charts.dedup_chart({"exact": {"size_histogram": {"2": 3, "3": 1}},
                        "near": {"size_histogram": {"2": 7}}})
    charts.contamination_chart(_contamination({"web": {"a": 1, "b": 0}}))
    assert not [r for r in caplog.records if r.name.startswith("matplotlib.category")]
