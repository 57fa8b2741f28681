"""``cmdscope report html -o report.html [--since 30d] [--policy FILE]``: one self-contained offline page.

Charts are inline SVG generated here (no CDN, no external file, no JS library): packet duration
and failure density over time, failure classes stacked by day, denials and dangerous hits by
rule, commit cadence. Below them the weekly packet table and the governance sections, each over
its own window: the ratings (``cmdscope rate``: the policy's ``rating.window_days`` against the
window before), the governance figures (``report governance``: ``targets.window_days``) and the
weekly time to green (``report failures --weekly``). A small inline script marks each chart ``data-rendered="ok"`` once its SVG
has laid out, which the headless-browser test checks (tests/test_report_html.py).
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from html import escape as _escape_html
from typing import Any, Iterable

from cmdscope._cli.args import Parser
from cmdscope._ledger_reader import COMMAND_FIELDS, kind_pattern
from cmdscope._reports.packets import PacketRows
from cmdscope._safe_text import printable

NS = 1_000_000_000
DAY_NS = 86400 * NS
W, H = 640, 260
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 16, 44
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}p.sub{color:#666;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(660px,1fr));gap:16px}
figure{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}svg{display:block;max-width:100%;height:auto}
.axis{stroke:#999;stroke-width:1}.grid line{stroke:#eee}text{font-size:11px;fill:#444}
.legend span{display:inline-block;margin-right:10px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;background:#fff;margin-top:16px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
"""

_SCRIPT = """
(function(){
  var figs=document.querySelectorAll('figure[data-chart]');var n=0;
  figs.forEach(function(f){var svg=f.querySelector('svg');var box=svg?svg.getBoundingClientRect():null;
    if(svg&&box.width>0&&box.height>0){f.setAttribute('data-rendered','ok');n++;}
    else{f.setAttribute('data-rendered','failed');}});
  document.body.setAttribute('data-charts-rendered',String(n));
  document.body.setAttribute('data-charts-total',String(figs.length));
})();
"""


def escape(text: str) -> str:
    """HTML-escaped, with control and bidi characters shown as escapes (they could reorder or
    hide text on the page as in a terminal)."""
    return _escape_html(printable(text))


def _svg(inner: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
            f'aria-label="{escape(label)}">' + "".join(inner) + "</svg>")


