"""``cmdscope run [options] -- CMD ARGS...``: run a command exactly as if bare, and record it.

The exit code, stdin, stdout and stderr are the command's own. Options are parsed by hand (no
argparse): this is the per-command hot path, and everything after the first non-option word or
``--`` belongs to the command untouched.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from collections.abc import Mapping

USAGE = """usage: cmdscope run [--actor A] [--session S] [--packet P] [--phase X] [--timeout SECONDS]
                    [--ledger PATH] [--retry-of RECORD_ID] -- CMD [ARGS...]
       cmdscope run [options] --shell 'pipeline | string'

Runs CMD with stdin/stdout/stderr passed through and exits with its exit code (124 on
timeout, 126 when denied or not executable, 127 when not found, 128+N when killed by signal N).
"""

_VALUED = {"--actor", "--session", "--packet", "--phase", "--timeout", "--ledger", "--retry-of"}


class UsageError(Exception):
    pass


def parse(argv: list[str]) -> tuple[dict[str, str], list[str], bool]:
    opts: dict[str, str] = {}
    shell = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return opts, argv[i + 1:], shell
        if arg == "--shell":
            shell = True
            i += 1
            continue
        if arg in ("-h", "--help"):
            raise SystemExit(sys.stdout.write(USAGE) and 0)
        name, eq, value = arg.partition("=")
        if name in _VALUED:
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"{name} needs a value")
                value = argv[i + 1]
                i += 1
            opts[name[2:].replace("-", "_")] = value
            i += 1
            continue
        if arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r} (put the command after --)")
        return opts, argv[i:], shell
    return opts, [], shell


def main(argv: list[str]) -> int:
    try:
        opts, command, shell = parse(argv)
        if not command:
            raise UsageError("no command given")
        if shell and len(command) != 1:
            raise UsageError("--shell takes the command as one string argument")
        timeout = float(opts["timeout"]) if "timeout" in opts else None
        if timeout is not None and timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
    except UsageError as exc:
        sys.stderr.write(f"cmdscope run: {exc}\n{USAGE}")
        return 2
    except ValueError:
        sys.stderr.write(f"cmdscope run: --timeout {opts.get('timeout')!r} is not a number of seconds\n")
        return 2

    # Every setting is parsed now, before the command starts: a bad value is one line here and
    # its default, or (a setting that decides safety) nothing runs. Never an error afterwards.
    from cmdscope import _settings as settings

    found = settings.current()
    if found["CMDSCOPE_DISABLED"]:  # cmdscope stays out entirely: not even a line about settings
        return _bare(command, shell)
    refusal = found.refusal
    if refusal is not None:
        sys.stderr.write(f"cmdscope run: {refusal}\n")
        return 2
    settings.announce(found)

    from cmdscope import _pipeline as pipeline, _runner as runner
    from cmdscope._sinks.ledger import LedgerError

    spec = pipeline.CommandSpec(
        command=command[0] if shell else command,
        shell=shell,
        shell_path=runner.default_interactive_shell() if shell else None,
        timeout=timeout,
        forward_signals=True,
        context={k: opts.get(k) for k in ("actor", "session", "packet", "phase")},
        ledger_path=opts.get("ledger"),
        retry_of=opts.get("retry_of"),
    )
    try:
        done = pipeline.run_command(spec)
    except pipeline.Denied as denied:
        d = denied.decision
        playbook = getattr(d, "playbook", None)
        playbook = f" (playbook: {playbook})" if playbook and playbook not in (d.message or "") else ""
        sys.stderr.write(f"cmdscope: denied by {d.rule_id}: {d.message}{playbook}\n")
        pipeline.close_ledgers()
        _maybe_ship(spec.ledger_path)
        return 126
    except LedgerError as exc:
        sys.stderr.write(f"cmdscope run: {exc}\n")
        return 2
    ex = done.execution
    assert ex is not None and ex.returncode is not None  # the runner always knows the exit code
    if ex.start_error:
        sys.stderr.write(f"cmdscope: {ex.start_error}\n")
    pipeline.close_ledgers()
    _maybe_ship(spec.ledger_path)
    if ex.signal and ex.outcome != runner.TIMEOUT:
        _die_by(ex.signal)
    return ex.returncode


def _die_by(sig: int) -> None:
    """The child died by ``sig``: so do we, after recording, so that the caller (a shell loop
    stopping on Ctrl-C, a pipeline's SIGPIPE) sees exactly what it would have seen bare."""
    import signal

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the child's core dump is the child's, not ours
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    except (OSError, ValueError):
        pass  # SIGKILL/SIGSTOP have no handler to reset
    try:
        os.kill(os.getpid(), sig)
    except OSError:
        pass  # a signal we cannot take: the exit code 128+N says it


def _bare(command: list[str], shell: bool) -> int:
    """``CMDSCOPE_DISABLED=1``: become the command (exec), so nothing of cmdscope stays between
    it and its caller: same pid, signals, stdio and exit status."""
    from cmdscope import _runner as runner

    argv = runner.shell_argv(command[0], runner.default_interactive_shell()) if shell else command
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        exc.filename = exc.filename or argv[0]  # execvp searched PATH: the name, as Popen reports it
        code, message = runner._start_error(exc, argv[0])
        sys.stderr.write(f"cmdscope: {message}\n")
        return code


def _maybe_ship(ledger_path: str | None, environ: Mapping[str, str] | None = None) -> None:
    """With an OTLP endpoint configured, hand new records to a detached exporter (started
    with ``environ``, default this process's)."""
    from cmdscope import _settings as settings

    found = settings.of(environ)
    if not (found["OTEL_EXPORTER_OTLP_ENDPOINT"] or found["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]):
        return
    if found["OTEL_SDK_DISABLED"] == "true" or found["OTEL_TRACES_EXPORTER"] == "none":
        return
    try:
        from cmdscope._shipping import spawn_detached_shipper

        spawn_detached_shipper(ledger_path, environ)
    except Exception as exc:  # export is best effort; the record is safe in the ledger
        sys.stderr.write(f"cmdscope: could not start the exporter ({exc}); run 'cmdscope ship' later\n")
