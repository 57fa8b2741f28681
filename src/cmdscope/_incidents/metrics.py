"""``GET /metrics`` of the incident receiver: alert quality as Prometheus counters, computed
from the stubs on disk at scrape time (so a restart loses nothing).

- ``cmdscope_incidents_total{alertname}``: incidents opened;
- ``cmdscope_incidents_triaged_total{alertname}``: resolved by a person;
- ``cmdscope_incidents_false_positive_total{alertname}``: of those, marked false positive;
- ``cmdscope_incident_ack_seconds`` and ``cmdscope_incident_resolve_seconds`` (summaries:
  ``_sum``/``_count``) from first notification to acknowledgement / resolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cmdscope._incidents.triage import parse_time

if TYPE_CHECKING:
    from cmdscope._incidents.store import IncidentStore


def _families(incidents: list[dict[str, Any]]) -> list[Any]:
    from prometheus_client.core import CounterMetricFamily, SummaryMetricFamily

    fired = CounterMetricFamily("cmdscope_incidents", "Incidents opened", labels=["alertname"])
    triaged = CounterMetricFamily("cmdscope_incidents_triaged", "Incidents resolved by a person", labels=["alertname"])
    fps = CounterMetricFamily("cmdscope_incidents_false_positive", "Incidents resolved as false positives", labels=["alertname"])
    ack = SummaryMetricFamily("cmdscope_incident_ack_seconds", "First notification to acknowledgement", labels=["alertname"])
    res = SummaryMetricFamily("cmdscope_incident_resolve_seconds", "First notification to resolution", labels=["alertname"])
    rules: dict[str, list[float]] = {}
    for inc in incidents:
        name = str(inc.get("alertname", "?"))
        row = rules.setdefault(name, [0, 0, 0, 0, 0.0, 0, 0.0])
        row[0] += 1
        triage = inc.get("triage") or {}
        first = parse_time(inc.get("first_seen"))
        acked = parse_time(triage.get("acknowledged_at"))
        resolved = parse_time(triage.get("resolved_at"))
        if triage.get("state") == "resolved":
            row[1] += 1
            row[2] += bool(triage.get("false_positive"))
        if first and acked:
            row[3] += 1
            row[4] += (acked - first).total_seconds()
        if first and resolved:
            row[5] += 1
            row[6] += (resolved - first).total_seconds()
    for name, (n, t, f, na, sa, nr, sr) in sorted(rules.items()):
        fired.add_metric([name], n)
        triaged.add_metric([name], t)
        fps.add_metric([name], f)
        ack.add_metric([name], count_value=int(na), sum_value=sa)
        res.add_metric([name], count_value=int(nr), sum_value=sr)
    return [fired, triaged, fps, ack, res]


def exposition(store: IncidentStore) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    class _Collector:
        def collect(self) -> Any:
            return iter(_families(store.all()))

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST
