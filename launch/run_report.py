"""One static HTML page for a run: data, mixture, training, samples (opens offline).

    python -m launch.run_report --prep_dir demo_out/prep --model_dir demo_out/runs/tiny \
        --mixture_spec tasks/specs/palm_demo.yaml --samples demo_out/samples.json \
        --output demo_out/report.html

Sections appear when their inputs exist: the prep job's funnel per source and rule and its language
mix (prep/report.json), dedup cluster sizes and quality-score histograms (the corpus stages'
summaries), the token mixture the run was actually fed versus the spec's weights, the loss and
per-task evaluation curves and MFU (MODEL_DIR/metrics.jsonl), and the samples. Charts are PNGs
made with matplotlib and embedded, so the page is one file.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import os
import sys
from typing import Any

from launch.run import paths
from pipeline import console

log = logging.getLogger("launch")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _img(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def read_metrics(model_dir: str) -> tuple[list[dict], list[dict], list[dict]]:
    """(train records, eval records, events) of MODEL_DIR/metrics.jsonl. A resumed run appends
    steps it already logged before being killed; the last record of each step wins."""
    train, evals, events = {}, {}, []
    with paths.open_file(paths.join(model_dir, "metrics.jsonl")) as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            kind = record.get("kind")
            if kind == "train":
                train[record["step"]] = record
            elif kind == "eval":
                evals[record["step"]] = record
            elif kind == "event":
                events.append(record)
    return ([train[s] for s in sorted(train)], [evals[s] for s in sorted(evals)], events)


def training_charts(train: list[dict], evals: list[dict]) -> str:
    plt = _pyplot()
    parts = []
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8, color="#999999",
            label="train loss (per step)")
    if evals:
        ax.plot([r["step"] for r in evals], [r["training_eval/overall/loss"] for r in evals],
                "o-", color="#e76f51", label="validation loss (all tasks)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.legend(fontsize=8)
    parts.append(_img(fig))
    tasks = sorted({k.split("/")[1] for r in evals for k in r
                    if k.endswith("/loss") and "/overall/" not in k})
    if tasks:
        fig, ax = plt.subplots(figsize=(9, 3.4))
        for task in tasks:
            key = f"training_eval/{task}/loss"
            points = [(r["step"], r[key]) for r in evals if key in r]
            ax.plot(*zip(*points), "o-", ms=3, label=task)
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss")
        ax.set_title("Validation loss per task")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        parts.append(_img(fig))
    timed = [r for r in train if "timing/mfu" in r]
    if timed:
        fig, ax = plt.subplots(figsize=(9, 2.8))
        ax.plot([r["step"] for r in timed], [100 * r["timing/mfu"] for r in timed], "o-", ms=3,
                color="#264653")
        ax.set_xlabel("step")
        ax.set_ylabel("MFU (%)")
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in timed],
                 [r["timing/target_tokens_per_second"] for r in timed], "s--", ms=3,
                 color="#2a9d8f")
        ax2.set_ylabel("tokens/s")
        ax.set_title("Model FLOPs utilisation (PaLM's formula) and throughput")
        parts.append(_img(fig))
    return "\n".join(parts)


def attributed_examples(mixture_name: str, sequence_length: int, seed: int, use_cached: bool):
    """(task name, example) pairs of a Mixture's training stream, in the order it delivers them.

    The Mixture samples with `tf.data.Dataset.sample_from_datasets(datasets, rates, seed)`, whose
    choice of task depends on the seed and rates only; the same choice sequence, built over one
    constant index dataset per task, is zipped with the Mixture's own output to name every
    example's task (tests check the naming against the examples' contents).
    """
    import seqio
    import tensorflow as tf

    mixture = seqio.get_mixture_or_task(mixture_name)
    stream = mixture.get_dataset({"targets": sequence_length}, split="train",
                                 use_cached=use_cached, shuffle=True, seed=seed)
    if not isinstance(mixture, seqio.Mixture):
        for example in stream.as_numpy_iterator():
            yield mixture.name, example
        return
    tasks = [t for t in mixture.tasks if "train" in t.splits]
    rates = [float(mixture.get_rate(t)) for t in tasks]
    choices = tf.data.Dataset.sample_from_datasets(
        [tf.data.Dataset.from_tensors(i).repeat() for i in range(len(tasks))], rates, seed,
        stop_on_empty_dataset=True)
    for index, example in tf.data.Dataset.zip((choices, stream)).as_numpy_iterator():
        yield tasks[int(index)].name, example


def delivered_mixture(mixture_name: str, sequence_length: int, seed: int, target_tokens: int,
                      use_cached: bool) -> dict[str, int]:
    """Target tokens per task in the run's training stream, up to `target_tokens` (the tokens the
    run trained on). Counted before packing, which moves no tokens between tasks."""
    counts: dict[str, int] = {}
    total = 0
    for task, example in attributed_examples(mixture_name, sequence_length, seed, use_cached):
        n = int(example["targets"].size)
        counts[task] = counts.get(task, 0) + n
        total += n
        if total >= target_tokens:
            break
    return counts


def mixture_chart(delivered: dict[str, int], weights: dict[str, float]) -> str:
    import numpy as np

    plt = _pyplot()
    names = sorted(weights)
    total = sum(delivered.values()) or 1
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(x - 0.2, [100 * weights[n] for n in names], 0.4, label="spec weight", color="#bbbbbb")
    ax.bar(x + 0.2, [100 * delivered.get(n, 0) / total for n in names], 0.4,
           label="tokens delivered", color="#2a9d8f")
    ax.set_xticks(x, names, rotation=20, fontsize=8)
    ax.set_ylabel("% of tokens")
    ax.set_title(f"Token mixture delivered to training ({total:,} tokens) vs the spec's weights")
    ax.legend(fontsize=8)
    return _img(fig)


def data_sections(prep_dir: str) -> str:
    """The prep job's own charts and tables, from its report.json and corpus-stage summaries."""
    from pipeline import report as prep_report

    path = paths.join(prep_dir, "report.json")
    if not paths.exists(path):
        return ""
    summary = json.loads(paths.read_text(path))
    return "\n".join(f"<h3>{html.escape(s.title)}</h3>{s.html}"
                     for s in prep_report.report_sections(summary))


