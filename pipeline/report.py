"""The prep job's report: `report.json` (machine-readable) and `report.html` (one static page
that opens offline: charts are PNGs made with matplotlib and embedded in the page)."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import corpus_stage_charts, stage_registry

# Corpus stages (pipeline/corpus_stages.py) run after every per-document stage, in this order
# unless the job says otherwise (with dedup.keep: quality_score the classifier runs first).
CORPUS_STAGES = ("dedup", "quality_classifier", "decontamination")


def _stage_of(reason: str) -> str:
    return reason.split(".", 1)[0]


def stage_order(corpus_stages: list[str] | tuple[str, ...] = CORPUS_STAGES) -> list[str]:
    rest = [s for s in CORPUS_STAGES if s not in corpus_stages]
    return list(stage_registry.STAGES) + list(corpus_stages) + rest


def funnel(manifest: dict[str, Any], corpus_stages: list[str] | tuple[str, ...] = CORPUS_STAGES
           ) -> list[tuple[str, int]]:
    """Documents remaining after each stage, in execution order, starting from the input."""
    remaining = manifest["documents_in"]
    steps = [("input", remaining)]
    by_stage: dict[str, int] = {}
    for reason, n in manifest["dropped"].items():
        by_stage[_stage_of(reason)] = by_stage.get(_stage_of(reason), 0) + n
    known = stage_order(corpus_stages)
    for stage in known + sorted(set(by_stage) - set(known)):
        if stage in by_stage:
            remaining -= by_stage[stage]
            steps.append((stage, remaining))
    return steps


def write_report(output_dir: str, manifests: list[dict[str, Any] | None], *, ran: list[str],
                 skipped: list[str], wall_time_s: float,
                 dedup: dict[str, Any] | None = None,
                 corpus_stages: list[str] | tuple[str, ...] = CORPUS_STAGES,
                 quality_classifier: dict[str, Any] | None = None,
                 decontamination: dict[str, Any] | None = None) -> dict[str, Any]:
    """`quality_classifier` is {'quality_model': ..., 'quality_scores': ...} and
    `decontamination` the stage's decontamination.json, as the stages wrote them."""
    sources = [m for m in manifests if m]
    totals = {
        "documents_in": sum(m["documents_in"] for m in sources),
        "bytes_in": sum(m["bytes_in"] for m in sources),
        "documents_out": sum(sum(m["documents_out"].values()) for m in sources),
        "bytes_out": sum(sum(m["bytes_out"].values()) for m in sources),
        "dead_letters": sum(m["dead_letters"] for m in sources),
    }
    summary = {
        "output_dir": output_dir, "ran": ran, "skipped": skipped, "wall_time_s": wall_time_s,
        "totals": totals,
        "sources": {m["source"]: {k: m[k] for k in (
            "role", "format", "documents_in", "bytes_in", "documents_out", "bytes_out",
            "dropped", "lines_removed", "pii_redactions", "languages_seen", "languages_out",
            "dead_letters", "config_hash")} | {"funnel": funnel(m, corpus_stages)}
            for m in sources},
        "corpus_stages": list(corpus_stages),
        "dedup": dedup or {},
        "quality_classifier": quality_classifier or {},
        "decontamination": decontamination or {},
    }
    with FileSystems.create(FileSystems.join(output_dir, "report.json")) as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True).encode("utf-8"))
    with FileSystems.create(FileSystems.join(output_dir, "report.html")) as f:
        f.write(render_html(summary).encode("utf-8"))
    return summary


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _funnel_chart(summary: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = summary["sources"]
    stages = [s for s in stage_order(summary.get("corpus_stages", CORPUS_STAGES))
              if any(_stage_of(r) == s for m in sources.values() for r in m["dropped"])]
    names = list(sources)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.5))
    left = [0] * len(names)
    colours = plt.get_cmap("tab10")

    def bar(values, label, colour):
        ax.barh(names, values, left=left, label=label, color=colour)
        for i, v in enumerate(values):
            left[i] += v

    bar([sources[n]["documents_out"]["train"] for n in names], "kept (train)", "#2a9d8f")
    bar([sources[n]["documents_out"]["validation"] for n in names], "kept (validation)", "#8ecae6")
    for i, stage in enumerate(stages):
        bar([sum(v for r, v in sources[n]["dropped"].items() if _stage_of(r) == stage)
             for n in names], f"dropped: {stage}", colours(i + 2))
    ax.set_xlabel("documents")
    ax.set_title("Where each source's documents went")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.invert_yaxis()
    out = _png(fig)
    plt.close(fig)
    return out


