"""The prep job's report: `report.json` (machine-readable) and `report.html` (one static page
that opens offline: charts are PNGs made with matplotlib and embedded in the page)."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import corpus_stage_charts, drop_warnings, json_files, stage_registry


def _stage_of(reason: str) -> str:
    return reason.split(".", 1)[0]


def stage_order(corpus_stages: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Per-document steps, then the corpus stages in the order they ran, then the others."""
    rest = [s for s in stage_registry.CORPUS_STAGES if s not in corpus_stages]
    return list(stage_registry.STAGES) + list(corpus_stages) + rest


def funnel(manifest: dict[str, Any], corpus_stages: list[str] | tuple[str, ...] = ()
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
                 skipped: list[str], wall_time_s: float, corpus_stages: list[str],
                 stage_data: dict[str, Any], warnings: list[dict[str, Any]] = (),
                 examples: dict[str, dict[str, list]] | None = None,
                 line_examples: dict[str, dict[str, list]] | None = None) -> dict[str, Any]:
    """Writes report.json and report.html. `corpus_stages`: the corpus stages that ran, in
    order; `stage_data`: each registered corpus stage's report data ({} when off);
    `warnings`: pipeline/drop_warnings.py's; `examples`: source -> reason -> dropped
    documents' excerpts, `line_examples`: source -> reason -> excerpts of lines a line rule
    removed (pipeline/drop_examples.py)."""
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
            "dead_letters", "config_hash")} | {
                "funnel": funnel(m, corpus_stages),
                "removed_by_rule": drop_warnings.rule_removals(m),
                "bytes_removed": m.get("bytes_removed", {}),
                "skipped_checks": m.get("skipped_checks", {}),
                "step_documents": m.get("step_documents", {}),
                "step_seconds": m.get("step_seconds", {}),
                "examples": (examples or {}).get(m["source"], {}),
                "removed_line_examples": (line_examples or {}).get(m["source"], {})}
            for m in sources},
        "warnings": list(warnings),
        "corpus_stages": list(corpus_stages),
        **stage_data,
    }
    json_files.write_json(FileSystems.join(output_dir, "report.json"), summary)
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
    stages = [s for s in stage_order(summary.get("corpus_stages", ()))
              if any(_stage_of(r) == s for m in sources.values() for r in m["dropped"])]
    names = list(sources)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.5))
    left = [0] * len(names)
    colours = plt.get_cmap("tab10")

    def bar(values, label, colour):
        ax.barh(range(len(names)), values, left=left, label=label, color=colour)
        for i, v in enumerate(values):
            left[i] += v

    bar([sources[n]["documents_out"]["train"] for n in names], "kept (train)", "#2a9d8f")
    bar([sources[n]["documents_out"]["validation"] for n in names], "kept (validation)", "#8ecae6")
    for i, stage in enumerate(stages):
        bar([sum(v for r, v in sources[n]["dropped"].items() if _stage_of(r) == stage)
             for n in names], f"dropped: {stage}", colours(i + 2))
    ax.set_yticks(range(len(names)), names)
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
    x = range(len(langs))
    ax.bar(x, [seen[k] for k in langs], color="#bbbbbb", label="identified")
    ax.bar(x, [kept.get(k, 0) for k in langs], color="#2a9d8f", label="kept")
    ax.set_xticks(x, langs)
    corpus_stage_charts.count_axis(ax, [seen[k] for k in langs] + [kept.get(k, 0) for k in langs],
                                   "documents")
    ax.set_title("Languages identified (lid.176) and kept")
    ax.legend(fontsize=8)
    out = _png(fig)
    plt.close(fig)
    return out


@dataclasses.dataclass(frozen=True)
class ReportSection:
    """One section of the report: `key` names it ("funnel", "languages" or a corpus stage),
    `html` is its body (an HTML fragment without its heading)."""

    key: str
    title: str
    html: str


