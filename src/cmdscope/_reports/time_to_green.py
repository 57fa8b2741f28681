"""``cmdscope report failures --weekly``: time to green per failure class, this week against last
week, with a significance test before a direction is called (issue 19 item 5).

    from cmdscope._reports.time_to_green import WeeklyTimeToGreen
    weekly = WeeklyTimeToGreen(until_ns)
    for rec in records:          # any iterable of ledger records, oldest first
        weekly.add(rec)
    report = weekly.report()     # JSON-ready, docs/failures-report.schema.json ("failures-weekly")

Definitions (docs/failures.md#weekly-time-to-green):

- **Weeks** are trailing 7-day windows ending at ``--until`` (default now): *this week*
  [until - 7d, until), *last week* [until - 14d, until - 7d). Not ISO calendar weeks: on a
  Monday morning a calendar week holds a few hours of data and no test could call a direction;
  two full 7-day windows always compare like with like.
- A **failure streak** starts at a command's failure (outcome not ``success``, as in the
  failures report) and is keyed by the command hash within the same worktree and session (the
  packet when there is no session). Its **class** is the first failure's ``error.type``.
- It goes **green** at the earlier of: the next success of the same command in the same
  worktree and session, or the next passing gate of the same packet (the packet is green
  again, although the agent fixed it with another command). Time to green = green time minus the
  first failure's time, counted in the week it went green (as the rating's component does).
- Streaks are followed from one more week back (``LOOKBACK_NS``): a streak that began earlier is
  counted from its first failure inside that span. Streaks still open at ``until`` whose first
  failure lies in a compared week are that week's ``unrecovered``.
- **Direction**: ``improved`` (shorter this week) or ``worse`` only when a two-sided
  Mann-Whitney U test (``cmdscope._sdlc.stats.mann_whitney``, the one the rating's trends use) at
  alpha 0.05 says the two weeks' times differ; else ``no significant change``, or ``too few data``
  when a week has fewer than 2 recoveries of the class.

Memory: the open streaks (one small tuple each; a streak closes at its command's next success)
and, per class and week, counters plus a sample of at most ``SAMPLE`` times (reservoir
sampling with a fixed seed: exact medians below that, the same answer on every run above it).
Never the records.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Mapping
from sys import intern
from typing import Any

from cmdscope._ledger_reader import OSTR, STR

NS = 1_000_000_000
WEEK_NS = 7 * 86400 * NS
LOOKBACK_NS = WEEK_NS
SAMPLE = 10_000
SCHEMA_VERSION = 1
COMMAND_KINDS = frozenset({"command", "function"})
ALPHA = 0.05
# The command attributes this report reads, type-checked by the reader (a wrong type skips the
# line and names it on stderr).
FIELDS: dict[str, tuple[type, ...]] = {
    "cmdscope.outcome": STR, "cmdscope.command.hash": STR, "error.type": OSTR, "session.id": OSTR,
    "cmdscope.packet": OSTR,
}
ALL = "(all classes)"


class _Week:
    """Recoveries of one class in one week: counters and a bounded sample of times (seconds)."""

    __slots__ = ("by_gate", "recovered", "rng", "sample", "unrecovered")

    def __init__(self, seed: int) -> None:
        self.recovered = 0
        self.by_gate = 0
        self.unrecovered = 0
        self.sample: list[float] = []
        self.rng = random.Random(seed)

    def add(self, seconds: float, by_gate: bool) -> None:
        self.recovered += 1
        self.by_gate += by_gate
        if len(self.sample) < SAMPLE:
            self.sample.append(seconds)
        else:  # reservoir sampling (Algorithm R)
            slot = self.rng.randrange(self.recovered)
            if slot < SAMPLE:
                self.sample[slot] = seconds

    def merge(self, other: _Week) -> None:
        """``other``'s recoveries after these: the samples join; beyond ``SAMPLE`` each side
        keeps a share of it in proportion to its recoveries, drawn with this week's seeded
        generator (the same answer on every run)."""
        total = self.recovered + other.recovered
        if len(self.sample) + len(other.sample) <= SAMPLE:
            self.sample.extend(other.sample)
        elif total:
            mine = min(len(self.sample), round(SAMPLE * self.recovered / total))
            theirs = min(len(other.sample), SAMPLE - mine)
            self.sample = self.rng.sample(self.sample, mine) + self.rng.sample(other.sample, theirs)
        self.recovered = total
        self.by_gate += other.by_gate
        self.unrecovered += other.unrecovered

    def summary(self) -> dict[str, Any]:
        xs = sorted(self.sample)
        return {
            "recovered": self.recovered,
            "median_s": round(statistics.median(xs), 3) if xs else None,
            "p90_s": round(xs[min(len(xs) - 1, int(0.9 * len(xs)))], 3) if xs else None,
            "by_gate": self.by_gate,
            "unrecovered": self.unrecovered,
            "sampled": len(xs) < self.recovered,
        }


def _text(value: Any) -> str:
    return value if type(value) is str else ""


class WeeklyTimeToGreen:
    """The weekly rollup, fed one record at a time (``add``), oldest first."""

    def __init__(self, until_ns: int, *, alpha: float = ALPHA) -> None:
        self.until_ns = until_ns
        self.this_start = until_ns - WEEK_NS
        self.last_start = until_ns - 2 * WEEK_NS
        self.read_start = self.last_start - LOOKBACK_NS  # where a caller's ledger read begins
        self.alpha = alpha
        # (worktree, session or packet, command hash) -> (first failure ns, class, packet)
        self.open: dict[tuple[str, str, str], tuple[int, str, str]] = {}
        self.by_packet: dict[str, set[tuple[str, str, str]]] = {}  # packet -> its open streaks
        self.weeks: dict[str, tuple[_Week, _Week]] = {}  # class -> (last week, this week)
        self._week(ALL)

    def _week(self, cls: str) -> tuple[_Week, _Week]:
        pair = self.weeks.get(cls)
        if pair is None:
            seed = sum(cls.encode())  # deterministic, per class
            pair = self.weeks[cls] = (_Week(seed), _Week(seed + 1))
        return pair

    def add(self, rec: Mapping[str, Any]) -> None:
        end = rec.get("end_ns")
        if type(end) is not int or end < self.read_start or end >= self.until_ns:
            return
        kind = rec.get("kind")
        if kind in COMMAND_KINDS:
            get = rec.get
            self.command(end, get("cmdscope.worktree"), get("cmdscope.packet"), get("session.id"),
                         get("cmdscope.outcome"), get("cmdscope.command.hash"), rec)
        elif kind == "gate" and rec.get("cmdscope.gate.result") == "pass":
            packet = _text(rec.get("cmdscope.packet"))
            if packet:
                self._gate(packet, end)

    def _gate(self, packet: str, end: int) -> None:
        """A passing gate of ``packet``: its open streaks go green."""
        for key in self.by_packet.pop(packet, ()):
            streak = self.open.pop(key, None)
            if streak is not None:
                self._close(key, streak, end, by_gate=True)

    def _event(self, key: tuple[str, str, str], end: int, success: bool, cls: str, packet: str) -> None:
        """A command's outcome for a streak key, normalised (the replay of ``merge``)."""
        if success:
            streak = self.open.pop(key, None)
            if streak is not None:
                self._close(key, streak, end, by_gate=False)
        elif key not in self.open:
            self.open[key] = (end, cls, packet)
            if packet:
                self.by_packet.setdefault(packet, set()).add(key)

    def merge(self, later: WeeklyTimeToGreen) -> None:
        """Fold in ``later``, the rollup of the records after this one's (a ``WeeklyTail``): its
        buffered events (those of streaks that may have begun before it) and its passing gates
        are replayed here in their order, then its own open streaks and weeks join these."""
        # (key, its event) pairs, the gates' key None: the events themselves are not copied
        events: list[tuple[Any, tuple[Any, ...]]] = [(key, ev) for key, evs in getattr(later, "buffered", {}).items()
                                                     for ev in evs]
        events.extend((None, gate) for gate in getattr(later, "gates", ()))
        events.sort(key=_seq)
        for key, event in events:
            if key is None:
                _, packet, end = event
                self._gate(packet, end)
            else:
                _, end, success, cls, packet = event
                self._event(key, end, success, cls, packet)
        for key, streak in later.open.items():
            self.open[key] = streak
            if streak[2]:
                self.by_packet.setdefault(streak[2], set()).add(key)
        for cls, (last, this) in later.weeks.items():
            mine = self._week(cls)
            mine[0].merge(last)
            mine[1].merge(this)

    def command(self, end: int, worktree: Any, packet: Any, session: Any, outcome: Any, command_hash: Any,
                rec: Mapping[str, Any]) -> None:
        """A command (or function) record ending at ``end`` (an int), its fields as read (the
        class is read from ``rec`` only for a failure): what ``add`` does for one, for a caller
        that has read them already (a shared pass)."""
        if end < self.read_start or end >= self.until_ns or type(command_hash) is not str:
            return
        if type(packet) is not str:
            packet = ""
        if type(session) is not str or not session:
            session = "packet:" + packet if packet else ""
        self._step((worktree if type(worktree) is str else "", session, command_hash), end, outcome, packet, rec)

    def _step(self, key: tuple[str, str, str], end: int, outcome: Any, packet: str, rec: Mapping[str, Any]) -> None:
        """A command's outcome for its streak key (``packet``: a string, ``""`` for none)."""
        if outcome == "success":
            streak = self.open.pop(key, None)
            if streak is not None:
                self._close(key, streak, end, by_gate=False)
        elif key not in self.open:  # strings shared with the other streaks': one copy each in memory
            cls = rec.get("error.type")
            key = (intern(key[0]), intern(key[1]), intern(key[2]))
            packet = intern(packet)
            self.open[key] = (end, intern(cls) if type(cls) is str and cls else "unknown", packet)
            if packet:
                self.by_packet.setdefault(packet, set()).add(key)

    def _close(self, key: tuple[str, str, str], streak: tuple[int, str, str], end: int, *, by_gate: bool) -> None:
        first, cls, packet = streak
        if packet and not by_gate:
            keys = self.by_packet.get(packet)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_packet[packet]
        if end < self.last_start:
            return  # went green before the compared weeks
        index = 1 if end >= self.this_start else 0
        seconds = max(0, end - first) / NS
        self._week(cls)[index].add(seconds, by_gate)
        self._week(ALL)[index].add(seconds, by_gate)

    def report(self, *, top: int = 0, now_ns: int | None = None) -> dict[str, Any]:
        """The JSON-ready report; ``top`` > 0 keeps that many classes (most recoveries first)."""
        from cmdscope._reports.common import iso

        for first, cls, _ in self.open.values():
            if first >= self.last_start:
                index = 1 if first >= self.this_start else 0
                self._week(cls)[index].unrecovered += 1
                self._week(ALL)[index].unrecovered += 1
        titles = _class_titles()
        ranked = sorted((c for c in self.weeks if c != ALL),
                        key=lambda c: (-(self.weeks[c][0].recovered + self.weeks[c][1].recovered
                                         + self.weeks[c][0].unrecovered + self.weeks[c][1].unrecovered), c))
        shown = ranked[:top] if top > 0 else ranked
        rows = [self._row(c, titles.get(c)) for c in shown]
        total = self._row(ALL, None)
        return {
            "report": "failures-weekly",
            "schema_version": SCHEMA_VERSION,
            "generated_at": iso(now_ns if now_ns is not None else self.until_ns),
            "window": {"alignment": "trailing-7d",
                       "last_week": {"since": iso(self.last_start), "until": iso(self.this_start)},
                       "this_week": {"since": iso(self.this_start), "until": iso(self.until_ns)},
                       "lookback_since": iso(self.read_start)},
            "alpha": self.alpha,
            "totals": total,
            "classes": rows,
            "other": {"classes": len(ranked) - len(shown)},
        }

    def _row(self, cls: str, title: str | None) -> dict[str, Any]:
        from cmdscope._sdlc.stats import mann_whitney

        last, this = self.weeks[cls]
        a, b = this.summary(), last.summary()
        test = mann_whitney(this.sample, last.sample, alpha=self.alpha)
        if test.method == "insufficient":
            direction = "too few data"
        else:
            direction = {"lower": "improved", "higher": "worse"}.get(test.shift, "no significant change")
        change = None
        if a["median_s"] is not None and b["median_s"] is not None:
            change = {"median_s": round(a["median_s"] - b["median_s"], 3),
                      "ratio": round(a["median_s"] / b["median_s"], 4) if b["median_s"] else None}
        return {"class": cls, "title": title, "last_week": b, "this_week": a, "change": change,
                "test": test.as_dict(), "direction": direction}


