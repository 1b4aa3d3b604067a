"""Looks inside a seqio mixture or task: weights, decoded examples, token counts, epochs.

    python -m tasks.inspect_mixture SPEC_OR_NAME [--split train] [--num_examples 3] [--chars 200]
        [--token_budget 780e9] [--max_epochs 1.0] [--cache_dir DIR] [--data_dir DIR]
        [--vocabulary spm.model] [--batch_size 256] [--json]

SPEC_OR_NAME is a mixture spec (tasks/specs/*.yaml or any path) or the name of a mixture or task.
A name that is not registered yet is looked up among tasks/specs/ by its mixture part
(`palm_demo.news` -> tasks/specs/palm_demo.yaml) and registered from there.

Token counts are what training sees: tokens of `targets` including the EOS each task appends.
They come from the seqio cache's stats.<split>.json when the task is cached in --cache_dir (seqio
counts tokens at the cache step, before EOS is appended, so the example count is added), and
otherwise from tokenizing the split in batches with the task's own vocabulary.

Epochs for a token budget: a source of normalised weight w holding n tokens is read
w * budget / n times; sources read more than --max_epochs times are flagged (repeated data).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Any, Sequence

from pipeline import console
from tasks.mixture_stats import EOS_NOTE, MixtureStatsError, epochs_per_source, over_repeated

log = logging.getLogger("tasks.inspect_mixture")


class InspectError(ValueError):
    """A spec, name or task that cannot be inspected; the message says what to do."""


def _looks_like_path(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml")) or os.sep in arg or os.path.exists(arg)


def resolve(spec_or_name: str, *, data_dir: str | None = None,
            vocabulary: str | None = None) -> str:
    """Registers what is needed and returns the mixture or task name to inspect."""
    import seqio

    import tasks

    if _looks_like_path(spec_or_name):
        if not os.path.exists(spec_or_name):
            raise InspectError(f"mixture spec not found: {spec_or_name!r} (specs shipped: "
                               f"{tasks.available_specs()})")
        return tasks.register_mixture(spec_or_name, data_dir=data_dir, vocabulary=vocabulary)
    registered = set(seqio.MixtureRegistry.names()) | set(seqio.TaskRegistry.names())
    if spec_or_name not in registered:
        stem = spec_or_name.split(".")[0]
        for path in tasks.available_specs():
            if os.path.splitext(os.path.basename(path))[0] == stem:
                tasks.register_mixture(path, data_dir=data_dir, vocabulary=vocabulary)
                break
        registered = set(seqio.MixtureRegistry.names()) | set(seqio.TaskRegistry.names())
    if spec_or_name not in registered:
        raise InspectError(
            f"unknown mixture or task {spec_or_name!r}; registered: "
            f"mixtures {sorted(seqio.MixtureRegistry.names())}, tasks "
            f"{sorted(seqio.TaskRegistry.names())}; specs in tasks/specs: "
            f"{[os.path.basename(p) for p in tasks.available_specs()]} (give a spec path)")
    return spec_or_name


def task_weights(name: str) -> dict[str, float]:
    """task name -> normalised weight (a lone task has weight 1). A token-weighted Mixture's
    weights are its token weights; any other Mixture's are its example rates."""
    import seqio

    provider = seqio.get_mixture_or_task(name)
    if hasattr(provider, "token_weights"):
        return dict(provider.token_weights)
    if isinstance(provider, seqio.Mixture):
        rates = {t.name: float(provider.get_rate(t)) for t in provider.tasks}
    else:
        rates = {provider.name: 1.0}
    total = sum(rates.values())
    return {task: rate / total for task, rate in rates.items()}


def _is_cached(task, split: str) -> bool:
    import tensorflow as tf

    if not task.cache_dir:
        return False
    return tf.io.gfile.exists(os.path.join(task.cache_dir, f"stats.{split}.json"))


def decoded_examples(task_name: str, split: str, num_examples: int,
                     chars: int) -> list[dict[str, Any]]:
    """The first examples of a split, as the task yields them, decoded with its vocabulary."""
    import seqio

    task = seqio.get_mixture_or_task(task_name)
    vocab = task.output_features["targets"].vocabulary
    ds = task.get_dataset(None, split=split, shuffle=False, num_epochs=1,
                          use_cached=_is_cached(task, split), try_in_mem_cache=False)
    out = []
    for example in ds.take(num_examples).as_numpy_iterator():
        ids = example["targets"].tolist()
        text = vocab.decode(ids)
        out.append({"num_tokens": len(ids), "text": text[:chars],
                    "truncated": len(text) > chars})
    return out