def _empty(label: str) -> str:
    return _svg([f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty">no data in this window</text>'], label)


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    import math

    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2g}"


def _axes(ymax: float, ylabel: str) -> list[str]:
    out = []
    for i in range(5):
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - i / 4)
        out.append(f'<line class="axis" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke-opacity="{0.25 if i else 1}"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(ymax * i / 4)}</text>')
    out.append(f'<line class="axis" x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{H - PAD_B}"/>')
    out.append(f'<text x="12" y="{PAD_T + (H - PAD_T - PAD_B) / 2}" transform="rotate(-90 12 {PAD_T + (H - PAD_T - PAD_B) / 2})" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    return out


def time_series(points: list[tuple[int, float, str]], label: str, ylabel: str, color: str, ymax: float | None = None) -> str:
    """Dots joined by a line: (time ns, value, tooltip)."""
    if not points:
        return _empty(label)
    points = sorted(points)
    t0, t1 = points[0][0], points[-1][0]
    span = max(t1 - t0, 1)
    top = ymax if ymax is not None else _nice_max(max(v for _, v, _ in points))
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def xy(t: int, v: float) -> tuple[float, float]:
        x = PAD_L + (pw * (t - t0) / span if t1 > t0 else pw / 2)
        return x, PAD_T + ph * (1 - min(v, top) / top)

    out = _axes(top, ylabel)
    coords = [xy(t, v) for t, v, _ in points]
    out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="'
               + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
    for (x, y), (_, _, tip) in zip(coords, points):
        out.append(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{escape(tip)}</title></circle>')
    for t in (t0, t1) if t1 > t0 else (t0,):
        x, _ = xy(t, 0)
        out.append(f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">'
                   f'{datetime.fromtimestamp(t / NS, tz=timezone.utc).strftime("%m-%d %H:%M")}</text>')
    return _svg(out, label)


def stacked_bars(categories: list[str], series: dict[str, dict[str, float]], label: str, ylabel: str) -> tuple[str, list[tuple[str, str]]]:
    """Vertical bars per category, stacked by series; returns (svg, legend)."""
    if not categories or not series:
        return _empty(label), []
    names = sorted(series, key=lambda s: -sum(series[s].values()))
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(names)}
    top = _nice_max(max(sum(series[s].get(c, 0) for s in names) for c in categories))
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    slot = pw / len(categories)
    bw = min(48.0, max(2.0, slot * 0.7))
    out = _axes(top, ylabel)
    for i, cat in enumerate(categories):
        x = PAD_L + i * slot + (slot - bw) / 2
        y: float = PAD_T + ph
        for s in names:
            v = series[s].get(cat, 0)
            if not v:
                continue
            h = ph * v / top
            y -= h
            out.append(f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{colors[s]}">'
                       f'<title>{escape(cat)}: {escape(s)} {_fmt(v)}</title></rect>')
        if len(categories) <= 16 or i % max(1, len(categories) // 8) == 0:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{escape(cat[5:])}</text>')
    return _svg(out, label), [(s, colors[s]) for s in names]


def hbars(items: list[tuple[str, float, str]], label: str) -> str:
    """Horizontal bars (label, value, color), largest first."""
    if not items:
        return _empty(label)
    items = sorted(items, key=lambda i: -i[1])[:12]
    top = _nice_max(max(v for _, v, _ in items))
    left, pw = 230, W - 230 - PAD_R - 30
    row = (H - PAD_T - 10) / len(items)
    out = []
    for i, (name, v, color) in enumerate(items):
        y = PAD_T + i * row
        w = pw * v / top
        short = name if len(name) <= 34 else name[:33] + "…"
        out.append(f'<text x="{left - 6}" y="{y + row * 0.6:.1f}" text-anchor="end">{escape(short)}</text>')
        out.append(f'<rect class="mark" x="{left}" y="{y + row * 0.15:.1f}" width="{max(w, 1):.1f}" height="{row * 0.7:.1f}" '
                   f'fill="{color}"><title>{escape(name)}: {_fmt(v)}</title></rect>')
        out.append(f'<text x="{left + w + 4:.1f}" y="{y + row * 0.6:.1f}">{_fmt(v)}</text>')
    return _svg(out, label)


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%d")


def _figure(key: str, title: str, svg: str, legend: list[tuple[str, str]] | None = None) -> str:
    leg = ""
    if legend:
        leg = '<div class="legend">' + "".join(f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in legend) + "</div>"
    return f'<figure data-chart="{key}"><figcaption>{escape(title)}</figcaption>{svg}{leg}</figure>'


class Charts:
    """The page's figures, fed one record at a time. Memory: a row per packet, a count per
    (class, day), per rule and per (kind, day); never the records."""

    # Candidate lines for the reader's scan: the kinds drawn, failed commands, danger matches.
    # The command attributes read (the reader type-checks these).
    FIELDS = {key: COMMAND_FIELDS[key] for key in ("cmdscope.outcome", "error.type", "cmdscope.policy.rule",
                                                   "cmdscope.danger.rule")}
    # The outcome needle starts on a rare byte (a regex search steps through each occurrence of
    # its first byte; `"` is the most common one): 0.4 ns a byte against 0.6.
    NEEDLES = (kind_pattern({"packet", "pipeline", "commit", "denial"}), rb'utcome":"(?!success")',
               rb'"cmdscope\.danger\.rule"')

    def __init__(self) -> None:
        self.packets = PacketRows()
        self.by_class_day: dict[tuple[str, int], int] = {}  # (error.type, UTC day number) -> failed commands
        self.denials: Counter[str] = Counter()
        self.danger: Counter[str] = Counter()
        self.commits_day: dict[tuple[str, int], int] = {}  # ("atomic" or "other", day) -> commits
        self.failed = 0

    def add(self, r: dict[str, Any]) -> None:
        kind = r["kind"]
        if kind in PacketRows.KINDS:
            self.packets.add(r)
        elif kind in ("command", "function", "denial"):
            if kind != "denial" and r.get("cmdscope.outcome") != "success":
                key = (r.get("error.type") or "unknown", r["end_ns"] // DAY_NS)
                self.by_class_day[key] = self.by_class_day.get(key, 0) + 1
                self.failed += 1
            if kind == "denial":
                self.denials[r.get("cmdscope.policy.rule") or "unknown"] += 1
            for rule in r.get("cmdscope.danger.rule") or []:
                self.danger[rule] += 1
        elif kind == "commit":
            key = ("atomic" if r.get("cmdscope.commit.atomic") else "other", r["end_ns"] // DAY_NS)
            self.commits_day[key] = self.commits_day.get(key, 0) + 1

    def merge(self, later: Charts) -> None:
        """The counts and rows of the records after these."""
        self.packets.merge(later.packets)
        for mine, theirs in ((self.by_class_day, later.by_class_day), (self.commits_day, later.commits_day)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.denials.update(later.denials)
        self.danger.update(later.danger)
        self.failed += later.failed

    @staticmethod
    def _series(counts: dict[tuple[str, int], int]) -> tuple[list[str], dict[str, dict[str, float]]]:
        """(days, {series: {day: count}}) from counts per (series, UTC day number)."""
        series: dict[str, dict[str, float]] = defaultdict(dict)
        for (name, day), n in counts.items():
            series[name][_day(day * DAY_NS)] = n
        return sorted({_day(day * DAY_NS) for _, day in counts}), dict(series)

    def figures(self, rows: list[dict[str, Any]]) -> list[str]:
        figs = [
            _figure("packet-duration", "Packet duration over time",
                    time_series([(r["end_ns"], r["duration_s"] / 60, f"{r['packet']}: {r['duration_s'] / 60:.1f} min")
                                 for r in rows], "packet duration", "minutes", PALETTE[0])),
            _figure("failure-density", "Packet failure density over time (failed / all commands)",
                    time_series([(r["end_ns"], r["failure_density"], f"{r['packet']}: {r['failure_density']:.2f}")
                                 for r in rows], "failure density", "failed / all", PALETTE[2], ymax=1.0)),
        ]
        days, by_class = self._series(self.by_class_day)
        svg, legend = stacked_bars(days, by_class, "failure classes by day", "failed commands")
        figs.append(_figure("failure-classes", "Failure classes by day", svg, legend))
        items = [(f"denied: {k}", float(v), PALETTE[2]) for k, v in self.denials.items()]
        items += [(f"dangerous: {k}", float(v), PALETTE[1]) for k, v in self.danger.items()]
        figs.append(_figure("denials-danger", "Denials and dangerous hits by rule", hbars(items, "denials and dangerous hits")))
        days, commits = self._series(self.commits_day)
        svg, legend = stacked_bars(days, commits, "commit cadence", "commits")
        figs.append(_figure("commit-cadence", "Commit cadence (atomic = one validated slice)", svg, legend))
        return figs


def charts(records: Iterable[dict[str, Any]]) -> list[str]:
    rollup = Charts()
    for r in records:
        rollup.add(r)
    return rollup.figures(rollup.packets.finish())


def page(title: str, subtitle: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"sub\">{escape(subtitle)}</p>"
            + "".join(body) + f"<script>{_SCRIPT}</script></body></html>")


def render(records: Iterable[dict[str, Any]], since_ns: int, now_ns: int, sections: Iterable[str] = ()) -> str:
    """The page: the charts and the weekly packet table over ``records``, then ``sections``
    (ready HTML: ratings, governance, weekly time to green)."""
    rollup = Charts()
    for r in records:
        rollup.add(r)
    return render_rollup(rollup, since_ns, now_ns, sections)


def render_rollup(rollup: Charts, since_ns: int, now_ns: int, sections: Iterable[str] = ()) -> str:
    """The page from a ``Charts`` already fed (``render`` feeds one)."""
    from cmdscope._reports.packets import build_from_rows, iso

    rows = rollup.packets.finish()
    data = build_from_rows(rows, since_ns, now_ns)
    summary = _weekly_table(data)
    return page("cmdscope report", f"{iso(since_ns)} to {iso(now_ns)} · {len(rows)} packets · "
                f"{rollup.failed} failed commands",
                ['<div class="grid">', *rollup.figures(rows), "</div>", summary, *sections])


def _weekly_table(data: dict[str, Any]) -> str:
    from cmdscope._sdlc.durations import format_duration
    from cmdscope._sdlc.tables import change, num, pct

    head = "<tr><th>week</th><th>packets</th><th>median duration</th><th>Δ</th><th>failure density</th><th>Δ</th><th>gate pass</th><th>Δ</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(w['week'])}</td><td>{w['packets']}</td><td>{format_duration(w['median_duration_s'])}</td>"
        f"<td>{change(w['change']['median_duration_s'])}</td><td>{num(w['failure_density'])}</td>"
        f"<td>{change(w['change']['failure_density'])}</td><td>{pct(w['gate_pass_rate'])}</td>"
        f"<td>{change(w['change']['gate_pass_rate'])}</td></tr>" for w in data["weeks"])
    trend = data["trend"]["metrics"]
    notes = "".join(f"<li>{escape(m)}: {_trend_text(t)}</li>" for m, t in trend.items())
    return f"<h2>Weekly packets</h2><table>{head}{rows}</table><ul>{notes}</ul>"


def _trend_text(t: dict[str, Any]) -> str:
    if t["p_value"] is None:
        return "too few packets for a trend test"
    verdict = f"significant {t['direction']} trend" if t["significant"] else "no significant trend"
    return f"{verdict} (Mann-Kendall p={t['p_value']:.3g}, n={t['n']})"


# --- governance sections: ratings, governance figures, weekly time to green -------------------


def _p_text(p: Any) -> str:
    return _num(p, ".3g")


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def ratings_section(rows: list[dict[str, Any]], window_days: float, policy: str) -> str:
    """``cmdscope rate`` on the page: per repository, packet and actor the rating (0-100 and a
    letter), and each component's value, weight, previous value and trend with its test."""
    intro = (f"<p>Over the last {window_days:g} days against the {window_days:g} days before (weights from "
             f"{escape(policy)}; a trend is up or down only when its test is significant at 5%).</p>")
    if not rows:
        return f'<section id="ratings"><h2>Ratings</h2>{intro}<p class="empty">No records in the window to rate.</p></section>'
    head = "<tr><th>scope</th><th>subject</th><th>rating</th><th>letter</th><th>previous</th><th>trend</th></tr>"
    summary = "".join(
        f'<tr data-scope="{escape(r["scope"])}"><td>{escape(r["scope"])}</td><td>{escape(str(r["subject"]))}</td>'
        f'<td>{r["score"]:.0f}</td><td class="letter">{escape(r["letter"])}</td>'
        f'<td>{_num(r["previous"], ".0f")}</td><td>{escape(r["trend"])}</td></tr>'
        for r in rows)
    details = []
    comp_head = ("<tr><th>component</th><th>value</th><th>weight</th><th>previous</th><th>trend</th>"
                 "<th>test</th><th>p</th><th>verdict</th></tr>")
    for r in rows:
        comps = "".join(
            f'<tr data-component="{escape(c["component"])}"><td>{escape(c["component"])}</td><td>{c["value"]:.2f}</td>'
            f'<td>{c["weight"]:.2f}</td><td>{_num(c["previous"], ".2f")}</td>'
            f'<td>{escape(c["trend"])}</td><td>{escape(c["significance"]["test"])}</td>'
            f'<td>{_p_text(c["significance"]["p_value"])}</td><td>{escape(c["significance"]["verdict"])}</td></tr>'
            for c in r["components"])
        details.append(f'<details><summary>{escape(r["scope"])} {escape(str(r["subject"]))}: {r["score"]:.0f} '
                       f'{escape(r["letter"])}</summary><table>{comp_head}{comps}</table></details>')
    return (f'<section id="ratings"><h2>Ratings</h2>{intro}<table>{head}{summary}</table>'
            f'<h3>Components</h3>{"".join(details)}</section>')


def governance_section(data: dict[str, Any]) -> str:
    """``cmdscope report governance`` on the page: each figure against its target, pass or fail."""
    head = "<tr><th>figure</th><th>value</th><th>target</th><th>state</th><th>detail</th></tr>"
    rows = "".join(
        f'<tr data-figure="{escape(f["figure"])}"><td>{escape(f["figure"].replace("_", " "))}</td>'
        f'<td>{_num(f["value"], ".1%")}</td><td>&gt;= {f["target"]:.0%}</td>'
        f'<td class="state">{escape(f["state"])}</td><td>{escape(f["detail"])}</td></tr>' for f in data["figures"])
    return (f'<section id="governance"><h2>Governance</h2><p>{escape(str(data["since"]))} to '
            f'{escape(str(data["until"]))}, targets of {escape(data["policy"])}.</p><table>{head}{rows}</table></section>')


def time_to_green_section(report: dict[str, Any]) -> str:
    """``cmdscope report failures --weekly`` on the page."""
    from cmdscope._reports.time_to_green import table_rows

    headers, rows = table_rows(report)
    w = report["window"]
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"
    body = "".join('<tr data-class="' + escape(r[0]) + '">' + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return (f'<section id="time-to-green"><h2>Time to green, week over week</h2><p>Last week '
            f'{escape(w["last_week"]["since"])} to {escape(w["last_week"]["until"])} against this week to '
            f'{escape(w["this_week"]["until"])} (trailing 7-day weeks); a direction only when Mann-Whitney '
            f'p &lt; {report["alpha"]}.</p><table>{head}{body}</table></section>')


class Governance:
    """The governance sections' accumulators, each over its own window: the ratings
    (``rating.Tallier``: two rating windows), the weekly time to green (three weeks with the
    lookback) and the governance figures (``targets.window_days``). Fed by ``shared_pass``
    together with the charts."""

    # The command attributes the ratings and the weekly time to green read.
    FIELDS = {k: COMMAND_FIELDS[k] for k in ("cmdscope.outcome", "cmdscope.command.hash", "cmdscope.actor",
                                             "error.type", "session.id", "cmdscope.packet", "cmdscope.danger.rule")}

    def __init__(self, policy: Any, now_ns: int) -> None:
        from cmdscope._reports import governance, time_to_green
        from cmdscope._sdlc import rating

        self.policy, self.now_ns = policy, now_ns
        window = policy.rating.window_days * DAY_NS
        self.tallier = rating.Tallier(now_ns - 2 * window, now_ns - window, now_ns + 1)
        self.weekly = time_to_green.WeeklyTimeToGreen(now_ns + 1)
        self.figures = governance.Figures()
        self.figures_since = now_ns - policy.targets.window_days * DAY_NS
        # every record from here on is decoded (the ratings count the successes too)
        self.decode_since = min(self.tallier.start_ns, self.weekly.read_start)

    def sections(self) -> list[str]:
        from cmdscope._reports.common import iso
        from cmdscope._sdlc import rating

        policy, now_ns = self.policy, self.now_ns
        name = f"{policy.name}@{policy.version}"
        sections = [ratings_section(rating.rate(self.tallier.tallies, policy.rating.weights),
                                    policy.rating.window_days, name)]
        data = self.figures.result(policy.targets)
        data.update({"since": iso(self.figures_since), "until": iso(now_ns), "policy": name})
        sections.append(governance_section(data))
        sections.append(time_to_green_section(self.weekly.report(top=10, now_ns=now_ns)))
        return sections


_PROG = "cmdscope report html"


class _Pass:
    """What one group of segments adds to the page (``shared_pass``): the charts and the
    governance accumulators, each merged in segment order (``cmdscope._reports.parallel``)."""

    def __init__(self, charts: Charts, figures: Any = None, tallier: Any = None, weekly: Any = None) -> None:
        self.charts, self.figures, self.tallier, self.weekly = charts, figures, tallier, weekly

    def merge(self, later: _Pass) -> None:
        for name in ("charts", "figures", "tallier", "weekly"):
            mine = getattr(self, name)
            if mine is not None:
                mine.merge(getattr(later, name))


def shared_pass(ledger: str | None, since_ns: int, gov: Governance | None) -> Charts:
    """One pass over the ledger for the whole page, each record decoded once and handed to every
    section that wants it. Without the governance sections: a scan for the charts' candidate
    lines from ``since_ns``. With them: the same scan (plus the governance figures' kinds) up to
    where the ratings and the weekly time to green begin, then a full decode from there, each
    record fed to the charts, the ratings, the weekly time to green and the governance figures
    (each keeps to its own window). Each read is folded over worker processes
    (``cmdscope._reports.parallel``) on a large ledger."""
    from cmdscope._reports import governance, time_to_green
    from cmdscope._reports.common import LedgerStream
    from cmdscope._reports.parallel import fold
    from cmdscope._sdlc import rating

    rollup = Charts()
    if gov is None:
        read = LedgerStream(ledger, _PROG, since_ns=since_ns, needles=Charts.NEEDLES, fields=Charts.FIELDS)
        done = fold(read.path, lambda head: _Pass(rollup if head else Charts()), _feed_charts, stats=read.stats,
                    progress=read.progress, since_ns=since_ns, needles=Charts.NEEDLES, fields=Charts.FIELDS)
        read.finish()
        return done.charts
    split, fsince = gov.decode_since, gov.figures_since
    figure_kinds = governance.KINDS
    early = min(since_ns, fsince)

    def feed_early(acc: _Pass, records: Iterable[dict[str, Any]], stats: Any) -> None:
        add_chart, add_figure = acc.charts.add, acc.figures.add
        for r in records:
            end = r["end_ns"]
            if end >= since_ns:
                add_chart(r)
            if end >= fsince and r["kind"] in figure_kinds:
                add_figure(r)

    if early < split:  # before the ratings' windows: only the charts' and the figures' few lines
        needles = (*Charts.NEEDLES, kind_pattern(set(figure_kinds)))
        read = LedgerStream(ledger, _PROG)
        fold(read.path, lambda head: _Pass(rollup, gov.figures) if head else _Pass(Charts(), governance.Figures()),
             feed_early, stats=read.stats, progress=read.progress, since_ns=early, until_ns=split,
             fields=Charts.FIELDS, needles=needles)
        read.finish()

    def feed_late(acc: _Pass, records: Iterable[dict[str, Any]], stats: Any) -> None:
        add_chart, add_figure = acc.charts.add, acc.figures.add
        add_rating, add_weekly = acc.tallier.add, acc.weekly.add
        rate_command, weekly_command = acc.tallier.command, acc.weekly.command
        for r in records:  # the reader has checked kind (a string), end_ns (an int) and the FIELDS' types
            kind = r["kind"]
            end = r["end_ns"]
            if kind == "command" or kind == "function":  # each field read once for every section
                get = r.get
                outcome, command_hash = get("cmdscope.outcome"), get("cmdscope.command.hash")
                worktree, packet, danger = get("cmdscope.worktree"), get("cmdscope.packet"), get("cmdscope.danger.rule")
                rate_command(end, worktree, packet, get("cmdscope.actor"), outcome, command_hash, danger)
                weekly_command(end, worktree, packet, get("session.id"), outcome, command_hash, r)
                if end >= since_ns and (outcome != "success" or danger):
                    add_chart(r)  # a successful command without a danger match adds nothing to a chart
                continue
            add_rating(r)
            add_weekly(r)
            if end >= since_ns:
                add_chart(r)
            if end >= fsince and kind in figure_kinds:
                add_figure(r)

    def make_late(head: bool) -> _Pass:
        if head:
            return _Pass(rollup, gov.figures, gov.tallier, gov.weekly)
        t = gov.tallier
        return _Pass(Charts(), governance.Figures(),
                     rating.TallierTail(t.start_ns, t.split_ns, t.end_ns, t.all_repository),
                     time_to_green.WeeklyTail(gov.weekly.until_ns, alpha=gov.weekly.alpha))

    fields = {**Charts.FIELDS, **Governance.FIELDS}
    read = LedgerStream(ledger, _PROG)
    fold(read.path, make_late, feed_late, stats=read.stats, progress=read.progress, since_ns=split, fields=fields)
    read.finish()
    return rollup


def _feed_charts(acc: _Pass, records: Iterable[dict[str, Any]], stats: Any) -> None:
    add_chart = acc.charts.add
    for r in records:
        add_chart(r)


def governance_sections(ledger: str | None, policy: Any, now_ns: int) -> list[str]:
    """Ratings, weekly time to green and governance figures alone (the page reads them in its
    shared pass)."""
    gov = Governance(policy, now_ns)
    shared_pass(ledger, now_ns + 1, gov)
    return gov.sections()


def packets_page(data: dict[str, Any], weekly_view: bool) -> str:
    """The HTML form of ``cmdscope report packets``: the table, self-contained."""
    from cmdscope._sdlc.durations import format_duration
    from cmdscope._sdlc.tables import num, pct

    if weekly_view:
        return page("cmdscope packets by week", f"{data['since']} to {data['until']}", [_weekly_table(data)])
    head = "<tr><th>packet</th><th>end</th><th>status</th><th>duration</th><th>commands</th><th>failure density</th><th>gate pass</th><th>commits</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(r['packet'])}</td><td>{escape(r['end'])}</td><td>{escape(r['status'])}</td>"
        f"<td>{format_duration(r['duration_s'])}</td><td>{r['commands']}</td><td>{num(r['failure_density'])}</td>"
        f"<td>{pct(r['gate_pass_rate'])}</td><td>{r['commits']}</td></tr>" for r in data["packets"])
    return page("cmdscope packets", f"{data['since']} to {data['until']}", [f"<table>{head}{rows}</table>"])


def main(argv: list[str]) -> int:
    from cmdscope._cli.args import add_since, output_file
    from cmdscope._reports.common import since_or_report

    p = Parser(prog="cmdscope report html", description="A self-contained offline HTML report.")
    p.add_argument("-o", "--output", required=True, type=output_file, help="the HTML file to write")
    add_since(p, "30d", what="records since")
    p.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    p.add_argument("--policy", help="governance policy for the ratings' weights and the governance targets "
                   "(default: the shipped one)")
    p.add_argument("--no-governance", action="store_true",
                   help="leave out the ratings, governance and weekly time-to-green sections (they decode every "
                        "command record of the last two rating windows or three weeks, whichever is longer)")
    args = p.parse_args(argv)
    now = time.time_ns()
    since = since_or_report(args.since, "cmdscope report html", now)
    if since is None:
        return 2
    gov = None
    if not args.no_governance:  # the policy (pydantic) is loaded only for these sections
        from cmdscope._sdlc.governance import load_policy
        from cmdscope._sdlc.yamlfile import ConfigError

        try:
            policy = load_policy(args.policy)
        except ConfigError as exc:
            sys.stderr.write(f"cmdscope report html: {exc}\n")
            return 2
        gov = Governance(policy, now)
    rollup = shared_pass(args.ledger, since, gov)
    text = render_rollup(rollup, since, now, gov.sections() if gov is not None else ())
    from cmdscope._private_files import write_private

    try:  # 0600 whatever the umask: the report quotes command lines of the audit trail
        write_private(args.output, text.encode("utf-8"))
    except OSError as exc:
        sys.stderr.write(f"cmdscope report html: cannot write {args.output}: {exc.strerror or exc}\n")
        return 2
    print(f"wrote {args.output}")
    return 0
