"""Overall ratings: one number 0-100 and a letter per repository, packet and actor over a window,
from weighted components, each with its trend against the previous window of the same length.

Components (each a score in 0..1, higher is better; a component with no data in the window is
left out and the weights of the others renormalised):

| component | score |
|---|---|
| ``failure_density`` | 1 - failed / commands run |
| ``time_to_green`` | 1 / (1 + median time to green / 10 min): 10 minutes scores 0.5 |
| ``gate_pass_rate`` | passed / gate runs |
| ``guard`` | 1 - min(1, 10 x (denials + dangerous hits) / commands): 10% dangerous scores 0 |
| ``commit_atomicity`` | commits carrying exactly one validated slice / commits |
| ``schedule_on_time`` | heartbeats and audits on time / runs |
| ``auto_merge_rate`` | green pipeline runs auto-merged / green runs |

Letters: A >= 90, B >= 80, C >= 70, D >= 60, else F. The weights live in the governance
policy (``rating.weights``). A trend is called ``up`` or ``down`` only when a two-sided test at
5% says the component changed: a two-proportion z-test for the rates, a Mann-Whitney U test
(``cmdscope._sdlc.stats.mann_whitney``, normal approximation with tie and continuity corrections)
for time to green; otherwise ``flat`` (``n/a`` when a window has no data). Each component
carries its ``significance``: the test, the p-value, alpha and the verdict. The overall trend
is ``up`` or ``down`` when the significant component changes all point that way, else ``flat``.

One pass over the records of both windows; per subject only counters and a bounded sample of
time-to-green values are kept.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cmdscope._ledger_reader import COMMAND_FIELDS, SEGMENT_SLACK_NS

NS = 1_000_000_000
SCOPES = ("repository", "packet", "actor")
FAILED = ("failure", "timeout", "error")
DEFAULT_WEIGHTS: dict[str, float] = {
    "failure_density": 0.25, "time_to_green": 0.15, "gate_pass_rate": 0.15, "guard": 0.15,
    "commit_atomicity": 0.10, "schedule_on_time": 0.10, "auto_merge_rate": 0.10,
}
TTG_HALF_S = 600.0
_SAMPLE = 2000


@dataclass
class Tally:
    commands: int = 0
    failed: int = 0
    gates: int = 0
    gates_passed: int = 0
    guard_events: int = 0
    commits: int = 0
    atomic: int = 0
    runs: int = 0
    on_time: int = 0
    green: int = 0
    auto: int = 0
    ttg: list[float] = field(default_factory=list)

    def proportions(self) -> dict[str, tuple[int, int]]:
        """component -> (good, total) for the rate components."""
        return {
            "failure_density": (self.commands - self.failed, self.commands),
            "gate_pass_rate": (self.gates_passed, self.gates),
            "commit_atomicity": (self.atomic, self.commits),
            "schedule_on_time": (self.on_time, self.runs),
            "auto_merge_rate": (self.auto, self.green),
        }

    def scores(self) -> dict[str, float]:
        out = {name: good / total for name, (good, total) in self.proportions().items() if total}
        if self.ttg:
            out["time_to_green"] = 1 / (1 + statistics.median(self.ttg) / TTG_HALF_S)
        if self.commands:
            out["guard"] = 1 - min(1.0, 10 * self.guard_events / self.commands)
        return out


def letter(score: float) -> str:
    for bound, mark in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if score >= bound:
            return mark
    return "F"


def overall(scores: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    used = {k: w for k, w in weights.items() if k in scores and w > 0}
    total = sum(used.values())
    if not total:
        return None
    return 100 * sum(scores[k] * w for k, w in used.items()) / total


# --- significance ---------------------------------------------------------------------------


def _two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def _verdict(trend: str) -> str:
    return {"up": "significant", "down": "significant", "flat": "not significant"}.get(trend, "too few data")


def proportion_test(now: tuple[int, int], before: tuple[int, int], alpha: float = 0.05) -> dict[str, Any]:
    """Two-proportion z-test of good/total now against before: the trend (``up`` = a higher
    share now), the test, its p-value and the verdict."""
    (a, n), (b, m) = now, before
    out: dict[str, Any] = {"trend": "n/a", "test": "two-proportion-z", "p_value": None, "alpha": alpha}
    if n and m:
        pooled = (a + b) / (n + m)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        if se == 0:
            out.update(trend="flat", p_value=1.0)
        else:
            z = (a / n - b / m) / se
            p = _two_sided_p(z)
            out.update(trend=("up" if z > 0 else "down") if p < alpha else "flat", p_value=float(f"{p:.6g}"))
    out["verdict"] = _verdict(out["trend"])
    return out


def ttg_test(now: list[float], before: list[float], alpha: float = 0.05) -> dict[str, Any]:
    """Mann-Whitney U (cmdscope._sdlc.stats.mann_whitney): shorter times to green now is ``up``."""
    from cmdscope._sdlc.stats import mann_whitney

    mw = mann_whitney(now, before, alpha=alpha)
    trend = "n/a" if mw.method == "insufficient" else {"lower": "up", "higher": "down"}.get(mw.shift, "flat")
    return {"trend": trend, "test": mw.test, "p_value": mw.p_value, "alpha": alpha, "verdict": _verdict(trend)}


def proportion_trend(now: tuple[int, int], before: tuple[int, int], alpha: float = 0.05) -> str:
    return str(proportion_test(now, before, alpha)["trend"])


def ttg_trend(now: list[float], before: list[float], alpha: float = 0.05) -> str:
    """Mann-Whitney U: shorter times to green now is ``up``."""
    return str(ttg_test(now, before, alpha)["trend"])


# --- one pass --------------------------------------------------------------------------------


class Tallier:
    """Counters per (scope, subject) for the previous window [start, split) and the current
    [split, end), fed one record at a time (``add``), so a report can share its ledger pass.
    Records without a repository are counted under ``all_repository`` for that scope. A record's
    facts are read once and applied to each of its (up to three) subjects.

    Command records (nearly all of a ledger) take a short path: their (repository, packet,
    actor, window) is looked up once in a cache of its subjects, the commands, failures and
    guard events are counted per such combination and added to each subject's tally when
    ``tallies`` is read, and each subject keeps its open failure streaks in its own dict
    (command hash -> first failure), so no key tuple is built per record and subject.

    A packet's record ends its state: its open streaks (none of them went green within the
    packet) and its cached combinations are dropped, its counters are kept. So the state is
    bounded by the packets still open, not by the packets the window has seen."""

    def __init__(self, start_ns: int, split_ns: int, end_ns: int, all_repository: str = "all") -> None:
        self.start_ns, self.split_ns, self.end_ns = start_ns, split_ns, end_ns
        self.all_repository = all_repository
        self._tallies: dict[tuple[str, str], tuple[Tally, Tally]] = {}
        # (scope, subject) -> {command hash: first failure of the open streak}
        self.streaks: dict[tuple[str, str], dict[str, int]] = {}
        # (worktree, packet, actor, side) as read -> ([successes, failures, guard events] not yet
        # added to the tallies, ((streaks, tally) per subject))
        self._combos: dict[tuple[Any, ...], tuple[list[int], tuple[tuple[dict[str, int], Tally], ...]]] = {}
        self._packet_combos: dict[str, list[tuple[Any, ...]]] = {}  # packet -> its keys in _combos

    @property
    def tallies(self) -> dict[tuple[str, str], tuple[Tally, Tally]]:
        """Per (scope, subject): (previous window, current window)."""
        for combo in self._combos.values():
            _flush(combo)
        return self._tallies

    def end_packet(self, packet: Any, start_ns: Any = None) -> None:
        """The packet's record: its counts are added, its streaks and combinations dropped."""
        if not isinstance(packet, str) or not packet:
            return
        for combo_key in self._packet_combos.pop(packet, ()):
            combo = self._combos.pop(combo_key, None)
            if combo is not None:
                _flush(combo)
        self.streaks.pop(("packet", packet), None)

    def _remember(self, combo_key: tuple[Any, ...], packet: Any) -> None:
        if isinstance(packet, str) and packet:
            self._packet_combos.setdefault(packet, []).append(combo_key)

    def _keys(self, worktree: Any, packet: Any, actor: Any) -> list[tuple[str, str]]:
        keys = [("repository", worktree if isinstance(worktree, str) and worktree else self.all_repository)]
        if isinstance(packet, str) and packet:
            keys.append(("packet", packet))
        if isinstance(actor, str) and actor:
            keys.append(("actor", actor))
        return keys

    def _pair(self, key: tuple[str, str]) -> tuple[Tally, Tally]:
        pair = self._tallies.get(key)
        if pair is None:
            pair = self._tallies[key] = (Tally(), Tally())
        return pair

    def _sides(self, rec: Mapping[str, Any], side: int) -> list[tuple[tuple[str, str], Tally]]:
        """(subject, its tally for the record's window) for the repository, packet and actor."""
        keys = self._keys(rec.get("cmdscope.worktree"), rec.get("cmdscope.packet"), rec.get("cmdscope.actor"))
        return [(key, self._pair(key)[side]) for key in keys]

    def _combo(self, worktree: Any, packet: Any, actor: Any,
               side: int) -> tuple[list[int], tuple[tuple[dict[str, int], Tally], ...]]:
        streaks = self.streaks
        subjects = []
        for key in self._keys(worktree, packet, actor):
            mine = streaks.get(key)
            if mine is None:
                mine = streaks[key] = {}
            subjects.append((mine, self._pair(key)[side]))
        return [0, 0, 0], tuple(subjects)

    def command(self, end: int, worktree: Any, packet: Any, actor: Any, outcome: Any, h: Any, danger: Any) -> None:
        """A command (or function) record ending at ``end`` (an int), its fields as read: what
        ``add`` does for one, for a caller that has read them already (a shared pass)."""
        if not self.start_ns <= end < self.end_ns:
            return
        side = 1 if end >= self.split_ns else 0
        combo_key = (worktree, packet, actor, side)
        try:
            combo = self._combos.get(combo_key)
        except TypeError:  # an unhashable value (a list where a string belongs): cached by its subjects
            subjects_key = (tuple(self._keys(worktree, packet, actor)), side)
            combo = self._combos.get(subjects_key)
            if combo is None:
                combo = self._combos[subjects_key] = self._combo(worktree, packet, actor, side)
                self._remember(subjects_key, packet)
        else:
            if combo is None:
                combo = self._combos[combo_key] = self._combo(worktree, packet, actor, side)
                self._remember(combo_key, packet)
        counts, subjects = combo
        if outcome in _FAILED:
            counts[1] += 1
            if isinstance(h, str):
                h = sys.intern(h)  # one string per hash, not one per open streak
                for mine, _ in subjects:
                    if h not in mine:
                        mine[h] = end
        elif outcome == "success":
            counts[0] += 1
            if isinstance(h, str):
                for mine, t in subjects:
                    if mine:
                        first = mine.pop(h, None)  # time to green counts in the window it went green
                        if first is not None and len(t.ttg) < _SAMPLE:
                            t.ttg.append((end - first) / NS)
        if danger:
            counts[2] += 1

    def add(self, rec: Mapping[str, Any]) -> None:
        end = rec.get("end_ns")
        if not isinstance(end, int) or not self.start_ns <= end < self.end_ns:
            return
        side = 1 if end >= self.split_ns else 0
        kind = rec.get("kind")
        if kind == "command" or kind == "function":
            get = rec.get
            self.command(end, get("cmdscope.worktree"), get("cmdscope.packet"), get("cmdscope.actor"),
                         get("cmdscope.outcome"), get("cmdscope.command.hash"), get("cmdscope.danger.rule"))
        elif kind == "denial":
            for _, t in self._sides(rec, side):
                t.guard_events += 1
        elif kind == "gate":
            passed = rec.get("cmdscope.gate.result") == "pass"
            for _, t in self._sides(rec, side):
                t.gates += 1
                t.gates_passed += passed
        elif kind == "commit":
            atomic = bool(rec.get("cmdscope.commit.atomic"))
            for _, t in self._sides(rec, side):
                t.commits += 1
                t.atomic += atomic
        elif kind in ("heartbeat", "audit"):
            on_time = bool(rec.get("cmdscope.schedule.on_time"))
            for _, t in self._sides(rec, side):
                t.runs += 1
                t.on_time += on_time
        elif kind == "packet":
            self.end_packet(rec.get("cmdscope.packet"), rec.get("start_ns"))
        elif kind == "pipeline" and "cmdscope.merge.result" in rec:
            if rec.get("cicd.pipeline.result") == "success" and \
                    rec.get("cmdscope.pipeline.gates") == rec.get("cmdscope.pipeline.gates_passed"):
                auto = rec.get("cmdscope.merge.result") == "auto"
                for _, t in self._sides(rec, side):
                    t.green += 1
                    t.auto += auto


    def merge(self, later: Tallier) -> None:
        """Fold in ``later``, the tallier of the records after this one's (a ``TallierTail``):
        its deferred closes end this tallier's open streaks first (each time to green goes into
        ``later``'s sample where it happened, so the first ``_SAMPLE`` are the serial ones), then
        the counters add, the samples join and ``later``'s open streaks carry over."""
        for key, entries in getattr(later, "deferred", {}).items():
            _insert_closes(later._pair(key), entries, self.streaks.get(key))
        for packet in getattr(later, "ended", ()):  # after its deferred closes, before its streaks carry over
            self.end_packet(packet)
        mine = self.tallies
        for key, pair in later.tallies.items():
            have = mine.get(key)
            if have is None:
                mine[key] = pair
                continue
            for a, b in zip(have, pair):
                a.commands += b.commands
                a.failed += b.failed
                a.gates += b.gates
                a.gates_passed += b.gates_passed
                a.guard_events += b.guard_events
                a.commits += b.commits
                a.atomic += b.atomic
                a.runs += b.runs
                a.on_time += b.on_time
                a.green += b.green
                a.auto += b.auto
                a.ttg.extend(b.ttg[:max(0, _SAMPLE - len(a.ttg))])
        provisional = getattr(later, "seen", {})
        for key, opened in later.streaks.items():
            if not opened:
                continue
            streaks = self.streaks.get(key)
            if streaks is None:
                streaks = self.streaks[key] = {}
            carried = provisional.get(key, {})
            for h, first in opened.items():
                if carried.get(h):  # opened here before any success of it: an earlier streak goes on
                    streaks.setdefault(h, first)
                else:
                    streaks[h] = first


