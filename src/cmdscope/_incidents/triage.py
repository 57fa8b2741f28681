"""Triage of incident stubs: acknowledge, resolve, mark a false positive; and the figures of
alert quality that come from it (per alert rule: fired, false positives, time to acknowledge,
time to resolve).

Triage lives in the stub's ``triage`` object, separate from the alert's own ``status`` (which
Alertmanager drives): an alert can stop firing before anyone looked at it, and a person can
close an incident whose alert still fires.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime
from typing import Any

ACTIONS = ("ack", "resolve")


class TriageError(ValueError):
    """The incident or the action is not valid; the message names it."""


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def apply(incident: dict[str, Any], action: str, *, now: str, by: str, note: str = "",
          false_positive: bool = False) -> dict[str, Any]:
    """Change ``incident`` in place; acknowledging again or resolving twice keeps the first time."""
    if action not in ACTIONS:
        raise TriageError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if false_positive and action != "resolve":
        raise TriageError("--false-positive goes with resolve")
    triage = incident.setdefault("triage", {"state": "open", "notes": []})
    if action == "ack":
        if triage["state"] == "resolved":
            raise TriageError(f"{incident['id']} is resolved already")
        triage.setdefault("acknowledged_at", now)
        triage.setdefault("acknowledged_by", by)
        triage["state"] = "acknowledged"
    else:
        triage.setdefault("acknowledged_at", now)  # resolving implies it was looked at
        triage.setdefault("acknowledged_by", by)
        triage["resolved_at"] = triage.get("resolved_at") or now
        triage["resolved_by"] = triage.get("resolved_by") or by
        triage["state"] = "resolved"
        triage["false_positive"] = bool(false_positive or triage.get("false_positive"))
    if note:
        triage["notes"].append({"at": now, "by": by, "action": action, "text": note})
    return incident


def quality(incidents: Iterable[dict[str, Any]], *, since: datetime | None = None,
            max_fp_rate: float | None = None) -> list[dict[str, Any]]:
    """Per alert rule over incidents first seen at or after ``since``: fired, false positives,
    their rate, median seconds to acknowledge and to resolve, and whether the false-positive
    rate is above ``max_fp_rate``."""
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for inc in incidents:
        first = parse_time(inc.get("first_seen"))
        if since is not None and (first is None or first < since):
            continue
        by_rule.setdefault(str(inc.get("alertname", "?")), []).append(inc)
    rows = []
    for rule, incs in sorted(by_rule.items()):
        acks, resolves, fps, triaged = [], [], 0, 0
        for inc in incs:
            first = parse_time(inc.get("first_seen"))
            triage = inc.get("triage") or {}
            acked = parse_time(triage.get("acknowledged_at"))
            resolved = parse_time(triage.get("resolved_at")) or parse_time(inc.get("resolved_at"))
            if first and acked:
                acks.append((acked - first).total_seconds())
            if first and resolved:
                resolves.append((resolved - first).total_seconds())
            if triage.get("state") == "resolved":
                triaged += 1
                fps += bool(triage.get("false_positive"))
        rate = fps / triaged if triaged else None
        rows.append({
            "alertname": rule, "fired": len(incs), "triaged": triaged, "false_positives": fps,
            "false_positive_rate": rate,
            "median_ack_s": statistics.median(acks) if acks else None,
            "median_resolve_s": statistics.median(resolves) if resolves else None,
            "over_threshold": bool(max_fp_rate is not None and rate is not None and rate > max_fp_rate),
        })
    return rows
