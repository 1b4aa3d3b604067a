"""Loud warnings about what the rules removed: a rule that took most of a source, a source that
ended with nothing. Computed from a source's manifest (its counters), so the console summary,
the report and the exit status all say the same thing.

A rule "removes more than its share" when the documents it dropped exceed `max_share` (default
0.5) of the documents that entered the source, or the bytes it removed (whole documents plus the
lines a line rule deleted) exceed that share of the source's bytes. A source "ends empty" when
documents entered it and none came out; the prep job exits non-zero for it unless the spec says
the source may end empty (`allow_empty: true`).
"""

from __future__ import annotations

from typing import Any

DEFAULT_MAX_SHARE = 0.5


def _rule_of(reason: str) -> str:
    return reason.split(".", 1)[0]


def rule_removals(manifest: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per rule (stage): documents dropped, their lines and bytes, plus lines and bytes a line
    rule deleted from documents it kept. `bytes_counted` is False for a stage whose drops carry
    no byte counts (the corpus stages: dedup, quality classifier, decontamination)."""
    out: dict[str, dict[str, int]] = {}

    def entry(rule: str) -> dict[str, int]:
        return out.setdefault(rule, {"documents": 0, "lines": 0, "bytes": 0,
                                     "bytes_counted": True})

    for reason, n in manifest.get("dropped", {}).items():
        e = entry(_rule_of(reason))
        e["documents"] += n
        e["lines"] += manifest.get("dropped_lines", {}).get(reason, 0)
        if reason in manifest.get("dropped_bytes", {}):
            e["bytes"] += manifest["dropped_bytes"][reason]
        else:
            e["bytes_counted"] = False
    for reason, n in manifest.get("lines_removed", {}).items():
        entry(_rule_of(reason))["lines"] += n
    for reason, n in manifest.get("bytes_removed", {}).items():
        entry(_rule_of(reason))["bytes"] += n
    return out


def _shares(removed: dict[str, int], docs_in: int, doc_share: float, byte_share: float,
            max_share: float) -> str:
    """The removal in words, led by the share that crossed the threshold (bytes when both did),
    with "more than N %" right after it, so the figure read first is the one that warned."""
    limit = f"more than {100 * max_share:.0f} %"
    docs = f"{removed['documents']:,} of {docs_in:,} documents"
    if removed["bytes_counted"] and byte_share > max_share:
        return f"{100 * byte_share:.1f} % of the bytes, {limit} ({docs}, {100 * doc_share:.1f} %)"
    byte_part = (f"{100 * byte_share:.1f} % of the bytes" if removed["bytes_counted"]
                 else "bytes not counted for this stage")
    return f"{docs} ({100 * doc_share:.1f} %, {limit}; {byte_part})"


def source_warnings(manifest: dict[str, Any], max_share: float = DEFAULT_MAX_SHARE,
                    allow_empty: bool = False) -> list[dict[str, Any]]:
    """Warnings for one source: {"kind", "source", "message", "fatal"} dicts."""
    name = manifest.get("source", "?")
    docs_in = manifest.get("documents_in", 0)
    bytes_in = manifest.get("bytes_in", 0)
    docs_out = sum(manifest.get("documents_out", {}).values())
    out = []
    for rule, removed in sorted(rule_removals(manifest).items()):
        doc_share = removed["documents"] / docs_in if docs_in else 0.0
        byte_share = removed["bytes"] / bytes_in if bytes_in else 0.0
        if max(doc_share, byte_share) > max_share:
            out.append({
                "kind": "rule_removed_most", "source": name, "rule": rule, "fatal": False,
                "message": f"source {name}: rule {rule} removed "
                           + _shares(removed, docs_in, doc_share, byte_share, max_share)
                           + "; check that its settings suit this source (examples of what it "
                             "dropped are in the report)"})
    if docs_in and not docs_out:
        out.append({
            "kind": "source_empty", "source": name, "fatal": not allow_empty,
            "message": f"source {name}: {docs_in:,} documents entered and none came out"
                       + ("" if allow_empty else
                          "; if that is expected, set allow_empty: true on the source")})
    elif not docs_in:
        out.append({
            "kind": "source_empty", "source": name, "fatal": not allow_empty,
            "message": f"source {name}: no document was read (check paths, format and "
                       f"text_field: records without the text field are dead letters, "
                       f"{manifest.get('dead_letters', 0):,} here)"
                       + ("" if allow_empty else
                          "; if that is expected, set allow_empty: true on the source")})
    return out