def report_sections(summary: dict[str, Any]) -> list[ReportSection]:
    """The report's sections, each rendered from report.json's data alone, so that another
    page (launch/run_report.py) can compose them under its own headings."""
    sections = []
    if summary.get("warnings"):
        sections.append(ReportSection("warnings", "Warnings", _warnings_section(summary)))
    sections.append(ReportSection("funnel", "Funnel", _funnel_section(summary)))
    if any(m.get("removed_by_rule") for m in summary["sources"].values()):
        sections.append(ReportSection("removed", "What each rule removed",
                                      _removed_section(summary)))
    if any(m["languages_seen"] for m in summary["sources"].values()):
        sections.append(ReportSection("languages", "Languages", _img(_language_chart(summary))))
    for name, stage in stage_registry.CORPUS_STAGES.items():
        body = stage.report_section(summary.get(name) or {}) if summary.get(name) else ""
        if body:
            sections.append(ReportSection(name, stage.title, body))
    return sections


def _warnings_section(summary: dict[str, Any]) -> str:
    e = html.escape
    items = "".join(f"<li><b>{'error' if w.get('fatal') else 'warning'}</b>: {e(w['message'])}"
                    f"</li>" for w in summary["warnings"])
    return f"<ul>{items}</ul>"


def _removed_section(summary: dict[str, Any]) -> str:
    """Per source and rule: documents, lines and bytes removed (share of the source), the
    checks skipped for a language, and excerpts of dropped documents."""
    e = html.escape
    parts = []
    for name, m in summary["sources"].items():
        removed = m.get("removed_by_rule") or {}
        if not removed:
            continue
        docs_in, bytes_in = m["documents_in"] or 1, m["bytes_in"] or 1
        rows = "".join(
            f"<tr><td>{e(rule)}</td><td>{r['documents']:,} ({100 * r['documents'] / docs_in:.1f}%)"
            f"</td><td>{r['lines']:,}</td><td>"
            + (f"{r['bytes'] / 1e6:.3f} ({100 * r['bytes'] / bytes_in:.1f}%)"
               if r.get("bytes_counted", True) else "not counted")
            + "</td></tr>"
            for rule, r in sorted(removed.items(), key=lambda kv: -kv[1]["bytes"]))
        skipped = ", ".join(f"{e(k)}: {n:,} documents" for k, n in
                            sorted((m.get("skipped_checks") or {}).items()))
        examples = []
        for reason, found in sorted((m.get("examples") or {}).items()):
            for x in found:
                examples.append(f"<tr><td>{e(reason)}</td><td>{e(str(x['id']))} "
                                f"({e(str(x['lang']))}, {x['chars']:,} chars)</td>"
                                f"<td class=small><pre>{e(x['excerpt'])}</pre></td></tr>")
        line_rows = "".join(
            f"<tr><td>{e(reason)}</td><td>{n:,}</td>"
            f"<td>{(m.get('bytes_removed') or {}).get(reason, 0) / 1e6:.3f}</td></tr>"
            for reason, n in sorted((m.get("lines_removed") or {}).items(),
                                    key=lambda kv: -kv[1]))
        line_examples = "".join(
            f"<tr><td>{e(reason)}</td><td>{e(str(x['id']))} ({e(str(x['lang']))}, "
            f"{x['lines']:,} line(s))</td><td class=small><pre>{e(x['excerpt'])}</pre></td></tr>"
            for reason, found in sorted((m.get("removed_line_examples") or {}).items())
            for x in found)
        parts.append(
            f"<h3>{e(name)}</h3><table><tr><th>rule</th><th>documents dropped</th>"
            f"<th>lines removed</th><th>MB removed</th></tr>{rows}</table>"
            + (f"<p>Checks skipped for a language (no sound setting): {skipped}</p>"
               if skipped else "")
            + (f"<details><summary>examples of dropped documents</summary><table>"
               f"<tr><th>reason</th><th>document</th><th>start of its text</th></tr>"
               f"{''.join(examples)}</table></details>" if examples else "")
            + (f"<p>Lines removed by line rules:</p><table><tr><th>reason</th>"
               f"<th>lines</th><th>MB</th></tr>{line_rows}</table>" if line_rows else "")
            + (f"<details><summary>examples of removed lines</summary><table>"
               f"<tr><th>reason</th><th>document</th><th>removed lines</th></tr>"
               f"{line_examples}</table></details>" if line_examples else ""))
    return "\n".join(parts)