def _language_chart(summary: dict[str, Any], top: int = 20) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen: dict[str, int] = {}
    kept: dict[str, int] = {}
    for m in summary["sources"].values():
        for lang, n in m["languages_seen"].items():
            seen[lang] = seen.get(lang, 0) + n
        for lang, n in m["languages_out"].items():
            kept[lang] = kept.get(lang, 0) + n
    langs = sorted(seen, key=lambda k: (-seen[k], k))[:top]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(langs, [seen[k] for k in langs], color="#bbbbbb", label="identified")
    ax.bar(langs, [kept.get(k, 0) for k in langs], color="#2a9d8f", label="kept")
    ax.set_yscale("log")
    ax.set_ylabel("documents (log)")
    ax.set_title("Languages identified (lid.176) and kept")
    ax.legend(fontsize=8)
    out = _png(fig)
    plt.close(fig)
    return out


def _dedup_chart(dedup: dict[str, Any]) -> str:
    """Group-size histograms of exact and near duplicates (log-scaled counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def _dedup_section(dedup: dict[str, Any]) -> str:
    if not dedup:
        return ""
    e = html.escape
    parts = ["<h2>Deduplication</h2>"]
    if any(d.get("size_histogram") for d in dedup.values()):
        parts.append(f'<img src="data:image/png;base64,{_dedup_chart(dedup)}">')
    for kind in ("exact", "near"):
        d = dedup.get(kind)
        if not d:
            continue
        removed = ", ".join(f"{e(s)} {n:,}" for s, n in sorted(d["removed_per_source"].items()))
        line = (f"<p><b>{kind}</b>: {d['groups']:,} groups holding {d['documents_in_groups']:,} "
                f"documents; {d['removed']:,} removed ({removed or 'none'}).")
        if kind == "near":
            c = d.get("counters", {})
            comp = d.get("components", {})
            line += (f" Candidate pairs {c.get('candidate_pairs', 0):,}, verified duplicates "
                     f"{c.get('verified_pairs', 0):,}, LSH false positives removed by "
                     f"verification {c.get('false_positive_pairs', 0):,}; capped buckets "
                     f"{c.get('capped_buckets', 0):,}; connected components "
                     f"{'converged' if comp.get('converged') else 'NOT converged'} after "
                     f"{comp.get('rounds_with_changes', 0)} of {comp.get('rounds_run', 0)} "
                     f"rounds.")
        parts.append(line + "</p>")
        groups = d.get("largest", []) + [x for x in d.get("examples", [])
                                        if x not in d.get("largest", [])]
        if groups:
            rows = []
            for g in groups:
                members = "<br>".join(
                    f"{'kept' if m['kept'] else 'removed'}: {e(m['source'])} {e(m['id'])}: "
                    f"<i>{e(m['first_line'])}</i>" for m in g["members"])
                rows.append(f"<tr><td>{g['size']}</td><td class=small>{members}</td></tr>")
            parts.append(f"<table><tr><th>size</th><th>{kind} group (largest first, then a "
                         f"sample)</th></tr>{''.join(rows)}</table>")
    return "\n".join(parts)


def _quality_section(stats: dict[str, Any]) -> str:
    """Score histograms per scored source, with the model's version and held-out AUC."""
    scores, model = stats.get("quality_scores"), stats.get("quality_model") or {}
    if not scores:
        return ""
    e = html.escape
    auc = model.get("heldout_auc")
    png = base64.b64encode(corpus_stage_charts.quality_score_chart(scores, model)).decode("ascii")
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{d['scored']:,}</td><td>{d['kept']:,}</td>"
        f"<td>{100.0 * d['kept'] / d['scored'] if d['scored'] else 0.0:.1f}%</td></tr>"
        for name, d in sorted(scores["sources"].items()))
    rule = e(str(scores.get("keep")))
    if scores.get("keep") == "pareto":
        rule += f" (alpha {scores['pareto_alpha']})"
    elif scores.get("keep") == "threshold":
        rule += f" {scores['threshold']}"
    return (f"<h2>Quality classifier</h2><p>Model {e(str(model.get('model_version')))} "
            f"({'trained in this job' if model.get('trained') else 'loaded'}), held-out AUC "
            f"{'n/a' if auc is None else f'{auc:.4f}'}; keep rule: {rule}.</p>"
            f'<img src="data:image/png;base64,{png}">'
            f"<table><tr><th>source</th><th>scored</th><th>kept</th><th>kept fraction</th>"
            f"</tr>{rows}</table>")


