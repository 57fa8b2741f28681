"""Compiled dangerous-command rules: built from plain data, regexes compiled on first use."""

from __future__ import annotations

import re
TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

from cmdscope._guard.analyzers import ANALYZERS
from cmdscope._guard.decision import Match
from cmdscope._guard.invocation import Invocation
from cmdscope._guard.options import DEFAULT_SPEC, ParsedArgs, ToolSpec, parse_args
from cmdscope._guard.pathclass import classify_path


class LazyRegex:
    """A regex compiled when first used, so loading the cached registry compiles nothing."""

    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    def search(self, text: str) -> bool:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled.search(text) is not None


def _rx(value: str | None, flags: int = 0) -> LazyRegex | None:
    return LazyRegex(value, flags) if value else None


class Rule:
    """One dangerous-command rule in matching form. Every condition given must hold."""

    def __init__(self, data: dict[str, Any], tools: dict[str, ToolSpec]) -> None:
        self.data = data  # the validated rule (plain data): what the guard's cache stores
        m = data["match"]
        self.id: str = data["id"]
        self.title: str = data["title"]
        self.category: str = data["category"]
        self.severity: str = data["severity"]
        self.rationale: str = data["rationale"]
        self.playbook: str = data["playbook"]
        self.source: str = data.get("source", "")
        self.executables: frozenset[str] = frozenset(m.get("executable") or ("*",))
        self.subcommands: tuple[tuple[str, ...], ...] = tuple(
            tuple(s.split()) for s in (m.get("subcommand") or ()))
        # Each executable reads its options by its own table (``git push`` vs ``rm``): the rule's
        # flags are canonicalised per executable when a command first runs it (_tool_for), so
        # loading the registry from its cache builds no flag sets.
        self._sub0 = self.subcommands[0][0] if self.subcommands else ""
        self._raw_flags = (tuple(m.get("flags_any") or ()), tuple(m.get("flags_all") or ()),
                           tuple(m.get("flags_none") or ()))
        self.tool_by_exe: dict[str, str] = {}
        self.flags_by_exe: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {}
        self.fixed_tool: str | None = m.get("tool")
        self.args_any = frozenset(m.get("args_any") or ())
        self.args_regex = _rx(m.get("args_regex"))
        self.args_none_regex = _rx(m.get("args_none_regex"))
        self.argv_regex = _rx(m.get("argv_regex"))
        self.argv_none_regex = _rx(m.get("argv_none_regex"))
        self.path_any = frozenset(m.get("path_any") or ())
        self.path_skip: int = m.get("path_skip") or 0
        self.after_dashdash: bool | None = m.get("after_dashdash")
        self.min_positionals: int | None = m.get("min_positionals")
        self.max_positionals: int | None = m.get("max_positionals")
        self.fed_by_any = frozenset(m.get("fed_by_any") or ())
        self.fed_regex = _rx(m.get("fed_regex"))
        self.redirect_regex = _rx(m.get("redirect_regex"))
        self.payload_regex = _rx(m.get("payload_regex"), re.I | re.S)
        self.payload_none_regex = _rx(m.get("payload_none_regex"), re.I | re.S)
        self.sudo: bool | None = m.get("sudo")
        self.analyzer: str | None = m.get("analyzer")
        self.facts_all = frozenset(m.get("facts_all") or ())
        self.facts_any = frozenset(m.get("facts_any") or ())
        self.facts_none = frozenset(m.get("facts_none") or ())
        self.line_requires = tuple(m.get("line_requires") or ())
        self.needs_parse = bool(
            self.subcommands
            or self._raw_flags != ((), (), ())
            or self.args_any or self.args_regex or self.args_none_regex or self.path_any
            or self.after_dashdash is not None or self.min_positionals is not None
            or self.max_positionals is not None or self.analyzer or self.payload_regex)

    def _canonical_flags(self, spec: ToolSpec) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        def canon(flags: tuple[str, ...]) -> frozenset[str]:
            return frozenset(part for f in flags for part in spec.canonical(f).split())

        return canon(self._raw_flags[0]), canon(self._raw_flags[1]), canon(self._raw_flags[2])

    def _tool_for(self, exe: str, tools: dict[str, ToolSpec]) -> tuple[str, tuple[frozenset[str], ...]]:
        key = self.tool_by_exe.get(exe)
        if key is not None:
            return key, self.flags_by_exe[exe]
        sub = f"{exe} {self._sub0}"
        own = exe in self.executables
        key = self.fixed_tool or (sub if own and self._sub0 and sub in tools else exe)
        flags = self._canonical_flags(tools.get(key, DEFAULT_SPEC))
        if own:  # one of the rule's executables: the same answer every time
            self.flags_by_exe[exe] = flags
            self.tool_by_exe[exe] = key
        return key, flags

    def to_match(self) -> Match:
        return Match(self.id, self.category, self.severity, self.rationale, self.playbook, self.title)

    def matches(self, inv: Invocation, tools: dict[str, ToolSpec]) -> bool:
        if self.sudo is not None and inv.sudo != self.sudo:
            return False
        if self.fed_by_any and not (self.fed_by_any & inv.fed_by):
            return False
        if self.fed_regex is not None and not self.fed_regex.search(inv.fed_text):
            return False
        if self.redirect_regex is not None and not any(self.redirect_regex.search(r) for r in inv.redirects):
            return False
        if self.argv_regex is not None or self.argv_none_regex is not None:
            joined = " ".join(inv.args)
            if self.argv_regex is not None and not self.argv_regex.search(joined):
                return False
            if self.argv_none_regex is not None and self.argv_none_regex.search(joined):
                return False
        if not self.needs_parse:
            return True
        args = inv.args
        if self.subcommands and not any(sub[0] in args for sub in self.subcommands):
            return False  # cheap before parsing: most of git's rules are for another subcommand
        tool, (flags_any, flags_all, flags_none) = self._tool_for(inv.exe, tools)
        spec = tools.get(tool, DEFAULT_SPEC)
        parsed: ParsedArgs | None = inv.memo.get(tool)
        if parsed is None:
            parsed = inv.memo[tool] = parse_args(inv.args, spec)
        if parsed.invalid:
            return False  # the tool refuses an option it cannot parse: nothing happens (rule 4)
        positionals = parsed.positionals
        if self.subcommands:
            for sub in self.subcommands:
                if positionals[:len(sub)] == sub:
                    positionals = positionals[len(sub):]
                    break
            else:
                return False
        flags = parsed.flags
        if flags_any and not (flags_any & flags):
            return False
        if flags_all and not (flags_all <= flags):
            return False
        if flags_none and flags_none & flags:
            return False
        if self.after_dashdash is not None and (parsed.after_dashdash is not None) != self.after_dashdash:
            return False
        if self.min_positionals is not None and len(positionals) < self.min_positionals:
            return False
        if self.max_positionals is not None and len(positionals) > self.max_positionals:
            return False
        if self.args_any and not (self.args_any & set(positionals)):
            return False
        if self.args_regex is not None and not any(self.args_regex.search(p) for p in positionals):
            return False
        if self.args_none_regex is not None and any(self.args_none_regex.search(p) for p in positionals):
            return False
        if self.path_any and not any(classify_path(p) in self.path_any
                                     for p in positionals[self.path_skip:]):
            return False
        if self.analyzer:
            key = ("facts", self.analyzer, tool)
            facts = inv.memo.get(key)
            if facts is None:
                facts = inv.memo[key] = ANALYZERS[self.analyzer](parsed)
            if self.facts_all and not self.facts_all <= facts:
                return False
            if self.facts_any and not self.facts_any & facts:
                return False
            if self.facts_none and self.facts_none & facts:
                return False
        if self.payload_regex is not None or self.payload_none_regex is not None:
            payload = _payload(inv, parsed, spec, positionals)
            if self.payload_regex is not None and not self.payload_regex.search(payload):
                return False
            if self.payload_none_regex is not None and self.payload_none_regex.search(payload):
                return False
        return True


def _payload(inv: Invocation, parsed: ParsedArgs, spec: ToolSpec, positionals: tuple[str, ...]) -> str:
    """Code the tool executes: ``-c``/``-e`` values, positional statements, stdin text."""
    parts: list[str] = []
    for opt in spec.payload_opts:
        parts.extend(parsed.values.get(spec.canonical(opt), ()))
    if spec.payload_positionals:
        parts.extend(positionals)
    if inv.stdin_text:
        parts.append(inv.stdin_text)
    # SQL string literals are data, not statements: `SELECT 'DROP TABLE ' || name` (rule 9)
    return _SQL_LITERAL.sub("''", "\n;\n".join(parts))


_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'")
