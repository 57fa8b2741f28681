"""The record pipeline: one list of small processors, then the sinks.

    context -> guard -> [execute] -> classify -> retry -> redact -> sinks

A processor is a plain callable over the ``Run`` (the record dict plus what produced it),
structlog-style; the chain is a visible module-level list. A denial is an exception raised by
the guard (``Denied``) and caught in one place: the child never starts, and the denial record
still flows through redact and every sink before the caller learns of it.

Observability never breaks the thing observed: a failing sink is counted and reported once on
stderr, the command's result is returned unchanged.
"""

from __future__ import annotations

import os
import sys
import time
TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:  # typing, dataclasses, shlex and hashlib cost ~25 ms of CLI import time
    from typing import Any, Callable, Mapping, Sequence

from cmdscope import runner
from cmdscope.context import Context, active_packet, current_scope, git_facts, resolve, with_git
from cmdscope.environ import ENVB, getenv
from cmdscope.memo import remember
from cmdscope.propagation import child_env, inherited_env_for
from cmdscope.sinks import otel
from cmdscope.paths import default_ledger_path_str
from cmdscope.sinks.ledger import LedgerWriter

SCHEMA = 1
_HOST = os.uname().nodename


class CommandSpec:
    """What the caller asked to run, and how."""

    def __init__(
        self,
        command: Sequence[str] | str,
        shell: bool = False,
        shell_path: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        capture_output: bool = False,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        forward_signals: bool = False,
        context: dict[str, str | None] | None = None,
        ledger_path: str | None = None,
        retry_of: str | None = None,
    ) -> None:
        self.command = command
        self.shell = shell
        self.shell_path = shell_path
        self.cwd = cwd
        self.env = env
        self.timeout = timeout
        self.capture_output = capture_output
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.forward_signals = forward_signals
        self.context = context if context is not None else {}
        self.ledger_path = ledger_path
        self.retry_of = retry_of

    def argv(self) -> list[str]:
        if self.shell:
            return runner.shell_argv(str(self.command), self.shell_path)
        return [os.fspath(a) for a in self.command]  # type: ignore[union-attr]


class Run:
    """The state one command carries through the pipeline."""

    __slots__ = ("spec", "record", "ctx", "decision", "execution", "span", "raw_command", "described",
                 "packet_state", "packet_read", "may_retry", "where", "plain_allow")

    def __init__(self, spec: CommandSpec, record: dict[str, Any], raw_command: str = "") -> None:
        self.spec = spec
        self.record = record
        self.ctx: Context | None = None
        self.decision: Any = None
        self.execution: runner.Execution | None = None
        self.span: otel.SpanHandle | None = None
        self.raw_command = raw_command
        # The keys already redacted by ``describe`` (None until it ran): only keys added after
        # the child exited pass the redactor again.
        self.described: frozenset[str] | None = None
        self.packet_state: Any = None  # the worktree's active packet, read once per command
        self.packet_read = False
        self.may_retry: bool | None = None  # could a success end a failure streak? (None: ask)
        self.where = spec.cwd or _getcwd()  # the directory it runs in: one getcwd per command
        self.plain_allow = False  # set by ``guard``: the same inputs always get this same answer


def _getcwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed under us: the child may still run (as bare)
        return "."


class Denied(Exception):
    """Raised by the guard processor: the command must not start."""

    def __init__(self, decision: Any) -> None:
        super().__init__(getattr(decision, "message", "denied"))
        self.decision = decision


if TYPE_CHECKING:
    Processor = Callable[[Run], None]
    Sink = Callable[[dict[str, Any]], None]


# --- helpers --------------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """Valid UTF-8 text for any string: bytes that were not UTF-8 (surrogate-escaped by the OS
    layer) become ``\\xNN`` so every sink can encode the record."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def executable_name(spec: CommandSpec) -> str:
    if spec.shell:
        for word in str(spec.command).split():
            if "=" in word.split("/", 1)[0]:
                continue  # VAR=value prefix
            return os.path.basename(word.strip("'\"")) or "sh"
        return "sh"
    argv = spec.command
    return os.path.basename(os.fspath(argv[0])) if argv else ""  # type: ignore[arg-type]


