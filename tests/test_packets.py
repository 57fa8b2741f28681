"""Work packets: CLI state per worktree, span parenting, figures, Python API, reports, trend test."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import cmdscope_cli, metric_points, read_ledger  # noqa: F401  (metric_points: used by other tests)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "T"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "app.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return cmdscope_cli(*args, cwd=repo, env=env, capture_output=True, text=True)


class TestCliPacket:
    def test_commands_join_the_active_packet_and_its_span(self, repo: Path, ledger_path: Path) -> None:
        """After `packet start`, every `cmdscope run` in the worktree carries the packet id and is a
        child span of the packet; `packet end` writes the figures computed from those records."""
        assert cli(repo, "packet", "start", "PKT-7", "--title", "Fix it", "--actor", "bot").returncode == 0
        state = json.loads((repo / ".git" / "cmdscope" / "packet.json").read_text())
        assert cli(repo, "run", "--", "false").returncode == 1
        assert cli(repo, "run", "--", "true").returncode == 0
        assert cli(repo, "gate", "run", "tests", "--", "true").returncode == 0
        assert cli(repo, "gate", "run", "lint", "--", "false").returncode == 1
        end = cli(repo, "packet", "end", "--json")
        assert end.returncode == 0, end.stderr
        records = read_ledger(ledger_path)
        commands = [r for r in records if r["kind"] == "command"]
        assert len(commands) == 4 and {r["cmdscope.packet"] for r in commands} == {"PKT-7"}
        assert {r["trace_id"] for r in records} == {state["trace_id"]}
        direct = [r for r in commands if r["parent_span_id"] == state["span_id"]]
        assert len(direct) == 2  # the other two are children of their gate spans
        (packet,) = [r for r in records if r["kind"] == "packet"]
        assert packet["span_id"] == state["span_id"] and packet["cmdscope.actor"] == "bot"
        assert packet["cmdscope.packet.commands"] == 4 and packet["cmdscope.packet.failures"] == 2
        assert packet["cmdscope.packet.failure_density"] == 0.5
        assert packet["cmdscope.packet.gates"] == 2 and packet["cmdscope.packet.gate_pass_rate"] == 0.5
        assert packet["cmdscope.packet.title"] == "Fix it" and packet["cmdscope.packet.status"] == "completed"
        assert not (repo / ".git" / "cmdscope" / "packet.json").exists()

    def test_env_packet_overrides_the_active_packet(self, repo: Path, ledger_path: Path) -> None:
        """CMDSCOPE_PACKET names another packet: the command joins it and is not parented by the
        worktree's packet span."""
        cli(repo, "packet", "start", "PKT-1")
        state = json.loads((repo / ".git" / "cmdscope" / "packet.json").read_text())
        cli(repo, "run", "--", "true", env={"CMDSCOPE_PACKET": "PKT-OTHER"})
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.packet"] == "PKT-OTHER"
        assert rec["trace_id"] != state["trace_id"] and rec["parent_span_id"] is None

    def test_separate_worktrees_keep_separate_packets(self, repo: Path, tmp_path: Path, ledger_path: Path) -> None:
        """A linked worktree has its own packet state."""
        other = tmp_path / "wt"
        subprocess.run(["git", "worktree", "add", "-q", "-b", "side", str(other)], cwd=repo, check=True)
        cli(repo, "packet", "start", "PKT-A")
        cli(other, "packet", "start", "PKT-B")
        cli(repo, "run", "--", "true")
        cli(other, "run", "--", "true")
        assert [r["cmdscope.packet"] for r in read_ledger(ledger_path)] == ["PKT-A", "PKT-B"]

    def test_errors_are_one_line(self, repo: Path, tmp_path: Path) -> None:
        """Starting twice, ending nothing and starting outside git fail with exit 2 and one line."""
        assert cli(repo, "packet", "start", "P1").returncode == 0
        again = cli(repo, "packet", "start", "P2")
        assert again.returncode == 2 and "already active" in again.stderr and again.stderr.count("\n") == 1
        assert cli(repo, "packet", "end").returncode == 0
        nothing = cli(repo, "packet", "end")
        assert nothing.returncode == 2 and "no packet is active" in nothing.stderr
        outside = tmp_path / "plain"
        outside.mkdir()
        bad = cli(outside, "packet", "start", "P3")
        assert bad.returncode == 2 and "not inside a git worktree" in bad.stderr and "Traceback" not in bad.stderr

    def test_status_and_list(self, repo: Path) -> None:
        """status shows the open packet with figures so far; list shows ended and open packets."""
        cli(repo, "packet", "start", "PKT-S")
        cli(repo, "run", "--", "false")
        st = json.loads(cli(repo, "packet", "status", "--json").stdout)
        assert st["packet"] == "PKT-S" and st["cmdscope.packet.failures"] == 1
        listed = json.loads(cli(repo, "packet", "list", "--json").stdout)
        assert [o["packet"] for o in listed["open"]] == ["PKT-S"] and listed["ended"] == []
        cli(repo, "packet", "end", "--status", "abandoned")
        listed = json.loads(cli(repo, "packet", "list", "--json").stdout)
        assert listed["open"] == [] and listed["ended"][0]["cmdscope.packet.status"] == "abandoned"
        assert listed["ended"][0]["cmdscope.outcome"] == "failure"


