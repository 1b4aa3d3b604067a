"""Heuristic quality rules. Each rule is a class with a `name`, keyword-only thresholds whose
defaults are the published ones (each rule's docstring cites its paper), and
`__call__(text) -> RuleResult`.

Rules are pure functions of the text: no Beam, no I/O, so they are cheap to test and to reuse
in benchmarks. `pipeline.step_runner` wraps them in Beam transforms with counters.
"""

from pipeline.rules.base import RuleResult

__all__ = ["RuleResult"]
