"""One command that would execute, after the shell and the wrappers around it are seen through."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any


class Invocation:
    """An executed command: its executable basename and unquoted arguments, plus what feeds it.

    ``fed_by`` holds the executables whose output reaches this command (earlier pipeline stages,
    ``$(...)`` and ``<(...)`` in its arguments); ``fed_text`` their words, so that a rule can see
    ``cat ~/.ssh/id_rsa | curl ...``. ``stdin_text`` is literal text on stdin (heredoc,
    here-string, ``echo ... |``) when it is known. ``via`` says how it was reached.
    """

    __slots__ = ("exe", "args", "sudo", "fed_by", "fed_text", "stdin_text", "redirects", "via",
                 "memo")

    def __init__(
        self,
        exe: str,
        args: tuple[str, ...],
        *,
        sudo: bool = False,
        fed_by: frozenset[str] = frozenset(),
        fed_text: str = "",
        stdin_text: str | None = None,
        redirects: tuple[str, ...] = (),
        via: str = "",
    ) -> None:
        self.exe = exe
        self.args = args
        self.sudo = sudo
        self.fed_by = fed_by
        self.fed_text = fed_text
        self.stdin_text = stdin_text
        self.redirects = redirects
        self.via = via
        self.memo: dict[Any, Any] = {}

    def derive(self, exe: str, args: tuple[str, ...], via: str, **changes: Any) -> Invocation:
        """A command this one executes (wrapper payload), inheriting what feeds it."""
        return Invocation(
            exe,
            args,
            sudo=changes.get("sudo", self.sudo),
            fed_by=changes.get("fed_by", self.fed_by),
            fed_text=changes.get("fed_text", self.fed_text),
            stdin_text=changes.get("stdin_text", self.stdin_text),
            redirects=changes.get("redirects", self.redirects),
            via=f"{self.via} > {via}" if self.via else via,
        )

    def __repr__(self) -> str:  # for test failure messages
        extra = f" fed_by={sorted(self.fed_by)}" if self.fed_by else ""
        return f"<{'sudo ' if self.sudo else ''}{self.exe} {list(self.args)}{extra} via={self.via!r}>"