class TestPythonPacket:
    def test_packet_span_parents_commands_and_metrics_have_no_packet_label(self, otel: Any, repo: Path,
                                                                            ledger_path: Path) -> None:
        """`with cmdscope.packet()`: commands inside are child spans with the packet id; the packet
        metrics carry only the actor label."""
        import cmdscope
        from cmdscope._records import validate_record

        exporter, reader = otel
        with cmdscope.packet("PKT-42", title="Py", actor="agent") as p:
            cmdscope.run(["true"], cwd=repo)
            cmdscope.run(["false"], cwd=repo)
        spans = {s.name: s for s in exporter.get_finished_spans()}
        pkt = spans["packet"]
        children = [s for s in exporter.get_finished_spans() if s.name in ("true", "false")]
        assert all(s.parent.span_id == pkt.context.span_id for s in children)
        assert pkt.attributes["cmdscope.packet.failure_density"] == 0.5
        assert p.record["cmdscope.packet.commands"] == 2 and p.record["cmdscope.actor"] == "agent"
        validate_record(p.record)
        points = metric_points(reader)
        for name in ("cmdscope.packet.duration", "cmdscope.packet.commands", "cmdscope.packet.failure_density"):
            (point,) = points[name]
            assert dict(point.attributes) == {"cmdscope.actor": "agent"}
        assert [r["cmdscope.packet"] for r in read_ledger(ledger_path)] == ["PKT-42"] * 3

    def test_exception_ends_the_packet_failed(self, ledger_path: Path) -> None:
        """A block that raises ends the packet 'failed' and the exception propagates."""
        import cmdscope
        from cmdscope._sdlc.packets import open_packets

        with pytest.raises(RuntimeError):
            with cmdscope.packet("PKT-X"):
                assert [o["packet"] for o in open_packets()] == ["PKT-X"]
                raise RuntimeError("boom")
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.packet.status"] == "failed" and rec["error.type"] == "packet_failed"
        assert open_packets() == []

    def test_children_join_through_the_environment(self, repo: Path, ledger_path: Path) -> None:
        """A `cmdscope run` started by a command inside the packet joins the same packet and trace."""
        import sys

        import cmdscope

        with cmdscope.packet("PKT-ENV") as p:
            cmdscope.run([sys.executable, "-m", "cmdscope", "run", "--", "true"], cwd=repo)
        records = read_ledger(ledger_path)
        assert {r["trace_id"] for r in records} == {p.record["trace_id"]}
        assert {r.get("cmdscope.packet") for r in records} == {"PKT-ENV"}
        assert p.record["cmdscope.packet.commands"] == 2


