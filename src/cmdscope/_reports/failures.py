"""`cmdscope report failures`: failure counts, retries and time-to-green over the ledger.

    from cmdscope._reports.failures import failure_rollup, failure_daily
    rollup = failure_rollup(records, by="class", top=10)     # records: any iterable of dicts

Definitions (the same as the alerting issue's PromQL over cmdscope_commands_total):
- commands: records of kind `command` or `function` in the window (by `end_ns`);
- failures: those whose `cmdscope.outcome` is not `success` (denial records are the denials
  report's business and are not counted here);
- retries: failures with `cmdscope.retry.count` > 0;
- time to green: from the first failure of a streak to the next success of the same command
  hash in the same session (or packet, when there is no session); a streak with no success in
  the window is `unrecovered`.
The JSON output is versioned (`schema_version`) and described by docs/failures-report.schema.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from sys import intern
from typing import Any

from cmdscope._cli.args import Parser
from cmdscope._reports.common import (
    NS,
    Progress,
    ReadStats,
    ReportError,
    day_of,
    human_duration,
    iso,
    parse_time,
    render_markdown,
    render_table,
)

SCHEMA_VERSION = 1
GROUP_KEYS = {
    "class": "error.type",
    "command": "cmdscope.command.hash",
    "actor": "cmdscope.actor",
    "phase": "cmdscope.phase",
    "packet": "cmdscope.packet",
    "executable": "process.executable.name",
}
COMMAND_KINDS = frozenset({"command", "function"})
_COMMAND_KIND_LIST = ("command", "function")  # `in` on a tuple: no hash, and a list-valued kind is just not one
# The rollups type-check the fields they use as keys themselves, on the values they fetch
# anyway (a wrong type skips the record and reports its line through stats.reject): a separate
# check would cost a third more on a large ledger. The reader checks only the envelope.
NO_FIELDS: dict[str, tuple[type, ...]] = {}
_BUCKET = math.log(1.05)  # time-to-green histogram: 5% wide log buckets, bounded memory


class _TtgHistogram:
    """Quantiles of durations from a log-bucket histogram (within ~5%), O(1) memory per group."""

    __slots__ = ("buckets", "count")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0

    def add(self, seconds: float) -> None:
        key = -1 if seconds < 0.001 else int(math.log(seconds * 1000) / _BUCKET)
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = q * (self.count - 1)
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                return 0.0 if key < 0 else round(math.exp((key + 0.5) * _BUCKET) / 1000, 3)
        return None  # pragma: no cover

    def summary(self) -> dict[str, Any]:
        return {"count": self.count, "median": self.quantile(0.5), "p90": self.quantile(0.9)}


class _Group:
    __slots__ = ("classes", "failures", "first_ns", "last_ns", "retries", "sample", "ttg", "unrecovered")

    def __init__(self) -> None:
        self.failures = 0
        self.retries = 0
        self.first_ns = 0
        self.last_ns = 0
        self.ttg = _TtgHistogram()
        self.unrecovered = 0
        self.sample: str | None = None
        self.classes: dict[str, int] = {}


def _class_titles() -> dict[str, str]:
    try:
        from cmdscope._failures import default_classifier

        return {cid: info.title for cid, info in default_classifier().taxonomy.classes.items()}
    except Exception:  # a broken overlay must not break a report over existing data
        return {}


class Rollup:
    """``failure_rollup``'s state, fed with ``feed`` and merged in segment order with ``merge``
    (``cmdscope._reports.parallel``). ``tail``: the records do not start at the first chosen
    segment, so a streak may have opened before them: per streak key it keeps ``seen`` (True
    while the streak it opened before any success of the key is open: an earlier open streak
    goes on instead) and, in ``deferred``, each close whose first failure may lie earlier."""

    def __init__(self, *, since_ns: int | None = None, until_ns: int | None = None, by: str = "class",
                 tail: bool = False) -> None:
        if by not in GROUP_KEYS:
            raise ReportError(f"--by {by!r}: expected one of {', '.join(GROUP_KEYS)}")
        self.since_ns, self.until_ns, self.by, self.tail = since_ns, until_ns, by, tail
        self.groups: dict[str, _Group] = {}
        self.open_streaks: dict[tuple[str, str], tuple[int, str]] = {}  # (scope, hash) -> (first fail ns, group)
        self.total = self.failures = self.retries = 0
        self.seen: dict[tuple[str, str], bool] = {}
        # flat, three items a close (no tuple each: fewer objects to keep and to pickle): key, own streak, success ns
        self.deferred: list[Any] = []

    def feed(self, records: Iterable[dict[str, Any]], stats: ReadStats | None) -> None:
        """One pass over ``records``; memory bounded by the groups and the open streaks."""
        by = self.by
        field = GROUP_KEYS[by]
        lo = self.since_ns if self.since_ns is not None else -1
        hi = self.until_ns if self.until_ns is not None else 1 << 126
        groups, open_streaks, tail, seen = self.groups, self.open_streaks, self.tail, self.seen
        total = failures = retries = 0
        command_kinds = _COMMAND_KIND_LIST
        want_sample = by == "command"
        count_classes = by != "class"
        for rec in records:
            get = rec.get
            if get("kind") not in command_kinds:
                continue
            end = get("end_ns")
            if type(end) is not int or end < lo or end >= hi:
                continue
            command_hash = get("cmdscope.command.hash")
            scope = get("session.id") or get("cmdscope.packet") or ""
            if type(scope) is not str or not (command_hash is None or type(command_hash) is str):
                _reject(stats, rec, ("session.id", "cmdscope.packet", "cmdscope.command.hash"))
                continue
            if get("cmdscope.outcome") == "success":
                total += 1
                if tail and command_hash is not None:
                    state = seen.get((scope, command_hash))
                    if state is not False:  # its first success here: it may close an earlier streak
                        streak_key = (intern(scope), intern(command_hash))  # strings shared by every key
                        seen[streak_key] = False
                        self.deferred += (streak_key, open_streaks.pop(streak_key, None), end)
                        continue
                if open_streaks and command_hash is not None:
                    streak = open_streaks.pop((scope, command_hash), None)
                    if streak is not None:
                        groups[streak[1]].ttg.add((end - streak[0]) / NS)
                continue
            key = get(field)
            error_type = get("error.type")
            if not ((key is None or type(key) is str) and (error_type is None or type(error_type) is str)):
                _reject(stats, rec, (field, "error.type"))
                continue
            total += 1
            failures += 1
            if key is None:
                key = "unknown" if by == "class" else "(none)"
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
                group.first_ns = end
                if want_sample:
                    sample = get("process.command_line")
                    group.sample = sample if type(sample) is str else None
            group.failures += 1
            if end < group.first_ns:
                group.first_ns = end
            if end > group.last_ns:
                group.last_ns = end
            retry = get("cmdscope.retry.count")
            if type(retry) is int and retry > 0:
                group.retries += 1
                retries += 1
            if count_classes:
                error_type = error_type or "unknown"
                group.classes[error_type] = group.classes.get(error_type, 0) + 1
            if command_hash is not None and (scope, command_hash) not in open_streaks:
                streak_key = (intern(scope), intern(command_hash))
                open_streaks[streak_key] = (end, intern(key))
                if tail and streak_key not in seen:
                    seen[streak_key] = True
        self.total += total
        self.failures += failures
        self.retries += retries

    def __getstate__(self) -> dict[str, Any]:
        """What the merge reads (sent from a worker): of ``seen`` only the open provisional streaks."""
        state = dict(self.__dict__)
        state["seen"] = {key: True for key, open_ in self.seen.items() if open_}
        return state

    def merge(self, later: Rollup) -> None:
        """Fold in the rollup of the records after these (a tail)."""
        groups = self.groups
        for key, g in later.groups.items():
            mine = groups.get(key)
            if mine is None:
                groups[key] = g
                continue
            mine.failures += g.failures
            mine.retries += g.retries
            mine.first_ns = min(mine.first_ns, g.first_ns)
            mine.last_ns = max(mine.last_ns, g.last_ns)
            for bucket, n in g.ttg.buckets.items():
                mine.ttg.buckets[bucket] = mine.ttg.buckets.get(bucket, 0) + n
            mine.ttg.count += g.ttg.count
            for cls, n in g.classes.items():
                mine.classes[cls] = mine.classes.get(cls, 0) + n
        flat = iter(later.deferred)
        for streak_key, own, end in zip(flat, flat, flat):
            streak = self.open_streaks.pop(streak_key, None) or own
            if streak is not None:
                groups[streak[1]].ttg.add((end - streak[0]) / NS)
        for streak_key, streak in later.open_streaks.items():
            if later.seen.get(streak_key):  # opened there before any success of it: an earlier streak goes on
                self.open_streaks.setdefault(streak_key, streak)
            else:
                self.open_streaks[streak_key] = streak
        self.total += later.total
        self.failures += later.failures
        self.retries += later.retries

    def report(self, *, top: int = 10, now_ns: int | None = None, stats: ReadStats | None = None) -> dict[str, Any]:
        by, groups, open_streaks = self.by, self.groups, self.open_streaks
        total, failures, retries = self.total, self.failures, self.retries
        since_ns, until_ns = self.since_ns, self.until_ns
        for _, key in open_streaks.values():
            groups[key].unrecovered += 1
        titles = _class_titles() if by == "class" else {}
        overall = _TtgHistogram()
        for g in groups.values():
            for bucket, n in g.ttg.buckets.items():
                overall.buckets[bucket] = overall.buckets.get(bucket, 0) + n
            overall.count += g.ttg.count
        ranked = sorted(groups.items(), key=lambda kv: (-kv[1].failures, kv[0]))
        shown = ranked[:top] if top > 0 else ranked
        rest = ranked[len(shown):]
        rows = []
        for key, g in shown:
            row: dict[str, Any] = {
                "key": key,
                "failures": g.failures,
                "share_of_commands": round(g.failures / total, 6) if total else 0.0,
                "share_of_failures": round(g.failures / failures, 6) if failures else 0.0,
                "retries": g.retries,
                "first_seen": iso(g.first_ns),
                "last_seen": iso(g.last_ns),
                "time_to_green_s": g.ttg.summary(),
                "unrecovered": g.unrecovered,
            }
            if by == "class":
                row["title"] = titles.get(key)
            else:
                row["top_class"] = max(g.classes.items(), key=lambda kv: (kv[1], kv[0]))[0] if g.classes else None
            if by == "command":
                row["command_line"] = g.sample
            rows.append(row)
        report: dict[str, Any] = {
            "report": "failures",
            "schema_version": SCHEMA_VERSION,
            "generated_at": iso(now_ns if now_ns is not None else time.time_ns()),
            "window": {"since": iso(since_ns), "until": iso(until_ns)},
            "by": by,
            "totals": {
                "commands": total,
                "failures": failures,
                "failure_share": round(failures / total, 6) if total else 0.0,
                "retries": retries,
                "recovered": overall.count,
                "unrecovered": len(open_streaks),
                "time_to_green_s": overall.summary(),
            },
            "groups": rows,
            "other": {"groups": len(rest), "failures": sum(g.failures for _, g in rest)},
        }
        if stats is not None:
            report["ledger"] = {"records_read": stats.records, "bad_lines": stats.bad_lines,
                                "segments_read": stats.segments, "segments_skipped": stats.skipped_segments}
        return report


def failure_rollup(records: Iterable[dict[str, Any]], *, since_ns: int | None = None,
                   until_ns: int | None = None, by: str = "class", top: int = 10,
                   now_ns: int | None = None, stats: ReadStats | None = None) -> dict[str, Any]:
    """Aggregate failures by `by` (class, command, actor, phase, packet, executable).

    One pass, memory bounded by the number of groups and of open failure streaks. Returns the
    JSON-ready report (docs/failures-report.schema.json).
    """
    rollup = Rollup(since_ns=since_ns, until_ns=until_ns, by=by)
    rollup.feed(records, stats)
    return rollup.report(top=top, now_ns=now_ns, stats=stats)


def _feed(acc: Rollup | Daily, records: Iterable[dict[str, Any]], stats: ReadStats) -> None:
    acc.feed(records, stats)


def _reject(stats: ReadStats | None, rec: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Skip a record whose key fields are not strings; noted with its line when read by the reader."""
    if stats is not None:
        bad = next((k for k in keys if rec.get(k) is not None and type(rec.get(k)) is not str), keys[0])
        stats.reject(f"field {bad!r}: expected a string or null")


