"""Charts for the report sections of the corpus stages, drawn from their summary records.

Each function takes a stage's summary data and returns PNG bytes made with matplotlib (Agg
backend, nothing displayed); `img_tag` embeds them in a page, so report.html opens offline.
"""

from __future__ import annotations

import base64
import io
from typing import Any


def img_tag(png: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


# A count axis is logarithmic only when its values span this factor or more; below it a linear
# axis with whole-number ticks reads at a glance (log ticks on 1 to 20 groups read "6x10^0").
LOG_SPAN = 100


def count_axis(ax, values: list[int], label: str, axis: str = "y") -> None:
    """Labels a count axis and picks its scale: log for counts spanning LOG_SPAN or more, else
    linear with whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    positive = [v for v in values if v > 0]
    wide = bool(positive) and max(positive) >= LOG_SPAN * min(positive)
    getattr(ax, f"set_{axis}scale")("log" if wide else "linear")
    getattr(ax, f"set_{axis}label")(f"{label} (log)" if wide else label)
    if not wide:
        getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def quality_score_chart(scores: dict[str, Any], model: dict[str, Any] | None = None) -> bytes:
    """One panel per scored source: histogram of all scores, and of the kept ones on top."""
    plt = _pyplot()
    sources = scores["sources"]
    edges = scores["bin_edges"]
    width = edges[1] - edges[0]
    names = sorted(sources) or ["(nothing scored)"]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names) + 0.6), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        data = sources.get(name)
        if data:
            ax.bar(edges[:-1], data["histogram"], width=width, align="edge",
                   color="#bbbbbb", label=f"scored ({data['scored']:,})")
            ax.bar(edges[:-1], data["kept_histogram"], width=width, align="edge",
                   color="#2a9d8f", label=f"kept ({data['kept']:,})")
            ax.legend(fontsize=8, loc="upper left")
        if scores.get("keep") == "threshold":
            ax.axvline(scores["threshold"], color="#e76f51", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylabel(name)
    rule = scores.get("keep")
    if rule == "pareto":
        rule = f"pareto (alpha {scores['pareto_alpha']})"
    elif rule == "threshold":
        rule = f"threshold {scores['threshold']}"
    auc = (model or {}).get("heldout_auc")
    title = f"Quality scores, model {scores['model_version']}, keep: {rule}"
    if auc is not None:
        title += f", held-out AUC {auc:.3f}"
    axes[0, 0].set_title(title, fontsize=10)
    axes[-1, 0].set_xlabel("quality score")
    out = _png(fig)
    plt.close(fig)
    return out


def contamination_chart(stats: dict[str, Any]) -> bytes:
    plt = _pyplot()
    fig = contamination_figure(stats)
    out = _png(fig)
    plt.close(fig)
    return out


def contamination_figure(stats: dict[str, Any]):
    """Documents contaminated per evaluation set: one bar per source that has any (side by side
    within an evaluation set's row), and a legend naming only those sources."""
    plt = _pyplot()
    sets = sorted(stats["eval_sets"])
    sources = [s for s in sorted(stats["sources"])
               if any(stats["sources"][s]["by_eval_set"].get(e, 0) for e in sets)]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(1, len(sets)) * max(1, len(sources)) + 1.2))
    height = 0.8 / max(1, len(sources))
    colours = plt.get_cmap("tab10")
    counts_drawn = []
    for j, source in enumerate(sources):
        counts = [stats["sources"][source]["by_eval_set"].get(s, 0) for s in sets]
        offset = (j - (len(sources) - 1) / 2) * height
        ax.barh([i + offset for i in range(len(sets))], counts, height=height,
                color=colours(j % 10), label=source)
        counts_drawn += counts
    ax.set_yticks(range(len(sets)), sets)
    ax.invert_yaxis()
    count_axis(ax, counts_drawn, "documents sharing an n-gram", axis="x")
    title = f"Contamination ({stats['ngram']}-grams, action: {stats['action']})"
    if len(sources) > 1:
        ax.legend(fontsize=8)
    elif sources:  # one bar per row: the title names its source instead of a legend
        title += f", all in source {sources[0]}"
    else:
        title += ": none found"
    ax.set_title(title, fontsize=10)
    return fig


def dedup_chart(dedup: dict[str, Any]) -> bytes:
    plt = _pyplot()
    fig = dedup_figure(dedup)
    out = _png(fig)
    plt.close(fig)
    return out


def dedup_figure(dedup: dict[str, Any]):
    """Group-size histograms of exact and near duplicates (counts on a log axis only when they
    span LOG_SPAN or more)."""
    plt = _pyplot()
    kinds = [k for k in ("exact", "near") if dedup.get(k, {}).get("size_histogram")]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.0), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        hist = dedup[kind]["size_histogram"]
        sizes = sorted(hist, key=int)
        counts = [hist[s] for s in sizes]
        # Positions, not the size strings: matplotlib would log "categorical units" for each.
        ax.bar(range(len(sizes)), counts, color="#e76f51" if kind == "near" else "#264653")
        count_axis(ax, counts, "groups")
        ax.set_xlabel("documents per group")
        ax.set_title(f"{kind} duplicate groups")
        step = max(1, len(sizes) // 10) if len(sizes) > 15 else 1
        ax.set_xticks(range(0, len(sizes), step), sizes[::step])
        pad = max(0, 4 - len(sizes)) / 2  # one or two bars stay bar-wide and centred
        ax.set_xlim(-0.6 - pad, len(sizes) - 0.4 + pad)
    return fig
