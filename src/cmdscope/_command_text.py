"""A record's command as people read it, for tables (the record itself keeps the exact line).

``process.command_line`` is the command as it ran: a shell string as the agent typed it (hooks,
``--shell``), or an argv joined with ``shlex.quote``, program path included. A view shows:

- a shell string unchanged;
- an argv with the program as it would be typed (``python``, not ``/venv/bin/python``, when the
  path ends in the recorded ``process.executable.name``), each word quoted the way a person would
  (``"print('x')"`` rather than ``'print('"'"'x'"'"')'``).
"""

from __future__ import annotations

from typing import Any

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")
_DOUBLE_UNSAFE = frozenset('"$`\\!')


def quote_word(word: str) -> str:
    """The shortest usual spelling of one shell word: bare, '...', "..." or shlex's form."""
    if not word:
        return "''"
    if _SAFE.issuperset(word):
        return word
    if "'" not in word:
        return f"'{word}'"
    if not _DOUBLE_UNSAFE & set(word):
        return f'"{word}"'
    return "'" + word.replace("'", "'\"'\"'") + "'"


def join_words(argv: list[str]) -> str:
    return " ".join(quote_word(w) for w in argv)


def _split(line: str) -> list[str] | None:
    """The argv of a line that ``shlex.quote``-joining produced, else None (a shell string)."""
    import shlex

    try:
        argv = shlex.split(line)
    except ValueError:
        return None
    return argv if argv and " ".join(shlex.quote(w) for w in argv) == line else None


def as_typed(rec: dict[str, Any]) -> str:
    """The command of ``rec`` for display (see the module docstring); "" when it has none."""
    line = rec.get("process.command_line")
    if not isinstance(line, str) or not line:
        return ""
    argv = _split(line)
    if argv is None:
        return line  # a shell string: shown as typed
    program, exe = argv[0], rec.get("process.executable.name")
    if "/" in program and isinstance(exe, str) and exe and program.rsplit("/", 1)[1] == exe:
        argv[0] = exe
    return join_words(argv)
