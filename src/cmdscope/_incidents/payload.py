"""Validate an Alertmanager webhook body (version 4) into plain, typed data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class PayloadError(ValueError):
    """The body is not a usable Alertmanager webhook; the message names the field."""


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    fingerprint: str
    generator_url: str = ""


@dataclass(frozen=True)
class Notification:
    group_key: str
    status: str
    receiver: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: list[Alert] = field(default_factory=list)
    external_url: str = ""

    @property
    def is_critical(self) -> bool:
        return self.common_labels.get("severity") == "critical" or any(
            a.labels.get("severity") == "critical" for a in self.alerts
        )


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PayloadError(f"{where} must be an object of strings")
    return dict(value)


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(f"{where}{key} must be a {'non-empty ' if required else ''}string")
    return value


def parse_payload(body: bytes) -> Notification:
    """Parse and validate; raises PayloadError naming the first bad field."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    version = data.get("version")
    if version != "4":
        raise PayloadError(f"version must be \"4\" (Alertmanager webhook), got {version!r}")
    status = _str(data, "status", "", required=True)
    if status not in ("firing", "resolved"):
        raise PayloadError(f"status must be firing or resolved, got {status!r}")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise PayloadError("alerts must be a non-empty list")
    alerts = []
    for i, raw in enumerate(raw_alerts):
        where = f"alerts[{i}]."
        if not isinstance(raw, dict):
            raise PayloadError(f"alerts[{i}] must be an object")
        a_status = _str(raw, "status", where, required=True)
        if a_status not in ("firing", "resolved"):
            raise PayloadError(f"{where}status must be firing or resolved, got {a_status!r}")
        labels = _str_map(raw.get("labels"), where + "labels")
        if "alertname" not in labels:
            raise PayloadError(f"{where}labels.alertname is missing")
        alerts.append(Alert(
            status=a_status,
            labels=labels,
            annotations=_str_map(raw.get("annotations"), where + "annotations"),
            starts_at=_str(raw, "startsAt", where),
            ends_at=_str(raw, "endsAt", where),
            fingerprint=_str(raw, "fingerprint", where) or json.dumps(labels, sort_keys=True),
            generator_url=_str(raw, "generatorURL", where),
        ))
    return Notification(
        group_key=_str(data, "groupKey", "", required=True),
        status=status,
        receiver=_str(data, "receiver", ""),
        group_labels=_str_map(data.get("groupLabels"), "groupLabels"),
        common_labels=_str_map(data.get("commonLabels"), "commonLabels"),
        common_annotations=_str_map(data.get("commonAnnotations"), "commonAnnotations"),
        alerts=alerts,
        external_url=_str(data, "externalURL", ""),
    )