def newest_lm_eval_results(lm_eval_dir: str) -> str | None:
    """The newest lm-eval results_<time>.json under `lm_eval_dir` (lm-eval writes them in a
    sub-folder named after the model)."""
    found = []
    for folder, _, files in os.walk(lm_eval_dir):
        found += [os.path.join(folder, f) for f in files
                  if f.startswith("results_") and f.endswith(".json")]
    return max(found, key=os.path.getmtime) if found else None


def lm_eval_section(lm_eval_dir: str | None, export_dir: str | None) -> str:
    """Benchmark scores (lm-eval's results file) and where the transformers export is."""
    e = html.escape
    parts = []
    results = newest_lm_eval_results(lm_eval_dir) if lm_eval_dir else None
    if results:
        record = json.loads(paths.read_text(results))
        rows = []
        for task, metrics in sorted(record.get("results", {}).items()):
            for key, value in sorted(metrics.items()):
                if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
                    continue
                metric, _, filt = key.partition(",")
                stderr = metrics.get(f"{metric}_stderr,{filt}")
                err = f"± {stderr:.4f}" if isinstance(stderr, (int, float)) else ""
                shots = record.get("n-shot", {}).get(task, 0)
                rows.append(f"<tr><td>{e(task)}</td><td>{shots}</td><td>{e(metric)}</td>"
                            f"<td>{value:.4g}</td><td>{e(err)}</td></tr>")
        model_args = record.get("config", {}).get("model_args", "")
        parts.append(
            "<h2>Benchmark evaluation (lm-evaluation-harness, JAX backend)</h2>"
            f"<p>From {e(results)} (model_args: {e(str(model_args))}).</p>"
            "<table><tr><th>task</th><th>shots</th><th>metric</th><th>value</th>"
            f"<th>stderr</th></tr>{''.join(rows)}</table>")
    if export_dir and paths.exists(os.path.join(export_dir, "config.json")):
        parts.append(f"<h2>Export</h2><p>transformers folder: {e(export_dir)} (load it with "
                     "<code>AutoModelForCausalLM.from_pretrained</code>, the tokenizer with "
                     "<code>trust_remote_code=True</code>; its README.md is the model card).</p>")
    return "".join(parts)


