"""Generate the cmdscope Grafana dashboards (dashboards/*.json) with grafana-foundation-sdk.

    python dashboards/generate.py           # write dashboards/*.json
    python dashboards/generate.py --check   # exit 1 if a committed file differs from the code

Metric and label names come from docs/telemetry.md. Every dashboard has template variables for the
Prometheus datasource, the actor and the phase, and a stable uid. ``all_promql()`` lists every
panel expression (the end-to-end test runs each against a real Prometheus).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh

OUT_DIR = Path(__file__).resolve().parent
NOTICE = "DO NOT EDIT, regenerate with python dashboards/generate.py"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Label selectors shared by the panels; the variables are multi-value regexes (All = .*).
AP = 'cmdscope_actor=~"$actor", cmdscope_phase=~"$phase"'
A = 'cmdscope_actor=~"$actor"'
FAILED = 'cmdscope_outcome=~"failure|timeout|error"'
RI = "$__rate_interval"

PanelBuilder = Builder  # any panel builder of the SDK


def _q(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Dataquery:
    query = Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DS)
    return query.instant() if instant else query.range()


def _ts(title: str, unit: str, *queries: Dataquery, description: str = "") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DS).height(8).span(12)
    panel = panel.line_width(1).fill_opacity(10)
    if description:
        panel = panel.description(description)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def _stat(title: str, unit: str, query: Dataquery, description: str = "") -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).datasource(DS).height(4).span(6).with_target(query)
    panel = panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    return panel.description(description) if description else panel


def _bars(title: str, unit: str, query: Dataquery, description: str = "") -> bargauge.Panel:
    panel = bargauge.Panel().title(title).unit(unit).datasource(DS).height(8).span(12).with_target(query)
    panel = panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    return panel.description(description) if description else panel


def _table(title: str, query: Dataquery, description: str = "") -> table.Panel:
    panel = table.Panel().title(title).datasource(DS).height(8).span(12).with_target(query)
    return panel.description(description) if description else panel


def _label_var(name: str, label: str, metric: str, label_name: str) -> QueryVariable:
    return (
        QueryVariable(name).label(label).datasource(DS)
        .query({"query": f"label_values({metric}, {label_name})", "refId": f"{name}-values"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True).include_all(True).all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def _dashboard(uid: str, title: str, summary: str) -> Dashboard:
    return (
        Dashboard(title).uid(uid).description(f"{summary} {NOTICE}")
        .tags(["cmdscope", "generated"]).time("now-6h", "now").refresh("1m").timezone("utc")
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(_label_var("actor", "Actor", "cmdscope_commands_total", "cmdscope_actor"))
        .with_variable(_label_var("phase", "Phase", "cmdscope_commands_total", "cmdscope_phase"))
    )


def overview() -> Dashboard:
    ran = f'cmdscope_commands_total{{{AP}, cmdscope_outcome!="denied"}}'
    failed = f"cmdscope_commands_total{{{AP}, {FAILED}}}"
    return (
        _dashboard("cmdscope-overview", "cmdscope / Overview", "Command rate, failure rate and durations by actor and phase.")
        .with_row(Row("Now"))
        .with_panel(_stat("Commands per minute", "short", _q(f"sum(rate(cmdscope_commands_total{{{AP}}}[{RI}])) * 60")))
        .with_panel(_stat("Failure rate", "percentunit", _q(f"sum(rate({failed}[{RI}])) / sum(rate({ran}[{RI}]))"),
                          "Failed (failure, timeout, error) over commands that ran (denied excluded)."))
        # Denied commands never ran, so they are not in cmdscope.commands: count cmdscope.denials
        # (it has no phase label).
        .with_panel(_stat("Denied per minute", "short", _q(f"sum(rate(cmdscope_denials_total{{{A}}}[{RI}])) * 60"),
                          "Commands the policy denied before they started (phase filter does not apply)."))
        .with_panel(_stat("Retries per minute", "short", _q(f"sum(rate(cmdscope_retries_total{{{AP}}}[{RI}])) * 60")))
        .with_row(Row("Rates"))
        .with_panel(_ts("Command rate by outcome", "ops", _q(f"sum by (cmdscope_outcome) (rate(cmdscope_commands_total{{{AP}}}[{RI}]))", "{{cmdscope_outcome}}")))
        .with_panel(_ts("Failure rate by actor", "percentunit", _q(
            f"sum by (cmdscope_actor) (rate({failed}[{RI}])) / sum by (cmdscope_actor) (rate({ran}[{RI}]))", "{{cmdscope_actor}}")))
        .with_row(Row("Durations"))
        .with_panel(_ts("p50 duration by actor and phase", "s", _q(
            f"histogram_quantile(0.5, sum by (le, cmdscope_actor, cmdscope_phase) (rate(cmdscope_command_duration_seconds_bucket{{{AP}}}[{RI}])))",
            "{{cmdscope_actor}} / {{cmdscope_phase}}")))
        .with_panel(_ts("p95 duration by actor and phase", "s", _q(
            f"histogram_quantile(0.95, sum by (le, cmdscope_actor, cmdscope_phase) (rate(cmdscope_command_duration_seconds_bucket{{{AP}}}[{RI}])))",
            "{{cmdscope_actor}} / {{cmdscope_phase}}")))
    )


def failures() -> Dashboard:
    failed = f"cmdscope_commands_total{{{AP}, {FAILED}}}"
    return (
        _dashboard("cmdscope-failures", "cmdscope / Failures", "Failure classes, their trend and retries.")
        .with_panel(_bars("Top failure classes (time range)", "short", _q(
            f"topk(10, sum by (error_type) (increase({failed}[$__range])))", "{{error_type}}", instant=True)))
        .with_panel(_ts("Failure trend by class", "ops", _q(f"sum by (error_type) (rate({failed}[{RI}]))", "{{error_type}}")))
        .with_panel(_ts("Retries by class", "ops", _q(f"sum by (error_type) (rate(cmdscope_retries_total{{{AP}}}[{RI}]))", "{{error_type}}"),
                        description="Runs of a command hash that failed before in the same session or packet."))
        .with_panel(_ts("Failures by executable", "ops", _q(f"sum by (process_executable_name) (rate({failed}[{RI}]))",
                                                            "{{process_executable_name}}")))
    )


def guardrails() -> Dashboard:
    return (
        _dashboard("cmdscope-guardrails", "cmdscope / Guardrails", "Policy denials and dangerous-command hits.")
        .with_panel(_stat("Critical dangerous commands that ran (time range)", "short", _q(
            f'sum(increase(cmdscope_danger_hits_total{{{A}, cmdscope_danger_severity="critical", cmdscope_policy_action!="deny"}}[$__range]))',
            instant=True)))
        .with_panel(_stat("Denials (time range)", "short", _q(f"sum(increase(cmdscope_denials_total{{{A}}}[$__range]))", instant=True)))
        .with_panel(_ts("Denials by rule", "ops", _q(f"sum by (cmdscope_policy_rule) (rate(cmdscope_denials_total{{{A}}}[{RI}]))",
                                                     "{{cmdscope_policy_rule}}")))
        .with_panel(_ts("Dangerous hits by severity", "ops", _q(
            f"sum by (cmdscope_danger_severity) (rate(cmdscope_danger_hits_total{{{A}}}[{RI}]))", "{{cmdscope_danger_severity}}")))
        .with_panel(_table("Dangerous hits by rule and action (time range)", _q(
            f"sum by (cmdscope_danger_rule, cmdscope_danger_severity, cmdscope_policy_action) (increase(cmdscope_danger_hits_total{{{A}}}[$__range]))",
            instant=True)))
    )


def sdlc() -> Dashboard:
    return (
        _dashboard("cmdscope-sdlc", "cmdscope / Packets & SDLC", "Packets, gates, merges, heartbeats and commit cadence.")
        .with_panel(_ts("Packet duration p50 / p95", "s",
                        _q(f"histogram_quantile(0.5, sum by (le) (rate(cmdscope_packet_duration_seconds_bucket{{{A}}}[{RI}])))", "p50"),
                        _q(f"histogram_quantile(0.95, sum by (le) (rate(cmdscope_packet_duration_seconds_bucket{{{A}}}[{RI}])))", "p95", ref="B")))
        .with_panel(_ts("Packet failure density (mean)", "percentunit", _q(
            f"sum by (cmdscope_actor) (rate(cmdscope_packet_failure_density_sum{{{A}}}[{RI}])) / sum by (cmdscope_actor) (rate(cmdscope_packet_failure_density_count{{{A}}}[{RI}]))",
            "{{cmdscope_actor}}")))
        .with_panel(_ts("Gate pass rate", "percentunit", _q(
            'sum by (cmdscope_gate_name) (increase(cmdscope_gate_results_total{cmdscope_gate_result="pass"}[1h])) / sum by (cmdscope_gate_name) (increase(cmdscope_gate_results_total[1h]))',
            "{{cmdscope_gate_name}}")))
        .with_panel(_stat("Auto-merge rate (30 days)", "percentunit", _q(
            'sum(increase(cmdscope_merges_total{cmdscope_merge_result="auto"}[30d])) / sum(increase(cmdscope_merges_total[30d]))', instant=True),
            "Target 95% (CmdscopeAutoMergeRateLow)."))
        .with_panel(_table("Heartbeat age", _q("time() - max by (cmdscope_heartbeat_name) (cmdscope_heartbeat_last_success_seconds)", instant=True),
                           "Seconds since each heartbeat last succeeded (alert after 2h)."))
        .with_panel(_ts("Scheduled checks on time (7 days)", "percentunit", _q(
            'sum by (cmdscope_heartbeat_name) (increase(cmdscope_schedule_runs_total{cmdscope_schedule_on_time="true"}[7d])) / sum by (cmdscope_heartbeat_name) (increase(cmdscope_schedule_runs_total[7d]))',
            "{{cmdscope_heartbeat_name}}")))
        .with_panel(_ts("Commit cadence (commits per hour)", "short", _q(
            "sum by (cmdscope_commit_atomic) (increase(cmdscope_commits_total[1h]))", "atomic={{cmdscope_commit_atomic}}")))
        .with_panel(_table("Ratings (repository and actor)", _q(
            "max by (cmdscope_rating_scope, cmdscope_rating_subject) (cmdscope_rating)", instant=True),
            "Overall rating 0-100 from `cmdscope rate` (A >= 90, B >= 80, C >= 70, D >= 60; docs/sdlc.md#ratings)."))
        .with_panel(_table("Alert quality by rule (30 days)", _q(
            "sum by (alertname) (increase(cmdscope_incidents_false_positive_total[30d]))"
            " / sum by (alertname) (increase(cmdscope_incidents_triaged_total[30d]))", instant=True),
            "False-positive share of each alert rule's triaged incidents (cmdscope incidents ack/resolve; "
            "threshold: targets.max_false_positive_rate of the governance policy)."))
    )


def telemetry() -> Dashboard:
    return (
        _dashboard("cmdscope-telemetry", "cmdscope / Telemetry health", "What cmdscope's sinks emitted, dropped and failed to export.")
        .with_panel(_ts("Events by sink", "ops", _q(f"sum by (cmdscope_sink) (rate(cmdscope_telemetry_events_total[{RI}]))", "{{cmdscope_sink}}")))
        .with_panel(_ts("Dropped events by sink and reason", "ops", _q(
            f"sum by (cmdscope_sink, cmdscope_reason) (rate(cmdscope_telemetry_dropped_total[{RI}]))", "{{cmdscope_sink}} / {{cmdscope_reason}}")))
        .with_panel(_ts("Drop ratio by sink", "percentunit", _q(
            f"sum by (cmdscope_sink) (rate(cmdscope_telemetry_dropped_total[{RI}])) / sum by (cmdscope_sink) (rate(cmdscope_telemetry_events_total[{RI}]))",
            "{{cmdscope_sink}}"), description="Alert above 1% (CmdscopeTelemetryDropped)."))
        .with_panel(_ts("Export errors", "ops", _q(
            f'sum by (cmdscope_sink, cmdscope_reason) (rate(cmdscope_telemetry_dropped_total{{cmdscope_reason!="queue_full"}}[{RI}]))',
            "{{cmdscope_sink}} / {{cmdscope_reason}}"), description="Drops for any reason but a full queue: exporter errors and timeouts."))
    )


DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "cmdscope-overview": overview,
    "cmdscope-failures": failures,
    "cmdscope-guardrails": guardrails,
    "cmdscope-sdlc": sdlc,
    "cmdscope-telemetry": telemetry,
}


def render(name: str) -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(DASHBOARDS[name]().build()) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text, as generated now."""
    return {f"{name}.json": render(name) for name in DASHBOARDS}


def _panels(doc: dict[str, object]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for panel in doc.get("panels", []):  # type: ignore[union-attr]
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def all_promql(*, resolve: bool = False) -> list[str]:
    """Every PromQL expression of every panel. With ``resolve=True`` the Grafana variables are
    replaced so the expression runs as-is against Prometheus ($actor/$phase = all, rate
    interval 1m, range 1h)."""
    exprs: list[str] = []
    for text in rendered().values():
        for panel in _panels(json.loads(text)):
            for target in panel.get("targets", []) or []:  # type: ignore[union-attr]
                if target.get("expr"):
                    exprs.append(target["expr"])
    if resolve:
        subs = {"$actor": ".*", "$phase": ".*", "$__rate_interval": "1m", "$__range": "1h"}
        exprs = [re.sub(r"\$(__rate_interval|__range|actor|phase)\b", lambda m: subs[m.group(0)], e) for e in exprs]
    return exprs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed JSON differs from the code")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"dashboards out of date: {', '.join(stale)}; run python dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
