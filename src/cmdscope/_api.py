"""The in-process API: ``run``, ``command`` and ``CommandDenied``."""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
from dataclasses import dataclass
from typing import IO, Any, Callable, Mapping, Protocol, Sequence, TypeVar, Union

import orjson  # noqa: F401  (in-process ledger lines use orjson: ~1 us instead of ~10 us)

from cmdscope import _pipeline as pipeline, _runner as runner

F = TypeVar("F", bound=Callable[..., Any])
# A record as the ledger holds it: JSON values keyed by attribute name (docs/telemetry.md).
RecordValue = Union[str, int, float, bool, list[str], None]
Record = dict[str, RecordValue]
# Where a child's stdin/stdout/stderr go, as for subprocess.run.
Stream = Union[int, IO[bytes], IO[str], None]


class Decision(Protocol):
    """The guard's decision on one command, as ``CommandDenied.decision`` carries it (the
    guard's own class, a failed guard's stand-in or an agent's refusal all have this shape)."""

    @property
    def action(self) -> str: ...  # allow | warn | deny
    @property
    def mode(self) -> str: ...  # observe | warn | enforce
    @property
    def rule_id(self) -> str | None: ...  # the policy rule that decided
    @property
    def message(self) -> str: ...
    @property
    def playbook(self) -> str | None: ...
    @property
    def denied(self) -> bool: ...  # action deny in enforce mode: the command did not start

    def attributes(self) -> dict[str, Any]: ...  # its ``cmdscope.policy.*`` / ``cmdscope.danger.*`` keys


class CommandDenied(Exception):
    """The policy denied the command; it never started. ``decision`` says which rule and why."""

    decision: Decision
    record: Record

    def __init__(self, decision: Decision, record: Record) -> None:
        rule = getattr(decision, "rule_id", None)
        message = getattr(decision, "message", "") or "denied by policy"
        super().__init__(f"{rule}: {message}")
        self.decision = decision
        self.record = record


@dataclass
class Result:
    """Like ``subprocess.CompletedProcess``, plus the record that was written."""

    args: Sequence[str] | str
    returncode: int
    stdout: bytes | str | None
    stderr: bytes | str | None
    record: Record

    @property
    def outcome(self) -> str:
        return str(self.record.get("cmdscope.outcome"))

    def check_returncode(self) -> None:
        if self.returncode:
            raise subprocess.CalledProcessError(self.returncode, self.args, self.stdout, self.stderr)


def run(
    cmd: Sequence[str | os.PathLike[str]] | str,
    *,
    shell: bool = False,
    actor: str | None = None,
    session: str | None = None,
    packet: str | None = None,
    phase: str | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    capture_output: bool = False,
    text: bool = False,
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
    ledger: str | os.PathLike[str] | None = None,
    retry_of: str | None = None,
) -> Result:
    """Run a command like ``subprocess.run`` and record it (ledger, span, metrics).

    >>> import cmdscope
    >>> result = cmdscope.run(["git", "--version"], capture_output=True, text=True, phase="setup")
    >>> result.returncode, result.outcome
    (0, 'success')

    Never raises for the command's own failure (unless ``check=True``): a command that cannot
    start returns 127/126, a timeout 124. Raises ``CommandDenied`` when the policy denies it.
    """
    if shell and not isinstance(cmd, str):
        raise TypeError("cmdscope.run(shell=True) takes the command as one string")
    if not shell and isinstance(cmd, str):
        raise TypeError("cmdscope.run() takes an argument list; pass shell=True for a command string")
    spec = pipeline.CommandSpec(
        command=cmd if isinstance(cmd, str) else [os.fspath(a) for a in cmd],
        shell=shell,
        cwd=os.fspath(cwd) if cwd is not None else None,
        env=env,
        timeout=timeout,
        capture_output=capture_output,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        context={"actor": actor, "session": session, "packet": packet, "phase": phase},
        ledger_path=os.fspath(ledger) if ledger is not None else None,
        retry_of=retry_of,
    )
    try:
        done = pipeline.run_command(spec)
    except pipeline.Denied as denied:
        raise CommandDenied(denied.decision, denied.record) from None
    ex = done.execution
    assert ex is not None and ex.returncode is not None  # the runner always knows the exit code
    out: bytes | str | None = ex.stdout
    err: bytes | str | None = ex.stderr
    if text and capture_output:
        out = ex.stdout.decode(errors="replace") if ex.stdout is not None else None
        err = ex.stderr.decode(errors="replace") if ex.stderr is not None else None
    result = Result(spec.command, ex.returncode, out, err, done.record)
    if check:
        result.check_returncode()
    return result


def command(
    name: str | None = None,
    *,
    actor: str | None = None,
    packet: str | None = None,
    phase: str | None = None,
    record_args: bool = True,
    ledger: str | os.PathLike[str] | None = None,
) -> Callable[[F], F]:
    """Record each call of a function (an agent tool, say) as a command record and span.

    >>> @cmdscope.command(phase="test")
    ... def run_tests(path: str) -> int:
    ...     return 0

    The outcome is ``success`` unless the function raises; the exception is recorded as
    ``error.type`` (its class name) and re-raised unchanged. Works on ``async def`` too.
    """

    def decorate(fn: F) -> F:
        label = name or fn.__qualname__
        ledger_path = os.fspath(ledger) if ledger is not None else None

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> pipeline.Run:
            shown = _call_text(label, args, kwargs) if record_args else f"{label}()"
            spec = pipeline.CommandSpec(command=shown, shell=True, ledger_path=ledger_path,
                                        context={"actor": actor, "packet": packet, "phase": phase})
            return _FUNCTIONS.begin(spec, kind="function", name=label)

        def finish(run: pipeline.Run, exc: BaseException | None) -> None:
            outcome = "success"
            if exc is not None:
                outcome = "interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failure"
                run.record["error.type"] = type(exc).__name__
                run.record["cmdscope.error.excerpt"] = str(exc)[:200]
            _FUNCTIONS.finish(run, runner.Execution(None, outcome, 0, 0))  # a function has no exit code

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                run = begin(args, kwargs)
                try:
                    with run.span.activate():  # type: ignore[union-attr]
                        value = await fn(*args, **kwargs)
                except BaseException as exc:
                    finish(run, exc)
                    raise
                finish(run, None)
                return value

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = begin(args, kwargs)
            try:
                with run.span.activate():  # type: ignore[union-attr]
                    value = fn(*args, **kwargs)
            except BaseException as exc:
                finish(run, exc)
                raise
            finish(run, None)
            return value

        return wrapper  # type: ignore[return-value]

    return decorate


# A decorated function: no guard (nothing is spawned) and no classifier (the exception's class
# is the error type); the call's text is described and redacted like a command line.
_FUNCTIONS = pipeline.Recorder(before=[pipeline.resolve_context],
                               describe=[pipeline.describe_command, pipeline.context_attributes],
                               after=[pipeline.redact_fields])


def _call_text(label: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [_short(repr(a)) for a in args] + [f"{k}={_short(repr(v))}" for k, v in kwargs.items()]
    return f"{label}({', '.join(parts)})"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
