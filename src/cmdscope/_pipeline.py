"""The recorder: one record's whole life, for every driver.

    begin:  BEFORE (context, guard) -> span started -> DESCRIBE (command line, git, phase)
    [the driver runs the child: ``run_command`` here, the host's own Popen for the
     auto-instrumentation, the agent for its hooks]
    finish: AFTER (classify, retries, redact) -> sinks (ledger, span end, metrics, notify)
    deny:   the denial record (the child never starts), through the same redaction and sinks

A processor is a plain callable over the ``Run`` (the record dict plus what produced it); the
chains are the module-level lists below and are exactly what runs. Each processor declares
what its failure means (``on_error``): fail open (the default: warn once and go on), fail closed
(the guard, with ``CMDSCOPE_GUARD_FAIL=closed``), or blank what it could not vouch for (the
redactor). A denial is the exception ``Denied``, raised by the guard and caught in one place.

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

from cmdscope import _runner as runner, _settings as settings
from cmdscope._digest import sha256_hex
from cmdscope._context import Context, active_packet, git_facts, resolve, with_git
from cmdscope._paths import default_ledger_path_str
from cmdscope._propagation import baggage_entries
from cmdscope._schema import NOT_SECRET
from cmdscope._sinks import exported, otel
from cmdscope._sinks.ledger import LedgerWriter

SCHEMA = 1
HOST = os.uname().nodename


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
        origin_env: Mapping[str, str] | None = None,
        once: bool = False,
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
        # The environment the command was asked for in, when not this process's (the hook
        # daemon answers for many clients): context, guard settings and policy files come from
        # it; None: os.environ. ``env`` is only the child's.
        self.origin_env = origin_env
        # The record may be emitted again by a retry (an agent hook answered twice): its id is
        # derived from the event, and a record already in the ledger is not emitted again.
        self.once = once

    def environ(self) -> Mapping[str, str]:
        """The environment this command's settings come from (see ``origin_env``)."""
        return os.environ if self.origin_env is None else self.origin_env

    def settings(self) -> settings.Settings:
        """This command's parsed ``CMDSCOPE_*``/``OTEL_*`` settings."""
        return settings.of(self.origin_env)

    def argv(self) -> list[str]:
        if self.shell:
            return runner.shell_argv(str(self.command), self.shell_path)
        return [os.fspath(a) for a in self.command]  # type: ignore[union-attr]


class Run:
    """One record in flight (the recorder's *pending* record)."""

    __slots__ = ("spec", "record", "ctx", "decision", "execution", "span", "where", "packet_state", "clock",
                 "may_retry")

    def __init__(self, spec: CommandSpec, record: dict[str, Any]) -> None:
        self.spec = spec
        self.record = record
        self.ctx: Context | None = None
        self.decision: Any = None
        self.execution: runner.Execution | None = None
        self.span: otel.SpanHandle | None = None
        self.where = spec.cwd or _getcwd()  # the directory it runs in
        self.packet_state: Any = None  # the worktree's active packet (``context.active_packet``)
        self.clock: Stopwatch | None = Stopwatch()
        self.may_retry: bool | None = None  # could a success end a failure streak? (None: ask)


def _getcwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed under us: the child still runs there, as bare,
        pwd = os.environ.get("PWD")  # and is recorded with the directory the shell had
        return pwd if pwd and os.path.isabs(pwd) else "/"


class Denied(Exception):
    """Raised by the guard processor: the command must not start. ``record``: the denial record."""

    def __init__(self, decision: Any) -> None:
        super().__init__(getattr(decision, "message", "denied"))
        self.decision = decision
        self.record: dict[str, Any] = {}


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