class TestMannKendall:
    def test_exact_p_matches_enumeration(self) -> None:
        """The exact two-sided p-value equals the share of all permutations with |S| at least as large."""
        from cmdscope._sdlc.stats import mann_kendall

        data = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0]
        res = mann_kendall(data)

        def s_of(xs: tuple[float, ...]) -> int:
            return sum((xs[j] > xs[i]) - (xs[j] < xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs)))

        perms = list(itertools.permutations(data))
        expected = sum(abs(s_of(p)) >= abs(res.s) for p in perms) / len(perms)
        assert res.method == "exact" and res.p_value == pytest.approx(expected, abs=1e-6)

    def test_detects_trend_and_no_trend(self) -> None:
        """A monotone series is a significant trend with Sen's slope; a flat one with ties is not."""
        from cmdscope._sdlc.stats import mann_kendall

        up = mann_kendall([1, 2, 3, 5, 8, 13, 21], times=[0, 1, 2, 3, 4, 5, 6])
        assert up.significant and up.direction == "increasing" and up.p_value < 0.001
        flat = mann_kendall([0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2])
        assert flat.method == "normal" and not flat.significant and flat.direction == "none"
        assert mann_kendall([1, 2]).method == "insufficient"


class TestPacketsReport:
    def _packets(self, repo: Path, n: int, fail_every: int) -> None:
        for i in range(n):
            cli(repo, "packet", "start", f"PKT-{i}")
            for j in range(4):
                cli(repo, "run", "--", "false" if (i + j) % fail_every == 0 else "true")
            cli(repo, "packet", "end")

    def test_table_json_and_weekly_export(self, repo: Path, ledger_path: Path) -> None:
        """The report lists every ended packet with its figures; --weekly --format json is the
        documented snapshot (schema, weeks with change, Mann-Kendall trend per metric)."""
        self._packets(repo, 3, 2)
        table = cli(repo, "report", "packets", "--ledger", str(ledger_path))
        assert table.returncode == 0 and all(f"PKT-{i}" in table.stdout for i in range(3))
        assert "Mann-Kendall" in table.stdout
        doc = json.loads(cli(repo, "report", "packets", "--weekly", "--format", "json").stdout)
        assert doc["schema"] == "cmdscope.packets.weekly/v1"
        (week,) = doc["weeks"]
        assert week["packets"] == 3 and week["commands_per_packet"] == 4
        assert set(week["change"]) == {"median_duration_s", "commands_per_packet", "failure_density",
                                       "gate_pass_rate", "median_cycle_time_s"}
        assert doc["trend"]["test"] == "mann-kendall"
        assert doc["trend"]["metrics"]["failure_density"]["n"] == 3
        md = cli(repo, "report", "packets", "--format", "md")
        assert md.stdout.startswith("| PACKET |")

    def test_week_over_week_change(self) -> None:
        """Change is (this week - previous week) / previous week, per metric."""
        from cmdscope._reports.packets import weekly

        week = 7 * 86400 * 10**9
        base = 1_700_000_000 * 10**9
        rows = [
            {"end_ns": base, "duration_s": 100.0, "commands": 4, "failure_density": 0.5, "gates": 2,
             "gate_pass_rate": 0.5, "cycle_time_s": None, "denials": 0, "danger_hits": 0, "commits": 1},
            {"end_ns": base + week, "duration_s": 150.0, "commands": 2, "failure_density": 0.25, "gates": 2,
             "gate_pass_rate": 1.0, "cycle_time_s": None, "denials": 0, "danger_hits": 0, "commits": 1},
        ]
        w1, w2 = weekly(rows)
        assert w1["change"]["median_duration_s"] is None
        assert w2["change"]["median_duration_s"] == 0.5 and w2["change"]["failure_density"] == -0.5
        assert w2["change"]["gate_pass_rate"] == 1.0 and w2["change"]["commands_per_packet"] == -0.5

    def test_bad_since_is_one_line(self, repo: Path) -> None:
        """An unparsable --since is exit 2 and one line naming the option."""
        bad = cli(repo, "report", "packets", "--since", "soon")
        assert bad.returncode == 2 and "--since 'soon'" in bad.stderr and "Traceback" not in bad.stderr


def test_active_packet_lookup_reads_the_file_once(repo: Path) -> None:
    """The context re-reads packet.json only when it changed (one stat per command otherwise)."""
    import importlib

    context = importlib.import_module("cmdscope._context")

    cli(repo, "packet", "start", "PKT-C")
    assert context.active_packet(str(repo))["packet"] == "PKT-C"
    path = context.packet_state_path(str(repo))
    key = context._packets[path][0]
    assert context.active_packet(str(repo)) is context._packets[path][1]
    assert context._packets[path][0] == key
    cli(repo, "packet", "end")
    assert context.active_packet(str(repo)) is None
    assert os.environ.get("CMDSCOPE_PACKET") is None
