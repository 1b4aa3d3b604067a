"""What a rule returns."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule on one document.

    text: the text after the rule; line-level rules (C4) may have removed lines from it.
    drop_reason: None to keep the document, else "<rule name>.<check>", e.g.
        "gopher_quality.word_count"; it names the Beam counter and the rejected record's reason.
    lines_removed: for line-level rules, removed lines counted by reason ("c4.no_terminal_punct").
    bytes_removed: for line-level rules, UTF-8 bytes of the removed lines, by the same reasons.
    skipped: checks not applied because the document's language has no sound setting for
        them ("gopher_quality.stop_words"); counted per language so a report can say so.
    removed_examples: for line-level rules, the first lines removed for each reason (one
        example per reason and document), for the report's examples of removed lines.
    """

    text: str
    drop_reason: str | None = None
    lines_removed: dict[str, int] = dataclasses.field(default_factory=dict)
    bytes_removed: dict[str, int] = dataclasses.field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    removed_examples: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def keep(self) -> bool:
        return self.drop_reason is None
