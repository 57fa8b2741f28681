"""Run every redaction rule's examples and near misses (``cmdscope registry lint``).

An example must be found by its own rule (alone, without the generic high-entropy rule, so the
rule itself is what masks it); a near miss must come out of the full effective redactor unchanged.
"""

from __future__ import annotations

from cmdscope._redaction.engine import Redactor
from cmdscope._redaction.ruleset import _to_rules, load_specs, spec_row


def lint(shipped: list[str], overlay: list[str]) -> tuple[int, list[str]]:
    """(number of rules, problems as one-line messages naming file, rule and field)."""
    specs = load_specs(shipped, overlay)
    rows = [spec_row(spec) for spec, _ in specs]
    full = Redactor(_to_rules(rows))
    problems: list[str] = []
    for number, (spec, path) in enumerate(specs, 1):
        alone = Redactor(_to_rules([spec_row(spec)]), generic=False)
        where = f"{path}: rule {spec.name} (#{number})"
        for example in spec.examples:
            if not alone.find(example):
                problems.append(f"{where}: field 'examples': not masked: {example!r}")
        for near in spec.near_misses:
            out = full.redact(near)
            if out != near:
                problems.append(f"{where}: field 'near_misses': changed: {near!r} -> {out!r}")
    return len(specs), problems