class WeeklyTail(WeeklyTimeToGreen):
    """The rollup of records that do not start at the first chosen segment (a worker's group):
    it does not know which streaks were open before it. The events of a streak key up to and
    including its first success here are buffered (a failure only when a gate passed since the
    last one kept: between two gates a repeated failure changes nothing), with every passing
    gate, for ``merge`` to replay after the earlier rollup; from its first success on, a key is
    followed here as usual."""

    def __init__(self, until_ns: int, *, alpha: float = ALPHA) -> None:
        super().__init__(until_ns, alpha=alpha)
        self.seq = 0
        self.last_gate = -1
        self.settled: set[tuple[str, str, str]] = set()
        # key -> [(seq, end, success, class, packet)]
        self.buffered: dict[tuple[str, str, str], list[tuple[int, int, bool, str, str]]] = {}
        self.gates: list[tuple[int, str, int]] = []  # (seq, packet, end)

    def command(self, end: int, worktree: Any, packet: Any, session: Any, outcome: Any, command_hash: Any,
                rec: Mapping[str, Any]) -> None:
        if end < self.read_start or end >= self.until_ns or type(command_hash) is not str:
            return
        text_packet = packet if type(packet) is str else ""
        scope = session if type(session) is str and session else ("packet:" + text_packet if text_packet else "")
        key = (worktree if type(worktree) is str else "", scope, command_hash)
        if key in self.settled:
            self._step(key, end, outcome, text_packet, rec)
            return
        self.seq += 1
        events = self.buffered.get(key)
        if events is None:  # the key's strings shared with every other record's (the worker pickles them once)
            key = (intern(key[0]), intern(key[1]), intern(key[2]))
            events = self.buffered[key] = []
        if outcome == "success":
            events.append((self.seq, end, True, "", ""))
            self.settled.add(key)
        elif not events or events[-1][0] < self.last_gate:
            cls = rec.get("error.type")
            events.append((self.seq, end, False, intern(cls) if type(cls) is str and cls else "unknown",
                           intern(text_packet)))

    def __getstate__(self) -> dict[str, Any]:
        """What the merge reads (sent from a worker): not the settled keys."""
        state = dict(self.__dict__)
        state["settled"] = set()
        return state

    def _gate(self, packet: str, end: int) -> None:
        self.seq += 1
        self.last_gate = self.seq
        self.gates.append((self.seq, packet, end))
        super()._gate(packet, end)