def _decontamination_section(stats: dict[str, Any]) -> str:
    """Documents contaminated per evaluation set (and per source in the chart)."""
    if not stats:
        return ""
    e = html.escape
    png = base64.b64encode(corpus_stage_charts.contamination_chart(stats)).decode("ascii")
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{d.get('texts', 0):,}</td>"
        f"<td>{d.get('documents_contaminated', 0):,}</td></tr>"
        for name, d in sorted(stats["eval_sets"].items()))
    checked = sum(s["checked"] for s in stats["sources"].values())
    return (f"<h2>Decontamination</h2><p>{checked:,} documents checked for shared "
            f"{stats['ngram']}-grams; action: {e(stats['action'])}.</p>"
            f'<img src="data:image/png;base64,{png}">'
            f"<table><tr><th>eval set</th><th>texts</th><th>documents contaminated</th></tr>"
            f"{rows}</table>")


def render_html(summary: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for name, m in summary["sources"].items():
        out = sum(m["documents_out"].values())
        kept_pct = 100.0 * out / m["documents_in"] if m["documents_in"] else 0.0
        drops = "<br>".join(f"{e(r)}: {n}" for r, n in sorted(m["dropped"].items(),
                                                              key=lambda kv: -kv[1]))
        pii = ", ".join(f"{e(k)} {n}" for k, n in m["pii_redactions"].items()) or "none"
        rows.append(
            f"<tr><td>{e(name)}</td><td>{e(m['role'])}</td><td>{e(m['format'])}</td>"
            f"<td>{m['documents_in']:,}</td><td>{m['bytes_in'] / 1e6:.2f}</td>"
            f"<td>{m['documents_out']['train']:,} / {m['documents_out']['validation']:,}</td>"
            f"<td>{kept_pct:.1f}%</td><td class=small>{drops or 'none'}</td>"
            f"<td>{pii}</td><td>{m['dead_letters']}</td></tr>")
    has_langs = any(m["languages_seen"] for m in summary["sources"].values())
    lang_chart = (f'<h2>Languages</h2><img src="data:image/png;base64,{_language_chart(summary)}">'
                  if has_langs else "")
    t = summary["totals"]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Prep report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
.small{{font-size:80%}}</style></head><body>
<h1>Prep report</h1>
<p>{t['documents_in']:,} documents ({t['bytes_in'] / 1e6:.2f} MB) in,
{t['documents_out']:,} documents ({t['bytes_out'] / 1e6:.2f} MB) out,
{t['dead_letters']:,} dead letters. Ran: {e(', '.join(summary['ran']) or 'nothing')};
skipped (already complete): {e(', '.join(summary['skipped']) or 'none')};
wall time {summary['wall_time_s']} s.</p>
<h2>Funnel</h2><img src="data:image/png;base64,{_funnel_chart(summary)}">
<table><tr><th>source</th><th>role</th><th>format</th><th>docs in</th><th>MB in</th>
<th>out train / validation</th><th>kept</th><th>dropped by rule</th><th>PII redacted</th>
<th>dead letters</th></tr>{''.join(rows)}</table>
{lang_chart}
{_dedup_section(summary.get("dedup", {}))}
{_quality_section(summary.get("quality_classifier", {}))}
{_decontamination_section(summary.get("decontamination", {}))}
</body></html>"""


def console_summary(summary: dict[str, Any], output_dir: str) -> str:
    lines = [f"{'source':<16}{'docs in':>10}{'train':>10}{'valid':>8}{'kept':>8}"
             f"{'MB in':>9}{'MB out':>9}{'dead':>6}"]
    for name, m in summary["sources"].items():
        out = sum(m["documents_out"].values())
        kept = 100.0 * out / m["documents_in"] if m["documents_in"] else 0.0
        lines.append(f"{name:<16}{m['documents_in']:>10,}{m['documents_out']['train']:>10,}"
                     f"{m['documents_out']['validation']:>8,}{kept:>7.1f}%"
                     f"{m['bytes_in'] / 1e6:>9.2f}{sum(m['bytes_out'].values()) / 1e6:>9.2f}"
                     f"{m['dead_letters']:>6}")
    t = summary["totals"]
    lines += [
        f"in: {t['documents_in']:,} documents, {t['bytes_in'] / 1e6:.2f} MB; "
        f"out: {t['documents_out']:,} documents, {t['bytes_out'] / 1e6:.2f} MB; "
        f"dead letters: {t['dead_letters']:,}; wall time {summary['wall_time_s']} s",
        f"ran: {', '.join(summary['ran']) or 'nothing'}; "
        f"skipped (complete): {', '.join(summary['skipped']) or 'none'}",
        f"outputs: {output_dir}/<source>/{{train,validation}}-*.tfrecord, manifest.json, "
        f"rejected-*.jsonl.gz, dead_letters.jsonl.gz",
        f"report:  {FileSystems.join(output_dir, 'report.html')} "
        f"(and report.json)",
    ]
    return "\n".join(lines)
