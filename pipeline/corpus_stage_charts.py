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
    """Documents contaminated per evaluation set, one bar group per source."""
    plt = _pyplot()
    sets = sorted(stats["eval_sets"])
    sources = sorted(stats["sources"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(1, len(sets)) * max(1, len(sources)) + 1.2))
    height = 0.8 / max(1, len(sources))
    colours = plt.get_cmap("tab10")
    for j, source in enumerate(sources):
        counts = [stats["sources"][source]["by_eval_set"].get(s, 0) for s in sets]
        ax.barh([i + j * height for i in range(len(sets))], counts, height=height,
                color=colours(j % 10), label=source)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(sets))], sets)
    ax.invert_yaxis()
    ax.set_xlabel("documents sharing an n-gram")
    ax.set_title(f"Contamination ({stats['ngram']}-grams, action: {stats['action']})",
                 fontsize=10)
    if sources:
        ax.legend(fontsize=8)
    out = _png(fig)
    plt.close(fig)
    return out


def dedup_chart(dedup: dict[str, Any]) -> bytes:
    """Group-size histograms of exact and near duplicates (log-scaled counts)."""
    plt = _pyplot()
    kinds = [k for k in ("exact", "near") if dedup.get(k, {}).get("size_histogram")]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.0), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        hist = dedup[kind]["size_histogram"]
        sizes = sorted(hist, key=int)
        ax.bar(sizes, [hist[s] for s in sizes], color="#e76f51" if kind == "near" else "#264653")
        ax.set_yscale("log")
        ax.set_xlabel("documents per group")
        ax.set_ylabel("groups (log)")
        ax.set_title(f"{kind} duplicate groups")
        if len(sizes) > 15:
            ax.set_xticks(sizes[::max(1, len(sizes) // 10)])
    out = _png(fig)
    plt.close(fig)
    return out
