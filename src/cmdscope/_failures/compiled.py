"""The compiled taxonomy: plain structures the classifier walks on the hot path.

Plain `__slots__` classes rather than dataclasses: creating a dataclass costs about 1-2 ms at
import, and this module is imported by every CLI process that reads the cached taxonomy. Each
class turns into plain data (``to_data``) for the cache and back (``from_data``), which raises
TypeError, ValueError or LookupError for data of another shape (the loader then rebuilds).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
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

    def to_data(self) -> dict[str, Any]:
        # The pattern text, not the compiled regex: a run compiles only the few it needs.
        out: dict[str, Any] = {name: getattr(self, name) for name in _SCALARS}
        for name in _SETS:
            value = getattr(self, name)
            out[name] = None if value is None else sorted(value)
        return out

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CompiledMatcher:
        fields: dict[str, Any] = {}
        for name, kinds in _SCALARS.items():
            value = data[name]
            if type(value) not in kinds:
                raise TypeError(f"matcher field {name}")
            fields[name] = value
        for name, (kind, make) in _SETS.items():
            value = data[name]
            if value is not None:
                if type(value) is not list or not all(type(v) is kind for v in value):
                    raise TypeError(f"matcher field {name}")
                value = make(value)
            fields[name] = value
        return cls(**fields)

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


_SCALARS: dict[str, tuple[type, ...]] = {
    "id": (str,), "class_id": (str,), "tier": (int,), "priority": (int,), "order": (int,),
    "pattern": (str, type(None)), "flags": (int,), "stream": (int,), "fallback": (bool,)}
_SETS: dict[str, tuple[type, Any]] = {
    "exit_codes": (int, frozenset), "signals": (int, frozenset), "outcomes": (str, frozenset),
    "tools": (str, frozenset), "argv_has": (str, tuple), "phases": (str, frozenset)}


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

    def to_data(self) -> list[Any]:
        return [self.id, self.title, self.description, self.remediation, self.priority, self.examples]

    @classmethod
    def from_data(cls, data: list[Any]) -> ClassInfo:
        ident, title, description, remediation, priority, examples = data
        if (not all(type(v) is str for v in (ident, title, description, remediation)) or type(priority) is not int
                or type(examples) is not list or not all(type(e) is dict for e in examples)):
            raise TypeError("class info")
        return cls(ident, title, description, remediation, priority, examples)


class CompiledTaxonomy:
    """Text matchers are sorted strongest first; `keywords` maps a keyword to the indices (into
    text_matchers) of the matchers it can enable, `automaton` finds those keywords (None when
    there are none); `always` holds the matchers without keywords."""

    __slots__ = (
        "always",
        "automaton",
        "classes",
        "context_matchers",
        "keywords",
        "outcome_matchers",
        "signal_matchers",
        "sources",
        "text_matchers",
        "version",
    )

    def __init__(self, *, version: str, sources: list[str], classes: dict[str, ClassInfo],
                 outcome_matchers: list[CompiledMatcher], signal_matchers: list[CompiledMatcher],
                 context_matchers: list[CompiledMatcher], text_matchers: list[CompiledMatcher],
                 keywords: dict[str, tuple[int, ...]], always: frozenset[int]) -> None:
        self.version = version
        self.sources = sources
        self.classes = classes
        self.outcome_matchers = outcome_matchers
        self.signal_matchers = signal_matchers
        self.context_matchers = context_matchers
        self.text_matchers = text_matchers
        self.keywords = keywords
        self.automaton = _automaton(keywords)
        self.always = always

    _TIERS = ("outcome_matchers", "signal_matchers", "context_matchers", "text_matchers")

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "sources": list(self.sources),
                               "classes": [info.to_data() for info in self.classes.values()],
                               "keywords": {word: list(ix) for word, ix in self.keywords.items()},
                               "always": sorted(self.always)}
        for tier in self._TIERS:
            out[tier] = [m.to_data() for m in getattr(self, tier)]
        return out

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CompiledTaxonomy:
        version, sources = data["version"], data["sources"]
        if type(version) is not str or type(sources) is not list or not all(type(s) is str for s in sources):
            raise TypeError("taxonomy version or sources")
        classes = {}
        for row in data["classes"]:
            info = ClassInfo.from_data(row)
            classes[info.id] = info
        tiers = {tier: [CompiledMatcher.from_data(m) for m in data[tier]] for tier in cls._TIERS}
        count = len(tiers["text_matchers"])
        keywords: dict[str, tuple[int, ...]] = {}
        for word, indices in data["keywords"].items():
            if not word or not all(type(i) is int and 0 <= i < count for i in indices):
                raise ValueError("taxonomy keyword")
            keywords[word] = tuple(indices)
        always = data["always"]
        if not all(type(i) is int and 0 <= i < count for i in always):
            raise ValueError("taxonomy keyword")
        return cls(version=version, sources=sources, classes=classes, keywords=keywords,
                   always=frozenset(always), **tiers)


def _automaton(keywords: dict[str, tuple[int, ...]]) -> Any:
    if not keywords:
        return None
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for word, indices in keywords.items():
        automaton.add_word(word, indices)
    automaton.make_automaton()
    return automaton
