"""Auto-instrumentation of subprocess, os.system and asyncio children: real children, real SDK."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ROOT, read_ledger
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import cmdscope
from cmdscope.instrumentation import CmdscopeInstrumentor, suppress_instrumentation
from cmdscope._pipeline import command_hash
from cmdscope._records import validate_record

HOST = os.uname().nodename
VOLATILE_RECORD_KEYS = {"record_id", "time", "start_ns", "end_ns", "duration_s", "trace_id", "span_id",
                        "parent_span_id", "process.pid"}
ORIGINAL_INIT = subprocess.Popen.__init__
ORIGINAL_SYSTEM = os.system


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Instrumented with a test TracerProvider (not the global one) and an in-memory exporter."""
    monkeypatch.setenv("CMDSCOPE_RAISE_INTERNAL", "1")
    monkeypatch.setenv("CMDSCOPE_GUARD", "off")
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    cmdscope.instrument(tracer_provider=provider)
    try:
        yield memory
    finally:
        cmdscope.uninstrument()
        provider.shutdown()


def span_attrs(span: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(span.attributes).items()}


def dotted(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if "." in k}


class TestPopen:
    def test_run_is_one_span_with_the_record_attributes(self, exporter: InMemorySpanExporter, tmp_path: Path,
                                                        ledger_path: Path) -> None:
        """subprocess.run -> Popen is one child, one CLIENT span, one ledger line, same attributes."""
        with cmdscope.context(actor="agent-1", session="S1", packet="PKT-1", phase="test"):
            done = subprocess.run(["true"], cwd=tmp_path, check=False)
        assert done.returncode == 0
        (span,) = exporter.get_finished_spans()
        (record,) = read_ledger(ledger_path)
        assert span.name == "true" and span.kind == SpanKind.CLIENT
        assert span.status.status_code == StatusCode.UNSET
        assert span_attrs(span) == {
            "process.executable.name": "true",
            "process.command_line": "true",
            "cmdscope.command.hash": command_hash("true"),
            "host.name": HOST,
            "cmdscope.actor": "agent-1",
            "session.id": "S1",
            "cmdscope.packet": "PKT-1",
            "cmdscope.phase": "test",
            "process.working_directory": str(tmp_path),
            "process.exit.code": 0,
            "process.pid": record["process.pid"],
            "cmdscope.outcome": "success",
            "cmdscope.retry.count": 0,
        }
        assert dotted(record) == span_attrs(span)
        assert record["kind"] == "command" and record["name"] == "true"
        assert record["trace_id"] == format(span.context.trace_id, "032x")
        assert record["span_id"] == format(span.context.span_id, "016x")
        assert (record["start_ns"], record["end_ns"]) == (span.start_time, span.end_time)
        validate_record(record)

    def test_record_matches_cmdscope_run(self, exporter: InMemorySpanExporter, tmp_path: Path,
                                         ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An instrumented child and cmdscope.run of the same failing command give the same record
        (apart from ids, times and pid): same keys, outcome, error class, guard decision and
        retry count."""
        monkeypatch.setenv("CMDSCOPE_GUARD", "on")
        cmd = ["sh", "-c", "exit 7"]
        with cmdscope.context(actor="agent-2", packet="PKT-2"):
            subprocess.run(cmd, cwd=tmp_path, check=False)
            cmdscope.run(cmd, cwd=tmp_path)
        instrumented, direct = read_ledger(ledger_path)
        assert len(exporter.get_finished_spans()) == 1  # cmdscope.run's own child is not recorded twice
        assert instrumented["cmdscope.retry.count"] == 0 and direct["cmdscope.retry.count"] == 1
        direct["cmdscope.retry.count"] = 0
        direct.pop("cmdscope.retry_of")
        strip = lambda r: {k: v for k, v in r.items() if k not in VOLATILE_RECORD_KEYS}
        assert strip(instrumented) == strip(direct)
        assert instrumented["process.exit.code"] == 7 and instrumented["cmdscope.outcome"] == "failure"
        assert instrumented["cmdscope.policy.action"] == "allow"  # the guard ran for both

    def test_failure_sets_error_status(self, exporter: InMemorySpanExporter) -> None:
        """A non-zero exit is outcome failure, span status ERROR described by error.type."""
        assert subprocess.call(["sh", "-c", "exit 3"]) == 3
        (span,) = exporter.get_finished_spans()
        attrs = span_attrs(span)
        assert (attrs["process.exit.code"], attrs["cmdscope.outcome"]) == (3, "failure")
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == attrs["error.type"]

    @pytest.mark.parametrize(
        ("sig", "code", "outcome"),
        [(signal.SIGTERM, 143, "interrupted"), (signal.SIGINT, 130, "interrupted"), (signal.SIGKILL, 137, "failure")],
    )
    def test_death_by_signal(self, exporter: InMemorySpanExporter, sig: int, code: int, outcome: str) -> None:
        """Death by signal N: the caller still sees -N; the record says 128+N, the signal, the outcome."""
        assert subprocess.run(["sh", "-c", f"kill -{int(sig)} $$"], check=False).returncode == -sig
        (span,) = exporter.get_finished_spans()
        attrs = span_attrs(span)
        assert (attrs["process.exit.code"], attrs["cmdscope.signal"], attrs["cmdscope.outcome"]) == (code, sig, outcome)

    def test_not_found_still_raises(self, exporter: InMemorySpanExporter, ledger_path: Path) -> None:
        """A missing program raises FileNotFoundError from Popen as ever, recorded as error/127."""
        with pytest.raises(FileNotFoundError):
            subprocess.run(["cmdscope-no-such-program", "--flag"], check=False)
        (span,) = exporter.get_finished_spans()
        (record,) = read_ledger(ledger_path)
        assert span.name == "cmdscope-no-such-program"
        assert {k: record[k] for k in ("process.exit.code", "cmdscope.outcome", "error.type")} == {
            "process.exit.code": 127, "cmdscope.outcome": "error", "error.type": "command_not_found"}
        assert "process.pid" not in record

    def test_not_executable_still_raises(self, exporter: InMemorySpanExporter, tmp_path: Path) -> None:
        """A file without execute permission raises PermissionError; recorded as error/126."""
        script = tmp_path / "script.sh"
        script.write_text("#!/bin/sh\n")
        with pytest.raises(PermissionError):
            subprocess.run([str(script)], check=False)
        (span,) = exporter.get_finished_spans()
        assert span_attrs(span)["process.exit.code"] == 126
        assert span_attrs(span)["cmdscope.outcome"] == "error"

    def test_results_are_unchanged(self, ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Captured output, stdin, return codes and exceptions are byte-for-byte those of the
        uninstrumented call."""
        monkeypatch.setenv("CMDSCOPE_GUARD", "off")
        script = "import sys; data = sys.stdin.buffer.read(); sys.stdout.buffer.write(data[::-1] + b'\\xff\\x00');" \
                 " sys.stderr.write('warn\\n'); sys.exit(4)"

        def calls() -> list[Any]:
            out: list[Any] = []
            done = subprocess.run([PYTHON, "-c", script], input=b"abc\n", capture_output=True, check=False)
            out.append((done.returncode, done.stdout, done.stderr, done.args))
            out.append(subprocess.run("echo $((6*7))", shell=True, text=True, stdout=subprocess.PIPE, check=False).stdout)
            with pytest.raises(subprocess.CalledProcessError) as info:
                subprocess.check_output(["sh", "-c", "echo partial; exit 2"])
            out.append((info.value.returncode, info.value.output))
            with subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as p:
                out.append(p.communicate(b"piped")[0])
            out.append(p.returncode)
            return out

        bare = calls()
        cmdscope.instrument()
        try:
            observed = calls()
        finally:
            cmdscope.uninstrument()
        assert observed == bare
        assert len(read_ledger(ledger_path)) == 4

    def test_env_none_gets_copy_of_environ_plus_propagation(self, exporter: InMemorySpanExporter) -> None:
        """With env=None the child sees our environment plus TRACEPARENT/BAGGAGE/CMDSCOPE_*,
        the TRACEPARENT naming the child's own span; nothing else differs."""
        with cmdscope.context(actor="agent-3", packet="PKT-3"):
            out = subprocess.check_output(["env", "-0"])
        child = dict(item.split("=", 1) for item in out.decode().split("\0") if item)
        (span,) = exporter.get_finished_spans()
        ctx = span.context
        assert child.pop("TRACEPARENT") == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
        assert child.pop("BAGGAGE") == "cmdscope.actor=agent-3,cmdscope.packet=PKT-3"
        assert child.pop("CMDSCOPE_ACTOR") == "agent-3"
        assert child.pop("CMDSCOPE_PACKET") == "PKT-3"
        assert child == dict(os.environ)
        assert "TRACEPARENT" not in os.environ  # our own environment is untouched

    def test_explicit_env_positional_and_bytes(self, exporter: InMemorySpanExporter) -> None:
        """An env passed positionally with bytes keys is honoured, gains only the propagation
        variables, and the caller's mapping is not modified."""
        env = {b"ONLY": b"this"}
        args = (["env"], -1, None, None, subprocess.PIPE, None, None, True, False, None, env)
        with subprocess.Popen(*args) as p:
            out = p.communicate()[0]
        child = dict(line.split("=", 1) for line in out.decode().splitlines())
        assert set(child) == {"ONLY", "TRACEPARENT", "BAGGAGE", "CMDSCOPE_ACTOR"}
        assert child["ONLY"] == "this"
        assert env == {b"ONLY": b"this"}
        (span,) = exporter.get_finished_spans()
        assert child["TRACEPARENT"].split("-")[2] == f"{span.context.span_id:016x}"

    def test_timeout_kill_is_outcome_timeout(self, exporter: InMemorySpanExporter) -> None:
        """subprocess.run(timeout=) still raises TimeoutExpired; the killed child reads timeout."""
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run(["sleep", "30"], timeout=0.2, check=False)
        (span,) = exporter.get_finished_spans()
        attrs = span_attrs(span)
        assert (attrs["cmdscope.outcome"], attrs["process.exit.code"], attrs["cmdscope.signal"]) == ("timeout", 137, 9)

    def test_child_reaped_by_garbage_collection(self, exporter: InMemorySpanExporter) -> None:
        """A Popen never waited for is recorded when Python collects it after the child exited."""
        p = subprocess.Popen(["sh", "-c", "exit 5"])
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert exporter.get_finished_spans() == ()
        del p
        gc.collect()
        (span,) = exporter.get_finished_spans()
        assert span_attrs(span)["process.exit.code"] == 5

    def test_concurrent_waiters_finish_once(self, exporter: InMemorySpanExporter) -> None:
        """wait() from two threads and poll() from a third reap one child: exactly one span."""
        import threading

        p = subprocess.Popen(["sleep", "0.2"])
        threads = [threading.Thread(target=p.wait), threading.Thread(target=p.wait)]
        for t in threads:
            t.start()
        while p.poll() is None:
            pass
        for t in threads:
            t.join()
        (span,) = exporter.get_finished_spans()
        assert span_attrs(span)["cmdscope.outcome"] == "success"

    def test_nests_under_current_span(self, exporter: InMemorySpanExporter) -> None:
        """The child's span is a child of the host's current span (an agent's tool span)."""
        tracer = trace.get_tracer("test", tracer_provider=cmdscope_provider(exporter))
        with tracer.start_as_current_span("execute_tool") as tool:
            subprocess.run(["true"], check=False)
        child, parent = exporter.get_finished_spans()
        assert child.parent is not None and child.parent.span_id == tool.get_span_context().span_id
        assert child.context.trace_id == parent.context.trace_id

    def test_redacted_command_line(self, exporter: InMemorySpanExporter, ledger_path: Path) -> None:
        """A secret on the command line never reaches the span or the ledger."""
        subprocess.run(["true", "--password=hunter2secret"], check=False)
        (span,) = exporter.get_finished_spans()
        assert "hunter2secret" not in span_attrs(span)["process.command_line"]
        assert "hunter2secret" not in ledger_path.read_text()


def cmdscope_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """A provider exporting to the same in-memory exporter as the instrumented one."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


class TestOsSystem:
    def test_one_record_status_unchanged(self, exporter: InMemorySpanExporter, ledger_path: Path) -> None:
        """os.system returns the raw wait status as ever; one record with the exit code."""
        assert os.system("exit 3") == 3 << 8
        (span,) = exporter.get_finished_spans()
        (record,) = read_ledger(ledger_path)
        assert span.name == "exit"
        assert dotted(record) == span_attrs(span)
        assert (record["process.exit.code"], record["cmdscope.outcome"]) == (3, "failure")
        assert record["process.command_line"] == "exit 3"
        assert "process.pid" not in record  # os.system never tells the pid
        validate_record(record)

    def test_propagates_trace_to_the_shell(self, exporter: InMemorySpanExporter, tmp_path: Path) -> None:
        """The shell of os.system sees TRACEPARENT naming the span and the CMDSCOPE_* context."""
        out = tmp_path / "seen"
        with cmdscope.context(packet="PKT-4"):
            assert os.system(f'echo "$TRACEPARENT $CMDSCOPE_PACKET" > {out}') == 0
        (span,) = exporter.get_finished_spans()
        ctx = span.context
        assert out.read_text() == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x} PKT-4\n"

    def test_shell_messages_unchanged(self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """The shell's own error text (with its line number) is the same instrumented or not."""
        monkeypatch.setenv("CMDSCOPE_GUARD", "off")
        status = os.system("cmdscope-no-such-cmd-xyz")
        bare = capfd.readouterr()
        cmdscope.instrument()
        try:
            assert os.system("cmdscope-no-such-cmd-xyz") == status
        finally:
            cmdscope.uninstrument()
        assert capfd.readouterr() == bare

    def test_death_by_signal(self, exporter: InMemorySpanExporter) -> None:
        """A shell killed by SIGTERM: status unchanged, record 143 interrupted."""
        status = os.system("kill -TERM $$")
        assert os.waitstatus_to_exitcode(status) == -signal.SIGTERM
        (span,) = exporter.get_finished_spans()
        assert span_attrs(span)["process.exit.code"] == 143
        assert span_attrs(span)["cmdscope.outcome"] == "interrupted"


class TestAsyncio:
    def test_exec_and_shell(self, exporter: InMemorySpanExporter, ledger_path: Path) -> None:
        """create_subprocess_exec and _shell: one record each, finished by the event loop's
        child watcher before ``wait()`` returns; results unchanged."""

        async def main() -> tuple[int, bytes]:
            p = await asyncio.create_subprocess_exec("sh", "-c", "exit 6")
            code = await p.wait()
            names = [r["name"] for r in read_ledger(ledger_path)]
            assert names == ["sh"]  # already written when wait() returned
            q = await asyncio.create_subprocess_shell("echo $CMDSCOPE_ACTOR", stdout=asyncio.subprocess.PIPE)
            out, _ = await q.communicate()
            return code, out

        with cmdscope.context(actor="async-agent"):
            assert asyncio.run(main()) == (6, b"async-agent\n")
        first, second = exporter.get_finished_spans()
        assert (span_attrs(first)["process.exit.code"], span_attrs(first)["cmdscope.outcome"]) == (6, "failure")
        assert span_attrs(first)["process.command_line"] == "sh -c 'exit 6'"
        assert second.name == "echo" and span_attrs(second)["cmdscope.actor"] == "async-agent"
        assert len(read_ledger(ledger_path)) == 2

    def test_not_found_raises(self, exporter: InMemorySpanExporter) -> None:
        """A missing program raises FileNotFoundError from create_subprocess_exec as ever."""

        async def main() -> None:
            await asyncio.create_subprocess_exec("cmdscope-no-such-program")

        with pytest.raises(FileNotFoundError):
            asyncio.run(main())
        (span,) = exporter.get_finished_spans()
        assert span_attrs(span)["process.exit.code"] == 127


POLICY = """\
name: test
version: 1.0.0
rules:
  - id: test.deny-touch
    match: {executable: [touch]}
    action: deny
    message: touching is not allowed here
"""


class TestGuard:
    @pytest.fixture
    def policy(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        path = tmp_path / "policy.yaml"
        path.write_text(POLICY)
        monkeypatch.setenv("CMDSCOPE_POLICY_PATH", str(path))
        monkeypatch.setenv("CMDSCOPE_RAISE_INTERNAL", "1")
        monkeypatch.chdir(tmp_path)
        return path

    def test_denied_child_never_starts(self, policy: Path, tmp_path: Path, ledger_path: Path) -> None:
        """In enforce mode a denied command raises CommandDenied from Popen and from os.system
        before any child starts; each attempt leaves a denial record naming the rule."""
        cmdscope.instrument()
        try:
            with pytest.raises(cmdscope.CommandDenied) as info:
                subprocess.run(["touch", "marker"], check=False)
            with pytest.raises(cmdscope.CommandDenied):
                os.system("touch marker")
            subprocess.run(["true"], check=False)
        finally:
            cmdscope.uninstrument()
        assert not (tmp_path / "marker").exists()
        denied_popen, denied_system, allowed = read_ledger(ledger_path)
        assert info.value.record["record_id"] == denied_popen["record_id"]
        for record in (denied_popen, denied_system):
            assert {k: record[k] for k in ("kind", "cmdscope.outcome", "process.exit.code", "cmdscope.policy.rule",
                                           "cmdscope.policy.action", "cmdscope.policy.mode")} == {
                "kind": "denial", "cmdscope.outcome": "denied", "process.exit.code": 126,
                "cmdscope.policy.rule": "test.deny-touch", "cmdscope.policy.action": "deny",
                "cmdscope.policy.mode": "enforce"}
            validate_record(record)
        assert (allowed["kind"], allowed["cmdscope.policy.action"]) == ("command", "allow")

    def test_enforce_false_records_but_runs(self, policy: Path, tmp_path: Path, ledger_path: Path) -> None:
        """instrument(enforce=False): the denied command runs; its record keeps the decision,
        in mode observe."""
        cmdscope.instrument(enforce=False)
        try:
            assert subprocess.run(["touch", "marker"], check=False).returncode == 0
        finally:
            cmdscope.uninstrument()
        assert (tmp_path / "marker").exists()
        (record,) = read_ledger(ledger_path)
        assert {k: record[k] for k in ("kind", "cmdscope.outcome", "cmdscope.policy.rule", "cmdscope.policy.action",
                                       "cmdscope.policy.mode")} == {
            "kind": "command", "cmdscope.outcome": "success", "cmdscope.policy.rule": "test.deny-touch",
            "cmdscope.policy.action": "deny", "cmdscope.policy.mode": "observe"}


    def test_broken_policy_never_breaks_the_host(self, tmp_path: Path, ledger_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
        """An invalid policy file: the child still runs and is recorded; one warning line names it."""
        bad = tmp_path / "bad-policy.yaml"
        bad.write_text("name: bad\nversion: 1.0.0\nrules: [{id: x, action: explode}]\n")
        monkeypatch.setenv("CMDSCOPE_POLICY_PATH", str(bad))
        monkeypatch.delenv("CMDSCOPE_RAISE_INTERNAL", raising=False)
        cmdscope.instrument()
        try:
            assert subprocess.run(["true"], check=False).returncode == 0
        finally:
            cmdscope.uninstrument()
        (record,) = read_ledger(ledger_path)
        assert record["cmdscope.outcome"] == "success"
        warning = capfd.readouterr().err
        assert warning.count("\n") == 1 and "guard" in warning and str(bad) in warning


class TestSwitches:
    def test_uninstrument_restores_and_records_nothing(self, ledger_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """After uninstrument() the original functions are back and no child is recorded."""
        monkeypatch.setenv("CMDSCOPE_GUARD", "off")
        cmdscope.instrument()
        assert subprocess.Popen.__init__ is not ORIGINAL_INIT
        cmdscope.uninstrument()
        assert subprocess.Popen.__init__ is ORIGINAL_INIT and os.system is ORIGINAL_SYSTEM
        subprocess.run(["true"], check=False)
        os.system("true")
        asyncio.run(asyncio.create_subprocess_exec("true"))
        assert not ledger_path.exists()

    def test_suppressed_blocks_record_nothing(self, exporter: InMemorySpanExporter, ledger_path: Path) -> None:
        """Children started under cmdscope's or OpenTelemetry's suppress_instrumentation are
        not recorded; the next one is."""
        from opentelemetry.instrumentation.utils import suppress_instrumentation as otel_suppress

        with suppress_instrumentation():
            subprocess.run(["true"], check=False)
        with otel_suppress():
            os.system("true")
        subprocess.run(["false"], check=False)
        (record,) = read_ledger(ledger_path)
        assert record["name"] == "false"
        assert len(exporter.get_finished_spans()) == 1

    def test_disabled_records_nothing(self, exporter: InMemorySpanExporter, ledger_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """CMDSCOPE_DISABLED=1 runs children without recording them."""
        monkeypatch.setenv("CMDSCOPE_DISABLED", "1")
        subprocess.run(["true"], check=False)
        assert exporter.get_finished_spans() == () and not ledger_path.exists()

    def test_usage_in_the_manual_runs(self, tmp_path: Path, ledger_path: Path) -> None:
        """The Usage block of the package docstring runs as written and records its one child."""
        import cmdscope.instrumentation as manual

        doc = manual.__doc__ or ""
        block = doc.split(".. code-block:: python", 1)[1].split("\nOr without", 1)[0]
        script = tmp_path / "usage.py"
        script.write_text(textwrap.dedent(block))
        env = dict(os.environ, CMDSCOPE_GUARD="off")
        done = subprocess.run([PYTHON, str(script)], cwd=tmp_path, env=env, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
        (record,) = read_ledger(ledger_path)
        assert (record["name"], record["cmdscope.packet"], record["cmdscope.outcome"]) == ("git", "PKT-7", "success")

    def test_top_level_api(self) -> None:
        """cmdscope.instrument/uninstrument are the package's functions."""
        import cmdscope.instrumentation as package

        assert cmdscope.instrument is package.instrument and cmdscope.uninstrument is package.uninstrument

    def test_instrumentor_is_a_singleton_base_instrumentor(self) -> None:
        """CmdscopeInstrumentor is an OTel BaseInstrumentor with no package requirement."""
        from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

        assert isinstance(CmdscopeInstrumentor(), BaseInstrumentor)
        assert CmdscopeInstrumentor() is CmdscopeInstrumentor()
        assert list(CmdscopeInstrumentor().instrumentation_dependencies()) == []


class TestProcesses:
    def test_opentelemetry_instrument_loads_the_entry_point(self, tmp_path: Path, ledger_path: Path) -> None:
        """``opentelemetry-instrument python script.py`` instruments the script through the
        opentelemetry_instrumentor entry point: its child lands in the ledger."""
        script = tmp_path / "agent.py"
        script.write_text("import subprocess\nsubprocess.run(['sh', '-c', 'exit 2'])\n")
        env = dict(os.environ, OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none",
                   OTEL_LOGS_EXPORTER="none", CMDSCOPE_GUARD="off")
        tool = Path(PYTHON).with_name("opentelemetry-instrument")
        done = subprocess.run([str(tool), PYTHON, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        (record,) = read_ledger(ledger_path)
        assert (record["process.command_line"], record["process.exit.code"]) == ("sh -c 'exit 2'", 2)

    def test_cmdscope_run_child_joins_the_trace(self, exporter: InMemorySpanExporter, ledger_path: Path) -> None:
        """An instrumented parent starting ``cmdscope run -- true``: the CLI's record is a child
        span of the parent's record, in the same trace, with the same packet."""
        with cmdscope.context(packet="PKT-5"):
            assert subprocess.run([PYTHON, "-m", "cmdscope", "run", "--", "true"], cwd=ROOT, check=False).returncode == 0
        records = {r["process.executable.name"]: r for r in read_ledger(ledger_path)}
        child, parent = records["true"], records[os.path.basename(PYTHON)]
        assert child["trace_id"] == parent["trace_id"]
        assert child["parent_span_id"] == parent["span_id"]
        assert child["cmdscope.packet"] == parent["cmdscope.packet"] == "PKT-5"
        (span,) = exporter.get_finished_spans()
        assert f"{span.context.span_id:016x}" == parent["span_id"]

    def test_instrumented_python_child_of_instrumented_parent(self, tmp_path: Path, ledger_path: Path) -> None:
        """Two instrumented Python processes: the grandchild's record nests under the child's."""
        script = tmp_path / "inner.py"
        script.write_text(textwrap.dedent("""
            import subprocess, cmdscope
            cmdscope.instrument()
            subprocess.run(["true"])
        """))
        env = dict(os.environ, CMDSCOPE_GUARD="off")
        code = f"import cmdscope, subprocess; cmdscope.instrument(); subprocess.run([{PYTHON!r}, {str(script)!r}])"
        assert subprocess.run([PYTHON, "-c", code], env=env, check=False).returncode == 0
        inner, outer = read_ledger(ledger_path)
        assert inner["name"] == "true"
        assert inner["trace_id"] == outer["trace_id"] and inner["parent_span_id"] == outer["span_id"]