class TallierTail(Tallier):
    """A ``Tallier`` for records that do not start at the first chosen segment (a worker's
    group): it does not know which streaks were open before it. Per subject it keeps the
    hashes it has seen (``seen``: hash -> True while the streak it opened before any success of
    that hash is open, for an earlier open streak of the same hash goes on instead) and, in
    ``deferred``, each close whose first failure may lie before it (a success with no streak
    of its own open, or the close of such a streak), for ``Tallier.merge`` to resolve."""

    def __init__(self, start_ns: int, split_ns: int, end_ns: int, all_repository: str = "all") -> None:
        super().__init__(start_ns, split_ns, end_ns, all_repository)
        self.seen: dict[tuple[str, str], dict[str, bool]] = {}
        # subject -> its closes, flat, five items each (no tuple each: fewer objects to keep and
        # to pickle): hash, first failure seen here or None, success ns, side, index in that
        # side's sample
        self.deferred: dict[tuple[str, str], list[Any]] = {}
        self._tails: dict[tuple[Any, ...], tuple[list[int], tuple[tuple[Any, ...], ...]]] = {}
        self.ended: list[str] = []  # packets whose record is in this group, in order
        self.first_ns: int | None = None  # end of the first command read (at or after the group's start)

    def end_packet(self, packet: Any, start_ns: Any = None) -> None:
        """As the head's, and the packet is remembered for the merge (which ends it in the earlier
        state after this group's deferred closes); later commands of it follow the head's path.
        A packet that started after this group's first command (with the reader's slack for
        records written out of order) has no command before the group: its deferred closes are
        resolved here, so the state kept for the merge is bounded by the packets open at the
        group's start, not by every packet the group saw."""
        if not isinstance(packet, str) or not packet:
            return
        for combo_key in self._packet_combos.get(packet, ()):
            self._tails.pop(combo_key, None)
        subject = ("packet", packet)
        if (type(start_ns) is int and self.first_ns is not None and start_ns > self.first_ns + SEGMENT_SLACK_NS
                and subject in self.deferred):
            _insert_closes(self._pair(subject), self.deferred.pop(subject), None)  # no earlier streak
        super().end_packet(packet, start_ns)
        self.seen[subject] = _Known()
        self.ended.append(packet)

    def __getstate__(self) -> dict[str, Any]:
        """What the merge reads (sent from a worker): of ``seen`` only the open provisional streaks."""
        state = dict(self.__dict__)
        state["seen"] = {key: {h: True for h, open_ in seen.items() if open_} for key, seen in self.seen.items()
                         if type(seen) is dict}
        state["_tails"] = {}
        state["deferred"] = {key: entries for key, entries in self.deferred.items() if entries}
        return state

    def command(self, end: int, worktree: Any, packet: Any, actor: Any, outcome: Any, h: Any, danger: Any) -> None:
        if not self.start_ns <= end < self.end_ns:
            return
        side = 1 if end >= self.split_ns else 0
        combo_key: Any = (worktree, packet, actor, side)
        try:
            combo = self._tails.get(combo_key)
        except TypeError:  # an unhashable value: cached by its subjects
            combo_key = (tuple(self._keys(worktree, packet, actor)), side)
            combo = self._tails.get(combo_key)
        if combo is None:
            if self.first_ns is None:
                self.first_ns = end
            counts, subjects = self._combo(worktree, packet, actor, side)
            self._combos[combo_key] = (counts, subjects)
            self._remember(combo_key, packet)
            combo = self._tails[combo_key] = (counts, tuple(
                (mine, t, self.seen.setdefault(key, {}), self.deferred.setdefault(key, []))
                for (mine, t), key in zip(subjects, self._keys(worktree, packet, actor))))
        counts, tails = combo
        if outcome in _FAILED:
            counts[1] += 1
            if isinstance(h, str):
                h = sys.intern(h)
                for mine, _, seen, _ in tails:
                    if h not in mine:
                        mine[h] = end
                        if h not in seen:
                            seen[h] = True
        elif outcome == "success":
            counts[0] += 1
            if isinstance(h, str):
                for mine, t, seen, deferred in tails:
                    state = seen.get(h)
                    if state is None:  # may close a streak open before this group
                        h = sys.intern(h)  # one string per hash, not one per subject that kept it
                        seen[h] = False
                        deferred += (h, None, end, side, len(t.ttg))
                    elif state:  # closes the streak it opened, or one open before this group
                        seen[h] = False
                        deferred += (h, mine.pop(h, None), end, side, len(t.ttg))
                    elif mine:
                        first = mine.pop(h, None)
                        if first is not None and len(t.ttg) < _SAMPLE:
                            t.ttg.append((end - first) / NS)
        if danger:
            counts[2] += 1


