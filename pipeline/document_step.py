"""The per-document step interface: normalise, language ID, quality rules, PII, boilerplate.

A step is a class whose keyword-only constructor arguments are its spec parameters (defaults
are the published thresholds) and whose `apply(doc)` returns a `StepOutcome`: the document as
the next step sees it, a drop reason (None keeps it) and counter increments. Statistics are
generic, as datatrove's `stat_update`: `lines_removed.<reason>`, `lang_seen.<lang>`,
`pii.<kind>`... become Beam counters in the namespace `prep.<source>`, from which the manifests
and the report are built. A step that needs the whole source at once (boilerplate counts lines
across documents) overrides `transform` with its own Beam expansion; every other step gets the
generic one-DoFn expansion of `pipeline.step_runner.ApplyStep`.

Text rules (`TextRule`) are pure functions of the text, `__call__(text) -> RuleResult`, cheap to
test and to benchmark without Beam; `apply` adapts them to documents.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from pipeline.document import Document
from pipeline.rules.base import RuleResult
from pipeline.step_runner import ApplyStep


@dataclasses.dataclass(frozen=True)
class StepOutcome:
    """doc: the document after the step, or (when dropped) the one its rejected record shows.
    drop_reason: None keeps the document, else "<step>.<check>".
    stats: counter name -> increment, counted for the document's source.
    removed_examples: reason -> lines a line rule removed from the (kept) document, for the
    report's examples (pipeline/step_runner.py keeps a few per reason)."""

    doc: Document
    drop_reason: str | None = None
    stats: Mapping[str, int] = dataclasses.field(default_factory=dict)
    removed_examples: Mapping[str, str] = dataclasses.field(default_factory=dict)


class DocumentStep:
    """Base of every per-document step; `name` is its key in the spec's `steps:` mapping."""

    name: ClassVar[str]

    @classmethod
    def for_source(cls, params: Mapping[str, Any], source: Any) -> "DocumentStep":
        """The step as configured for one source (`source`: a `pipeline.spec.SourceSpec`; a
        step may read the source's own fields)."""
        return cls(**params)

    def apply(self, doc: Document) -> StepOutcome:
        raise NotImplementedError(f"{type(self).__name__} runs through its own transform()")

    def transform(self, source: str, scratch_dir: str | None = None):
        """A Beam PTransform docs -> (kept docs, rejected records) for one source
        (`scratch_dir`: a folder of the job's own, for a step that parks documents on disk)."""
        return ApplyStep(source, self)


class TextRule(DocumentStep):
    """A step that is a function of the text alone: `__call__(text) -> RuleResult`; a rule
    with `language_aware = True` is called as `rule(text, lang)` with the document's language
    (from language ID; None when unknown) and reports the checks it skipped for it."""

    language_aware: ClassVar[bool] = False

    def __call__(self, text: str) -> RuleResult:
        raise NotImplementedError

    def apply(self, doc: Document) -> StepOutcome:
        if self.language_aware:
            result = self(doc["text"], doc["lang"] or None)
        else:
            result = self(doc["text"])
        stats = {f"lines_removed.{reason}": n for reason, n in result.lines_removed.items()}
        stats.update((f"bytes_removed.{reason}", n) for reason, n in result.bytes_removed.items())
        lang = doc["lang"] or "unknown"
        stats.update((f"skipped.{check}.{lang}", 1) for check in result.skipped)
        if result.drop_reason is not None:
            return StepOutcome(doc, result.drop_reason, stats)
        if result.text is not doc["text"]:
            doc = dict(doc, text=result.text)
        return StepOutcome(doc, None, stats, result.removed_examples)