def iso_time(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{rest // 1000:06d}Z"


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
    return sha256_hex(redacted_command_line.encode("utf-8"))[:16]


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


def command_line(spec: CommandSpec) -> tuple[str, str]:
    """(raw, redacted) command line."""
    from cmdscope.redact import redact, redact_argv

    if spec.shell:
        raw = clean_text(str(spec.command))
        return raw, redact(raw)
    argv = [clean_text(os.fspath(a)) for a in spec.command]  # type: ignore[union-attr]
    return join(argv), join(redact_argv(argv))


def new_record(kind: str, name: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "record_id": os.urandom(16).hex(), "kind": kind, "name": name}


# --- what a processor's failure means ---------------------------------------------------------


def on_error(handler: Callable[[Run, Exception], None]) -> Callable[[Processor], Processor]:
    """Declare what ``handler`` does when the processor it decorates raises (default: nothing
    more than the warning; the record goes on without that processor's fields)."""

    def mark(fn: Processor) -> Processor:
        fn.on_error = handler  # type: ignore[attr-defined]
        return fn

    return mark


def fail_closed_if_asked(run: Run, exc: Exception) -> None:
    """A broken guard allows (with a warning) unless ``CMDSCOPE_GUARD_FAIL=closed``; an unknown
    guard mode never allows: a typo must not disarm the guard."""
    if run.spec.settings()["CMDSCOPE_GUARD_FAIL"] == "closed" or type(exc).__name__ == "GuardModeError":
        raise Denied(_GuardFailure(str(exc))) from None


def blank_free_text(run: Run, exc: Exception | None) -> None:
    """A broken redactor blanks every free-text field rather than let a secret through."""
    rec = run.record
    for key, value in rec.items():
        if isinstance(value, (str, list)) and "." in key and key not in NOT_SECRET:
            rec[key] = "[REDACTION FAILED]"
    rec["process.command_line"] = "[REDACTION FAILED]"


def unknown_error_type(run: Run, exc: Exception) -> None:
    run.record["error.type"] = "unknown"


# --- processors -----------------------------------------------------------------------------


def resolve_context(run: Run) -> None:
    """Who and which packet, before the child starts (its environment carries them). The git
    facts wait for ``context_attributes``; the guard reads them itself if a rule needs them."""
    if run.spec.origin_env is None:  # the hook daemon says a caller's bad settings in its answer
        settings.announce()  # bad settings, once per process (the CLI said so already)
    run.packet_state = active_packet(run.where)
    run.ctx = resolve(run.spec.cwd, run.spec.origin_env, git=False, active=run.packet_state, **run.spec.context)  # type: ignore[arg-type]


@on_error(fail_closed_if_asked)
def guard(run: Run) -> None:
    """Ask the policy engine; a deny in enforce mode stops the command before it starts."""
    found = run.spec.settings()
    refusal = found.refusal
    if refusal is not None:  # a setting that decides safety did not parse: never guess
        raise Denied(_GuardFailure(str(refusal), "cmdscope._settings-error", refusal.name))
    if not found["CMDSCOPE_GUARD"]:
        return
    try:
        from cmdscope._guard import Guard
    except ImportError:  # guard not installed in this build
        return
    ctx = run.ctx or Context()
    spec = run.spec
    where = run.where
    decision = Guard.load(cwd=where, environ=spec.origin_env).decide(
        clean_text(str(spec.command)) if spec.shell else list(spec.command),
        shell=spec.shell,
        actor=ctx.actor,
        phase=ctx.phase,
        branch=ctx.branch,
        worktree=ctx.worktree,
        git=lambda: git_facts(where),
        environ=spec.environ(),
    )
    if decision.problems and found["CMDSCOPE_GUARD_FAIL"] == "closed":
        raise Denied(_GuardFailure(decision.problems[0]))  # a layer is missing: do not guess
    run.decision = decision
    run.record.update(decision.attributes())
    if decision.denied:
        raise Denied(decision)


@on_error(blank_free_text)
def describe_command(run: Run) -> None:
    """The command as recorded: redacted command line, its hash, the host."""
    rec = run.record
    _, redacted = command_line(run.spec)
    rec["process.command_line"] = cap_command_line(redacted)
    rec["cmdscope.command.hash"] = command_hash(redacted)
    rec["host.name"] = HOST


def context_attributes(run: Run) -> None:
    run.ctx = ctx = with_git(run.ctx or Context(), run.where)
    run.record.update(ctx.attributes())
    run.record["process.working_directory"] = clean_text(os.path.abspath(run.where))


def infer_phase(run: Run) -> None:
    if run.record.get("cmdscope.phase"):
        return
    try:
        from cmdscope._failures.phase import infer_phase as infer
    except ImportError:
        return
    spec = run.spec
    phase = infer(str(spec.command).split() if spec.shell else list(spec.command))  # type: ignore[arg-type]
    if phase:
        run.record["cmdscope.phase"] = phase


def check_retry_state(run: Run) -> None:
    """While the child runs: has this command a failure streak a success would end? Most
    commands never failed, and then ``count_retries`` has nothing to read after the exit."""
    rec = run.record
    session, packet = rec.get("session.id"), rec.get("cmdscope.packet")
    if not (session or packet) or rec.get("kind") != "command":
        return  # no scope a streak could live in
    tracker = _retry_tracker(run.spec)
    if tracker is not None:
        run.may_retry = tracker.may_have_failed(rec["cmdscope.command.hash"], session, packet, _ledger_key(run))


@on_error(unknown_error_type)
def classify(run: Run) -> None:
    rec = run.record
    ex = run.execution
    if rec.get("cmdscope.outcome") == "success" or ex is None:
        return
    try:
        from cmdscope._failures import default_classifier
    except ImportError:
        rec["error.type"] = rec["cmdscope.outcome"]
        return
    # The classifier object, not the package's ``classify`` name: importing the submodule
    # ``cmdscope._failures.classify`` anywhere in the process rebinds that name to the module.
    result = default_classifier().classify(
        exit_code=ex.returncode,
        signal=ex.signal,
        executable=rec.get("process.executable.name", ""),
        argv=run.spec.argv(),
        phase=rec.get("cmdscope.phase"),
        outcome=rec["cmdscope.outcome"],
        stderr_tail=ex.stderr_tail,
        stdout_tail=ex.stdout_tail,
    )
    rec["error.type"] = result.error_type
    if result.pattern_id:
        rec["cmdscope.error.pattern"] = result.pattern_id
    if result.excerpt:
        rec["cmdscope.error.excerpt"] = clean_text(result.excerpt)
    if getattr(result, "taxonomy_version", None):
        rec["cmdscope.taxonomy.version"] = result.taxonomy_version


def count_retries(run: Run) -> None:
    rec = run.record
    if rec.get("kind") != "command":
        return
    session, packet = rec.get("session.id"), rec.get("cmdscope.packet")
    failed = rec.get("cmdscope.outcome") != "success"
    if not (session or packet) or (not failed and run.may_retry is False):
        count, retry_of = 0, None  # no scope to count in, or a success that ends no streak
    else:
        tracker = _retry_tracker(run.spec)
        if tracker is None:
            return
        count, retry_of = tracker.observe(
            rec["cmdscope.command.hash"], session, packet, failed, rec["record_id"], rec["end_ns"], _ledger_key(run))
    rec["cmdscope.retry.count"] = count
    if run.spec.retry_of or retry_of:
        rec["cmdscope.retry_of"] = run.spec.retry_of or retry_of


def _ledger_key(run: Run) -> str:
    """Retry streaks are kept per ledger: retry_of names a record of the ledger being written."""
    return os.path.abspath(run.spec.ledger_path or default_ledger_path_str())


_trackers: dict[str, Any] = {}


def _retry_tracker(spec: CommandSpec) -> Any:
    try:
        from cmdscope._failures.retry import RetryTracker  # not the package: it imports the classifier
        from cmdscope._paths import state_dir_in, state_dir_str
    except ImportError:
        return None
    state = state_dir_str() if spec.origin_env is None else state_dir_in(spec.origin_env)
    where = os.path.join(state, "retries")
    tracker = _trackers.get(where)
    if tracker is None:
        tracker = _trackers[where] = RetryTracker(where)
    return tracker


@on_error(blank_free_text)
def redact_fields(run: Run) -> None:
    if run.spec.settings().problem("CMDSCOPE_REDACT_PATTERNS") is not None:
        blank_free_text(run, None)  # a pattern file the user named is missing: hide, never guess
        return
    redact_record(run.record)


def redact_record(rec: dict[str, Any]) -> None:
    """Every free-text attribute (and every string of a list attribute) passes the redactor
    before any sink sees it; only the keys of ``schema.NOT_SECRET`` (ids, enums, numbers we
    produce ourselves) are left alone."""
    from cmdscope.redact import redact

    for key, value in rec.items():
        if "." not in key or key in NOT_SECRET:
            continue
        if isinstance(value, str):
            rec[key] = redact(clean_text(value))
        elif isinstance(value, list):
            rec[key] = [redact(clean_text(v)) if isinstance(v, str) else v for v in value]


# The chains, in order. BEFORE runs before the span and the child (a denial stops there);
# DESCRIBE once the span exists (the auto-instrumentation's host spawns the child right after);
# AFTER once the outcome is known.
BEFORE: list[Processor] = [resolve_context, guard]
DESCRIBE: list[Processor] = [describe_command, context_attributes, infer_phase, check_retry_state]
AFTER: list[Processor] = [classify, count_retries, redact_fields]


def _process(processor: Processor, run: Run) -> None:
    """Run one processor; its failure must not break the command being observed: it is
    counted, reported once, and handled as the processor declared (``on_error``)."""
    try:
        processor(run)
    except Denied:
        raise
    except Exception as exc:
        name = getattr(processor, "__name__", "processor")
        otel.count_dropped(name, type(exc).__name__)
        if settings.get("CMDSCOPE_RAISE_INTERNAL"):
            raise
        _warn_once(name, f"cmdscope: {name} failed ({type(exc).__name__}: {exc})")
        handler = getattr(processor, "on_error", None)
        if handler is not None:
            handler(run, exc)


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

    def __init__(self, message: str, rule_id: str = "cmdscope.guard-error", source: str | None = None) -> None:
        self.message = f"the guard could not decide ({message})"
        self.rule_id = rule_id
        if source:
            self.policy_source = source

    def attributes(self) -> dict[str, Any]:
        return {
            "cmdscope.policy.rule": self.rule_id,
            "cmdscope.policy.source": self.policy_source,
            "cmdscope.policy.action": "deny",
            "cmdscope.policy.mode": "enforce",
        }


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


def count_command(rec: dict[str, Any], span: otel.SpanHandle | None) -> None:
    """The command metrics (exemplars point at the command's span)."""
    m = otel.metrics()
    if m is not None:
        m.record(rec, span.context if span is not None else None)
        m.count_event()  # the denominator of the telemetry-loss alert


def emit(run: Run, metrics: Callable[[dict[str, Any], otel.SpanHandle | None], None] = count_command) -> None:
    """Hand the finished record to every sink; a failing sink never reaches the caller.
    The ledger line (the record of truth) first, then the span's end, the metrics, the
    notifier and any ``EXTRA_SINKS``."""
    rec = run.record
    writer = ledger_writer(run.spec.ledger_path)
    if run.spec.once:
        if writer.append_once(rec) == "present":
            return  # a retry of what was emitted already (span and metrics too)
    else:
        writer.append(rec)
    span = run.span
    if span is not None:
        if span.span is not None:  # exported in-process: `cmdscope ship` skips it once confirmed
            _guarded("span", lambda r: exported.expect(r["span_id"], writer.path), rec)
        _guarded("span", span.finish, rec)
    _guarded("metrics", lambda r: metrics(r, span), rec)
    if _notifier() is not None:
        _guarded("notify", _notify, rec)
    for sink in EXTRA_SINKS:
        _guarded(getattr(sink, "__name__", "sink"), sink, rec)


def flush(timeout: float | None = 5.0) -> bool:
    """Nothing waits in cmdscope: every record reached the OTel API before ``run()`` returned.
    Kept so callers written for earlier versions keep working; flushes the notifier."""
    flush_notifier(2.0 if timeout is None else min(timeout, 2.0))
    return True


_NOTIFIER_UNSET = object()
_notifier_obj: Any = _NOTIFIER_UNSET


def _notifier() -> Any:
    """The immediate notifier when CMDSCOPE_NOTIFY_WEBHOOKS is set (imported only then)."""
    global _notifier_obj
    if _notifier_obj is _NOTIFIER_UNSET:
        if not settings.get("CMDSCOPE_NOTIFY_WEBHOOKS"):
            return None
        from cmdscope._sinks.notify import Notifier

        _notifier_obj = Notifier.from_env()
        if _notifier_obj is not None:
            import atexit

            atexit.register(flush_notifier)
    return _notifier_obj


def _notify(rec: dict[str, Any]) -> None:
    from cmdscope._sinks.notify import is_notifiable

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
        if settings.get("CMDSCOPE_RAISE_INTERNAL"):
            raise
        _warn_once(name, f"cmdscope: {name} sink failed: {type(exc).__name__}: {exc}")


def _warn_once(key: str, message: str) -> None:
    if key not in _sink_warned:
        _sink_warned.add(key)
        try:
            sys.stderr.write(message + "\n")
        except Exception:
            pass


# --- the recorder ---------------------------------------------------------------------------


class Recorder:
    """Owns a record's whole life; every driver calls it (``run_command`` below, the
    auto-instrumentation, ``@cmdscope.command``, the agent hooks and bridge, SDLC records).

    Its chains default to the module's ``BEFORE``/``DESCRIBE``/``AFTER`` (read at each call, so
    a host that extends them is heard); a recorder for another kind of record names its own."""

    def __init__(self, before: list[Processor] | None = None, describe: list[Processor] | None = None,
                 after: list[Processor] | None = None) -> None:
        self._chains = (before, describe, after)

    @property
    def before(self) -> list[Processor]:
        return BEFORE if self._chains[0] is None else self._chains[0]

    @property
    def describe(self) -> list[Processor]:
        return DESCRIBE if self._chains[1] is None else self._chains[1]

    @property
    def after(self) -> list[Processor]:
        return AFTER if self._chains[2] is None else self._chains[2]

    def begin(self, spec: CommandSpec, *, kind: str = "command", name: str | None = None,
              span: otel.SpanHandle | None = None, tracer: Any = None,
              fields: Mapping[str, Any] | None = None) -> Run:
        """Context and guard, then the span (started now: before the child), then the record's
        description. Raises ``Denied`` after recording the denial. ``span``: ids the driver
        already fixed (an agent session's trace); ``tracer``: from ``instrument(tracer_provider=)``;
        ``fields``: attributes the driver knows up front (an agent's tool-call id)."""
        rec = new_record(kind, clean_text(executable_name(spec) if name is None else name))
        rec["process.executable.name"] = rec["name"]
        if fields:
            rec.update(fields)
        run = Run(spec, rec)
        try:
            for processor in self.before:
                _process(processor, run)
        except Denied as denied:
            denied.record = self.deny(run, denied.decision, span=span)
            raise
        self._start_span(run, span, tracer)
        for processor in self.describe:
            _process(processor, run)
        return run

    def child_env(self, run: Run) -> dict[str, str]:
        """What the child's environment gains: ``TRACEPARENT``/``TRACESTATE``/``BAGGAGE`` for the
        command's span (with the cmdscope context in the baggage) and ``CMDSCOPE_*``."""
        ctx = run.ctx or Context()
        environ = os.environ if run.spec.env is None else run.spec.env
        span = run.span
        assert span is not None
        out = span.child_vars(baggage_entries(ctx), environ.get("BAGGAGE"))
        out.update(ctx.env())
        return out

    def finish(self, run: Run, ex: runner.Execution) -> dict[str, Any]:
        """Close the record with how the command ended, run AFTER, emit. ``ex.returncode`` None:
        the exit code is not known (an agent that did not report it)."""
        rec = run.record
        run.execution = ex
        if run.clock is not None:
            run.clock.stamp(rec)
        else:  # times the driver measured (an agent hook's own timing)
            end = max(ex.end_ns, ex.start_ns)
            rec.update(start_ns=ex.start_ns, end_ns=end, duration_s=(end - ex.start_ns) / 1e9, time=iso_time(end))
        if ex.returncode is not None:
            rec["process.exit.code"] = ex.returncode
        else:
            rec.pop("process.exit.code", None)
        if ex.pid is not None:
            rec["process.pid"] = ex.pid
        if ex.signal:
            rec["cmdscope.signal"] = ex.signal
        if ex.stderr_truncated:
            rec["cmdscope.stderr.truncated"] = True
        rec["cmdscope.outcome"] = ex.outcome
        if ex.outcome == "success":
            rec.pop("error.type", None)
        elif ex.start_error:
            rec["error.type"] = "command_not_found" if ex.returncode == 127 else "permission_denied"
        for processor in self.after:
            _process(processor, run)
        emit(run)
        return rec

    def deny(self, run: Run, decision: Any, *, span: otel.SpanHandle | None = None) -> dict[str, Any]:
        """The denial record: the child never started; exit 126, outcome ``denied``, the rule."""
        rec = run.record
        if run.span is None:
            self._start_span(run, span, None)
        for processor in (describe_command, context_attributes):
            _process(processor, run)
        for key, value in decision.attributes().items():
            rec.setdefault(key, value)
        if not rec.get("cmdscope.policy.rule"):  # no denial without a rule id, ever
            raise RuntimeError("guard denied a command without a policy rule id")
        rec["kind"] = "denial"
        if run.clock is not None:
            run.clock.stamp(rec)
        rec["process.exit.code"] = 126
        rec["cmdscope.outcome"] = "denied"
        rec["error.type"] = "policy_denied"  # the taxonomy id (registry/failure-taxonomy.yaml)
        _process(redact_fields, run)
        emit(run)
        return rec

    def resume(self, spec: CommandSpec, record: dict[str, Any]) -> Run:
        """A pending record kept outside this process (an agent hook's *before*, on disk)."""
        run = Run(spec, record)
        run.clock = None
        run.span = otel.SpanHandle(record["trace_id"], record["span_id"], record.get("parent_span_id"), "01")
        return run

    def write(self, rec: dict[str, Any], span: otel.SpanHandle | None, ledger: str | None,
              metrics: Callable[[dict[str, Any], otel.SpanHandle | None], None]) -> dict[str, Any]:
        """A record built by its driver (SDLC: packets, gates, commits, pipelines): redact, emit."""
        run = Run(CommandSpec(command="", ledger_path=ledger), rec)
        run.span = span
        _process(redact_fields, run)
        emit(run, metrics)
        return rec

    def _start_span(self, run: Run, span: otel.SpanHandle | None, tracer: Any) -> None:
        rec = run.record
        if span is None:
            environ = os.environ if run.spec.env is None else run.spec.env
            span = otel.start_span(rec["name"], run.clock.start_ns if run.clock else time.time_ns(), environ,
                                   run.packet_state if run.ctx is not None else active_packet(run.where),
                                   tracer=tracer)
        run.span = span
        rec["trace_id"] = span.trace_id
        rec["span_id"] = span.span_id
        rec["parent_span_id"] = span.parent_span_id


RECORDER = Recorder()


def _announce(decision: Any) -> None:
    """The guard's warnings, on stderr before the child starts (docs/guardrails.md)."""
    notices = getattr(decision, "notices", None)
    for text in notices() if notices is not None else ():
        sys.stderr.write(f"cmdscope: {text}\n")
    if getattr(decision, "problems", None):
        otel.count_dropped("guard", "broken_layer")


def run_command(spec: CommandSpec) -> Run:
    """Observe one command end to end. Raises ``Denied`` after recording a denial. The guard's
    warnings go to stderr before the child starts."""
    try:
        run = RECORDER.begin(spec)
    except Denied as denied:
        _announce(denied.decision)
        raise
    _announce(run.decision)
    env: dict[Any, Any]
    if spec.env is None:  # the bytes form: Popen need not encode every variable again
        env = dict(os.environb)
        env.update((os.fsencode(k), os.fsencode(v)) for k, v in RECORDER.child_env(run).items())
    else:
        env = dict(spec.env)
        env.update(RECORDER.child_env(run))
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
    )
    RECORDER.finish(run, ex)
    return run
