"""Map a failed command (exit code, signal, tool, phase, stdout and stderr tails) to a class.

Hot path: called once per failed command. Work is bounded by looking only at the last
`TEXT_WINDOW` bytes of each stream, an Aho-Corasick keyword pass that picks the few regexes
worth running, and an early exit on outcome and signal matchers (no text work at all).

Both streams are optional and read alike (tools print their errors on either); a matcher with
`stream:` looks at one. Among text matchers, specific ones rank before `fallback` ones, then by
priority; for one matcher stderr is searched before stdout (docs/failures.md, "Precedence").
The excerpt is redacted before it is cut to `EXCERPT_MAX`, so a cut never splits a secret
into a piece no redaction pattern recognises.
"""

from __future__ import annotations

import re

from cmdscope._failures.compiled import (
    STREAM_STDERR,
    STREAM_STDOUT,
    CompiledMatcher,
    CompiledTaxonomy,
)
from cmdscope._failures.phase import infer_phase, unwrap

# The classifier reads at most this many bytes from the end of each stream: the final error is
# almost always there, and it bounds the cost of a 64 KiB tail to a few microseconds.
TEXT_WINDOW = 8192
EXCERPT_MAX = 240
_FATAL_SIGNAL_EXITS = frozenset({132, 134, 135, 136, 137, 139})  # SIGILL ABRT BUS FPE KILL SEGV
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


class Classification(tuple):  # type: ignore[type-arg]
    """The verdict for one failed command. `excerpt` is NOT redacted yet: the caller redacts.

    `phase` is the phase used (the caller's, else inferred from argv). A tuple of the five
    fields, like a NamedTuple, written out: importing ``typing`` cost ~4 ms per classified
    ``cmdscope run``."""

    __slots__ = ()
    _fields = ("error_type", "pattern_id", "excerpt", "taxonomy_version", "phase")

    def __new__(cls, error_type: str, pattern_id: str | None, excerpt: str | None, taxonomy_version: str,
                phase: str | None = None) -> Classification:
        return tuple.__new__(cls, (error_type, pattern_id, excerpt, taxonomy_version, phase))

    @property
    def error_type(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def pattern_id(self) -> str | None:
        return self[1]  # type: ignore[no-any-return]

    @property
    def excerpt(self) -> str | None:
        return self[2]  # type: ignore[no-any-return]

    @property
    def taxonomy_version(self) -> str:
        return self[3]  # type: ignore[no-any-return]

    @property
    def phase(self) -> str | None:
        return self[4]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "Classification(" + ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self)) + ")"


def _window(tail: bytes) -> bytes:
    """The last TEXT_WINDOW bytes, starting at a line start: a partial first line (a secret
    or a split UTF-8 sequence cut in two) is dropped; one line longer than the window is kept
    whole, up to what the caller passed."""
    if len(tail) <= TEXT_WINDOW:
        return tail
    start = len(tail) - TEXT_WINDOW
    if tail[start - 1] == 10:  # the window already starts a line
        return tail[start:]
    cut = tail.find(b"\n", start)
    if cut >= 0 and cut + 1 < len(tail):
        return tail[cut + 1 :]
    return tail[tail.rfind(b"\n", 0, start) + 1 :]


def _decode(tail: bytes | None) -> str:
    if not tail:
        return ""
    text = _window(tail).decode("utf-8", "replace")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def excerpt_of(line: str) -> str:
    """Redact, then cut: a cut first could leave half a secret no pattern recognises."""
    from cmdscope.redact import redact

    return redact(line.strip())[:EXCERPT_MAX]


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return excerpt_of(text[start : end if end >= 0 else len(text)])


def _last_line(*texts: str) -> str | None:
    for text in texts:
        for line in reversed(text.splitlines()[-20:]):
            if line.strip():
                return excerpt_of(line)
    return None


class Classifier:
    """A classifier bound to one compiled taxonomy (precomputed; `classify` is cheap)."""

    def __init__(self, taxonomy: CompiledTaxonomy) -> None:
        self.taxonomy = taxonomy
        self.version = taxonomy.version

    def classify(self, *, exit_code: int | None, signal: int | None, executable: str,
                 argv: list[str] | None, phase: str | None, outcome: str, stderr_tail: bytes,
                 stdout_tail: bytes | None = None) -> Classification:
        tax = self.taxonomy
        if phase is None and argv:
            phase = infer_phase(argv)
        if argv:
            unwrapped = unwrap(argv)
            tool = unwrapped[0] if unwrapped else ""
            argv_set = frozenset(argv)
        else:
            tool = ""
            argv_set = frozenset()
        exe = executable.rsplit("/", 1)[-1].lower()
        tools = (tool or exe, exe)
        if signal is None and exit_code in _FATAL_SIGNAL_EXITS:
            # A shell reports a child's death by signal N as 128+N. Only the fatal signals are
            # inferred: 129/130/143 are also ordinary exit codes (git uses 129 for bad usage).
            signal = exit_code - 128  # type: ignore[operator]

        err: str | None = None
        out: str | None = None
        for group in (tax.outcome_matchers, tax.signal_matchers):
            for m in group:
                if not m.context_ok(exit_code, signal, outcome, tools, argv_set, phase):
                    continue
                if err is None or out is None:
                    err, out = _decode(stderr_tail), _decode(stdout_tail)
                if m.pattern is None:
                    return Classification(m.class_id, m.id, _last_line(err, out), self.version, phase)
                excerpt = _search(m, err, out)
                if excerpt is not None:
                    return Classification(m.class_id, m.id, excerpt, self.version, phase)

        if err is None or out is None:
            err, out = _decode(stderr_tail), _decode(stdout_tail)
        hit = self._match_text(err, out, exit_code, signal, outcome, tools, argv_set, phase)
        if hit is not None:
            m, excerpt = hit
            return Classification(m.class_id, m.id, excerpt, self.version, phase)
        for m in tax.context_matchers:
            if m.context_ok(exit_code, signal, outcome, tools, argv_set, phase):
                return Classification(m.class_id, m.id, _last_line(err, out), self.version, phase)
        return Classification("unknown", None, _last_line(err, out), self.version, phase)

    def _match_text(self, err: str, out: str, exit_code: int | None, signal: int | None,
                    outcome: str, tools: tuple[str, str], argv: frozenset[str],
                    phase: str | None) -> tuple[CompiledMatcher, str] | None:
        tax = self.taxonomy
        if not err and not out:
            return None
        candidates = set(tax.always)
        if tax.automaton is not None:
            haystack = (err + "\n\x00\n" + out).lower() if out else err.lower()
            for _, indices in tax.automaton.iter(haystack):
                candidates.update(indices)
        # text_matchers are sorted strongest first, so the first that matches wins.
        for index in sorted(candidates):
            m = tax.text_matchers[index]
            if not m.context_ok(exit_code, signal, outcome, tools, argv, phase):
                continue
            excerpt = _search(m, err, out)
            if excerpt is not None:
                return m, excerpt
        return None


def _search(m: CompiledMatcher, err: str, out: str) -> str | None:
    """The excerpt (matching line) if m's regex matches the streams it looks at."""
    regex = m.regex()
    if m.stream != STREAM_STDOUT and err:
        found = regex.search(err)
        if found:
            return _line_at(err, found.start())
    if m.stream != STREAM_STDERR and out:
        found = regex.search(out)
        if found:
            return _line_at(out, found.start())
    return None