def _expected_examples(task_name: str, split: str) -> int | None:
    """The prep manifest's document count for a task's source, for the progress bar."""
    import tasks

    spec = tasks.registered_spec(task_name)
    if spec is None:
        return None
    path = os.path.join(spec.data_dir, task_name[len(spec.name) + 1:], "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            return int(json.load(f)["documents_out"][split])
    except (OSError, KeyError, ValueError):
        return None


def tokenized_counts(task_name: str, split: str, batch_size: int = 256,
                     progress: bool = True) -> dict[str, int]:
    """{examples, tokens} of a split by tokenizing it: the task's pre-tokenization preprocessors
    per example, then the vocabulary on whole batches of text (one SentencePiece call per
    batch), summing row lengths in numpy."""
    import numpy as np
    import seqio
    import tensorflow as tf
    from tqdm import tqdm

    from tasks.preprocessors import tokenize_batched

    task = seqio.get_mixture_or_task(task_name)
    feature = task.output_features["targets"]
    ds = task.source.get_dataset(split=split, shuffle=False)
    tokenizers = (seqio.preprocessors.tokenize, tokenize_batched)
    for preprocessor in task.preprocessors:
        if getattr(preprocessor, "func", preprocessor) in tokenizers:
            break
        if isinstance(preprocessor, seqio.CacheDatasetPlaceholder):
            raise InspectError(f"task {task_name}: no tokenize step before the cache placeholder")
        ds = seqio.utils.add_kwargs_to_transform(
            preprocessor, output_features=task.output_features, sequence_length=None)(ds)
    else:
        raise InspectError(f"task {task_name} has no tokenize step (seqio.preprocessors."
                           f"tokenize or tasks.preprocessors.tokenize_batched)")

    def lengths(batch):
        return tf.cast(feature.vocabulary.encode_tf(batch["targets"]).row_lengths(), tf.int64)

    ds = ds.batch(batch_size).map(lengths, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    expected = _expected_examples(task_name, split)
    bar = tqdm(total=expected, unit="ex", desc=f"tokenizing {task_name} {split}",
               disable=not progress, leave=False)
    examples = tokens = 0
    for row_lengths in ds.as_numpy_iterator():
        examples += len(row_lengths)
        tokens += int(np.sum(row_lengths))
        bar.update(len(row_lengths))
    bar.close()
    if feature.add_eos:
        tokens += examples
    return {"examples": examples, "tokens": tokens}


def token_counts(task_name: str, split: str, batch_size: int = 256,
                 progress: bool = True) -> dict[str, Any]:
    """{examples, tokens, counted_from} from the cache's stats if cached, else by tokenizing."""
    import seqio

    task = seqio.get_mixture_or_task(task_name)
    if _is_cached(task, split):
        stats = task.get_cached_stats(split)
        examples = int(stats["examples"])
        eos = examples if task.output_features["targets"].add_eos else 0
        return {"examples": examples, "tokens": int(stats.get("targets_tokens", 0)) + eos,
                "counted_from": f"cache stats ({task.cache_dir})"}
    counts = tokenized_counts(task_name, split, batch_size, progress)
    return {**counts, "counted_from": "tokenized"}


def inspect(name: str, *, split: str = "train", num_examples: int = 3, chars: int = 200,
            token_budget: float | None = None, max_epochs: float = 1.0, batch_size: int = 256,
            progress: bool = True, sequence_length: int | None = None) -> dict[str, Any]:
    """Everything the command prints, as a dict."""
    from tasks.token_mixture import rate_table

    weights = task_weights(name)
    report: dict[str, Any] = {"name": name, "split": split, "token_count_unit": EOS_NOTE,
                              "tasks": [], "sequence_length": sequence_length,
                              "mixing_rates": rate_table(name, sequence_length)}
    for task_name, weight in weights.items():
        entry: dict[str, Any] = {"task": task_name, "weight": weight}
        entry.update(token_counts(task_name, split, batch_size, progress))
        if num_examples > 0:
            entry["examples_shown"] = decoded_examples(task_name, split, num_examples, chars)
        report["tasks"].append(entry)
    report["total_tokens"] = sum(t["tokens"] for t in report["tasks"])
    report["total_examples"] = sum(t["examples"] for t in report["tasks"])
    if token_budget is not None:
        epochs = epochs_per_source(weights, {t["task"]: t["tokens"] for t in report["tasks"]},
                                   token_budget)
        for entry in report["tasks"]:
            entry["epochs"] = epochs[entry["task"]]
        report.update(token_budget=token_budget, max_epochs=max_epochs,
                      over_repeated=over_repeated(epochs, max_epochs))
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['name']} ({report['split']} split; {report['token_count_unit']})", ""]
    budget = report.get("token_budget")
    header = f"{'task':<32} {'weight':>8} {'examples':>10} {'tokens':>14}"
    if budget is not None:
        header += f" {'epochs @ ' + format(budget, '.3g'):>16}"
    lines += [header + "  counted from", "-" * len(header)]
    for t in report["tasks"]:
        row = f"{t['task']:<32} {t['weight']:>8.4f} {t['examples']:>10,} {t['tokens']:>14,}"
        if budget is not None:
            row += f" {t['epochs']:>16.4g}"
        lines.append(row + f"  {t['counted_from']}")
    lines.append(f"{'total':<32} {'':>8} {report['total_examples']:>10,} "
                 f"{report['total_tokens']:>14,}")
    if budget is not None and report["over_repeated"]:
        lines.append("")
        for name in report["over_repeated"]:
            epochs = next(t["epochs"] for t in report["tasks"] if t["task"] == name)
            lines.append(f"WARNING: {name} would be repeated {epochs:.3g} times "
                         f"(more than --max_epochs {report['max_epochs']:g})")
    if report.get("mixing_rates"):
        from tasks.mixture_rates import format_mixture_table

        lines += ["", format_mixture_table(report["mixing_rates"], report["sequence_length"])]
    for t in report["tasks"]:
        for i, ex in enumerate(t.get("examples_shown", [])):
            if i == 0:
                lines += ["", f"== {t['task']}"]
            more = " ..." if ex["truncated"] else ""
            lines.append(f"[{i}] {ex['num_tokens']} tokens: {ex['text']!r}{more}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.inspect_mixture",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("spec_or_name", metavar="SPEC_OR_NAME",
                        help="mixture spec (YAML) or a mixture/task name")
    parser.add_argument("--split", default="train")
    parser.add_argument("--num_examples", type=int, default=3,
                        help="decoded examples shown per task (0: none)")
    parser.add_argument("--chars", type=int, default=200,
                        help="characters of each decoded example shown")
    parser.add_argument("--token_budget", type=float, default=None,
                        help="training tokens drawn from the mixture, e.g. 780e9 (PaLM)")
    parser.add_argument("--max_epochs", type=float, default=1.0,
                        help="warn when a source would be repeated more than this")
    parser.add_argument("--cache_dir", action="append", default=[],
                        help="seqio cache directory (tasks.cache --output_cache_dir); repeatable")
    parser.add_argument("--data_dir", default=None, help="overrides the spec's data_dir")
    parser.add_argument("--vocabulary", default=None, help="overrides the spec's vocabulary")
    parser.add_argument("--batch_size", type=int, default=256,
                        help="texts per tokenizer call when counting tokens")
    parser.add_argument("--sequence_length", type=int, default=None,
                        help="the run's targets length: mixing rates and token shares are shown "
                             "at it (default: whole documents)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    console.log_to_console("%(levelname)s %(name)s: %(message)s", logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)  # seqio logs every dataset it builds
    import seqio

    from pipeline.mixture_spec import MixtureSpecError

    for cache_dir in args.cache_dir:
        if not os.path.isdir(cache_dir):
            print(f"error: --cache_dir {cache_dir!r} is not a directory", file=sys.stderr)
            return 2
    seqio.add_global_cache_dirs(args.cache_dir)
    try:
        name = resolve(args.spec_or_name, data_dir=args.data_dir, vocabulary=args.vocabulary)
        report = inspect(name, split=args.split, num_examples=args.num_examples,
                         chars=args.chars, token_budget=args.token_budget,
                         max_epochs=args.max_epochs, batch_size=args.batch_size,
                         sequence_length=args.sequence_length,
                         progress=not args.json and sys.stderr.isatty())
    except (InspectError, MixtureStatsError, MixtureSpecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_finite(report), indent=2, ensure_ascii=False, allow_nan=False))
        for name in report.get("over_repeated", []):  # the table prints its own warnings
            log.warning("%s would be repeated more than %g epochs", name, args.max_epochs)
    else:
        print(format_report(report))
    return 0


def _finite(report: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: an unreadable source's epochs become null."""
    out = dict(report, tasks=[dict(t) for t in report["tasks"]])
    for t in out["tasks"]:
        if "epochs" in t and not math.isfinite(t["epochs"]):
            t["epochs"] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
