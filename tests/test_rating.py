"""Overall ratings (issue 19 item 2): components from real records, weights from the governance
policy, trends only when a significance test says so, metrics with bounded labels."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from cmdscope._sdlc.rating import letter, overall, proportion_trend, ttg_trend

BATCH = textwrap.dedent("""
    import sys, cmdscope
    with cmdscope.context(actor="rater", packet="PKT-R", session="S-R"):
        for i in range(int(sys.argv[2])):  # fails until the marker file exists
            cmdscope.run(["sh", "-c", 'test -f "$0"', sys.argv[1], f"step-{i % 4}"], capture_output=True)
""")


def batch(marker: Path, n: int) -> None:
    subprocess.run([sys.executable, "-c", BATCH, str(marker), str(n)], check=True, timeout=120)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmdscope", *args], capture_output=True, text=True, timeout=120)


class TestTests:
    def test_proportion_trend_needs_a_real_change(self) -> None:
        assert proportion_trend((19, 20), (2, 20)) == "up"
        assert proportion_trend((2, 20), (19, 20)) == "down"
        assert proportion_trend((10, 20), (11, 20)) == "flat"
        assert proportion_trend((1, 1), (0, 0)) == "n/a"

    def test_ttg_trend_shorter_is_up(self) -> None:
        assert ttg_trend([1, 2, 3, 2, 1, 2, 3, 1], [100, 200, 150, 120, 180, 160, 140, 130]) == "up"
        assert ttg_trend([100, 200, 150, 120, 180, 160], [1, 2, 3, 2, 1, 2]) == "down"
        assert ttg_trend([5, 6, 7, 8], [6, 5, 8, 7]) == "flat"

    def test_mann_whitney_matches_the_textbook_normal_approximation(self) -> None:
        """U with mid-ranks, tie-corrected variance and continuity correction; the same function
        serves the rating's time to green and `report failures --weekly`."""
        import math

        from cmdscope._sdlc.stats import mann_whitney

        res = mann_whitney([1, 2, 3], [4, 5, 6])
        z = (0 - 4.5 + 0.5) / math.sqrt(9 / 12 * 7)
        assert res.u == 0 and res.z == round(z, 6) and abs(res.p_value - math.erfc(-z / math.sqrt(2))) < 1e-6
        assert res.p_value > 0.05 and res.shift == "none"  # three against three can never be significant
        tied = mann_whitney([1, 1, 2], [1, 2, 2])  # ties: sum(t^3 - t) = 48 over N = 6
        assert tied.u == 3 and tied.z == round((3 - 4.5 + 0.5) / math.sqrt(9 / 12 * (7 - 48 / 30)), 6)
        assert mann_whitney([7] * 5, [7] * 5).p_value == 1.0
        assert mann_whitney([1], [2, 3]).method == "insufficient"
        assert mann_whitney(range(10), range(100, 110)).shift == "lower"

    def test_overall_renormalises_missing_components_and_letters(self) -> None:
        assert overall({"a": 1.0}, {"a": 0.5, "b": 0.5}) == 100.0
        assert overall({"a": 0.5, "b": 1.0}, {"a": 0.5, "b": 0.5}) == 75.0
        assert overall({}, {"a": 1}) is None
        assert [letter(s) for s in (95, 85, 75, 65, 10)] == list("ABCDF")


def test_rating_and_trend_from_real_runs(ledger_path: Path) -> None:
    """A packet that failed every command in the previous window and succeeds in the current one
    is rated from its real records, and its failure density trend is `up`; the policy's weights
    decide the number."""
    marker = ledger_path.with_name("fixed")
    batch(marker, 16)
    time.sleep(0.5)
    mark = datetime.now(UTC)
    marker.write_text("the fix\n")
    batch(marker, 16)
    elapsed_before = (mark - datetime.fromtimestamp(
        min(json.loads(line)["end_ns"] for line in ledger_path.read_text().splitlines()) / 1e9, tz=UTC)).total_seconds()
    while (datetime.now(UTC) - mark).total_seconds() < elapsed_before + 1:
        time.sleep(0.2)
    since = mark.isoformat().replace("+00:00", "Z")
    out = cli("rate", "--since", since, "--scope", "packet", "--scope", "actor", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {(r["scope"], r["subject"]): r for r in json.loads(out.stdout)["rows"]}
    pkt = rows[("packet", "PKT-R")]
    comps = {c["component"]: c for c in pkt["components"]}
    assert comps["failure_density"]["value"] == 1.0 and comps["failure_density"]["previous"] == 0.0
    assert comps["failure_density"]["trend"] == "up" and pkt["trend"] == "up"
    sig = comps["failure_density"]["significance"]
    assert sig["test"] == "two-proportion-z" and sig["p_value"] < 0.05 and sig["verdict"] == "significant"
    assert comps["time_to_green"]["value"] > 0.99  # each failing step went green within seconds
    assert pkt["score"] > 99 and pkt["letter"] == "A" and pkt["previous"] < pkt["score"]
    assert ("actor", "rater") in rows

    weights = ledger_path.with_name("gov.yaml")
    weights.write_text("rating:\n  weights:\n    failure_density: 1\n    guard: 1\n")
    only = cli("rate", "--since", since, "--scope", "actor", "--policy", str(weights), "--components")
    assert only.returncode == 0 and "time_to_green" not in only.stdout and "failure_density" in only.stdout
    assert "verdict" in only.stdout and "two-proportion-z" in only.stdout


def test_textfile_has_bounded_labels(tmp_path: Path, ledger_path: Path) -> None:
    """The node_exporter textfile carries repository and actor ratings, never packet ids."""
    marker = tmp_path / "ok"
    marker.write_text("")
    batch(marker, 3)
    out = cli("rate", "--since", "1h", "--textfile", str(tmp_path / "prom"))
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "prom" / "cmdscope_rating.prom").read_text()
    assert 'cmdscope_rating_scope="actor",cmdscope_rating_subject="rater"} 100.0' in text
    assert "PKT-R" not in text