class Daily:
    """``failure_daily``'s counts per UTC day and class, fed with ``feed``, merged with ``merge``."""

    def __init__(self, *, days: int = 14, now_ns: int | None = None) -> None:
        self.now = now_ns if now_ns is not None else time.time_ns()
        self.today = self.now // (86400 * NS)
        self.first_day = self.today - days + 1
        self.lo = (self.first_day - 1) * 86400 * NS  # one extra day for the first day's day-over-day change
        self.counts: dict[int, dict[str, int]] = {}
        self.totals: dict[int, list[int]] = {}

    def feed(self, records: Iterable[dict[str, Any]], stats: ReadStats | None) -> None:
        lo, now, counts, totals = self.lo, self.now, self.counts, self.totals
        day_ns = 86400 * NS
        command_kinds = _COMMAND_KIND_LIST
        for rec in records:
            get = rec.get
            if get("kind") not in command_kinds:
                continue
            end = get("end_ns")
            if type(end) is not int or end < lo or end > now:
                continue
            day = end // day_ns
            total = totals.get(day)
            if total is None:
                total = totals[day] = [0, 0]
            if get("cmdscope.outcome") == "success":
                total[0] += 1
                continue
            cls = get("error.type") or "unknown"
            if type(cls) is not str:
                _reject(stats, rec, ("error.type",))
                continue
            total[0] += 1
            total[1] += 1
            per_day = counts.get(day)
            if per_day is None:
                per_day = counts[day] = {}
            per_day[cls] = per_day.get(cls, 0) + 1

    def merge(self, later: Daily) -> None:
        for day, (commands, failed) in later.totals.items():
            total = self.totals.setdefault(day, [0, 0])
            total[0] += commands
            total[1] += failed
        for day, per_day in later.counts.items():
            mine = self.counts.setdefault(day, {})
            for cls, n in per_day.items():
                mine[cls] = mine.get(cls, 0) + n

    def report(self, *, top: int = 10, stats: ReadStats | None = None) -> dict[str, Any]:
        counts, totals = self.counts, self.totals
        out_days = []
        for day in range(self.first_day, self.today + 1):
            today_counts = counts.get(day, {})
            before = counts.get(day - 1, {})
            ranked = sorted(today_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            commands, failed = totals.get(day, [0, 0])
            out_days.append({
                "date": day_of(day * 86400 * NS),
                "commands": commands,
                "failures": failed,
                "classes": [
                    {"class": cls, "failures": n, "previous": before.get(cls, 0), "change": n - before.get(cls, 0),
                     "change_pct": round((n - before[cls]) / before[cls], 4) if before.get(cls) else None}
                    for cls, n in ranked
                ],
            })
        report: dict[str, Any] = {
            "report": "failures-daily",
            "schema_version": SCHEMA_VERSION,
            "generated_at": iso(self.now),
            "days": out_days,
        }
        if stats is not None:
            report["ledger"] = {"records_read": stats.records, "bad_lines": stats.bad_lines,
                                "segments_read": stats.segments, "segments_skipped": stats.skipped_segments}
        return report


def failure_daily(records: Iterable[dict[str, Any]], *, days: int = 14, top: int = 10,
                  now_ns: int | None = None, stats: ReadStats | None = None) -> dict[str, Any]:
    """Per UTC day (the last `days` days, today included): the top failure classes and their
    change against the day before."""
    daily = Daily(days=days, now_ns=now_ns)
    daily.feed(records, stats)
    return daily.report(top=top, stats=stats)


# ------------------------------------------------------------------------------ rendering


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def render_rollup(report: dict[str, Any], fmt: str) -> str:
    by = report["by"]
    headers = [by, "failures", "% cmds", "% fails", "retries", "ttg p50", "ttg p90", "unrecovered",
               "first seen", "last seen"]
    extra = "command line" if by == "command" else ("title" if by == "class" else "top class")
    headers.append(extra)
    rows = []
    for g in report["groups"]:
        ttg = g["time_to_green_s"]
        tail = g.get("command_line") if by == "command" else g.get("title") if by == "class" else g.get("top_class")
        if by == "command" and tail:
            from cmdscope._command_text import as_typed

            tail = as_typed({"process.command_line": tail})  # readable quoting; JSON keeps the exact line
        tail = (tail or "")[:60]
        rows.append([g["key"], str(g["failures"]), _pct(g["share_of_commands"]), _pct(g["share_of_failures"]),
                     str(g["retries"]), human_duration(ttg["median"]), human_duration(ttg["p90"]),
                     str(g["unrecovered"]), (g["first_seen"] or "")[:16].replace("T", " "),
                     (g["last_seen"] or "")[:16].replace("T", " "), tail])
    t = report["totals"]
    window = report["window"]
    head = (f"Failures by {by}, {window['since'] or 'beginning'} .. {window['until'] or 'now'}: "
            f"{t['failures']:,} of {t['commands']:,} commands failed ({_pct(t['failure_share'])}), "
            f"{t['retries']:,} retries, time to green p50 {human_duration(t['time_to_green_s']['median'])}, "
            f"{t['unrecovered']:,} still red")
    if fmt == "md":
        body = render_markdown(headers, rows)
        head = f"**{head}**"
    else:
        body = render_table(headers, rows, align_right={1, 2, 3, 4, 5, 6, 7})
    lines = [head, "", body] if rows else [head]
    if report["other"]["groups"]:
        lines.append(f"... and {report['other']['groups']} more groups with {report['other']['failures']:,} failures")
    bad = report.get("ledger", {}).get("bad_lines")
    if bad:
        lines.append(f"note: {bad} unreadable ledger lines skipped")
    return "\n".join(lines) + "\n"


def render_daily(report: dict[str, Any], fmt: str) -> str:
    headers = ["date", "commands", "failures", "class", "count", "change vs day before"]
    rows = []
    for day in report["days"]:
        classes = day["classes"] or [None]
        for i, cls in enumerate(classes):
            first = i == 0
            if cls is None:
                rows.append([day["date"], str(day["commands"]), str(day["failures"]), "-", "", ""])
                continue
            pct = f" ({cls['change_pct'] * 100:+.0f}%)" if cls["change_pct"] is not None else " (new)" if not cls["previous"] else ""
            rows.append([day["date"] if first else "", str(day["commands"]) if first else "",
                         str(day["failures"]) if first else "", cls["class"], str(cls["failures"]),
                         f"{cls['change']:+d}{pct}"])
    if fmt == "md":
        return render_markdown(headers, rows) + "\n"
    return render_table(headers, rows, align_right={1, 2, 4}) + "\n"


# ------------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    from cmdscope._cli import args as args_

    parser = Parser(prog="cmdscope report failures",
                                     description="Failure counts, retries and time to green from the ledger.")
    args_.add_since(parser, "1d")
    parser.add_argument("--until", type=args_.until, default=None, help="window end, same forms as --since (default: now)")
    parser.add_argument("--by", default="class", choices=list(GROUP_KEYS), help="group failures by (default class)")
    parser.add_argument("--top", type=int, default=10, help="show this many groups (0 = all; default 10)")
    args_.add_format(parser, ("table", "json", "md"))
    parser.add_argument("--daily", action="store_true", help="top classes per UTC day with day-over-day change")
    parser.add_argument("--days", type=int, default=14, help="days for --daily (default 14)")
    parser.add_argument("--weekly", action="store_true",
                        help="time to green per class, this week against last week (trailing 7-day weeks "
                             "ending at --until; --since does not apply), with a Mann-Whitney U test")
    parser.add_argument("--ledger", type=Path, default=None, help="ledger path (default $CMDSCOPE_LEDGER or the state dir)")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top < 0:
        parser.error("--top must be >= 0")
    if args.days < 1:
        parser.error("--days must be >= 1")
    if args.weekly and args.daily:
        parser.error("--weekly and --daily are different views: choose one")
    import orjson

    from cmdscope._paths import default_ledger_path
    from cmdscope._reports.parallel import fold

    ledger = args.ledger if args.ledger is not None else default_ledger_path()
    now = time.time_ns()
    stats = ReadStats()
    progress = Progress("reading ledger")
    try:
        if args.daily:
            since = (now // (86400 * NS) - args.days) * 86400 * NS
            daily = fold(Path(ledger), lambda head: Daily(days=args.days, now_ns=now), _feed, stats=stats,
                         progress=progress, since_ns=since, fields=NO_FIELDS)
            report = daily.report(top=args.top or 10, stats=stats)
            text = render_daily(report, args.format) if args.format != "json" else None
        elif args.weekly:  # reports/time_to_green.py
            from cmdscope._reports import time_to_green as ttg

            report = ttg.from_ledger(ledger, args.until, now_ns=now, top=args.top, stats=stats, progress=progress)
            text = ttg.render_weekly(report, args.format) if args.format != "json" else None
        else:
            since = parse_time(args.since, now_ns=now, option="--since")
            until = parse_time(args.until, now_ns=now, option="--until") if args.until else None
            if until is not None and until <= since:
                raise ReportError(f"--until {args.until!r} is not after --since {args.since!r}")
            rollup = fold(Path(ledger), lambda head: Rollup(since_ns=since, until_ns=until, by=args.by, tail=not head),
                          _feed, stats=stats, progress=progress, since_ns=since, until_ns=until, fields=NO_FIELDS)
            report = rollup.report(top=args.top, now_ns=now, stats=stats)
            text = render_rollup(report, args.format) if args.format != "json" else None
    except ReportError as exc:
        progress.done()
        sys.stderr.write(f"cmdscope report failures: {exc}\n")
        return 2
    progress.done()
    stats.report("cmdscope report failures")
    if text is None:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(text)
    sys.stdout.flush()
    return 0
