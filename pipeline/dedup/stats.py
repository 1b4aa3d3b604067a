"""Duplicate-group statistics for the report: size histogram and a few example groups.

Everything here is small by construction: sizes are counted per distinct size, and examples
are a fixed number of groups (the ones with the smallest salted hash, a deterministic sample,
plus the largest), each showing at most `MEMBERS_SHOWN` members with the first line of their
text. The summary is one JSON record per dedup kind, written by the prep job into staging and
published with the sources (`<output_dir>/dedup/{exact,near}.json`, pipeline/dedup/stage.py).
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any, Iterable

import apache_beam as beam

EXAMPLES = 5
LARGEST = 3
MEMBERS_SHOWN = 5
FIRST_LINE_CHARS = 120


def first_line(text: str) -> str:
    for line in text.split("\n", 20):
        line = line.strip()
        if line:
            return line[:FIRST_LINE_CHARS]
    return ""


def member_info(key: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "id": doc["id"], "source": doc["source"], "role": doc["role"],
            "first_line": first_line(doc["text"])}


def sample_order(group_key: str | bytes) -> str:
    """A salted hash that orders groups for the deterministic example sample."""
    data = group_key if isinstance(group_key, bytes) else group_key.encode("utf-8",
                                                                           "surrogatepass")
    return hashlib.blake2b(b"example\x00" + data, digest_size=8).hexdigest()


def example(size: int, order: str, members: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A group as shown in the report: keeper first (smallest key), then the next members."""
    shown = heapq.nsmallest(MEMBERS_SHOWN, members, key=lambda m: m["key"])
    return {"size": size, "order": order,
            "members": [{k: v for k, v in m.items() if k != "key"} | {"kept": i == 0}
                        for i, m in enumerate(shown)]}


def _histogram(counts: list[tuple[int, int]]) -> dict[str, int]:
    return {str(size): n for size, n in sorted(counts)}


class SummarizeGroups(beam.PTransform):
    """(sizes: PCollection[int], examples: PCollection[dict]) -> one summary dict."""

    def expand(self, pcolls):
        sizes, examples = pcolls
        p = sizes.pipeline
        histogram = (sizes
                     | "CountSizes" >> beam.combiners.Count.PerElement()
                     | "AllSizes" >> beam.combiners.ToList())
        sample = examples | "Sample" >> beam.combiners.Top.Of(
            EXAMPLES, key=lambda e: e["order"], reverse=True)
        largest = examples | "Largest" >> beam.combiners.Top.Of(
            LARGEST, key=lambda e: (e["size"], e["order"]))

        def summarize(_, counts, sample, largest):
            groups = sum(n for _, n in counts)
            docs = sum(size * n for size, n in counts)
            return {"groups": groups, "documents_in_groups": docs, "removed": docs - groups,
                    "size_histogram": _histogram(counts), "examples": sample,
                    "largest": largest}

        return (p
                | "One" >> beam.Create([None])
                | "Summarize" >> beam.Map(summarize, beam.pvalue.AsSingleton(histogram),
                                          beam.pvalue.AsSingleton(sample),
                                          beam.pvalue.AsSingleton(largest)))


KINDS = ("exact", "near")


def component_rounds(job_counters: dict[str, int], rounds_run: int) -> dict[str, Any]:
    """Nodes changed per large-star/small-star round, and whether a round changed nothing
    (then every component is a star around its keeper: converged)."""
    rounds: dict[int, dict[str, int]] = {}
    for name, value in job_counters.items():
        if name.startswith("components.round_"):
            index, kind = name[len("components.round_"):].split(".")
            rounds.setdefault(int(index), {"large": 0, "small": 0})[kind] = value
    # Counters that never fired are absent: such a round changed nothing.
    last_active = max((i for i, r in rounds.items() if r["large"] or r["small"]), default=-1)
    changes = [rounds.get(i, {"large": 0, "small": 0}) for i in range(last_active + 1)]
    return {"rounds_run": rounds_run, "rounds_with_changes": last_active + 1,
            "changed_nodes_per_round": changes, "converged": last_active + 1 < rounds_run}


def rounds_in_words(components: dict[str, Any]) -> str:
    """The component rounds for the report: how many of the rounds run changed a label, so the
    figure agrees with `rounds_run` in the JSON (every configured round runs)."""
    run = components.get("rounds_run", 0)
    changed = components.get("rounds_with_changes", 0)
    if not components.get("converged"):
        return f"connected components NOT converged: all {run} rounds run changed labels"
    if changed == 0:
        return (f"connected components converged at once: none of the {run} rounds run "
                f"changed a label")
    return (f"connected components converged: {changed} of the {run} rounds run changed labels, "
            f"the last {run - changed} changed none")
