"""The in-process API: spans, metrics, ledger and context through the real OTel SDK."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import cmdscope
from cmdscope._records import validate_record
from conftest import PYTHON, metric_points, read_ledger

VOLATILE = {"process.pid", "process.working_directory", "host.name", "cmdscope.worktree",
            "vcs.ref.head.name", "vcs.ref.head.revision"}


def stable(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dict(attrs).items() if k not in VOLATILE}


class TestRun:
    def test_success_span_and_record(self, otel: Any, ledger_path: Path) -> None:
        """One CLIENT span named after the executable; its attributes equal the ledger record's."""
        exporter, _ = otel
        with cmdscope.context(actor="agent-1", session="S1", packet="PKT-1", phase="test"):
            result = cmdscope.run(["true"])
        assert result.returncode == 0 and result.outcome == "success"
        (span,) = exporter.get_finished_spans()
        assert span.name == "true" and span.kind == SpanKind.CLIENT
        assert span.status.status_code == StatusCode.UNSET
        assert stable(span.attributes) == {
            "process.executable.name": "true",
            "process.command_line": "true",
            "process.exit.code": 0,
            "cmdscope.command.hash": result.record["cmdscope.command.hash"],
            "cmdscope.actor": "agent-1",
            "session.id": "S1",
            "cmdscope.packet": "PKT-1",
            "cmdscope.phase": "test",
            "cmdscope.outcome": "success",
            "cmdscope.retry.count": 0,
            **{k: v for k, v in span.attributes.items() if k.startswith(("cmdscope.policy", "cmdscope.registry", "cmdscope.danger"))},
        }
        (rec,) = read_ledger(ledger_path)
        assert rec["trace_id"] == format(span.context.trace_id, "032x")
        assert rec["span_id"] == format(span.context.span_id, "016x")
        assert {k: v for k, v in rec.items() if "." in k} == dict(span.attributes)
        validate_record(rec)

    def test_failure_sets_error_status_and_type(self, otel: Any) -> None:
        """A failing command: span status Error, error.type set, outcome failure."""
        exporter, _ = otel
        result = cmdscope.run(["sh", "-c", "echo 'No such file or directory: x' >&2; exit 2"], stderr=subprocess.DEVNULL)
        (span,) = exporter.get_finished_spans()
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes["cmdscope.outcome"] == "failure"
        assert span.attributes["error.type"] == result.record["error.type"] != ""
        assert span.attributes["process.exit.code"] == 2

    def test_metrics_with_bounded_labels(self, otel: Any) -> None:
        """cmdscope.commands and cmdscope.command.duration carry only the bounded label set."""
        _, reader = otel
        with cmdscope.context(actor="a", phase="build"):
            cmdscope.run(["true"])
            cmdscope.run(["false"])
            cmdscope.run([PYTHON, "-c", "pass"])
        points = metric_points(reader)
        counts = {(p.attributes["cmdscope.outcome"], p.attributes["process.executable.name"]): p.value
                  for p in points["cmdscope.commands"]}
        assert counts[("success", "true")] == 1 and counts[("failure", "false")] == 1
        exe = {p.attributes["process.executable.name"] for p in points["cmdscope.commands"]}
        assert PYTHON not in exe and os.path.basename(PYTHON) in exe | {"other"}
        for p in points["cmdscope.commands"]:
            assert set(p.attributes) == {"cmdscope.actor", "cmdscope.phase", "cmdscope.outcome", "error.type",
                                         "process.executable.name"}
        (hist,) = [p for p in points["cmdscope.command.duration"] if p.attributes["cmdscope.outcome"] == "success"
                   and p.attributes["process.executable.name"] == "true"]
        assert hist.count == 1 and list(hist.explicit_bounds)[:3] == [0.005, 0.01, 0.025]

    def test_nested_under_current_span(self, otel: Any) -> None:
        """A command run inside the agent's span becomes its child."""
        exporter, _ = otel
        tracer = trace.get_tracer("agent")
        with tracer.start_as_current_span("execute_tool") as parent:
            cmdscope.run(["true"])
        cmd, tool = exporter.get_finished_spans()
        assert cmd.parent is not None and cmd.parent.span_id == parent.get_span_context().span_id
        assert cmd.context.trace_id == tool.context.trace_id

    def test_capture_text_and_check(self) -> None:
        """capture_output/text behave like subprocess.run; check raises CalledProcessError."""
        r = cmdscope.run(["sh", "-c", "echo hi; echo oops >&2"], capture_output=True, text=True)
        assert (r.stdout, r.stderr) == ("hi\n", "oops\n")
        with pytest.raises(subprocess.CalledProcessError) as err:
            cmdscope.run(["sh", "-c", "exit 3"], check=True)
        assert err.value.returncode == 3

    def test_shell_argument_checks(self) -> None:
        """A string without shell=True (or a list with it) is a TypeError, as in subprocess."""
        with pytest.raises(TypeError, match="shell=True"):
            cmdscope.run("echo hi")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="one string"):
            cmdscope.run(["echo", "hi"], shell=True)

    def test_env_propagates_trace_and_context(self, otel: Any) -> None:
        """The child sees TRACEPARENT pointing at the command span, BAGGAGE and CMDSCOPE_* context."""
        exporter, _ = otel
        code = "import os, json; print(json.dumps({k: os.environ.get(k) for k in ('TRACEPARENT', 'BAGGAGE', 'CMDSCOPE_PACKET', 'CMDSCOPE_ACTOR')}))"
        r = cmdscope.run([PYTHON, "-c", code], capture_output=True, text=True, packet="PKT-9", actor="bot")
        seen = json.loads(r.stdout)
        (span,) = exporter.get_finished_spans()
        assert seen["TRACEPARENT"] == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-{span.context.trace_flags:02x}"
        assert "cmdscope.packet=PKT-9" in seen["BAGGAGE"]
        assert seen["CMDSCOPE_PACKET"] == "PKT-9" and seen["CMDSCOPE_ACTOR"] == "bot"

    def test_without_sdk_ledger_only(self, ledger_path: Path) -> None:
        """With no SDK configured, the ledger still gets a complete, valid record with ids."""
        r = cmdscope.run(["true"], phase="setup")
        (rec,) = read_ledger(ledger_path)
        assert rec["record_id"] == r.record["record_id"] and len(rec["trace_id"]) == 32
        validate_record(rec)