def _seq(item: tuple[Any, tuple[Any, ...]]) -> int:
    seq: int = item[1][0]
    return seq


def _class_titles() -> dict[str, str]:
    try:
        from cmdscope._failures import default_classifier

        return {cid: info.title for cid, info in default_classifier().taxonomy.classes.items()}
    except Exception:  # a broken overlay must not break a report over existing data
        return {}


def weekly(records: Iterable[Mapping[str, Any]], until_ns: int, *, top: int = 0,
           now_ns: int | None = None) -> dict[str, Any]:
    """The weekly report over an iterable of records (oldest first)."""
    rollup = WeeklyTimeToGreen(until_ns)
    for rec in records:
        rollup.add(rec)
    return rollup.report(top=top, now_ns=now_ns)


def from_ledger(ledger: Any, until: str | None, *, now_ns: int, top: int = 0, stats: Any = None,
                progress: Any = None) -> dict[str, Any]:
    """``report failures --weekly``: one streaming pass over the ledger from the lookback start
    to ``until`` (``--until``'s text, default now). Raises ReportError on a bad ``until``."""
    from pathlib import Path

    from cmdscope._reports.common import ReadStats, parse_time
    from cmdscope._reports.parallel import fold

    stats = stats if stats is not None else ReadStats()
    end = parse_time(until, now_ns=now_ns, option="--until") if until else now_ns
    start = WeeklyTimeToGreen(end).read_start
    rollup = fold(Path(ledger), lambda head: (WeeklyTimeToGreen if head else WeeklyTail)(end), _feed, stats=stats,
                  progress=progress, since_ns=start, until_ns=end, fields=FIELDS)
    report = rollup.report(top=top, now_ns=now_ns)
    report["ledger"] = {"records_read": stats.records, "bad_lines": stats.bad_lines,
                        "segments_read": stats.segments, "segments_skipped": stats.skipped_segments}
    return report


