"""The ``cmdscope`` command.

Each subcommand lives in its own module with a ``main(argv) -> int``; this table maps the
subcommand name to that module so that ``cmdscope run`` imports only what running a command
needs (no OTel SDK, no pydantic), keeping the per-command cost close to a bare ``python3``.
"""

from __future__ import annotations

import sys
from importlib import import_module

# name -> (module, one-line help). Modules are imported only when their subcommand runs.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("cmdscope._cli.run", "run a command and record it"),
    "ledger": ("cmdscope._cli.ledger", "read, query and verify the local ledger"),
    "redact": ("cmdscope._cli.redact", "redact secrets from stdin to stdout"),
    "classify": ("cmdscope._cli.classify", "classify a saved failure (a CI log): class, pattern, evidence"),
    "demo": ("cmdscope._cli.demo", "run a scripted agent session against a fresh ledger"),
    "ship": ("cmdscope._cli.ship", "export ledger records over OTLP"),
    "check": ("cmdscope._cli.check", "is this command dangerous? (exit 1 when it is)"),
    "registry": ("cmdscope._cli.registry", "list, lint and explain dangerous-command rules"),
    "policy": ("cmdscope._cli.policy", "show the policy layers in effect; trust a project's policy"),
    "doctor": ("cmdscope._cli.doctor", "is the guard armed here? mode, layers, trust, broken files"),
    "report": ("cmdscope._cli.report", "rollups over the ledger"),
    "incidents": ("cmdscope._cli.incidents", "Alertmanager webhook receiver that files incident stubs"),
    "hook": ("cmdscope._cli.hook", "agent hook handlers (claude-code, codex)"),
    "integrations": ("cmdscope._cli.integrations", "install or remove agent and git integrations"),
    "packet": ("cmdscope._cli.packet", "start, end and inspect work packets"),
    "gate": ("cmdscope._cli.gate", "run a governance gate"),
    "pipeline": ("cmdscope._cli.pipeline", "run an SDLC pipeline file"),
    "heartbeat": ("cmdscope._cli.heartbeat", "record a scheduled check-in"),
    "audit": ("cmdscope._cli.audit", "repository integrity and hygiene checks"),
    "cleanup": ("cmdscope._cli.cleanup", "remove merged worktrees, shipped segments and stale state (--dry-run first)"),
    "rate": ("cmdscope._cli.rate", "overall ratings per repository, packet and actor, with trends"),
    "init": ("cmdscope._cli.init", "provision this repository: policy, pipeline, schedules, integrations"),
}

USAGE = "usage: cmdscope <command> [options]\n\ncommands:\n"


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return USAGE + "\n".join(lines) + "\n\nRun 'cmdscope <command> --help' for a command's options.\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(_usage())
        return 0
    if args[0] == "--version":
        from cmdscope._version import __version__

        print(f"cmdscope {__version__}")
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        sys.stderr.write(f"cmdscope: unknown command {args[0]!r}\n" + _usage())
        return 2
    if args[0] not in ("run", "hook", "doctor"):  # those say it themselves (in the answer, in the report)
        from cmdscope import _settings as settings

        settings.announce(prefix=f"cmdscope {args[0]}")  # a bad setting: one line, then its default
    module = import_module(entry[0])
    try:
        return int(module.main(args[1:]) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except CliError as exc:
        sys.stderr.write(f"cmdscope {args[0]}: {exc}\n")
        return exc.code


class CliError(Exception):
    """A user-facing error: printed as one line, never a traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