def _flush(combo: tuple[list[int], tuple[tuple[Any, ...], ...]]) -> None:
    """Add a combination's pending counts to each of its subjects' tallies."""
    counts, subjects = combo
    ok, bad, guard = counts
    if ok or bad or guard:
        for subject in subjects:
            t = subject[1]
            t.commands += ok + bad
            t.failed += bad
            t.guard_events += guard
        counts[0] = counts[1] = counts[2] = 0


class _Known(dict):  # type: ignore[type-arg]
    """``TallierTail.seen`` of a packet that ended in the tail's own records: nothing of it can
    be open from before, so every hash counts as seen and closed (the head's path)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return False

    def __contains__(self, key: object) -> bool:
        return True


def _insert_closes(pair: tuple[Tally, Tally], entries: list[Any], streaks: dict[str, int] | None) -> None:
    """A subject's deferred closes (flat: hash, first failure seen by the tail or None, success
    ns, side, index) into its windows' samples where they happened: timed from the earlier open
    streak of the hash in ``streaks`` (which it ends), else from the tail's own first failure."""
    found: tuple[list[tuple[int, float]], list[tuple[int, float]]] = ([], [])
    flat = iter(entries)
    for h, first, end, side, at in zip(flat, flat, flat, flat, flat):
        before = streaks.pop(h, None) if streaks else None
        start = before if before is not None else first
        if start is not None:
            found[side].append((at, (end - start) / NS))
    for side in (0, 1):
        if found[side]:
            pair[side].ttg = _interleave(pair[side].ttg, found[side])[:_SAMPLE]