def _feed(rollup: WeeklyTimeToGreen, records: Iterable[Mapping[str, Any]], stats: Any) -> None:
    add, command = rollup.add, rollup.command
    for rec in records:  # the reader has checked kind, end_ns and the FIELDS' types
        kind = rec["kind"]
        if kind == "command" or kind == "function":  # add()'s command path without its checks
            get = rec.get
            command(rec["end_ns"], get("cmdscope.worktree"), get("cmdscope.packet"), get("session.id"),
                    get("cmdscope.outcome"), get("cmdscope.command.hash"), rec)
        else:
            add(rec)


# ------------------------------------------------------------------------------ rendering


def _duration(seconds: float | None) -> str:
    from cmdscope._reports.common import human_duration

    return human_duration(seconds)


def _p(test: Mapping[str, Any]) -> str:
    return "-" if test["p_value"] is None else f"{test['p_value']:.3g}"


def table_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows shared by the table, Markdown and HTML forms (the totals row last)."""
    headers = ["class", "last week p50 (n)", "this week p50 (n)", "change", "still red (last -> this)",
               "p (Mann-Whitney)", "direction"]
    rows = []
    for row in [*report["classes"], report["totals"]]:
        last, this, change = row["last_week"], row["this_week"], row["change"]
        if change is None:
            moved = "-"
        elif change["median_s"] == 0:
            moved = "0s"
        else:
            moved = ("+" if change["median_s"] > 0 else "-") + _duration(abs(change["median_s"]))
        rows.append([row["class"], f"{_duration(last['median_s'])} ({last['recovered']})",
                     f"{_duration(this['median_s'])} ({this['recovered']})", moved,
                     f"{last['unrecovered']} -> {this['unrecovered']}", _p(row["test"]), row["direction"]])
    return headers, rows


def render_weekly(report: Mapping[str, Any], fmt: str) -> str:
    from cmdscope._reports.common import render_markdown, render_table

    w = report["window"]
    head = (f"Time to green by failure class, last week {w['last_week']['since']} .. {w['last_week']['until']} "
            f"against this week .. {w['this_week']['until']} (trailing 7-day weeks; direction only when "
            f"Mann-Whitney p < {report['alpha']})")
    headers, rows = table_rows(report)
    if fmt == "md":
        body = render_markdown(headers, rows)
        head = f"**{head}**"
    else:
        body = render_table(headers, rows, align_right={1, 2, 3, 5})
    lines = [head, "", body]
    if report["other"]["classes"]:
        lines.append(f"... and {report['other']['classes']} more classes (--top 0 shows all)")
    bad = report.get("ledger", {}).get("bad_lines")
    if bad:
        lines.append(f"note: {bad} unreadable ledger lines skipped")
    return "\n".join(lines) + "\n"