_second: tuple[int, str] = (-1, "")


def iso_time(ns: int) -> str:
    global _second
    seconds, rest = divmod(ns, 1_000_000_000)
    if _second[0] != seconds:  # formatting the date costs ~3 us: once per second is enough
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{rest // 1000:06d}Z"


try:  # the builtin module: importing hashlib loads OpenSSL (~3 ms) for one digest per command
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - other Python builds
    from hashlib import sha256 as _sha256


class Stopwatch:
    """Wall-clock start plus a monotonic duration: a clock stepping backwards (NTP, a VM
    resumed) can never produce an end before the start or a negative duration."""

    __slots__ = ("start_ns", "_mono")

    def __init__(self) -> None:
        self.start_ns = time.time_ns()
        self._mono = time.monotonic_ns()

    def stamp(self, rec: dict[str, Any]) -> None:
        elapsed = max(0, time.monotonic_ns() - self._mono)
        rec["start_ns"] = self.start_ns
        rec["end_ns"] = self.start_ns + elapsed
        rec["duration_s"] = elapsed / 1e9
        rec["time"] = iso_time(rec["end_ns"])


MAX_COMMAND_LINE = 32 * 1024


def cap_command_line(text: str) -> str:
    """Keep records and spans a sane size: a 1 MB argv is stored as its first 32 KiB plus a
    note of what was cut (the command hash still covers the whole redacted line)."""
    if len(text) <= MAX_COMMAND_LINE:
        return text
    return text[:MAX_COMMAND_LINE] + f" …[{len(text) - MAX_COMMAND_LINE} more characters]"


def command_hash(redacted_command_line: str) -> str:
    return _sha256(redacted_command_line.encode("utf-8")).hexdigest()[:16]


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def quote(word: str) -> str:
    """``shlex.quote`` without importing shlex and re on the hot path (same output)."""
    if not word:
        return "''"
    if _SAFE.issuperset(word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def join(argv: Sequence[str]) -> str:
    return " ".join(quote(a) for a in argv)


_redact_fns: tuple[Callable[[str], str], Callable[[list[str]], list[str]]] | None = None


def _redactor() -> tuple[Callable[[str], str], Callable[[list[str]], list[str]]]:
    global _redact_fns
    if _redact_fns is None:
        from cmdscope.redact import redact, redact_argv

        _redact_fns = (redact, redact_argv)
    return _redact_fns


# --- processors -----------------------------------------------------------------------------


def add_context(run: Run) -> None:
    resolve_context(run)
    context_attributes(run)


_contexts: dict[tuple[Any, ...], Context] = {}
_CONTEXT_VARS = tuple(os.fsencode(f"CMDSCOPE_{name.upper()}") for name in
                      ("actor", "session", "packet", "phase", "worktree", "branch", "revision"))


def resolve_context(run: Run) -> None:
    """Who and which packet, before the child starts (its environment carries them). The git
    facts wait for ``context_attributes``; the guard reads them itself if a rule needs them.

    The answer depends on the arguments, the ``cmdscope.context()`` scope, seven variables and
    the active packet, which repeat from command to command: it is kept per combination."""
    spec = run.spec
    state = _active_packet(run)
    explicit = spec.context
    key = (tuple(explicit.items()), current_scope(), tuple(map(ENVB.get, _CONTEXT_VARS)),
           state["packet"] if state else None)
    ctx = _contexts.get(key)
    if ctx is not None:
        run.ctx = ctx
        return
    run.ctx = remember(_contexts, key, resolve(spec.cwd, None, git=False, active=state, **explicit), 256)  # type: ignore[arg-type]


def _active_packet(run: Run) -> Any:
    """The worktree's active packet, read once per command (one stat) and kept on the run."""
    if not run.packet_read:
        run.packet_state, run.packet_read = active_packet(run.where), True
    return run.packet_state


def context_attributes(run: Run) -> None:
    run.ctx = ctx = with_git(run.ctx or Context(), run.where)
    run.record.update(ctx.attributes())
    run.record["process.working_directory"] = clean_text(os.path.abspath(run.where))


def describe_command(run: Run) -> None:
    """The command as recorded: redacted command line, its hash, the host."""
    rec = run.record
    spec = run.spec
    key = (spec.command if spec.shell else tuple(spec.command), _redaction_generation())  # type: ignore[arg-type]
    described = _descriptions.get(key)
    if described is None:
        raw, redacted = command_line(spec)
        described = (raw, cap_command_line(redacted), command_hash(redacted))
        if len(raw) <= _MEMO_MAX_TEXT:  # a 1 MB argv is not kept
            remember(_descriptions, key, described, 1024)
    run.raw_command, rec["process.command_line"], rec["cmdscope.command.hash"] = described
    rec["host.name"] = _HOST


# Agents rerun the same commands (tests, builds): their redacted line and hash, per redaction
# rules generation (a new rule must apply to a command seen before).
_descriptions: dict[tuple[Any, int], tuple[str, str, str]] = {}


def _redaction_generation() -> int:
    from cmdscope.redact import generation

    return generation()


def guard(run: Run) -> None:
    """Ask the policy engine; a deny in enforce mode stops the command before it starts."""
    if getenv("CMDSCOPE_GUARD") == "off":
        run.plain_allow = True
        return
    try:
        from cmdscope.guard import Guard
    except ImportError:  # guard not installed in this build
        run.plain_allow = True
        return
    ctx = run.ctx or Context()
    spec = run.spec
    where = run.where
    command = clean_text(str(spec.command)) if spec.shell else tuple(spec.command)  # type: ignore[arg-type]
    key = None
    if not (ctx.branch or ctx.worktree):
        # Without context rules, a command that matches no dangerous-command rule is allowed
        # whatever its context: the same plain "allow" every time for the same inputs (the guard
        # is loaded per environment and directory, which the key holds).
        key = (command, spec.shell, ctx.actor, ctx.phase, where,
               ENVB.get(b"CMDSCOPE_REGISTRY_PATH"), ENVB.get(b"CMDSCOPE_POLICY_PATH"), ENVB.get(b"CMDSCOPE_GUARD_MODE"))
        hit = _plain_allows.get(key)
        if hit is not None:
            run.decision = hit[0]
            run.record.update(hit[1])
            run.plain_allow = True
            return
    loaded = Guard.load(cwd=where)
    decision = loaded.decide(
        command if spec.shell else list(command),
        shell=spec.shell,
        actor=ctx.actor,
        phase=ctx.phase,
        branch=ctx.branch,
        worktree=ctx.worktree,
        git=lambda: git_facts(where),
    )
    if decision.problems and os.environ.get("CMDSCOPE_GUARD_FAIL") == "closed":
        raise Denied(_GuardFailure(decision.problems[0]))  # a layer is missing: do not guess
    run.decision = decision
    attributes = decision.attributes()
    run.record.update(attributes)
    if decision.denied:
        raise Denied(decision)
    if key is not None and decision.action == "allow" and not decision.matches and not loaded.has_context_rules:
        remember(_plain_allows, key, (decision, attributes), 1024)
        run.plain_allow = True


_plain_allows: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}


def classify(run: Run) -> None:
    rec = run.record
    ex = run.execution
    if rec.get("cmdscope.outcome") == "success" or ex is None:
        return
    try:
        from cmdscope.failures import classify as classify_failure
    except ImportError:
        rec["error.type"] = rec["cmdscope.outcome"]
        return
    argv = run.spec.argv()
    result = classify_failure(
        exit_code=ex.returncode,
        signal=ex.signal,
        executable=rec.get("process.executable.name", ""),
        argv=argv,
        phase=rec.get("cmdscope.phase"),
        outcome=rec["cmdscope.outcome"],
        stderr_tail=ex.stderr_tail,
        # The runner's bounded stdout tail (when it keeps one), else captured stdout: many tools
        # print their error there (git conflicts, pytest, make test).
        stdout_tail=getattr(ex, "stdout_tail", None) or (ex.stdout[-65536:] if ex.stdout else None),
    )
    rec["error.type"] = result.error_type
    if result.pattern_id:
        rec["cmdscope.error.pattern"] = result.pattern_id
    if result.excerpt:
        rec["cmdscope.error.excerpt"] = clean_text(result.excerpt)
    if getattr(result, "taxonomy_version", None):
        rec["cmdscope.taxonomy.version"] = result.taxonomy_version


def infer_phase(run: Run) -> None:
    if run.record.get("cmdscope.phase"):
        return
    spec = run.spec
    key = spec.command if spec.shell else tuple(spec.command)  # type: ignore[arg-type]
    phase = _phases.get(key, _UNKNOWN)
    if phase is _UNKNOWN:
        try:
            from cmdscope.failures.phase import infer_phase as infer
        except ImportError:
            return
        phase = infer(str(spec.command).split() if spec.shell else list(spec.command))  # type: ignore[arg-type]
        if (len(key) if spec.shell else sum(map(len, key))) <= _MEMO_MAX_TEXT:
            remember(_phases, key, phase, 1024)
    if phase:
        run.record["cmdscope.phase"] = phase


_phases: dict[Any, Any] = {}  # argv -> inferred phase: pure string work, the same every time
_UNKNOWN = object()
_MEMO_MAX_TEXT = 4096


def count_retries(run: Run) -> None:
    rec = run.record
    if rec.get("kind") != "command":
        return
    session, packet = rec.get("session.id"), rec.get("cmdscope.packet")
    failed = rec.get("cmdscope.outcome") != "success"
    if not (session or packet) or (not failed and run.may_retry is False):
        count, retry_of = 0, None  # no scope to count in, or a success that ends no streak
    else:
        tracker = _retry_tracker()
        if tracker is None:
            return
        count, retry_of = tracker.observe(
            rec["cmdscope.command.hash"], session, packet, failed, rec["record_id"], rec["end_ns"])
    rec["cmdscope.retry.count"] = count
    if run.spec.retry_of or retry_of:
        rec["cmdscope.retry_of"] = run.spec.retry_of or retry_of


def _plain_success(run: Run) -> bool:
    """A success that ends no failure streak and names no retried record: ``classify``,
    ``count_retries`` and ``redact_fields`` would only set its retry count to 0."""
    rec = run.record
    if rec.get("cmdscope.outcome") != "success" or run.spec.retry_of or rec.get("kind") != "command":
        return False
    return run.may_retry is False or not (rec.get("session.id") or rec.get("cmdscope.packet"))


def check_retry_state(run: Run) -> None:
    """While the child runs: has this command a failure streak a success would end? Most
    commands never failed, and then ``count_retries`` has nothing to read after the exit."""
    rec = run.record
    session, packet = rec.get("session.id"), rec.get("cmdscope.packet")
    if not (session or packet) or rec.get("kind") != "command":
        return  # no scope a streak could live in
    tracker = _retry_tracker()
    if tracker is not None:
        run.may_retry = tracker.may_have_failed(rec["cmdscope.command.hash"], session, packet)


_trackers: dict[str, Any] = {}


def _retry_tracker() -> Any:
    try:
        from cmdscope.failures.retry import RetryTracker  # not the package: it imports the classifier
        from cmdscope.paths import state_dir_str
    except ImportError:
        return None
    where = os.path.join(state_dir_str(), "retries")
    tracker = _trackers.get(where)
    if tracker is None:
        tracker = _trackers[where] = RetryTracker(where)
    return tracker


# Keys whose values are ids, numbers or enums we produce ourselves; everything else is redacted.
_NOT_SECRET = frozenset(
    {
        "cmdscope.command.hash", "cmdscope.outcome", "error.type", "cmdscope.error.pattern",
        "cmdscope.policy.action", "cmdscope.policy.mode", "cmdscope.danger.severity",
        "cmdscope.registry.version", "cmdscope.taxonomy.version", "vcs.ref.head.revision",
        "process.command_line",  # built from redacted parts
        "session.id", "gen_ai.tool.call.id",  # agents' ids: redacting them breaks coverage matching
    }
)


def redact_fields(run: Run) -> None:
    """Every free-text attribute passes the redactor before any sink sees it."""
    redact, _ = _redactor()
    rec = run.record
    described = run.described
    if described is None:
        keys: Any = list(rec)
    else:
        # Keys added since ``describe`` are the dict's tail (insertion order; a key removed and
        # set again moves there too): walk back to the first described one.
        keys = []
        for key in reversed(rec):
            if key in described:
                break
            keys.append(key)
    for key in keys:
        value = rec[key]
        if isinstance(value, str) and "." in key and key not in _NOT_SECRET:
            rec[key] = redact(value)


BEFORE: list[Processor] = [resolve_context, guard]
_STANDARD_BEFORE = list(BEFORE)
# While the child runs (its run time is free for us: it releases the GIL): all that does not
# depend on how the command ends.
WHILE_RUNNING: list[Processor] = [describe_command, context_attributes, infer_phase, check_retry_state,
                                   redact_fields]
AFTER: list[Processor] = [classify, count_retries, redact_fields]
_STANDARD_AFTER = list(AFTER)


# --- sinks ----------------------------------------------------------------------------------

_ledgers: dict[str, LedgerWriter] = {}


def ledger_writer(path: str | None = None) -> LedgerWriter:
    key = os.fspath(path or default_ledger_path_str())
    writer = _ledgers.get(key)
    if writer is None:
        writer = _ledgers[key] = LedgerWriter(key, on_drop=lambda reason, _e: otel.count_dropped("ledger", reason))
        if len(_ledgers) == 1:
            import atexit

            atexit.register(close_ledgers)
    return writer


def close_ledgers() -> None:
    for writer in list(_ledgers.values()):
        writer.close()
    flush_notifier()


def emit(run: Run, defer: bool = True) -> None:
    """Hand the finished record to every sink; a failing sink never reaches the caller.

    The ledger line is written before this returns. With ``defer``, the metric measurements,
    and the span's end when its processors batch anyway (``SpanHandle.can_end_later``), are
    handed to the SDK after the return (``sinks/deferred.py``); the host's ``force_flush()``,
    ``shutdown()`` and ``cmdscope.flush()`` hand them over first.
    """
    rec = run.record
    writer = ledger_writer(run.spec.ledger_path)
    writer.append(rec)
    span = run.span
    m = otel.metrics()
    later_span = defer and span is not None and span.can_end_later()
    if span is not None and not later_span:
        _guarded("span", span.finish, rec)
    if later_span or (m is not None and defer):
        deferred = _deferred()
        deferred.submit(_telemetry_later, dict(rec), span if later_span else None, m if defer else None)
        deferred.relieve()
    elif m is not None:
        _guarded("metrics", m.record, rec)
        # The denominator of the telemetry-loss alert: records handled (dropped ones count too).
        m.count_event()
    notifier = _notifier()
    if notifier is not None:
        _guarded("notify", _notify, rec)
    for sink in EXTRA_SINKS:
        _guarded(getattr(sink, "__name__", "sink"), sink, rec)


def _telemetry_later(rec: dict[str, Any], span: otel.SpanHandle | None, m: otel.Metrics | None) -> None:
    """What ``emit`` deferred, in order: the span's end, then the measurements."""
    if span is not None:
        _guarded("span", span.finish, rec)
    if m is not None:
        _guarded("metrics", m.record_deferred, rec)


def _deferred() -> Any:
    from cmdscope.sinks import deferred

    if deferred._on_error is None:
        deferred.set_error_handler(_deferred_failed)
    return deferred


def _deferred_failed(name: str, exc: BaseException) -> None:
    otel.count_dropped("metrics", type(exc).__name__)
    _warn_once("metrics", f"cmdscope: metrics sink failed: {type(exc).__name__}: {exc}")


def flush(timeout: float | None = 5.0) -> bool:
    """Hand every returned command's queued telemetry to the SDK now (metric measurements, and
    span ends when the span processors batch). True when all of it was within ``timeout``."""
    if "cmdscope.sinks.deferred" not in sys.modules:
        return True
    return bool(_deferred().flush(timeout))


_NOTIFIER_UNSET = object()
_notifier_obj: Any = _NOTIFIER_UNSET


def _notifier() -> Any:
    """The immediate notifier when CMDSCOPE_NOTIFY_WEBHOOKS is set (imported only then)."""
    global _notifier_obj
    if _notifier_obj is _NOTIFIER_UNSET:
        if not getenv("CMDSCOPE_NOTIFY_WEBHOOKS"):
            return None
        from cmdscope.sinks.notify import Notifier

        _notifier_obj = Notifier.from_env()
        if _notifier_obj is not None:
            import atexit

            atexit.register(flush_notifier)
    return _notifier_obj


def _notify(rec: dict[str, Any]) -> None:
    from cmdscope.sinks.notify import is_notifiable

    if is_notifiable(rec):
        _notifier_obj.notify(rec)


def flush_notifier(timeout: float = 2.0) -> None:
    """Give queued critical notifications a moment to leave before a short-lived process exits."""
    if _notifier_obj not in (None, _NOTIFIER_UNSET):
        _notifier_obj.flush(timeout)


EXTRA_SINKS: list[Sink] = []
_sink_warned: set[str] = set()


def _guarded(name: str, fn: Callable[[dict[str, Any]], None], rec: dict[str, Any]) -> None:
    try:
        fn(rec)
    except Exception as exc:
        otel.count_dropped(name, type(exc).__name__)
        if os.environ.get("CMDSCOPE_RAISE_INTERNAL") == "1":
            raise
        _warn_once(name, f"cmdscope: {name} sink failed: {type(exc).__name__}: {exc}")


def _warn_once(key: str, message: str) -> None:
    if key not in _sink_warned:
        _sink_warned.add(key)
        try:
            sys.stderr.write(message + "\n")
        except Exception:
            pass


# --- the whole flow -------------------------------------------------------------------------


def new_record(kind: str, name: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "record_id": os.urandom(16).hex(), "kind": kind, "name": name}


def command_line(spec: CommandSpec) -> tuple[str, str]:
    """(raw, redacted) command line."""
    redact, redact_argv = _redactor()
    if spec.shell:
        raw = clean_text(str(spec.command))
        return raw, redact(raw)
    argv = [clean_text(os.fspath(a)) for a in spec.command]  # type: ignore[union-attr]
    return join(argv), join(redact_argv(argv))


def run_command(spec: CommandSpec) -> Run:
    """Observe one command end to end. Raises ``Denied`` after recording a denial.

    Before the child starts: context, guard, span ids, environment (the critical path, kept
    short). While it runs: ``WHILE_RUNNING``. After it exits: ``AFTER``, then the sinks.
    """
    name = executable_name(spec)
    rec = new_record("command", clean_text(name))
    rec["process.executable.name"] = rec["name"]
    run = Run(spec, rec)
    environ = os.environ if spec.env is None else spec.env
    clock = Stopwatch()
    try:
        launch = _launch_key(run) if BEFORE == _STANDARD_BEFORE else None
        hit = _launches.get(launch) if launch is not None else None
        if hit is not None:
            run.ctx, run.decision, attributes = hit
            rec.update(attributes)
        else:
            for processor in BEFORE:
                _process(processor, run)
            if launch is not None and run.plain_allow:
                remember(_launches, launch, (run.ctx, run.decision, _decision_attributes(run)), 1024)
    except Denied as denied:
        _announce(denied.decision)
        run.span = otel.start_span(rec["name"], clock.start_ns, environ)
        _ids(rec, run.span)
        denied.record = rec  # type: ignore[attr-defined]
        _finish_denied(run, denied.decision, clock)
        raise
    _announce(run.decision)
    run.span = span = otel.reserve_span(rec["name"], clock.start_ns, environ, run.packet_state)
    _ids(rec, span)
    ctx = run.ctx or Context()
    if spec.env is None:
        env: Mapping[Any, Any] = inherited_env_for(ENVB.get(b"BAGGAGE"), ctx, span.trace_id, span.span_id, span.flags)
    else:
        env = child_env(environ, ctx, span.trace_id, span.span_id, span.flags)
    ex = runner.execute(
        spec.argv(),
        cwd=spec.cwd,
        env=env,
        timeout=spec.timeout,
        capture_output=spec.capture_output,
        stdin=spec.stdin,
        stdout=spec.stdout,
        stderr=spec.stderr,
        forward_signals=spec.forward_signals,
        on_start=lambda pid: _while_running(run, pid),
    )
    run.execution = ex
    clock.stamp(rec)
    if run.described is None:  # the child never started (127/126)
        _while_running(run)
    rec["process.exit.code"] = ex.returncode
    if ex.signal:
        rec["cmdscope.signal"] = ex.signal
    if ex.stderr_truncated:
        rec["cmdscope.stderr.truncated"] = True
    rec["cmdscope.outcome"] = ex.outcome
    if ex.start_error:
        rec["error.type"] = "command_not_found" if ex.returncode == 127 else "permission_denied"
    if AFTER == _STANDARD_AFTER and _plain_success(run):
        # What the standard chain does to it, without walking it (~6 us right after the exit):
        # nothing to classify, a retry count of 0, and nothing to redact (only our own numbers
        # and enums were added since ``describe``).
        rec["cmdscope.retry.count"] = 0
    else:
        for processor in AFTER:
            _process(processor, run)
    emit(run)
    return run


def _announce(decision: Any) -> None:
    """The guard's warnings, on stderr before the child starts (docs/guardrails.md)."""
    notices = getattr(decision, "notices", None)
    for text in notices() if notices is not None else ():
        sys.stderr.write(f"cmdscope: {text}\n")
    if getattr(decision, "problems", None):
        otel.count_dropped("guard", "broken_layer")


# What BEFORE answers for the same inputs, when the guard's answer is a plain allow: the context
# and the decision, in one lookup instead of one per processor (the critical path, ~10 us).
_launches: dict[tuple[Any, ...], tuple[Any, Any, dict[str, Any]]] = {}
_LAUNCH_VARS = _CONTEXT_VARS + (b"CMDSCOPE_GUARD", b"CMDSCOPE_REGISTRY_PATH", b"CMDSCOPE_POLICY_PATH",
                                b"CMDSCOPE_GUARD_MODE")


def _launch_key(run: Run) -> tuple[Any, ...]:
    """Every input of ``resolve_context`` and ``guard``; reads the active packet (its one stat)."""
    spec = run.spec
    state = _active_packet(run)
    return (spec.command if spec.shell else tuple(spec.command), spec.shell, tuple(spec.context.items()),  # type: ignore[arg-type]
            current_scope(), tuple(map(ENVB.get, _LAUNCH_VARS)), state["packet"] if state else None, run.where)


def _decision_attributes(run: Run) -> dict[str, Any]:
    decision = run.decision
    return decision.attributes() if decision is not None else {}


def _exited(pid: int) -> bool:
    """Has the child exited? (Not reaped: the runner still collects its status.)"""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except OSError:
        return True


def _while_running(run: Run, pid: int | None = None) -> None:
    """``WHILE_RUNNING`` and the span's attributes so far; never raises (the child is running)."""
    try:
        if pid is not None:
            run.record["process.pid"] = pid
        for processor in WHILE_RUNNING:
            _process(processor, run)
        run.described = frozenset(run.record)
        if run.span is not None:
            _guarded("span", run.span.describe, run.record)
        deferred = sys.modules.get("cmdscope.sinks.deferred")
        if deferred is not None and pid is not None:  # earlier commands' metrics, while this child runs
            deferred.run_pending(stop=lambda: _exited(pid))
    except Exception as exc:  # CMDSCOPE_RAISE_INTERNAL=1 re-raises in _process; not here
        run.described = frozenset()
        _warn_once("while-running", f"cmdscope: recording failed ({type(exc).__name__}: {exc})")


def _process(processor: Processor, run: Run) -> None:
    """Run one processor; its failure must not break the command being observed.

    A broken guard fails open with a warning (or closed, with ``CMDSCOPE_GUARD_FAIL=closed``);
    a broken redactor blanks every free-text field rather than let a secret through.
    """
    try:
        processor(run)
    except Denied:
        raise
    except Exception as exc:
        name = getattr(processor, "__name__", "processor")
        otel.count_dropped(name, type(exc).__name__)
        if os.environ.get("CMDSCOPE_RAISE_INTERNAL") == "1":
            raise
        _warn_once(name, f"cmdscope: {name} failed ({type(exc).__name__}: {exc})")
        if processor is redact_fields:
            for key, value in run.record.items():
                if isinstance(value, str) and "." in key and key not in _NOT_SECRET:
                    run.record[key] = "[REDACTION FAILED]"
            run.record["process.command_line"] = "[REDACTION FAILED]"
        elif processor is classify:
            run.record["error.type"] = "unknown"
        elif processor is guard and (os.environ.get("CMDSCOPE_GUARD_FAIL") == "closed"
                                     or type(exc).__name__ == "GuardModeError"):  # a typo never disarms it
            raise Denied(_GuardFailure(str(exc))) from None


class _GuardFailure:
    """The decision used when the guard itself is broken and the policy is to fail closed."""

    action = "deny"
    mode = "enforce"
    denied = True
    rule_id = "cmdscope.guard-error"
    policy_source = "CMDSCOPE_GUARD_FAIL=closed"
    playbook = "docs/guardrails.md#fail-closed"
    severity = None
    matches: list[Any] = []

    def __init__(self, message: str) -> None:
        self.message = f"the guard could not decide ({message})"

    def attributes(self) -> dict[str, Any]:
        return {
            "cmdscope.policy.rule": self.rule_id,
            "cmdscope.policy.source": self.policy_source,
            "cmdscope.policy.action": "deny",
            "cmdscope.policy.mode": "enforce",
        }


def _ids(rec: dict[str, Any], span: otel.SpanHandle) -> None:
    rec["trace_id"] = span.trace_id
    rec["span_id"] = span.span_id
    rec["parent_span_id"] = span.parent_span_id


def _finish_denied(run: Run, decision: Any, clock: Stopwatch) -> None:
    rec = run.record
    for processor in (describe_command, context_attributes):  # nothing ran: no WHILE_RUNNING
        _process(processor, run)
    for key, value in decision.attributes().items():
        rec.setdefault(key, value)
    rec["kind"] = "denial"
    clock.stamp(rec)
    rec["process.exit.code"] = 126
    rec["cmdscope.outcome"] = "denied"
    rec["error.type"] = "policy_denied"  # the taxonomy id (registry/failure-taxonomy.yaml)
    if not rec.get("cmdscope.policy.rule"):  # no denial without a rule id, ever
        raise RuntimeError("guard denied a command without a policy rule id")
    redact_fields(run)
    emit(run, defer=False)  # a denial's span and counter exist before the caller hears of it
