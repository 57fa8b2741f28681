"""The redaction engine: prefilter, run the triggered rules, merge, mask.

Cost model (this runs on every command): a text is lowered once and scanned once by an
Aho-Corasick automaton of all rule keywords; only rules whose keyword occurs are run, each
regex compiled the first time it is needed. The generic high-entropy rule runs only when some
whitespace-separated word is long enough to hold a candidate. A typical command line with no
secret therefore costs one `lower()`, one automaton pass and one `split()`, and never imports
or compiles a regex.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process; namedtuple is already loaded

from cmdscope._redaction import entropy
from cmdscope._redaction.rules import ASSIGN, BLOCK, USERPASS, WHOLE, Rule
from cmdscope._redaction.values import (
    is_placeholder,
    is_reference,
    parse_value,
    public_ranges,
    read_block,
    read_userpass,
)

if TYPE_CHECKING:
    import re

MARK_PREFIX = "[REDACTED:"
MARK_PATTERN = r"\[REDACTED:[a-z0-9][a-z0-9._-]*\]"
GENERIC_NAME = "high-entropy"
PATTERNS_ENV = "CMDSCOPE_REDACT_PATTERNS"
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


class RedactionConfigError(ValueError):
    """A user pattern (file or `add_pattern`) is invalid; the message names file and line."""


# order: rule position: on equal starts the more specific (earlier) rule names the mark
Span = namedtuple("Span", "start end order name")


# groups: the secret groups (`s`, `s_2`, ...), () = the whole match; on_lower: a case-insensitive
# rule run case-sensitively on the lowered text.
_Compiled = namedtuple("_Compiled", "regex groups on_lower")


# What may stand before a `NAME=value` that starts a dotenv-style line.
_LINE_START_WORDS = frozenset({"", "env", "arg", "set"})


def check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_OK or not name[0].isalnum():
        raise RedactionConfigError(
            f"bad pattern name {name!r}: use lowercase letters, digits, '-', '.', '_'"
        )
    return name


class Redactor:
    """A set of rules with their lazily built prefilter and compiled regexes."""

    def __init__(self, rules: Iterable[Rule] | None = None, *, load_env: bool = False,
                 generic: bool = True) -> None:
        # None: the effective rule files (shipped YAML + overlays), read on first use.
        self._given = None if rules is None else list(rules)
        self._rules: list[Rule] = []
        self._builtin_count = 0
        self._compiled: list[_Compiled | None] = []
        self._loaded = False
        self._automaton: object | None = None
        self._always: tuple[int, ...] = ()
        self._generic: re.Pattern[str] | None = None
        self._mark: re.Pattern[str] | None = None
        self._load_env = load_env
        self._env_loaded = False
        self._use_generic = generic  # False: only the rules given (lint runs one rule at a time)
        self.generation = 0  # bumped whenever the rules change (callers key their own memos on it)

    def _ensure_rules(self) -> None:
        if self._loaded:
            return
        if self._given is None:
            from cmdscope._redaction.ruleset import RedactionRegistryError, load_rules

            try:
                base = list(load_rules())
            except RedactionRegistryError as exc:
                raise RedactionConfigError(str(exc)) from None
        else:
            base = self._given
        added = self._rules
        self._rules = base + added
        fresh: list[_Compiled | None] = [None] * len(base)
        self._compiled = fresh + self._compiled
        self._builtin_count = len(base)
        self._loaded = True

    # -- configuration
    def add_pattern(self, name: str, regex: str, *, keywords: Iterable[str] = ()) -> None:
        """Add a rule. A group named `s` marks the secret part; otherwise the whole match.

        `keywords` (lowercase substrings the text must contain) let the prefilter skip the
        regex; without them the regex runs on every text.
        """
        import re

        check_name(name)
        self._ensure_rules()
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise RedactionConfigError(f"pattern {name!r}: bad regex: {exc}") from None
        if compiled.match(""):
            raise RedactionConfigError(f"pattern {name!r}: matches the empty string")
        self._rules.append(Rule(name, tuple(k.lower() for k in keywords), regex, 0, None))
        self._compiled.append(_compile(regex, 0, compiled))
        self._automaton = None
        self.generation += 1

    def reset_patterns(self) -> None:
        """Drop every added pattern (the environment file is read again on next use)."""
        self._ensure_rules()
        del self._rules[self._builtin_count:]
        del self._compiled[self._builtin_count:]
        self._automaton = None
        self._env_loaded = False
        self.generation += 1

    def load_patterns_file(self, path: str) -> None:
        """Lines `name regex` (first whitespace splits); `#` comments and blank lines skipped."""
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise RedactionConfigError(f"{path}: cannot read patterns file: {exc}") from None
        for lineno, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            parts = stripped.split(None, 1)
            if len(parts) != 2:
                raise RedactionConfigError(f"{path}:{lineno}: expected 'name regex'")
            try:
                self.add_pattern(parts[0], parts[1])
            except RedactionConfigError as exc:
                raise RedactionConfigError(f"{path}:{lineno}: {exc}") from None

    def rule_names(self) -> list[str]:
        self._ensure_rules()
        self._ensure_env()
        return sorted({r.name for r in self._rules} | {GENERIC_NAME})

    # -- matching
    def _ensure_env(self) -> None:
        if self._load_env and not self._env_loaded:
            self._env_loaded = True  # set first: a bad file raises once per load attempt
            from cmdscope import _settings as settings  # the files that exist; a missing one blanks free text

            try:
                for path in settings.get(PATTERNS_ENV):
                    self.load_patterns_file(path)
            except RedactionConfigError:
                self._env_loaded = False
                raise

    def _build(self) -> object:
        import ahocorasick

        self._ensure_rules()
        by_keyword: dict[str, list[int]] = {}
        always: list[int] = []
        for index, rule in enumerate(self._rules):
            if not rule.keywords:
                always.append(index)
            for kw in rule.keywords:
                by_keyword.setdefault(kw, []).append(index)
        automaton = ahocorasick.Automaton()
        for kw, indices in by_keyword.items():
            automaton.add_word(kw, tuple(indices))
        automaton.make_automaton()
        self._always = tuple(always)
        self._automaton = automaton
        return automaton

    def _rule_regex(self, index: int) -> _Compiled:
        compiled = self._compiled[index]
        if compiled is None:
            rule = self._rules[index]
            compiled = self._compiled[index] = _compile(rule.pattern, rule.flags)
        return compiled

    def find(self, text: str) -> list[Span]:
        """Every secret span in `text`, merged, left to right."""
        if self._load_env and not self._env_loaded:
            self._ensure_env()
        automaton = self._automaton or self._build()
        low = text.lower()
        triggered: set[int] = set(self._always)
        for _, indices in automaton.iter(low):  # type: ignore[attr-defined]
            triggered.update(indices)
        spans: list[Span] = []
        for index in sorted(triggered):
            self._run_rule(index, text, low, spans)
        if self._use_generic and _has_long_word(text):
            self._run_generic(text, spans)
        if not spans:
            return spans
        if "-----begin" in low:  # public keys, certificates and signatures are not secrets
            ranges = public_ranges(low)
            if ranges:
                spans = [s for s in spans if not any(a <= s.start and s.end <= b for a, b in ranges)]
        if MARK_PREFIX.lower() in low:
            spans = self._outside_marks(text, spans)
        return _merge(spans) if spans else spans

    def _run_rule(self, index: int, text: str, low: str, spans: list[Span]) -> None:
        regex, groups, on_lower = self._rule_regex(index)
        rule = self._rules[index]
        subject = text
        if on_lower:
            if len(low) == len(text):
                subject = low  # same offsets: spans found in `low` index into `text`
            else:  # a character changed length when lowered: fall back to IGNORECASE
                regex = self._ignorecase_regex(index)
        mode = rule.value
        for m in regex.finditer(subject):
            if mode == WHOLE:
                start, end = m.span()
                group = False
                for g in groups:
                    gs, ge = m.span(g)
                    if gs >= 0:
                        start, end, group = gs, ge, True
                        break
                value = text[start:end]
                if is_placeholder(value) or (group and is_reference(value, True)):
                    continue
            elif mode == BLOCK:
                for start, end in read_block(text, m.end()):
                    spans.append(Span(start, end, index, rule.name))
                continue
            else:
                if mode == USERPASS:
                    found = read_userpass(text, m.end())
                elif mode == ASSIGN:
                    sep = m.group("sep")
                    at = m.start("sep")
                    rest = (sep in (":", ":=", "?=", "::=") or "." in text[m.start():at]
                            or (sep == "=" and at > 0 and text[at - 1] in " \t"))
                    line = text[text.rfind("\n", 0, m.start()) + 1:m.start()].strip().lower()
                    # A file's lines (`.env`, Dockerfile): the value runs to the end of its line;
                    # in a one-line command the shell's meaning wins (`TOKEN=x cmd`).
                    dotenv = sep == "=" and line in _LINE_START_WORDS and "\n" in text.strip()
                    found = parse_value(text, m.end(), mode, sep == ":", rest, dotenv)
                else:
                    found = parse_value(text, m.end(), mode, False)
                if found is None:
                    continue
                start, end = found
            if end <= start:
                continue
            if rule.guard is not None and not rule.guard(text[start:end], m):
                continue
            if rule.command and not _in_command(low, m.start(), rule.command):
                continue
            spans.append(Span(start, end, index, rule.name))

    def _ignorecase_regex(self, index: int) -> re.Pattern[str]:
        import re

        rule = self._rules[index]
        return re.compile(rule.pattern, rule.flags)

    def _run_generic(self, text: str, spans: list[Span]) -> None:
        if self._generic is None:
            import re

            self._generic = re.compile(entropy.CANDIDATE)
        order = len(self._rules)
        for m in self._generic.finditer(text):
            for start, end in entropy.candidate_parts(m.group(), m.start()):
                if any(s.start <= start and end <= s.end for s in spans):
                    continue  # already inside a specific match
                before = text[max(0, start - 8):start]
                if (entropy.looks_random(text[start:end], before, self.contains_secret)
                        and not is_placeholder(text[start:end])
                        and not entropy.public_context(text, start, end)):
                    start, end = entropy.whole_token(text, start, end)
                    spans.append(Span(start, end, order, GENERIC_NAME))

    def _outside_marks(self, text: str, spans: list[Span]) -> list[Span]:
        """Already-masked text stays as it is: cut every span around existing markers."""
        if self._mark is None:
            import re

            self._mark = re.compile(MARK_PATTERN)
        marks = [m.span() for m in self._mark.finditer(text)]
        if not marks:
            return spans
        out: list[Span] = []
        for span in spans:
            pieces = [(span.start, span.end)]
            for ms, me in marks:
                next_pieces = []
                for ps, pe in pieces:
                    if me <= ps or pe <= ms:
                        next_pieces.append((ps, pe))
                        continue
                    if ps < ms:
                        next_pieces.append((ps, ms))
                    if me < pe:
                        next_pieces.append((me, pe))
                pieces = next_pieces
            out.extend(
                Span(ps, pe, span.order, span.name)
                for ps, pe in pieces
                if any(c.isalnum() for c in text[ps:pe])  # not just the `:` left of a mark
            )
        return out

    # -- public operations
    def contains_secret(self, text: str) -> bool:
        return bool(self.find(text))

    def redact(self, text: str) -> str:
        spans = self.find(text)
        if not spans:
            return text
        parts: list[str] = []
        pos = 0
        for span in spans:
            parts.append(text[pos:span.start])
            parts.append(f"{MARK_PREFIX}{span.name}]")
            pos = span.end
        parts.append(text[pos:])
        return "".join(parts)


def _compile(pattern: str, flags: int, compiled: re.Pattern[str] | None = None) -> _Compiled:
    import re

    on_lower = bool(flags & re.IGNORECASE) and compiled is None
    if compiled is not None:
        regex = compiled
    else:
        regex = re.compile(pattern, flags & ~re.IGNORECASE if on_lower else flags)
    groups = tuple(
        index
        for name, index in sorted(regex.groupindex.items(), key=lambda kv: kv[1])
        if name == "s" or name.startswith("s_")
    )
    return _Compiled(regex, groups, on_lower)


def _in_command(low: str, pos: int, programs: tuple[str, ...]) -> bool:
    """Is `pos` inside a simple command run by one of `programs`? The command starts after the
    last `;`, `&`, `|` or unescaped newline (`\\`-continued lines belong to it)."""
    start = pos
    while start > 0:
        c = low[start - 1]
        if c in ";&|" or (c == "\n" and (start < 2 or low[start - 2] != "\\")):
            break
        start -= 1
    for word in low[start:pos].split():
        if word.rsplit("/", 1)[-1] in programs:
            return True
    return False


def _has_long_word(text: str) -> bool:
    if len(text) < entropy.MIN_LENGTH:
        return False
    for word in text.split():
        if len(word) >= entropy.MIN_LENGTH:
            return True
    return False


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping matches become one marker, named after the most specific rule among them
    (the earliest in the rule table; the generic rule comes last)."""
    spans.sort()
    merged: list[Span] = [spans[0]]
    for span in spans[1:]:
        last = merged[-1]
        if span.start < last.end:
            merged[-1] = Span(
                last.start,
                max(last.end, span.end),
                min(last.order, span.order),
                last.name if last.order <= span.order else span.name,
            )
        else:
            merged.append(span)
    return merged
