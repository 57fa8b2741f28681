"""The CLI's shared argument conventions, so every command rejects bad input the same way:
one line naming the argument, exit 2 (argparse's own error path), never a traceback.

- ``count``, ``name``, ``output_file``, ``work_dir``, ``since``: argparse ``type=`` converters.
- :func:`add_since`: ``--since`` through :func:`since`, its default shown in the help.
- :func:`add_format`: ``--format table|json[|md]`` with ``--json`` kept as an alias; both set
  ``args.format`` and ``args.json``.
"""

from __future__ import annotations

import argparse
import os
import time

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any, NoReturn, Sequence

class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error convention: one line naming the argument, exit 2 (argparse
    prints its usage block first; ``--help`` still shows it)."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


SINCE_HELP = "window start: 30m, 12h, 1d, 2w, today, yesterday or an ISO date/time (UTC)"


def count(text: str) -> int:
    """A whole number >= 0 (``-n``, ``--limit``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def name(text: str) -> str:
    """A name that goes into records (gate, heartbeat): not empty, one printable line."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError(f"must be one printable line, got {text!r}")
    return text


def _writable_dir(text: str, folder: str, missing: str) -> None:
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text}: {missing}")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: cannot write in {folder}")


def output_file(text: str) -> str:
    """A file to write: its folder must exist and be writable (checked before any work)."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: is a directory")
    folder = os.path.dirname(os.path.abspath(text))
    _writable_dir(text, folder, f"no such directory {folder}")
    return text


def work_dir(text: str) -> str:
    """A directory to create or fill: it, or its parent, must be a writable directory."""
    path = os.path.abspath(text)
    exists = os.path.exists(path)
    _writable_dir(text, path if exists else os.path.dirname(path),
                  "not a directory" if exists else "no such parent directory")
    return text


def since(text: str, option: str = "--since") -> str:
    """Validated by the one time parser every command uses; returned as given."""
    from cmdscope._reports.common import ReportError, parse_time

    try:
        parse_time(text, now_ns=time.time_ns(), option=option)
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def until(text: str) -> str:
    """``--until``: the same forms as ``--since``."""
    return since(text, "--until")


def add_since(parser: argparse.ArgumentParser, default: str | None = None, *, shown: str | None = None,
              what: str = "window start") -> None:
    """``--since`` for every command: the one parser (``today``, ``yesterday``, ``30m``, an ISO
    date), its default in the help (``shown`` when the default is computed later)."""
    text = shown or ("everything" if default is None else default)
    parser.add_argument("--since", type=since, default=default,
                        help=f"{what}: " + SINCE_HELP.split(": ", 1)[1] + f" (default: {text})")


class _Format(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        value = self.const if self.const is not None else values
        namespace.format = value
        namespace.json = value == "json"


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = ("table", "json"),
               default: str = "table") -> None:
    parser.add_argument("--format", choices=tuple(choices), default=default, action=_Format,
                        help=f"output format: {', '.join(choices)} (default: {default})")
    parser.add_argument("--json", nargs=0, const="json", default=default == "json", action=_Format,
                        help="same as --format json")
