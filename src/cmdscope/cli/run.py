"""``cmdscope run [options] -- CMD ARGS...``: run a command exactly as if bare, and record it.

The exit code, stdin, stdout and stderr are the command's own. Options are parsed by hand (no
argparse): this is the per-command hot path, and everything after the first non-option word or
``--`` belongs to the command untouched.
"""

from __future__ import annotations

import os
import sys

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

    if os.environ.get("CMDSCOPE_DISABLED") == "1":
        return _bare(command, shell)
    mode = os.environ.get("CMDSCOPE_GUARD_MODE")
    if mode and os.environ.get("CMDSCOPE_GUARD") != "off":
        from cmdscope.guard.sources import MODES

        if mode not in MODES:  # a typo must not turn the guard off: nothing runs
            sys.stderr.write(f"cmdscope run: CMDSCOPE_GUARD_MODE={mode!r}: must be one of {', '.join(MODES)}\n")
            return 2

    from cmdscope import pipeline, runner
    from cmdscope.sinks.ledger import LedgerError

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
    assert ex is not None
    if ex.start_error:
        sys.stderr.write(f"cmdscope: {ex.start_error}\n")
    pipeline.close_ledgers()
    _maybe_ship(spec.ledger_path)
    return ex.returncode


def _bare(command: list[str], shell: bool) -> int:
    from cmdscope import runner

    argv = runner.shell_argv(command[0], runner.default_interactive_shell()) if shell else command
    ex = runner.execute(argv, forward_signals=True, stderr=2)
    if ex.start_error:
        sys.stderr.write(f"cmdscope: {ex.start_error}\n")
    return ex.returncode


def _maybe_ship(ledger_path: str | None) -> None:
    """With an OTLP endpoint configured, hand new records to a detached exporter."""
    env = os.environ
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none":
        return
    try:
        from cmdscope.shipping import spawn_detached_shipper

        spawn_detached_shipper(ledger_path)
    except Exception as exc:  # export is best effort; the record is safe in the ledger
        sys.stderr.write(f"cmdscope: could not start the exporter ({exc}); run 'cmdscope ship' later\n")
