"""The compiled dangerous-command registry: keyword prefilter, shell walk, rule matching.

This is what the per-command hot path holds. It is pickled into the registry cache, so it must
import nothing heavy: tree-sitter is imported only when the prefilter lets a command through.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

from cmdscope.guard.decision import SEVERITY_RANK, Match
from cmdscope.guard.invocation import Invocation
from cmdscope.guard.options import ToolSpec
from cmdscope.guard.rules import Rule

from cmdscope.guard.prefilter import STRIP as _STRIP
from cmdscope.guard.prefilter import passes as _passes


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


class CompiledRegistry:
    def __init__(self, version: str, rules: list[Rule], tools: dict[str, ToolSpec],
                 keywords: set[str], sources: list[str]) -> None:
        import ahocorasick

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
        automaton = ahocorasick.Automaton()
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
        for word, (left, right) in sorted(strict.items()):
            automaton.add_word(word, (len(word), left, right))
        automaton.make_automaton()
        self.automaton = automaton

    # prefilter --------------------------------------------------------------------------
    def prefilter(self, text: str) -> bool:
        """False when no rule could possibly match ``text`` (most commands stop here)."""
        return _passes(self.automaton, text)

    # matching ---------------------------------------------------------------------------
    def invocations(self, command: str | list[str] | tuple[str, ...], shell: bool) -> list[Invocation]:
        if shell:
            from cmdscope.guard.shell import parse_shell

            return parse_shell(str(command))
        from cmdscope.guard.expand import expand_argv

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

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
