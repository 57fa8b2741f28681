"""The compiled taxonomy: plain picklable structures the classifier walks on the hot path.

Plain `__slots__` classes rather than dataclasses: creating a dataclass costs about 1-2 ms at
import, and this module is imported by every CLI process that unpickles the cached taxonomy.
"""

from __future__ import annotations

import re
from typing import Any

# Precedence tiers, strongest first (docs/failures.md, "Precedence").
TIER_OUTCOME = 3
TIER_SIGNAL = 2
TIER_TEXT = 1
TIER_CONTEXT = 0

STREAM_ANY = 0
STREAM_STDERR = 1
STREAM_STDOUT = 2


class CompiledMatcher:
    __slots__ = (
        "_regex",
        "argv_has",
        "class_id",
        "exit_codes",
        "fallback",
        "flags",
        "id",
        "order",
        "outcomes",
        "pattern",
        "phases",
        "priority",
        "signals",
        "stream",
        "tier",
        "tools",
    )

    def __init__(self, *, id: str, class_id: str, tier: int, priority: int, order: int,
                 pattern: str | None = None, flags: int = 0, stream: int = STREAM_ANY,
                 exit_codes: frozenset[int] | None = None, signals: frozenset[int] | None = None,
                 outcomes: frozenset[str] | None = None, tools: frozenset[str] | None = None,
                 argv_has: tuple[str, ...] | None = None, phases: frozenset[str] | None = None,
                 fallback: bool = False) -> None:
        self.id = id
        self.class_id = class_id
        self.tier = tier
        self.priority = priority
        self.order = order  # declaration order, the final tie-break
        self.pattern = pattern  # compiled lazily by regex(): one run needs only a few of them
        self.flags = flags
        self.stream = stream
        self.exit_codes = exit_codes
        self.signals = signals
        self.outcomes = outcomes
        self.tools = tools
        self.argv_has = argv_has
        self.phases = phases
        self.fallback = fallback  # ranks after every specific text matcher
        self._regex: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"CompiledMatcher({self.id!r}, tier={self.tier}, priority={self.priority})"

    def __getstate__(self) -> dict[str, Any]:
        # The pattern text, not the compiled regex: unpickling would recompile every regex,
        # costing the CLI path milliseconds for patterns it never runs.
        return {name: getattr(self, name) for name in self.__slots__ if name != "_regex"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._regex = None

    def regex(self) -> re.Pattern[str]:
        compiled = self._regex
        if compiled is None:
            assert self.pattern is not None
            compiled = self._regex = re.compile(self.pattern, self.flags)
        return compiled

    def context_ok(self, exit_code: int | None, signal: int | None, outcome: str,
                   tools: tuple[str, str], argv: frozenset[str], phase: str | None) -> bool:
        """Every non-text condition holds."""
        if self.exit_codes is not None and exit_code not in self.exit_codes:
            return False
        if self.signals is not None and signal not in self.signals:
            return False
        if self.outcomes is not None and outcome not in self.outcomes:
            return False
        if self.tools is not None and tools[0] not in self.tools and tools[1] not in self.tools:
            return False
        if self.phases is not None and phase not in self.phases:
            return False
        if self.argv_has is not None and not all(a in argv for a in self.argv_has):
            return False
        return True


class ClassInfo:
    __slots__ = ("description", "examples", "id", "priority", "remediation", "title")

    def __init__(self, id: str, title: str, description: str, remediation: str, priority: int,
                 examples: list[dict[str, Any]]) -> None:
        self.id = id
        self.title = title
        self.description = description
        self.remediation = remediation
        self.priority = priority
        self.examples = examples


class CompiledTaxonomy:
    """Text matchers are sorted strongest first; `automaton` maps a keyword to the indices (into
    text_matchers) of the matchers it can enable; `always` holds those without keywords."""

    __slots__ = (
        "always",
        "automaton",
        "classes",
        "context_matchers",
        "outcome_matchers",
        "signal_matchers",
        "sources",
        "text_matchers",
        "version",
    )

    def __init__(self, *, version: str, sources: list[str], classes: dict[str, ClassInfo],
                 outcome_matchers: list[CompiledMatcher], signal_matchers: list[CompiledMatcher],
                 context_matchers: list[CompiledMatcher], text_matchers: list[CompiledMatcher],
                 automaton: Any, always: frozenset[int]) -> None:
        self.version = version
        self.sources = sources
        self.classes = classes
        self.outcome_matchers = outcome_matchers
        self.signal_matchers = signal_matchers
        self.context_matchers = context_matchers
        self.text_matchers = text_matchers
        self.automaton = automaton
        self.always = always