def _interleave(values: list[float], inserts: list[tuple[int, float]]) -> list[float]:
    """``values`` with each (index, value) of ``inserts`` (indexes ascending) put before values[index]."""
    out: list[float] = []
    done = 0
    for at, value in inserts:
        out.extend(values[done:at])
        done = max(done, at)
        out.append(value)
    out.extend(values[done:])
    return out


_COMMAND_KINDS = frozenset({"command", "function"})
_FAILED = frozenset(FAILED)
# The command attributes the ratings read, type-checked by the reader (a wrong type skips the
# line and names it on stderr). ``cmdscope.worktree`` is not in the schema's table: a
# repository that is not a string counts under ``all``.
FIELDS: dict[str, tuple[type, ...]] = {key: COMMAND_FIELDS[key] for key in (
    "cmdscope.outcome", "cmdscope.command.hash", "cmdscope.actor", "cmdscope.packet", "cmdscope.danger.rule")}


def tally(records: Iterable[Mapping[str, Any]], start_ns: int, split_ns: int, end_ns: int,
          all_repository: str = "all") -> dict[tuple[str, str], tuple[Tally, Tally]]:
    """``Tallier`` over an iterable of records."""
    tallier = Tallier(start_ns, split_ns, end_ns, all_repository)
    for rec in records:
        tallier.add(rec)
    return tallier.tallies