def _img(png_base64: str) -> str:
    return f'<img src="data:image/png;base64,{png_base64}">'


def _funnel_section(summary: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for name, m in summary["sources"].items():
        out = sum(m["documents_out"].values())
        kept_pct = 100.0 * out / m["documents_in"] if m["documents_in"] else 0.0
        bytes_pct = (100.0 * sum(m["bytes_out"].values()) / m["bytes_in"]
                     if m["bytes_in"] else 0.0)
        drops = "<br>".join(f"{e(r)}: {n}" for r, n in sorted(m["dropped"].items(),
                                                              key=lambda kv: -kv[1]))
        pii = ", ".join(f"{e(k)} {n}" for k, n in m["pii_redactions"].items()) or "none"
        rows.append(
            f"<tr><td>{e(name)}</td><td>{e(m['role'])}</td><td>{e(m['format'])}</td>"
            f"<td>{m['documents_in']:,}</td><td>{m['bytes_in'] / 1e6:.2f}</td>"
            f"<td>{m['documents_out']['train']:,} / {m['documents_out']['validation']:,}</td>"
            f"<td>{kept_pct:.1f}%</td><td>{sum(m['bytes_out'].values()) / 1e6:.2f}</td>"
            f"<td>{bytes_pct:.1f}%</td><td class=small>{drops or 'none'}</td>"
            f"<td>{pii}</td><td>{m['dead_letters']}</td></tr>")
    return f"""{_img(_funnel_chart(summary))}
<table><tr><th>source</th><th>role</th><th>format</th><th>docs in</th><th>MB in</th>
<th>out train / validation</th><th>kept</th><th>MB out</th><th>bytes kept</th>
<th>dropped by rule</th><th>PII redacted</th>
<th>dead letters</th></tr>{''.join(rows)}</table>"""


def render_html(summary: dict[str, Any]) -> str:
    e = html.escape
    t = summary["totals"]
    body = "\n".join(f"<h2>{e(s.title)}</h2>{s.html}" for s in report_sections(summary))
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
{body}
</body></html>"""


def stage_rates(summary: dict[str, Any]) -> dict[str, float]:
    """Per-document step -> documents per second of time spent in it, over all sources."""
    docs: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for m in summary["sources"].values():
        for name, n in (m.get("step_documents") or {}).items():
            docs[name] = docs.get(name, 0) + n
            seconds[name] = seconds.get(name, 0.0) + (m.get("step_seconds") or {}).get(name, 0)
    return {name: docs[name] / seconds[name] for name in docs if seconds.get(name)}


def console_summary(summary: dict[str, Any], output_dir: str) -> str:
    lines = [f"{'source':<16}{'docs in':>10}{'train':>10}{'valid':>8}{'kept':>8}"
             f"{'MB in':>9}{'MB out':>9}{'bytes':>8}{'dead':>6}"]
    for name, m in summary["sources"].items():
        out = sum(m["documents_out"].values())
        kept = 100.0 * out / m["documents_in"] if m["documents_in"] else 0.0
        bytes_kept = (100.0 * sum(m["bytes_out"].values()) / m["bytes_in"]
                      if m["bytes_in"] else 0.0)
        lines.append(f"{name:<16}{m['documents_in']:>10,}{m['documents_out']['train']:>10,}"
                     f"{m['documents_out']['validation']:>8,}{kept:>7.1f}%"
                     f"{m['bytes_in'] / 1e6:>9.2f}{sum(m['bytes_out'].values()) / 1e6:>9.2f}"
                     f"{bytes_kept:>7.1f}%{m['dead_letters']:>6}")
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
    rates = stage_rates(summary)
    if rates:
        lines.append("per-stage throughput (documents per CPU-second in the stage, all sources): "
                     + ", ".join(f"{name} {rate:,.0f}" for name, rate in rates.items()))
    lines += [f"{'ERROR' if w.get('fatal') else 'WARNING'}: {w['message']}"
              for w in summary.get("warnings", [])]
    return "\n".join(lines)
