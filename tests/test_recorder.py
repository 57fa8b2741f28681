"""The recorder as users meet it: the span is the child's parent and is ended before ``run``
returns, through the public OTel API only (the host's providers are never changed), context and
policy changes between commands are seen, chains extended by the host run. Real SDK, real
children, real git."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

import cmdscope
from cmdscope import _pipeline as pipeline
from conftest import PYTHON, ROOT, metric_points, read_ledger

TRACEPARENT_OF_CHILD = [PYTHON, "-c", "import os; print(os.environ['TRACEPARENT'])"]


def _sdk(sampler: Any = None, id_generator: Any = None) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    kw: dict[str, Any] = {}
    if sampler is not None:
        kw["sampler"] = sampler
    if id_generator is not None:
        kw["id_generator"] = id_generator
    provider = TracerProvider(**kw)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


class TestReservedSpan:
    def test_child_traceparent_is_the_recorded_span(self, otel: Any) -> None:
        """The span is created while the child runs, with the ids the child was already given."""
        exporter, _ = otel
        result = cmdscope.run(TRACEPARENT_OF_CHILD, capture_output=True, text=True)
        (span,) = exporter.get_finished_spans()
        trace_id, span_id = format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")
        assert result.stdout.strip() == f"00-{trace_id}-{span_id}-{format(span.context.trace_flags, '02x')}"
        assert (result.record["trace_id"], result.record["span_id"]) == (trace_id, span_id)
        assert span.start_time == result.record["start_ns"] and span.end_time == result.record["end_ns"]

    def test_an_unsampled_span_tells_the_child(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A sampler that drops the span: the child's TRACEPARENT says not sampled, nothing exported."""
        from opentelemetry import trace
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        provider, exporter = _sdk(sampler=ALWAYS_OFF)
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
        result = cmdscope.run(TRACEPARENT_OF_CHILD, capture_output=True, text=True)
        assert result.stdout.strip().endswith(("-00", "-02"))  # sampled bit clear
        assert exporter.get_finished_spans() == ()
        assert result.returncode == 0 and result.record["cmdscope.outcome"] == "success"

    def test_the_providers_id_generator_makes_the_ids(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Ids come from the host's own generator (X-Ray style ids stay X-Ray style)."""
        from opentelemetry import trace
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        class Counting(IdGenerator):
            def __init__(self) -> None:
                self.n = 0

            def generate_span_id(self) -> int:
                self.n += 1
                return 0xABC000 + self.n

            def generate_trace_id(self) -> int:
                return 0x1234 << 64 | 0x77

        provider, exporter = _sdk(id_generator=Counting())
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
        first = cmdscope.run(["true"])
        with trace.get_tracer("host").start_as_current_span("tool-call"):
            second = cmdscope.run(TRACEPARENT_OF_CHILD, capture_output=True, text=True)
        spans = {s.name: s for s in exporter.get_finished_spans()}
        assert first.record["trace_id"] == format(0x1234 << 64 | 0x77, "032x")
        assert first.record["span_id"] == format(spans["true"].context.span_id, "016x")
        assert spans["true"].context.span_id & 0xFFF000 == 0xABC000
        child = spans[os.path.basename(PYTHON)]
        assert child.parent.span_id == spans["tool-call"].context.span_id  # the current span parents it
        assert second.stdout.strip().split("-")[2] == format(child.context.span_id, "016x")


class TestMetrics:
    def test_flush_records_what_is_queued(self, otel: Any) -> None:
        """Every command is measured once, before run() returns."""
        _, reader = otel
        for _ in range(5):
            cmdscope.run(["true"])
        points = metric_points(reader)  # flushes first
        (count,) = points["cmdscope.commands"]
        (hist,) = points["cmdscope.command.duration"]
        assert count.value == 5 and hist.count == 5

    def test_exit_flushes_before_the_sdk_shuts_down(self, tmp_path: Path) -> None:
        """A short script's last command reaches the exporter at exit, with no flush call."""
        out = tmp_path / "metrics.json"
        script = textwrap.dedent(f"""
            import json
            from opentelemetry import metrics
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader

            class FileExporter(MetricExporter):
                def export(self, data, timeout_millis=10_000, **kw):
                    found = {{m.name: sum(getattr(p, "value", getattr(p, "count", 0)) for p in m.data.data_points)
                             for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}}
                    with open({str(out)!r}, "a") as fh:
                        fh.write(json.dumps(found) + "\\n")
                    return MetricExportResult.SUCCESS
                def force_flush(self, timeout_millis=10_000):
                    return True
                def shutdown(self, timeout_millis=30_000, **kw):
                    pass

            metrics.set_meter_provider(MeterProvider(metric_readers=[
                PeriodicExportingMetricReader(FileExporter(), export_interval_millis=600_000)]))
            import cmdscope
            for _ in range(3):
                cmdscope.run(["true"])
        """)
        proc = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        last = json.loads(out.read_text().splitlines()[-1])
        assert last["cmdscope.commands"] == 3 and last["cmdscope.command.duration"] == 3

def test_threads_running_commands_at_once(otel: Any, ledger_path: Path) -> None:
    """8 threads x 25 commands: every span has the ids its record and child got, every
    measurement is recorded once, the ledger has every line."""
    import threading

    exporter, reader = otel
    results: list[Any] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with cmdscope.context(actor=f"t{n}"):
                for _ in range(25):
                    results.append(cmdscope.run(TRACEPARENT_OF_CHILD, capture_output=True, text=True))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 200
    spans = {format(s.context.span_id, "016x"): s for s in exporter.get_finished_spans()}
    assert len(spans) == 200
    for result in results:
        span = spans[result.record["span_id"]]
        assert result.stdout.strip().split("-")[2] == result.record["span_id"]
        assert span.attributes["cmdscope.actor"] == result.record["cmdscope.actor"]
    assert len(read_ledger(ledger_path)) == 200
    points = metric_points(reader)["cmdscope.commands"]
    assert sorted(p.attributes["cmdscope.actor"] for p in points) == [f"t{n}" for n in range(8)]
    assert all(p.value == 25 for p in points)


class TestCachedContext:
    def test_changes_between_commands_are_seen(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The per-combination context cache never hides a change of variable, scope or git."""
        repo = tmp_path / "repo"
        repo.mkdir()
        git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
        monkeypatch.chdir(repo)
        first = cmdscope.run(["true"]).record
        monkeypatch.setenv("CMDSCOPE_ACTOR", "bot-2")
        second = cmdscope.run(["true"]).record
        with cmdscope.context(actor="scoped", phase="test"):
            third = cmdscope.run(["true"]).record
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
        subprocess.run([*git, "checkout", "-q", "-b", "feature/x"], check=True)
        fourth = cmdscope.run(["true"]).record
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert first["cmdscope.actor"] == "user" and second["cmdscope.actor"] == "bot-2"
        assert (third["cmdscope.actor"], third["cmdscope.phase"]) == ("scoped", "test")
        assert fourth["cmdscope.actor"] == "bot-2" and fourth.get("cmdscope.phase") != "test"
        assert first["vcs.ref.head.name"] == "main" and fourth["vcs.ref.head.name"] == "feature/x"
        assert fourth["vcs.ref.head.revision"] == head != first["vcs.ref.head.revision"]

    def test_branch_policy_reads_git_when_needed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Git facts are read after the spawn, except when a branch-scoped rule must decide:
        a force push is denied on main and allowed (it runs, and fails: no remote) on feature/*."""
        git = _repo_with_policy(tmp_path, monkeypatch, "allow-own-force", "allow",
                                "{danger_rules: [git.push-force-shared], branch: [\"feature/*\"]}")
        push = ["git", "push", "--force", "origin", "main"]
        with pytest.raises(cmdscope.CommandDenied) as denied:
            cmdscope.run(push, capture_output=True)
        assert denied.value.decision.rule_id == "default.deny-critical"
        subprocess.run([*git, "checkout", "-q", "-b", "feature/x"], check=True)
        result = cmdscope.run(push, capture_output=True)
        assert result.returncode == 128 and result.record["cmdscope.policy.rule"] == "allow-own-force"
        assert result.record["vcs.ref.head.name"] == "feature/x"


    def test_context_rules_are_never_answered_from_the_allow_cache(self, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """A rule on branch alone (no dangerous match needed) is decided afresh every time."""
        git = _repo_with_policy(tmp_path, monkeypatch, "no-true-on-feature", "deny",
                                "{executable: [\"true\"], branch: [\"feature/*\"]}")
        assert cmdscope.run(["true"]).returncode == 0
        assert cmdscope.run(["true"]).returncode == 0
        subprocess.run([*git, "checkout", "-q", "-b", "feature/z"], check=True)
        with pytest.raises(cmdscope.CommandDenied) as denied:
            cmdscope.run(["true"])
        assert denied.value.decision.rule_id == "no-true-on-feature"


    def test_the_remembered_launch_sees_what_the_processors_would(self, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        """The one-lookup answer for context and guard (a plain allow seen before) gives way
        to the processors whenever one of their inputs changes: a policy file named by a
        variable, the guard turned off, the directory, or a BEFORE chain the host extended."""
        policy = tmp_path / "policy.yaml"
        policy.write_text("name: local\nversion: 1.0.0\nrules:\n  - id: no-true\n"
                          "    match: {executable: [\"true\"]}\n    action: deny\n")
        for _ in range(2):
            assert cmdscope.run(["true"]).record["cmdscope.policy.action"] == "allow"
        monkeypatch.setenv("CMDSCOPE_POLICY_PATH", str(policy))
        with pytest.raises(cmdscope.CommandDenied) as denied:
            cmdscope.run(["true"])
        assert denied.value.decision.rule_id == "no-true"
        monkeypatch.setenv("CMDSCOPE_GUARD", "off")
        for _ in range(2):
            assert "cmdscope.policy.action" not in cmdscope.run(["true"]).record
        monkeypatch.delenv("CMDSCOPE_GUARD")
        monkeypatch.chdir(tmp_path)
        with pytest.raises(cmdscope.CommandDenied):
            cmdscope.run(["true"])
        seen: list[str] = []
        monkeypatch.setattr(pipeline, "BEFORE", [*pipeline.BEFORE, lambda run: seen.append(run.record["name"])])
        monkeypatch.delenv("CMDSCOPE_POLICY_PATH")
        for _ in range(2):
            cmdscope.run(["true"])
        assert seen == ["true", "true"]


def _repo_with_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str, action: str, match: str) -> list[str]:
    """A git repository on main with one commit and a project policy of one rule, as the cwd;
    returns the git command prefix for it."""
    repo = tmp_path / "repo"
    (repo / ".cmdscope").mkdir(parents=True)
    (repo / ".cmdscope" / "policy.yaml").write_text(
        f"name: team\nversion: 1.0.0\nrules:\n  - id: {rule}\n    match: {match}\n    action: {action}\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    monkeypatch.chdir(repo)
    from cmdscope._guard.sources import trust

    trust(str(repo / ".cmdscope" / "policy.yaml"))  # a loosening project rule needs the user's trust
    return git


class TestRedactionRules:
    def test_a_new_pattern_applies_to_a_text_seen_before(self) -> None:
        """A pattern added after a text was redacted applies to that text next time."""
        from cmdscope import redact

        text = "deploy --ticket ZZ-SECRET-4242"
        assert redact.redact(text) == text
        redact.add_pattern("ticket", r"ZZ-SECRET-\d+", keywords=["zz-secret"])
        try:
            assert redact.redact(text) == "deploy --ticket [REDACTED:ticket]"
        finally:
            redact.reset_patterns()
        assert redact.redact(text) == text


def test_ledger_record_matches_span_after_the_window(otel: Any, ledger_path: Path) -> None:
    """Attributes set while the child ran plus those set after: the span equals the record."""
    exporter, _ = otel
    cmdscope.run(["sh", "-c", "echo 'fatal: not a git repository' >&2; exit 128"], capture_output=True)
    (span,) = exporter.get_finished_spans()
    (rec,) = read_ledger(ledger_path)
    assert {k: v for k, v in rec.items() if "." in k} == dict(span.attributes)
    assert rec["error.type"] != "unknown" and rec["process.exit.code"] == 128
    assert ROOT.exists()


class TestPublicApiOnly:
    def test_batch_span_ends_before_run_returns(self, monkeypatch: pytest.MonkeyPatch, ledger_path: Path) -> None:
        """With a BatchSpanProcessor, the span is ended (handed to the processor) before run()
        returns, at the command's own end time, and the host's force_flush exports it."""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        ended: list[int] = []

        class Watch(SpanProcessor):
            def on_end(self, span: Any) -> None:
                ended.append(span.context.span_id)

            def force_flush(self, timeout_millis: int = 30000) -> bool:
                return True

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
        provider.add_span_processor(Watch())
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
        result = cmdscope.run(["sh", "-c", "exit 3"])
        assert [format(i, "016x") for i in ended] == [result.record["span_id"]]
        assert provider.force_flush()
        (span,) = exporter.get_finished_spans()
        assert span.end_time == result.record["end_ns"] and span.start_time == result.record["start_ns"]
        assert span.attributes["process.exit.code"] == 3 and span.status.status_code.name == "ERROR"
        (rec,) = read_ledger(ledger_path)
        assert {k: v for k, v in rec.items() if "." in k} == dict(span.attributes)

    def test_the_hosts_providers_and_tracers_are_left_as_they_were(self, otel: Any) -> None:
        """Nothing is set on the host's provider, its processors or the tracer cmdscope uses."""
        from opentelemetry import metrics, trace

        provider = trace.get_tracer_provider()
        meter_provider = metrics.get_meter_provider()
        tracer = provider.get_tracer("cmdscope")
        before = (dict(vars(provider)), dict(vars(meter_provider)), dict(vars(tracer)))
        cmdscope.run(["true"])
        cmdscope.flush()
        after = (dict(vars(provider)), dict(vars(meter_provider)), dict(vars(tracer)))
        assert before == after

    def test_a_custom_propagator_is_used_for_the_child(self, otel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """The child's variables come from the API's global propagator: with W3C trace context
        only, the child gets TRACEPARENT and no BAGGAGE from it (CMDSCOPE_* still)."""
        from opentelemetry import propagate
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", propagate.get_global_textmap())  # restored after
        propagate.set_global_textmap(TraceContextTextMapPropagator())
        probe = [PYTHON, "-c", "import os; print(os.environ.get('TRACEPARENT'), os.environ.get('BAGGAGE'),"
                 " os.environ.get('CMDSCOPE_ACTOR'))"]
        result = cmdscope.run(probe, capture_output=True, text=True, actor="bot")
        traceparent, baggage, actor = result.stdout.split()
        assert traceparent.split("-")[2] == result.record["span_id"]
        assert baggage == "None" and actor == "bot"

    def test_trace_state_and_baggage_reach_the_child(self, otel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """A process started with TRACEPARENT/TRACESTATE/BAGGAGE: the command's span is the
        remote parent's child, and its child gets the trace state and the merged baggage."""
        monkeypatch.setenv("TRACEPARENT", "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01")
        monkeypatch.setenv("TRACESTATE", "vendor=x")
        monkeypatch.setenv("BAGGAGE", "team=core")
        probe = [PYTHON, "-c", "import os; print(os.environ['TRACEPARENT'], os.environ['TRACESTATE'],"
                 " os.environ['BAGGAGE'])"]
        result = cmdscope.run(probe, capture_output=True, text=True, actor="bot")
        traceparent, tracestate, baggage = result.stdout.split()
        assert traceparent.startswith("00-" + "ab" * 16 + "-" + result.record["span_id"])
        assert result.record["parent_span_id"] == "cd" * 8
        assert tracestate == "vendor=x"
        assert "team=core" in baggage and "cmdscope.actor=bot" in baggage


class TestChains:
    """The AFTER chain is what runs: a processor the host appends sees every command."""

    SAME = ("schema", "kind", "name", "process.command_line", "cmdscope.command.hash", "cmdscope.outcome",
            "process.exit.code", "cmdscope.retry.count", "cmdscope.actor")

    def _record(self, **kw: Any) -> dict[str, Any]:
        return cmdscope.run(["sh", "-c", "exit 0"], **kw).record

    def test_same_record_as_the_chain(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fast = self._record(actor="a")
        walked: list[str] = []

        def note(run: pipeline.Run) -> None:
            walked.append(run.record["cmdscope.outcome"])

        monkeypatch.setattr(pipeline, "AFTER", [*pipeline.AFTER, note])
        slow = self._record(actor="a")
        assert walked == ["success"]
        assert {k: fast.get(k) for k in self.SAME} == {k: slow.get(k) for k in self.SAME}
        assert set(fast) == set(slow) and fast["cmdscope.retry.count"] == 0

    def test_a_success_that_ends_a_streak_is_counted(self, tmp_path: Path) -> None:
        """The success that ends a failure streak goes through count_retries (count and the
        record it retried); the success after it is plain again."""
        cmd = ["sh", "-c", f"test -e {tmp_path}/flag"]
        failures = [cmdscope.run(cmd, session="s1").record for _ in range(2)]
        (tmp_path / "flag").touch()
        ended, plain = (cmdscope.run(cmd, session="s1").record for _ in range(2))
        assert [r["cmdscope.outcome"] for r in (*failures, ended, plain)] == ["failure", "failure", "success", "success"]
        assert (ended["cmdscope.retry.count"], ended["cmdscope.retry_of"]) == (2, failures[1]["record_id"])
        assert plain["cmdscope.retry.count"] == 0 and "cmdscope.retry_of" not in plain

    def test_retry_of_is_redacted(self) -> None:
        rec = cmdscope.run(["true"], retry_of="token ghp_" + "a" * 36).record
        assert "ghp_" not in rec["cmdscope.retry_of"]


def test_record_ids_ignore_the_hosts_seed_and_differ_after_fork() -> None:
    """Record ids never depend on the host's ``random``: seeding it for reproducibility never
    makes them repeat, and a forked child draws different ones."""
    import random

    ids = []
    for _ in range(3):
        random.seed(7)
        ids.append(cmdscope.run(["true"]).record["record_id"])
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, pipeline.new_record("command", "x")["record_id"].encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(r, 64).decode()
    os.close(r)
    os.close(w)
    assert child != pipeline.new_record("command", "x")["record_id"]


def test_disabled_execs_the_command(tmp_path: Path) -> None:
    """CMDSCOPE_DISABLED=1: cmdscope becomes the command (same pid, its exit status), records nothing."""
    env = {**os.environ, "CMDSCOPE_DISABLED": "1", "CMDSCOPE_LEDGER": str(tmp_path / "ledger.jsonl")}
    proc = subprocess.Popen([PYTHON, "-m", "cmdscope", "run", "--", "sh", "-c", "echo $$; exit 7"], env=env,
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert (int(out), proc.returncode) == (proc.pid, 7)
    missing = subprocess.run([PYTHON, "-m", "cmdscope", "run", "--", "no-such-command-x"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 127 and "command not found" in missing.stderr
    assert not (tmp_path / "ledger.jsonl").exists()


def test_otlp_timeout_is_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT is milliseconds per the OTel spec, small values too."""
    from cmdscope._config import env_timeout_s

    for raw, seconds in (("50", 0.05), ("10000", 10.0), ("2500", 2.5)):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", raw)
        assert env_timeout_s(2.0) == seconds
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TIMEOUT")
    assert env_timeout_s(2.0) == 2.0
