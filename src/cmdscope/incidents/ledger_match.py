"""Find the ledger records an alert is about, from the alert's labels.

A Prometheus label is an attribute key with dots as underscores (``cmdscope.danger.rule`` ->
``cmdscope_danger_rule``), so a record matches when, for every attribute-like label of the alert,
the record has that key with that value (a list attribute matches when it contains the value;
list labels arrive as JSON text such as ``["rm-rf-root"]`` from the OTel Prometheus exporter).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Label prefixes that come from record attributes; alertname, severity, job, ... do not.
_ATTRIBUTE_PREFIXES = ("cmdscope_", "process_", "error_", "vcs_", "session_", "host_", "gen_ai_")


def attribute_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that name record attributes, with non-empty values."""
    return {k: v for k, v in labels.items() if k.startswith(_ATTRIBUTE_PREFIXES) and v}


def _label_values(value: str) -> list[str]:
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [value]


def _value_matches(record_value: Any, label_value: str) -> bool:
    wanted = _label_values(label_value)
    if isinstance(record_value, list):
        have = {str(v) for v in record_value}
        return all(w in have for w in wanted)
    if isinstance(record_value, bool):
        record_value = "true" if record_value else "false"
    return len(wanted) == 1 and str(record_value) == wanted[0]


def record_matches(record: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """True when ``record`` carries every attribute label of ``labels`` (at least one)."""
    wanted = attribute_labels(labels)
    if not wanted:
        return False
    by_label = {key.replace(".", "_"): value for key, value in record.items() if "." in key}
    if "cmdscope_policy_action" in wanted:
        # Metrics carry the *effective* action (deny only when blocked; a deny rule in observe mode
        # ran, so "allow"); compare like with like, not with the policy's raw decision.
        from cmdscope.sinks.otel import effective_action

        by_label["cmdscope_policy_action"] = effective_action(dict(record))
    return all(name in by_label and _value_matches(by_label[name], value) for name, value in wanted.items())


def matching_records(ledger: Path | None, label_sets: Iterable[Mapping[str, str]], limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` ledger records matching any of ``label_sets`` (oldest first)."""
    sets = [attribute_labels(s) for s in label_sets]
    sets = [s for s in sets if s]
    if ledger is None or not sets or limit <= 0:
        return []
    from cmdscope.sinks.ledger import read_records  # lazy: the server may run without a ledger

    last: deque[dict[str, Any]] = deque(maxlen=limit)
    for record in read_records(ledger):
        if any(record_matches(record, s) for s in sets):
            last.append(record)
    return list(last)