def rate(tallies: Mapping[tuple[str, str], tuple[Tally, Tally]], weights: Mapping[str, float]) -> list[dict[str, Any]]:
    rows = []
    for (scope, subject), (before, now) in sorted(tallies.items()):
        scores_now, scores_before = now.scores(), before.scores()
        score = overall(scores_now, weights)
        if score is None:
            continue
        previous = overall(scores_before, weights)
        props_now, props_before = now.proportions(), before.proportions()
        components = []
        for name, weight in weights.items():
            if name not in scores_now:
                continue
            if name == "time_to_green":
                test = ttg_test(now.ttg, before.ttg)
            elif name == "guard":
                test = proportion_test((now.commands - now.guard_events, now.commands),
                                       (before.commands - before.guard_events, before.commands))
            else:
                test = proportion_test(props_now[name], props_before[name])
            trend = test.pop("trend")
            components.append({"component": name, "value": round(scores_now[name], 4), "weight": weight,
                               "previous": None if name not in scores_before else round(scores_before[name], 4),
                               "trend": trend, "significance": test})
        moved = {c["trend"] for c in components if c["trend"] in ("up", "down")}
        trend = moved.pop() if len(moved) == 1 else "flat"
        rows.append({"scope": scope, "subject": subject, "score": round(score, 1), "letter": letter(score),
                     "previous": None if previous is None else round(previous, 1), "trend": trend,
                     "components": components})
    return rows