class TestContext:
    def test_nesting_innermost_wins(self, ledger_path: Path) -> None:
        """Nested scopes merge; explicit arguments beat scopes; scopes beat environment."""
        os.environ["CMDSCOPE_PHASE"] = "from-env"
        try:
            with cmdscope.context(actor="outer", packet="P-outer"):
                with cmdscope.context(packet="P-inner"):
                    cmdscope.run(["true"])
                    cmdscope.run(["true"], packet="P-explicit")
                cmdscope.run(["true"])
        finally:
            del os.environ["CMDSCOPE_PHASE"]
        recs = read_ledger(ledger_path)
        assert [(r["cmdscope.actor"], r["cmdscope.packet"], r["cmdscope.phase"]) for r in recs] == [
            ("outer", "P-inner", "from-env"), ("outer", "P-explicit", "from-env"), ("outer", "P-outer", "from-env")]

    def test_git_facts_from_real_repository(self, tmp_path: Path, ledger_path: Path) -> None:
        """worktree, branch and revision come from the checkout the command runs in."""
        repo = tmp_path / "repo"
        repo.mkdir()
        git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
        subprocess.run(["git", "init", "-q", "-b", "feature/x", str(repo)], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
        sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        (repo / "sub").mkdir()
        cmdscope.run(["true"], cwd=repo / "sub")
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
        sha2 = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        subprocess.run([*git, "pack-refs", "--all"], check=True)
        cmdscope.run(["true"], cwd=repo)
        first, second = read_ledger(ledger_path)
        assert first["cmdscope.worktree"] == str(repo) and first["vcs.ref.head.name"] == "feature/x"
        assert first["vcs.ref.head.revision"] == sha
        assert second["vcs.ref.head.revision"] == sha2 != sha  # packed ref, new commit: not stale

    def test_linked_worktree(self, tmp_path: Path, ledger_path: Path) -> None:
        """A linked worktree reports its own top-level and branch."""
        repo, wt = tmp_path / "repo", tmp_path / "wt"
        git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
        subprocess.run([*git, "worktree", "add", "-q", "-b", "topic", str(wt)], check=True)
        cmdscope.run(["true"], cwd=wt)
        (rec,) = read_ledger(ledger_path)
        assert rec["cmdscope.worktree"] == str(wt) and rec["vcs.ref.head.name"] == "topic"
        assert len(rec["vcs.ref.head.revision"]) == 40

    def test_unknown_context_field(self) -> None:
        """A misspelt context field is a TypeError naming it."""
        with pytest.raises(TypeError, match="pakcet"):
            with cmdscope.context(pakcet="x"):
                pass


class TestCommandDecorator:
    def test_sync_function(self, otel: Any, ledger_path: Path) -> None:
        """A decorated function is one span and one 'function' record with its outcome."""
        exporter, _ = otel

        @cmdscope.command(phase="implement")
        def apply_patch(path: str) -> str:
            cmdscope.run(["true"])
            return path.upper()

        assert apply_patch("a.py") == "A.PY"
        inner, outer = exporter.get_finished_spans()
        assert outer.name == "TestCommandDecorator.test_sync_function.<locals>.apply_patch"
        assert inner.parent.span_id == outer.context.span_id  # the command nests under the tool
        recs = read_ledger(ledger_path)
        assert [r["kind"] for r in recs] == ["command", "function"]
        assert recs[1]["process.command_line"].endswith("apply_patch('a.py')")
        assert recs[1]["cmdscope.outcome"] == "success"

    def test_async_function_exception(self, otel: Any, ledger_path: Path) -> None:
        """An async tool that raises: outcome failure, error.type is the exception class, re-raised."""
        exporter, _ = otel

        @cmdscope.command("fetch_docs")
        async def fetch(url: str) -> None:
            raise ConnectionError("refused")

        with pytest.raises(ConnectionError):
            asyncio.run(fetch("http://localhost:1"))
        (span,) = exporter.get_finished_spans()
        assert span.name == "fetch_docs" and span.status.status_code == StatusCode.ERROR
        (rec,) = read_ledger(ledger_path)
        assert rec["error.type"] == "ConnectionError" and rec["cmdscope.outcome"] == "failure"
        validate_record(rec)


class TestPropagationAcrossProcesses:
    def test_cmdscope_run_inside_cmdscope_run(self, ledger_path: Path) -> None:
        """Two real `cmdscope run` processes: same trace id, inner parent is the outer span."""
        proc = subprocess.run([PYTHON, "-m", "cmdscope", "run", "--actor", "agent", "--packet", "PKT-7", "--",
                               PYTHON, "-m", "cmdscope", "run", "--", "true"])
        assert proc.returncode == 0
        inner, outer = read_ledger(ledger_path)
        assert inner["trace_id"] == outer["trace_id"]
        assert inner["parent_span_id"] == outer["span_id"]
        assert outer["parent_span_id"] is None
        assert (inner["cmdscope.actor"], inner["cmdscope.packet"]) == ("agent", "PKT-7")