def render(*, prep_dir: str | None, model_dir: str | None, samples_path: str | None,
           mixture: dict[str, Any] | None, lm_eval_dir: str | None = None,
           export_dir: str | None = None) -> str:
    e = html.escape
    sections = ["<h1>Run report</h1>"]
    if prep_dir:
        sections.append(f"<h2>Data (prep job: {e(paths.resolve(prep_dir))})</h2>")
        sections.append(data_sections(prep_dir))
    if mixture:
        read_from = (f"<p>Read from the materialised stream {e(mixture['stream'])} (each token's "
                     f"source is recorded in its row).</p>" if mixture.get("stream") else "")
        sections.append("<h2>Token mixture</h2>" + read_from
                        + mixture_chart(mixture["delivered"], mixture["weights"]))
        delivered_total = max(1, sum(mixture["delivered"].values()))
        rows = "".join(
            f"<tr><td>{e(n)}</td><td>{100 * w:.1f} %</td>"
            f"<td>{100 * mixture['delivered'].get(n, 0) / delivered_total:.1f} %</td></tr>"
            for n, w in sorted(mixture["weights"].items()))
        sections.append(f"<table><tr><th>task</th><th>weight</th><th>delivered</th></tr>{rows}"
                        "</table>")
    if model_dir and paths.exists(paths.join(model_dir, "metrics.jsonl")):
        train, evals, events = read_metrics(model_dir)
        if train:
            first, last = train[0], train[-1]
            timed = [r for r in train if "timing/mfu" in r]
            speed = (f"; last logged {timed[-1]['timing/target_tokens_per_second']:,.0f} tokens/s, "
                     f"MFU {100 * timed[-1]['timing/mfu']:.1f} %" if timed else "")
            sections.append(
                f"<h2>Training ({e(paths.resolve(model_dir))})</h2><p>{len(train)} steps; loss "
                f"{first['loss']:.3f} at step {first['step']} → {last['loss']:.3f} at step "
                f"{last['step']}{speed}. Loss-spike events: {len(events)}.</p>")
            sections.append(training_charts(train, evals))
    if samples_path and paths.exists(samples_path):
        record = json.loads(paths.read_text(samples_path))
        items = "".join(f"<li><b>{e(s['prompt'])}</b>{e(s['completion'])}</li>"
                        for s in record["samples"])
        sections.append(f"<h2>Samples (checkpoint step {record['step']}, temperature "
                        f"{record['temperature']}, top-k {record['top_k']})</h2>"
                        f"<ul class=samples>{items}</ul>")
    sections.append(lm_eval_section(lm_eval_dir, export_dir))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Run report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
.small{{font-size:80%}} .samples li{{white-space:pre-wrap;margin-bottom:1em;font-family:monospace}}
</style></head><body>
{''.join(sections)}
</body></html>"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.run_report",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--prep_dir", default=None, help="the prep job's output directory")
    parser.add_argument("--model_dir", default=None, help="the training run's MODEL_DIR")
    parser.add_argument("--samples", default=None, help="samples JSON of launch.sample")
    parser.add_argument("--mixture_spec", default=None,
                        help="the run's mixture spec (for the delivered-mixture section)")
    parser.add_argument("--mixture_data_dir", default=None,
                        help="prep output the spec should read (as for tasks.cache --data_dir)")
    parser.add_argument("--mixture_vocabulary", default=None)
    parser.add_argument("--sequence_length", type=int, default=None,
                        help="the run's targets length (default: from MODEL_DIR/config.gin)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the run's data seed (default: from its latest checkpoint)")
    parser.add_argument("--use_cached", action="store_true")
    parser.add_argument("--lm_eval_dir", default=None,
                        help="the --output_path of launch.lm_eval (its newest results file)")
    parser.add_argument("--export_dir", default=None, help="the launch.export_hf folder")
    parser.add_argument("--output", required=True, help="the HTML file to write")
    args = parser.parse_args(argv)
    console.log_to_console("%(levelname)s %(name)s: %(message)s", logging.INFO)

    mixture = None
    if args.mixture_spec and args.model_dir:
        mixture = _mixture_section(args)
    page = render(prep_dir=args.prep_dir, model_dir=args.model_dir, samples_path=args.samples,
                  mixture=mixture, lm_eval_dir=args.lm_eval_dir, export_dir=args.export_dir)
    paths.write_text_atomic(paths.resolve(args.output), page)
    print(f"run report: {args.output}")
    return 0


