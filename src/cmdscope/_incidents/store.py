"""Incident stubs on disk: one JSON + one Markdown file per Alertmanager alert group."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cmdscope._incidents.ledger_match import RecentRecords
from cmdscope._incidents.payload import Notification


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def incident_id(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()[:12]


def _atomic_write(path: Path, text: str) -> None:
    """Write a new 0600 file and rename it over ``path``: a reader never sees half a stub, and a
    planted symlink at the temporary name is refused (O_EXCL|O_NOFOLLOW), never followed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _load_redactor() -> Callable[[str], str]:
    try:
        from cmdscope.redact import redact
    except ImportError:  # records in the ledger are redacted already; this is defence in depth
        return lambda text: text
    return redact


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


class IncidentStore:
    """Opens, updates and resolves incident stubs in ``directory``; thread-safe."""

    def __init__(self, directory: Path, *, ledger: Path | None = None, records: int = 20) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ledger = ledger
        self.records = records
        self._recent = RecentRecords(ledger) if ledger is not None else None
        self._lock = threading.Lock()
        self._redact: Callable[[str], str] | None = None

    def redact(self, text: str) -> str:
        if self._redact is None:
            self._redact = _load_redactor()
        return self._redact(text)

    def _clean(self, mapping: dict[str, str]) -> dict[str, str]:
        """Alert text comes from whoever can post or write a rule: redacted like any record."""
        return {k: self.redact(v) for k, v in mapping.items()}

    def path(self, group_key: str, suffix: str = ".json") -> Path:
        return self.directory / f"incident-{incident_id(group_key)}{suffix}"

    def load(self, group_key: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.path(group_key).read_text()))
        except FileNotFoundError:
            return None

    def by_id(self, incident: str) -> Path:
        """The stub file of ``INC-xxxx`` (or the bare 12-hex id); TriageError when there is none."""
        from cmdscope._incidents.triage import TriageError

        ident = incident.removeprefix("INC-").lower()
        if len(ident) != 12 or any(c not in "0123456789abcdef" for c in ident):
            raise TriageError(f"{incident!r} is not an incident id (INC- and 12 hex digits)")
        path = self.directory / f"incident-{ident}.json"
        if not path.exists():
            raise TriageError(f"no incident {incident} in {self.directory}")
        return path

    def all(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.directory.glob("incident-*.json")):
            try:
                out.append(dict(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        return out

    def triage(self, incident: str, action: str, *, by: str, note: str = "",
               false_positive: bool = False) -> dict[str, Any]:
        """Acknowledge or resolve one incident (see :mod:`cmdscope._incidents.triage`)."""
        from cmdscope._incidents import triage

        with self._lock:
            path = self.by_id(incident)
            data = dict(json.loads(path.read_text()))
            triage.apply(data, action, now=_now(), by=self.redact(by), note=self.redact(note),
                         false_positive=false_positive)
            self._write(data["group_key"], data, path=path)
            return data

    def apply(self, note: Notification) -> tuple[str, dict[str, Any] | None]:
        """Record one notification; returns (action, incident) with action in opened, updated,
        resolved, reopened, ignored."""
        if not note.is_critical:
            return "ignored", None
        with self._lock:
            incident = self.load(note.group_key)
            now = _now()
            if incident is None:
                if note.status == "resolved":
                    return "ignored", None
                incident = self._new(note, now)
                action = "opened"
            else:
                was_resolved = incident["status"] == "resolved"
                incident["notifications"] += 1
                incident["last_notified"] = now
                action = "updated"
                if note.status == "firing" and was_resolved:
                    incident["reopened"] += 1
                    incident["resolved_at"] = None
                    action = "reopened"
            for alert in note.alerts:
                entry = incident["alerts"].setdefault(alert.fingerprint, {"first_seen": now})
                fields = {k: v for k, v in asdict(alert).items() if k != "fingerprint"}
                fields["labels"] = self._clean(alert.labels)
                fields["annotations"] = self._clean(alert.annotations)
                fields["generator_url"] = self.redact(alert.generator_url)
                entry.update(fields)
            incident["status"] = note.status
            if note.status == "resolved" and incident["resolved_at"] is None:
                incident["resolved_at"] = now
                action = "resolved"
            incident["common_labels"] = self._clean(note.common_labels)
            incident["ledger_records"] = self._records(incident)
            self._write(note.group_key, incident)
            return action, incident

    def _new(self, note: Notification, now: str) -> dict[str, Any]:
        annotations = note.common_annotations or note.alerts[0].annotations
        return {
            "id": f"INC-{incident_id(note.group_key)}",
            "group_key": self.redact(note.group_key),
            "alertname": note.common_labels.get("alertname") or note.alerts[0].labels["alertname"],
            "severity": "critical",
            "status": note.status,
            "receiver": note.receiver,
            "group_labels": self._clean(note.group_labels),
            "common_labels": self._clean(note.common_labels),
            "summary": self.redact(annotations.get("summary", "")),
            "description": self.redact(annotations.get("description", "")),
            "runbook_url": self.redact(annotations.get("runbook_url", "")),
            "first_seen": now,
            "first_started_at": min((a.starts_at for a in note.alerts if a.starts_at), default=""),
            "last_notified": now,
            "notifications": 1,
            "reopened": 0,
            "resolved_at": None,
            "alerts": {},
            "ledger_records": [],
        }

    def _records(self, incident: dict[str, Any]) -> list[dict[str, Any]]:
        if self._recent is None:
            return []
        found = self._recent.matching([a["labels"] for a in incident["alerts"].values()], self.records)
        return [{k: self.redact(v) if isinstance(v, str) else v for k, v in r.items()} for r in found]

    def _write(self, group_key: str, incident: dict[str, Any], path: Path | None = None) -> None:
        path = path or self.path(group_key)
        _atomic_write(path, json.dumps(incident, indent=2, sort_keys=True) + "\n")
        _atomic_write(path.with_suffix(".md"), render_markdown(incident))


def _triage_line(triage: dict[str, Any] | None) -> str:
    if not triage:
        return "open (`cmdscope incidents ack ID` / `resolve ID [--false-positive]`)"
    parts = [triage["state"]]
    if triage.get("acknowledged_at"):
        parts.append(f"acknowledged {triage['acknowledged_at']} by {triage.get('acknowledged_by', '?')}")
    if triage.get("resolved_at"):
        parts.append(f"resolved {triage['resolved_at']} by {triage.get('resolved_by', '?')}")
    if triage.get("false_positive"):
        parts.append("false positive")
    return "; ".join(parts)


def render_markdown(incident: dict[str, Any]) -> str:
    lines = [
        f"# {incident['id']}: {incident['alertname']}",
        "",
        f"- **Status:** {incident['status']}" + (f" (resolved {incident['resolved_at']})" if incident["resolved_at"] else ""),
        f"- **Severity:** {incident['severity']}",
        f"- **First seen:** {incident['first_seen']} (alert started {incident['first_started_at'] or 'unknown'})",
        f"- **Last notified:** {incident['last_notified']} ({incident['notifications']} notifications, reopened {incident['reopened']} times)",
        f"- **Runbook:** {incident['runbook_url'] or 'none'}",
        f"- **Triage:** {_triage_line(incident.get('triage'))}",
        f"- **Group key:** `{incident['group_key']}`",
        "",
        "## Summary",
        "",
        incident["summary"] or "-",
        "",
        incident["description"] or "",
        "",
        "## Alerts",
        "",
        "| status | labels | started | ended |",
        "|---|---|---|---|",
    ]
    for alert in incident["alerts"].values():
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))
        lines.append(f"| {alert['status']} | {_cell(labels)} | {alert['starts_at']} | {alert['ends_at']} |")
    lines += ["", f"## Matching ledger records (last {len(incident['ledger_records'])})", ""]
    if incident["ledger_records"]:
        lines += ["| time | actor | outcome | command | danger rule | record |", "|---|---|---|---|---|---|"]
        for r in incident["ledger_records"]:
            lines.append("| " + " | ".join(_cell(r.get(k, "")) for k in (
                "time", "cmdscope.actor", "cmdscope.outcome", "process.command_line", "cmdscope.danger.rule", "record_id",
            )) + " |")
    else:
        lines.append("No matching ledger records.")
    notes = (incident.get("triage") or {}).get("notes") or []
    if notes:
        lines += ["", "## Triage notes", ""]
        lines += [f"- {n['at']} {n['by']} ({n['action']}): {_cell(n['text'])}" for n in notes]
    return "\n".join(lines) + "\n"
