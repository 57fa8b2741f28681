"""Every option of the real CLI has help text, every ``--since`` shows its default and takes
today/yesterday, and every command that prints a view has ``--format`` (issue 21.10).

The parsers are built by each subcommand's ``main()``; the test calls it with
``ArgumentParser.parse_args`` replaced by a function that hands the parser back, then walks
the parser tree (sub-commands included). Nothing is parsed, run or written.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest

from cmdscope._cli import SUBCOMMANDS
from cmdscope._cli import args as args_
from cmdscope._cli.report import REPORTS

# Hand-parsed on purpose (they run before every command or tool call): not argparse.
HAND_PARSED = {"run", "hook", "report"}
# Leaf commands whose stdout is not a view of records (a stream, a file, a server, an action's
# one-line note): --format does not apply.
NOT_A_VIEW = {
    "cmdscope redact",  # stdout is the redacted input
    "cmdscope demo",  # a scripted session
    "cmdscope ship",  # exports, prints a count on stderr
    "cmdscope incidents serve",  # a server
    "cmdscope hook",
    "cmdscope integrations",  # install/uninstall/status of files (status has --json via --format? see below)
    "cmdscope packet start",  # one line: the packet started
    "cmdscope packet commit-hook",  # a git hook: quiet by design
    "cmdscope pipeline validate",  # one line: ok
    "cmdscope report html",  # writes an HTML file
    "cmdscope cleanup",
    "cmdscope init",
    "cmdscope registry explain",
    "cmdscope registry lint",  # findings as file: rule: field lines, exit 1 (a linter)
    "cmdscope registry sync",
    "cmdscope policy trust",
    "cmdscope policy untrust",
    "cmdscope incidents ack",
    "cmdscope incidents resolve",
    "cmdscope classify",
}


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def _capture(module_name: str) -> argparse.ArgumentParser:
    def grab(self: argparse.ArgumentParser, *a: Any, **kw: Any) -> Any:
        raise _Captured(self)

    module = import_module(module_name)
    saved = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = grab  # type: ignore[method-assign]
    try:
        module.main([])
    except _Captured as got:
        return got.parser
    finally:
        argparse.ArgumentParser.parse_args = saved  # type: ignore[method-assign]
    raise AssertionError(f"{module_name}.main() returned without building an argparse parser")


def _parsers() -> list[argparse.ArgumentParser]:
    roots = [_capture(mod) for name, (mod, _) in SUBCOMMANDS.items() if name not in HAND_PARSED]
    roots += [_capture(mod) for mod, _ in REPORTS.values()]
    return roots


def _walk(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, bool]]:
    """(parser, is_leaf) for the parser and its sub-command parsers."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield parser, not subs
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _walk(child)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction))]


ALL = [pair for root in _parsers() for pair in _walk(root)]


@pytest.mark.parametrize("parser,leaf", ALL, ids=[p.prog for p, _ in ALL])
def test_every_option_has_help(parser: argparse.ArgumentParser, leaf: bool) -> None:
    """An option or argument without help text is a blank line in --help."""
    missing = [a.option_strings[0] if a.option_strings else a.dest for a in _options(parser)
               if not a.help or a.help == argparse.SUPPRESS or not a.help.strip()]
    assert not missing, f"{parser.prog}: no help text for {missing}"


@pytest.mark.parametrize("parser,leaf", ALL, ids=[p.prog for p, _ in ALL])
def test_since_shows_its_default_and_takes_today(parser: argparse.ArgumentParser, leaf: bool) -> None:
    """--since is parsed by the one shared converter (today, yesterday, 30m, ISO) and its help
    says what happens without it."""
    for action in _options(parser):
        if "--since" not in action.option_strings:
            continue
        assert action.type is args_.since, f"{parser.prog} --since: not cli.args.since"
        text = action.help or ""
        assert "today" in text and "yesterday" in text, f"{parser.prog} --since help: {text!r}"
        shown = "default: " if action.default is None else f"default: {action.default}"
        assert shown in text, f"{parser.prog} --since help does not show its default: {text!r}"


@pytest.mark.parametrize("parser,leaf", [(p, leaf) for p, leaf in ALL if leaf],
                         ids=[p.prog for p, leaf in ALL if leaf])
def test_every_view_has_format_with_json_alias(parser: argparse.ArgumentParser, leaf: bool) -> None:
    """One output flag: --format table|json(|md), and --json kept as the alias of --format json."""
    flags = {s: a for a in _options(parser) for s in a.option_strings}
    if parser.prog in NOT_A_VIEW or any(parser.prog.startswith(p + " ") for p in ("cmdscope hook",)):
        assert "--json" not in flags or "--format" in flags, f"{parser.prog}: --json without --format"
        return
    assert "--format" in flags, f"{parser.prog}: prints a view but has no --format"
    fmt = flags["--format"]
    assert {"table", "json"} <= set(fmt.choices or ()), f"{parser.prog} --format: {fmt.choices}"
    if "--json" in flags:
        assert type(flags["--json"]) is type(fmt) is args_._Format, f"{parser.prog}: --json is not the alias of --format"


def test_walk_sees_the_whole_cli() -> None:
    """The walk reaches sub-sub-commands (a walk that stopped at the top would pass vacuously)."""
    progs = {p.prog for p, _ in ALL}
    assert {"cmdscope ledger query", "cmdscope packet list", "cmdscope pipeline run", "cmdscope report failures",
            "cmdscope registry sync", "cmdscope gate run"} <= progs, sorted(progs)