def _mixture_section(args) -> dict[str, Any] | None:
    import re

    import tasks
    from pipeline.mixture_spec import load_mixture_spec

    spec = load_mixture_spec(args.mixture_spec, data_dir=args.mixture_data_dir,
                             vocabulary=args.mixture_vocabulary)
    name = tasks.register_mixture(args.mixture_spec, data_dir=args.mixture_data_dir,
                                  vocabulary=args.mixture_vocabulary)
    train, _, _ = read_metrics(args.model_dir)
    trained_tokens = int(sum(r.get("weight_sum", 0) for r in train))
    seq_len, seed = args.sequence_length, args.seed
    config_gin = paths.join(args.model_dir, "config.gin")
    if seq_len is None and paths.exists(config_gin):
        match = re.search(r"TASK_FEATURE_LENGTHS\s*=\s*\{\s*'targets'\s*:\s*(\d+)",
                          paths.read_text(config_gin))
        seq_len = int(match.group(1)) if match else None
    if seed is None:
        seed = _run_data_seed(args.model_dir)
    weights = {spec.task_name(s): w for s, w in spec.normalized_weights().items()}
    stream_dir = _run_stream(config_gin)
    if stream_dir and seq_len and trained_tokens:
        delivered = stream_delivered(stream_dir, trained_tokens // seq_len)
        return {"weights": weights, "delivered": delivered, "stream": stream_dir}
    if seq_len is None or seed is None or not trained_tokens:
        log.warning("delivered mixture skipped: need the sequence length, the data seed and "
                    "a non-empty metrics.jsonl")
        return None
    delivered = delivered_mixture(name, seq_len, seed, trained_tokens, args.use_cached)
    return {"weights": weights, "delivered": delivered}


def _run_stream(config_gin: str) -> str | None:
    """The materialised stream a run trained on (DatasetConfig.materialized_stream), if any."""
    import re

    if not paths.exists(config_gin):
        return None
    text = paths.read_text(config_gin)
    for pattern in (r"^TRAIN_STREAM\s*=\s*'([^']+)'", r"materialized_stream\s*=\s*'([^']+)'"):
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            return match.group(1)
    return None


def stream_delivered(stream_dir: str, rows: int) -> dict[str, int]:
    """Tokens per task in the first `rows` rows of a materialised stream (the rows a run read:
    batch(step) is rows by index), from each token's recorded source."""
    import numpy as np

    from tasks.stream_format import StreamReader

    reader = StreamReader(stream_dir)
    rows = min(rows, len(reader))
    counts = np.zeros(len(reader.sources), np.int64)
    for start in range(0, rows, 4096):
        _, sources = reader.read(start, min(4096, rows - start))
        counts += np.bincount(sources.ravel(), minlength=len(counts))
    return {source["task"]: int(n) for source, n in zip(reader.sources, counts)}


def _run_data_seed(model_dir: str) -> int | None:
    """The data seed the newest checkpoint records (its data record), if any."""
    from launch.run import checkpoints as ckpt_lib

    for step in reversed(ckpt_lib.steps_in(model_dir)):
        try:
            record = ckpt_lib.read_record(ckpt_lib.step_dir(model_dir, step))
        except (OSError, ValueError):
            continue
        if "data_seed" in record:
            return int(record["data_seed"])
    return None


if __name__ == "__main__":
    sys.exit(main())