def rate_ledger(ledger: str | None, split_ns: int, now_ns: int, weights: Mapping[str, float]) -> list[dict[str, Any]]:
    """Ratings over [split, now) with [2 split - now, split) as the previous window."""
    from cmdscope._reports.common import LedgerStream
    from cmdscope._reports.parallel import fold

    start = split_ns - (now_ns - split_ns)
    stream = LedgerStream(ledger, "cmdscope rate", since_ns=start, fields=FIELDS)
    tallier = fold(stream.path, lambda head: (Tallier if head else TallierTail)(start, split_ns, now_ns + 1),
                   _feed, stats=stream.stats, progress=stream.progress, since_ns=start, fields=FIELDS)
    stream.finish()
    return rate(tallier.tallies, weights)


def _feed(tallier: Tallier, records: Iterable[dict[str, Any]], stats: Any) -> None:
    add, command = tallier.add, tallier.command
    for rec in records:  # the reader has checked kind, end_ns and the FIELDS' types
        kind = rec["kind"]
        if kind == "command" or kind == "function":  # add()'s command path without its checks
            get = rec.get
            command(rec["end_ns"], get("cmdscope.worktree"), get("cmdscope.packet"), get("cmdscope.actor"),
                    get("cmdscope.outcome"), get("cmdscope.command.hash"), get("cmdscope.danger.rule"))
        else:
            add(rec)


def record_metrics(rows: Iterable[Mapping[str, Any]]) -> None:
    """``cmdscope.rating`` gauge through the OTel API (repository and actor only: packet ids are
    unbounded and never labels)."""
    from opentelemetry import metrics

    from cmdscope._version import __version__

    gauge = metrics.get_meter("cmdscope", __version__).create_gauge(
        "cmdscope.rating", unit="{rating}", description="Overall rating 0-100 over the rating window")
    for row in rows:
        if row["scope"] in ("repository", "actor"):
            gauge.set(row["score"], {"cmdscope.rating.scope": row["scope"], "cmdscope.rating.subject": row["subject"]})


def textfile(rows: Iterable[Mapping[str, Any]]) -> str:
    """The same gauge in the node_exporter textfile format, for cron runs."""
    lines = ["# HELP cmdscope_rating Overall rating 0-100 over the rating window", "# TYPE cmdscope_rating gauge"]
    for row in rows:
        if row["scope"] in ("repository", "actor"):
            subject = str(row["subject"]).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
            lines.append(f'cmdscope_rating{{cmdscope_rating_scope="{row["scope"]}",cmdscope_rating_subject="{subject}"}} {row["score"]}')
    return "\n".join(lines) + "\n"
