"""The compiled dangerous-command registry: keyword prefilter, shell walk, rule matching.

This is what the per-command hot path holds. It is rebuilt from the guard's plain-data cache
(:meth:`CompiledRegistry.from_data`), so it must import nothing heavy: tree-sitter is imported
only when the prefilter lets a command through.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

from cmdscope._guard.decision import SEVERITY_RANK, Match
from cmdscope._guard.invocation import Invocation
from cmdscope._guard.options import ToolSpec
from cmdscope._guard.rules import Rule

from cmdscope._guard.prefilter import STRIP as _STRIP
from cmdscope._guard.prefilter import build_automaton
from cmdscope._guard.prefilter import passes as _passes


# Words that turn into a command only after decoding or translation (base64 payloads, recursive
# deletes spelled in an interpreter): their presence alone sends a command to the parser.
PAYLOAD_TRIGGERS = frozenset({"base64", "*rmtree*", "*rm_rf*", "*rm_r(*", "*rmsync*", "*rmdirsync*",
                              "*remove_tree*", "*remove_dir_all*", "find", "*rm_r *", "*os.walk*",
                              "*readdirsync*", "printf", "*unlink*", "*os.remove*", "*file.delete*",
                              "*fileutils*", "*removesync*", "*emptydir*", "*rimraf*", "*remove_entry*",
                              "*remove_dir*", "*.rm(*", "*.rmdir(*"})


def _is_word_keyword(word: str) -> bool:
    """Plain words (``rm``, ``push``) must stand alone; anything else is matched as a substring."""
    return all(ch.isalnum() or ch in "_-" for ch in word)


def keyword_table(keywords: set[str] | frozenset[str]) -> list[list[Any]]:
    """``[word, must-start-a-word, must-end-a-word]`` rows of the prefilter, sorted by word."""
    strict: dict[str, tuple[bool, bool]] = {}
    for word in set(keywords) | PAYLOAD_TRIGGERS:
        # ``*token*``: a substring on the starred sides (GITHUB_TOKEN); plain words stand alone.
        left_star, right_star = word.startswith("*"), word.endswith("*")
        word = word.strip("*").lower().translate(_STRIP)
        if not word:
            continue
        whole = _is_word_keyword(word)
        left, right = whole and not left_star, whole and not right_star
        if word in strict:  # the same word from two rules: the looser boundary wins
            left, right = left and strict[word][0], right and strict[word][1]
        strict[word] = (left, right)
    return [[word, left, right] for word, (left, right) in sorted(strict.items())]


_RULE_FIELDS = ("id", "title", "category", "severity", "rationale", "playbook", "source")


def _matching_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What :class:`Rule` reads of a validated rule (no examples; unset match fields left out,
    as ``Rule`` reads them with ``get``): the cache stays under half the size."""
    out = {key: data[key] for key in _RULE_FIELDS if key in data}
    out["match"] = {key: value for key, value in data["match"].items() if value is not None}
    return out


class CompiledRegistry:
    def __init__(self, version: str, rules: list[Rule], tools: dict[str, ToolSpec],
                 keywords: set[str] | frozenset[str], sources: list[str],
                 *, table: list[list[Any]] | None = None) -> None:
        self.version = version
        self.rules = rules
        self.tools = tools
        self.sources = sources
        self.by_exe: dict[str, tuple[Rule, ...]] = {}
        any_exe: list[Rule] = []
        for rule in rules:
            if "*" in rule.executables:
                any_exe.append(rule)
                continue
            for exe in rule.executables:
                self.by_exe[exe] = self.by_exe.get(exe, ()) + (rule,)
        self.any_exe = tuple(any_exe)
        self.line_rules = tuple(r for r in rules if r.line_requires)
        self.keyword_table = keyword_table(keywords) if table is None else table
        self.automaton = build_automaton(self.keyword_table)

    # plain data (the guard's cache) -------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        return {"version": self.version, "sources": list(self.sources),
                "tools": {name: spec.to_data() for name, spec in self.tools.items()},
                "rules": [_matching_fields(rule.data) for rule in self.rules], "keywords": self.keyword_table}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CompiledRegistry:
        """The registry :meth:`to_data` described; LookupError, TypeError or ValueError for
        data of another shape (the caller rebuilds from the registry files)."""
        version, sources = data["version"], data["sources"]
        if type(version) is not str or not all(type(s) is str for s in sources):
            raise TypeError("bad registry version or sources")
        tools = {name: ToolSpec.from_data(spec) for name, spec in data["tools"].items()}
        rules = []
        for fields in data["rules"]:
            if (type(fields) is not dict or type(fields.get("id")) is not str or type(fields.get("match")) is not dict
                    or fields.get("severity") not in SEVERITY_RANK):
                raise TypeError("bad rule")
            rules.append(Rule(fields, tools))
        return cls(version, rules, tools, frozenset(), list(sources), table=data["keywords"])

    # prefilter --------------------------------------------------------------------------
    def prefilter(self, text: str) -> bool:
        """False when no rule could possibly match ``text`` (most commands stop here)."""
        return _passes(self.automaton, text)

    # matching ---------------------------------------------------------------------------
    def invocations(self, command: str | list[str] | tuple[str, ...], shell: bool) -> list[Invocation]:
        if shell:
            from cmdscope._guard.shell import parse_shell

            return parse_shell(str(command))
        from cmdscope._guard.expand import expand_argv

        return expand_argv(list(command))

    def match_invocations(self, invs: list[Invocation]) -> list[Match]:
        hits: dict[str, Rule] = {}
        tools = self.tools
        for inv in invs:
            for rule in self.by_exe.get(inv.exe, ()) + self.any_exe:
                if rule.id not in hits and not rule.line_requires and rule.matches(inv, tools):
                    hits[rule.id] = rule
        if self.line_rules:
            executed = {inv.exe for inv in invs} | {
                f"{inv.exe} {inv.args[0]}" for inv in invs if inv.args}
            for rule in self.line_rules:
                if rule.id in hits or not all(req in executed for req in rule.line_requires):
                    continue
                if any(inv.exe in rule.executables and rule.matches(inv, tools) for inv in invs):
                    hits[rule.id] = rule
        ordered = sorted(hits.values(), key=lambda r: (-SEVERITY_RANK[r.severity], r.id))
        return [rule.to_match() for rule in ordered]

    def check(self, command: str | list[str] | tuple[str, ...], shell: bool = True) -> list[Match]:
        text = command if shell else " ".join(command)
        if not self.prefilter(str(text)):
            return []
        return self.match_invocations(self.invocations(command, shell))

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)
