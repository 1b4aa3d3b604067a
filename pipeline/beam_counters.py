"""A finished Beam job's counters as plain dicts, for end-of-job summaries and manifests.

Shared by every Beam job (prep, the tokenizer sample, the seqio cache, materialise): namespace
-> counter name -> value, the committed value where the runner has one, else the attempted
value.
"""

from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter


def collect_counters(result) -> dict[str, dict[str, int]]:
    """namespace -> counter name -> value of a finished PipelineResult."""
    out: dict[str, dict[str, int]] = {}
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        try:
            value = counter.committed
        except Exception:  # some portable runners only report attempted values
            value = None
        if value is None:
            value = counter.attempted
        names = out.setdefault(counter.key.metric.namespace, {})
        names[counter.key.metric.name] = names.get(counter.key.metric.name, 0) + int(value)
    return out