def test_unknown_weight_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "gov.yaml"
    bad.write_text("rating:\n  weights:\n    failure_densty: 1\n")
    out = cli("rate", "--policy", str(bad))
    assert out.returncode == 2 and "failure_densty" in out.stderr and len(out.stderr.splitlines()) == 1


def test_tally_per_combination_equals_per_subject_counts() -> None:
    """The command path counts per (repository, packet, actor, window) and adds the counts to
    the subjects at the end: each subject's tally is the sum over every combination it is in,
    streaks follow each subject on its own (an actor's streak crosses packets), and a record
    whose field is a list where a string belongs still counts (under ``all``, no packet)."""
    from cmdscope._sdlc.rating import Tallier

    ns = 10**9

    def rec(end: int, outcome: str, packet: object, actor: str, h: str = "h", danger: object = None) -> dict:
        return {"kind": "command", "end_ns": end * ns, "cmdscope.outcome": outcome, "cmdscope.packet": packet,
                "cmdscope.actor": actor, "cmdscope.command.hash": h, "cmdscope.worktree": "/r",
                "cmdscope.danger.rule": danger}

    t = Tallier(0, 100 * ns, 200 * ns)
    for r in (rec(10, "failure", "P1", "a"), rec(20, "success", "P2", "a"),  # actor a green after 10 s
              rec(110, "failure", "P1", "b", danger=["rm"]), rec(130, "timeout", "P2", "b"),
              rec(150, "success", "P1", "b"), rec(160, "success", ["not", "a", "string"], "b"),
              rec(170, "skipped", "P2", "a")):
        t.add(r)
    tallies = t.tallies
    before, now = tallies[("actor", "a")]
    assert (before.commands, before.failed, before.ttg, now.commands) == (2, 1, [10.0], 0)
    before, now = tallies[("actor", "b")]
    assert (now.commands, now.failed, now.guard_events, now.ttg) == (4, 2, 1, [40.0])
    assert [x.ttg for x in tallies[("packet", "P1")]] == [[], [140.0]]  # P1 red from 10 s (a), green at 150 (b)
    assert tallies[("packet", "P2")][1].failed == 1 and tallies[("packet", "P2")][1].commands == 1
    assert (tallies[("repository", "/r")][0].commands, tallies[("repository", "/r")][1].commands) == (2, 4)
    assert t.tallies is tallies and tallies[("repository", "/r")][1].commands == 4  # counted once


def test_a_packet_record_ends_its_streaks_and_keeps_its_counts() -> None:
    """State is bounded by the open packets: a packet's record drops its open streaks (none went
    green within it) and adds its pending counts; the repository and actor streaks go on."""
    from cmdscope._sdlc.rating import Tallier

    ns = 10**9

    def rec(end: int, outcome: str, packet: str, h: str = "h") -> dict:
        return {"kind": "command", "end_ns": end * ns, "cmdscope.outcome": outcome, "cmdscope.packet": packet,
                "cmdscope.actor": "a", "cmdscope.command.hash": h, "cmdscope.worktree": "/r"}

    t = Tallier(0, 100 * ns, 200 * ns)
    for r in (rec(110, "failure", "P1"), rec(111, "success", "P1", "g"), rec(112, "failure", "P2"),
              {"kind": "packet", "end_ns": 120 * ns, "cmdscope.packet": "P1"}):
        t.add(r)
    assert ("packet", "P1") not in t.streaks and t.streaks[("packet", "P2")] == {"h": 112 * ns}
    assert not any(key[1] == "P1" for key in t._combos)  # its cached combinations went with it
    t.add(rec(150, "success", "P1"))  # a late command of the ended packet: no streak of its own to close
    tallies = t.tallies
    assert (tallies[("packet", "P1")][1].commands, tallies[("packet", "P1")][1].failed) == (3, 1)
    assert tallies[("packet", "P1")][1].ttg == []
    assert tallies[("repository", "/r")][1].ttg == [40.0] and tallies[("actor", "a")][1].ttg == [40.0]
