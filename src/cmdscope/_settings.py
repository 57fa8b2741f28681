"""Every ``CMDSCOPE_*`` and ``OTEL_*`` variable cmdscope reads, parsed and checked in one place.

A setting is read here, once, before any command starts; every other module asks
:func:`get` (``settings.get("CMDSCOPE_FSYNC")``) instead of the environment. A value that does
not parse never becomes an error after the wrapped command ran:

- an ordinary setting falls back to its documented default, and :func:`announce` says so in
  one line on stderr naming the variable and the value used instead;
- a setting that decides safety (the guard's mode, fail mode and on/off switch; the guard's
  policy and registry paths when ``CMDSCOPE_GUARD_FAIL=closed``) is a *refusal*: ``cmdscope
  run`` exits 2 before the command starts, an agent hook blocks the tool call, the library
  records a denial. A typo must never disarm the guard.

:data:`SETTINGS` is the one list: the docs table (docs/reliability.md#settings) is generated from
it (``python scripts/gen_settings_table.py``) and a test fails when ``src/`` reads a variable
that is not in it. The parsed values are memoised on the raw variables (read from CPython's
encoded environment: no decoding on the hot path), so the hook daemon, which swaps the
environment per request, always sees the caller's.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Mapping

__all__ = ["SETTINGS", "NAMES", "NOT_SETTINGS", "Setting", "Settings", "Problem", "current", "get", "load",
           "announce", "refusal", "markdown_table"]

# How a setting's bad value is handled.
DEFAULT = "default"  # one warning line; the documented default is used
REFUSE = "refuse"  # nothing runs (exit 2 / the hook blocks / the library records a denial)
REFUSE_IF_CLOSED = "refuse-if-closed"  # a missing guard layer: warn, or refuse with CMDSCOPE_GUARD_FAIL=closed


class Bad(ValueError):
    """A value that does not parse: ``reason``, and the value used instead when part of it was usable."""

    def __init__(self, reason: str, partial: Any = None, used: str | None = None) -> None:
        super().__init__(reason)
        self.partial = partial
        self.used = used


# --- parsers: raw text -> value, or Bad ------------------------------------------------------


def _enum(*choices: str, fold: bool = True) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower() if fold else raw
        if value not in choices:
            raise Bad(f"must be one of {', '.join(choices)}")
        return value

    parse.__doc__ = ", ".join(choices)
    return parse


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(raw: str) -> bool:
    """1 or 0 (also true/false, yes/no, on/off)"""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Bad("must be 1 or 0 (true/false, yes/no, on/off)")


def _switch(raw: str) -> bool:
    """on or off"""
    value = raw.strip().lower()
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise Bad("must be on or off")


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise Bad("must be a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise Bad(f"must be between {minimum} and {maximum}" if maximum is not None else f"must be at least {minimum}")
        return value

    parse.__doc__ = f"whole number >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    return parse


def _jobs(raw: str) -> int | None:
    """auto or a whole number >= 1"""
    value = raw.strip().lower()
    if value == "auto":
        return None
    try:
        jobs = int(value)
    except ValueError:
        raise Bad("must be auto or a whole number >= 1") from None
    if jobs < 1:
        raise Bad("must be auto or a whole number >= 1")
    return jobs


def _seconds(raw: str) -> float:
    """number of seconds > 0"""
    try:
        value = float(raw.strip())
    except ValueError:
        raise Bad("must be a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise Bad("must be a positive, finite number of seconds")
    return value


def _millis(raw: str) -> float:
    """number of milliseconds >= 0"""
    try:
        value = float(raw.strip())
    except ValueError:
        raise Bad("must be a number of milliseconds") from None
    if not value >= 0 or value == float("inf"):
        raise Bad("must be a finite number of milliseconds, 0 or more")
    return value


def _printable(raw: str, what: str = "text", limit: int = 256) -> str:
    if len(raw) > limit:
        raise Bad(f"longer than {limit} characters")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in raw):
        raise Bad(f"{what} must not contain control characters")
    return raw


def _text(raw: str) -> str:
    """text: printable, at most 256 characters"""
    return _printable(raw)


def _host(raw: str) -> str:
    """host name or address"""
    if not raw.strip() or any(ch.isspace() for ch in raw):
        raise Bad("must be a host name or address without spaces")
    return _printable(raw, "a host")


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def _plain_http_url(value: str) -> bool:
    """``http(s)://host[:port][/...]`` with a plain host name or IPv4 address and a port in
    range: a URL ``urlsplit`` accepts with that scheme, host and port. Anything else (userinfo,
    brackets, other characters, a port out of range) is left to ``urlsplit``."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return False
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if 0 <= at < end:
            end = at
    host, _, port = rest[:end].partition(":")
    if not host or not _HOST_CHARS.issuperset(host):
        return False
    return not port or (port.isascii() and port.isdigit() and int(port) <= 65535)


def _url(raw: str) -> str:
    """http:// or https:// URL"""
    _printable(raw, "a URL", 2048)
    if _plain_http_url(raw.strip()):  # the usual endpoint, without urllib.parse (it imports
        return raw.strip()  # ipaddress: ~7 ms of a ~40 ms `cmdscope run` with an endpoint set)
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise Bad(f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Bad("must be an http:// or https:// URL with a host")
    return raw.strip()


def _source(raw: str) -> str:
    """git URL or directory"""
    if not raw.strip() or any(ch.isspace() for ch in raw):
        raise Bad("must be a git URL or a directory, without spaces")
    return _printable(raw, "a source")


def _sha256(raw: str) -> str:
    """64 hex digits (optionally sha256:...)"""
    value = raw.strip().lower().removeprefix("sha256:")
    if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
        raise Bad("must be 64 hex digits (sha256)")
    return value


def _key(raw: str) -> str:
    """any text (the HMAC key)"""
    return raw


def _path(raw: str) -> str:
    """path of a regular file (or of none yet)"""
    import stat

    _printable(raw, "a path", 4096)
    if raw.endswith(os.sep):
        raise Bad("is a directory, not a file")
    try:
        mode = os.lstat(raw).st_mode
    except OSError:
        return raw  # not there yet: the ledger creates it (a parent it cannot create drops, counted)
    if stat.S_ISDIR(mode):
        raise Bad("is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise Bad("is not a regular file (a symlink, FIFO or device is never written through)")
    return raw


def _paths(kind: str, instead: str | None = None) -> Callable[[str], tuple[str, ...]]:
    """``os.pathsep``-separated existing files or directories; the missing ones are left out."""

    def parse(raw: str) -> tuple[str, ...]:
        entries = [e for e in raw.split(os.pathsep) if e]
        found = tuple(e for e in entries if os.path.exists(os.path.expanduser(e)))
        missing = [e for e in entries if e not in found]
        if missing:
            raise Bad(f"{', '.join(repr(m) for m in missing)} does not exist", partial=found,
                      used=instead or ("the entries that exist" if found else f"no {kind}"))
        return found

    parse.__doc__ = f"{os.pathsep}-separated {kind}"
    return parse


def _webhooks(raw: str) -> tuple[str, ...]:
    """comma-separated http(s) URLs, each optionally slack+"""
    good: list[str] = []
    bad: list[str] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        try:
            _url(entry.removeprefix("slack+"))
            good.append(entry)
        except Bad:
            bad.append(entry)
    if bad:
        raise Bad(f"{', '.join(repr(b) for b in bad)} is not an http(s) URL", partial=tuple(good),
                  used="the other webhooks" if good else "no webhook")
    return tuple(good)


# --- the list ----------------------------------------------------------------------------------


class Setting:
    """One variable: how it parses, its default, what a bad value does, and what it is for."""

    __slots__ = ("name", "parse", "default", "on_bad", "doc", "shown_default", "bad_text")

    def __init__(self, name: str, parse: Callable[[str], Any], default: Any, doc: str, *,
                 on_bad: str = DEFAULT, shown_default: str | None = None, bad_text: str | None = None) -> None:
        self.name = name
        self.parse = parse
        self.default = default
        self.on_bad = on_bad
        self.doc = doc
        self.bad_text = bad_text
        self.shown_default = shown_default if shown_default is not None else ("unset" if default is None else str(default))

    @property
    def accepts(self) -> str:
        return (self.parse.__doc__ or "").strip().splitlines()[0]


_GUARD_MODES = ("observe", "warn", "enforce")  # guard.sources.MODES (a test keeps them equal)
_FSYNC_MODES = ("never", "batch", "always")  # sinks.ledger.FSYNC_MODES (likewise)

SETTINGS: tuple[Setting, ...] = (
    # the guard: a bad value refuses
    Setting("CMDSCOPE_GUARD", _switch, True, "the guard on or off", on_bad=REFUSE, shown_default="on"),
    Setting("CMDSCOPE_GUARD_MODE", _enum(*_GUARD_MODES, fold=False), None, "observe, warn or enforce the policy",
            on_bad=REFUSE, shown_default="the policy's (enforce)"),
    Setting("CMDSCOPE_GUARD_FAIL", _enum("open", "closed"), "open",
            "what a broken guard or unreadable hook input does: allow with a warning (open) or block (closed)",
            on_bad=REFUSE),
    Setting("CMDSCOPE_POLICY_PATH", _paths("policy files or directories"), (), "organisation/user policy layers",
            on_bad=REFUSE_IF_CLOSED, shown_default="none"),
    Setting("CMDSCOPE_REGISTRY_PATH", _paths("danger registry overlays"), (), "danger-rule overlay directories",
            on_bad=REFUSE_IF_CLOSED, shown_default="none"),
    # recording
    Setting("CMDSCOPE_DISABLED", _flag, False, "1: run commands bare, record nothing", shown_default="0"),
    Setting("CMDSCOPE_LEDGER", _path, None, "the ledger file", shown_default="$XDG_STATE_HOME/cmdscope/ledger.jsonl"),
    Setting("CMDSCOPE_LEDGER_MAX_BYTES", _whole(0), 64 * 1024 * 1024,
            "rotate the ledger past this size in bytes (0: never)", shown_default="67108864 (64 MiB)"),
    Setting("CMDSCOPE_FSYNC", _enum(*_FSYNC_MODES), "batch", "when ledger writes reach the disk"),
    Setting("CMDSCOPE_REPORT_JOBS", _jobs, None,
            "processes a report reads the ledger with (1: one; a number: that many, whatever the size)",
            shown_default="auto: one per usable CPU from 64 MB of segments, one when no CPU is idle"),
    Setting("CMDSCOPE_LEDGER_SEAL", _flag, False, "1: hash-chain every ledger record", shown_default="0"),
    Setting("CMDSCOPE_SEAL_KEY", _key, None, "HMAC key of the seal chain", bad_text="none: every value is a key"),
    Setting("CMDSCOPE_REDACT_PATTERNS",
            _paths("redaction pattern files", "[REDACTION FAILED] for every free-text field"), (),
            "extra redaction pattern files", shown_default="none",
            bad_text="one warning line; free-text fields are recorded as `[REDACTION FAILED]` rather than "
                     "unredacted"),
    Setting("CMDSCOPE_TAXONOMY_PATH", _paths("failure taxonomy overlays"), (), "failure taxonomy overlays",
            shown_default="none", bad_text="one warning line; the missing entries are left out"),
    Setting("CMDSCOPE_NOTIFY_WEBHOOKS", _webhooks, (), "webhooks told of denials and critical commands",
            shown_default="none", bad_text="one warning line; the valid webhooks are used"),
    Setting("CMDSCOPE_NUDGE", _flag, True, "0: no commit nudge after a green gate", shown_default="1"),
    # who and where (free text: printable, at most 256 characters)
    Setting("CMDSCOPE_ACTOR", _text, None, "who runs the command", shown_default="user"),
    Setting("CMDSCOPE_SESSION", _text, None, "the agent session id"),
    Setting("CMDSCOPE_PACKET", _text, None, "the work packet (overrides the worktree's active packet)"),
    Setting("CMDSCOPE_PHASE", _text, None, "the SDLC phase", shown_default="inferred from the command"),
    Setting("CMDSCOPE_WORKTREE", _text, None, "the worktree recorded", shown_default="read from git"),
    Setting("CMDSCOPE_BRANCH", _text, None, "the branch recorded", shown_default="read from git"),
    Setting("CMDSCOPE_REVISION", _text, None, "the revision recorded", shown_default="read from git"),
    # the team registry
    Setting("CMDSCOPE_REGISTRY_SYNC_URL", _source, None, "where `cmdscope registry sync` fetches from",
            shown_default="the last source synced"),
    Setting("CMDSCOPE_REGISTRY_SYNC_SHA256", _sha256, None, "the registry digest `registry sync` must see"),
    # the agent hooks
    Setting("CMDSCOPE_HOOKD", _switch, True, "off: the hook client never uses the warm daemon", shown_default="on"),
    Setting("CMDSCOPE_HOOKD_IDLE", _seconds, 900.0, "seconds the hook daemon lives without a request",
            shown_default="900"),
    Setting("CMDSCOPE_RAISE_INTERNAL", _flag, False, "1 (tests): internal errors raise instead of warning",
            shown_default="0"),
    # OpenTelemetry (the standard names)
    Setting("OTEL_SDK_DISABLED", _enum("true", "false"), "false", "true: no shipping"),
    Setting("OTEL_SERVICE_NAME", _text, "cmdscope", "service.name of spans, metrics and logs"),
    Setting("OTEL_EXPORTER_OTLP_ENDPOINT", _url, None, "OTLP endpoint; set: records are shipped"),
    Setting("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", _url, None, "OTLP endpoint for traces only"),
    Setting("OTEL_EXPORTER_OTLP_PROTOCOL", _enum("http/protobuf", "grpc"), "http/protobuf", "OTLP transport"),
    Setting("OTEL_EXPORTER_OTLP_TIMEOUT", _millis, None, "export timeout in milliseconds",
            shown_default="2000 (`cmdscope.configure()`; `cmdscope ship` takes `--timeout`)"),
    Setting("OTEL_TRACES_EXPORTER", _enum("otlp", "console", "none"), None, "span exporter",
            shown_default="otlp with an endpoint, else none"),
    Setting("OTEL_METRICS_EXPORTER", _enum("otlp", "prometheus", "console", "none"), None, "metric exporter",
            shown_default="otlp with an endpoint, else none"),
    Setting("OTEL_LOGS_EXPORTER", _enum("otlp", "none"), "otlp", "log exporter of `cmdscope ship`"),
    Setting("OTEL_EXPORTER_PROMETHEUS_HOST", _host, "127.0.0.1", "Prometheus exporter address"),
    Setting("OTEL_EXPORTER_PROMETHEUS_PORT", _whole(0, 65535), 9464, "Prometheus exporter port"),
    Setting("OTEL_METRIC_EXPORT_INTERVAL", _whole(1), 60000, "metric export interval in milliseconds"),
)

NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)
_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

# Names that appear in src/ but are not settings cmdscope reads (the drift test allows these).
NOT_SETTINGS: dict[str, str] = {
    "CMDSCOPE_HOOK_PYTHON": "written into the installed hook wrapper script, which reads it (shell)",
    "CMDSCOPE_HOOK_CLIENT": "written into the installed hook wrapper script, which reads it (shell)",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "read by opentelemetry-instrument, not by cmdscope",
    "CMDSCOPE_BRIDGE_TIMEOUT_MS": "read by the OpenCode plugin (TypeScript); a bad value uses 10000",
    "CMDSCOPE_COMMAND": "read by the OpenCode plugin (TypeScript): the cmdscope command line to start",
}


# --- parsed settings ------------------------------------------------------------------------


class Problem:
    """One bad value: the variable, its raw text, why, what is used instead, and whether it refuses."""

    __slots__ = ("name", "raw", "reason", "used", "refuses")

    def __init__(self, name: str, raw: str, reason: str, used: str, refuses: bool) -> None:
        self.name, self.raw, self.reason, self.used, self.refuses = name, raw, reason, used, refuses

    def __str__(self) -> str:
        raw = self.raw if len(self.raw) <= 80 else self.raw[:77] + "..."
        then = "refused: nothing runs (a setting that decides safety is never guessed)" if self.refuses \
            else f"using {self.used}"
        return f"{self.name}={raw!r}: {self.reason}; {then}"


class Settings:
    """The parsed values of one environment; ``problems`` in :data:`SETTINGS` order."""

    __slots__ = ("values", "problems", "raw")

    def __init__(self, values: dict[str, Any], problems: tuple[Problem, ...], raw: dict[str, str]) -> None:
        self.values = values
        self.problems = problems
        self.raw = raw

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def problem(self, name: str) -> Problem | None:
        for p in self.problems:
            if p.name == name:
                return p
        return None

    @property
    def refusal(self) -> Problem | None:
        """The first bad value that must stop a command, or None."""
        for p in self.problems:
            if p.refuses:
                return p
        return None


_NAMES_B = tuple(os.fsencode(n) for n in NAMES)
# The encoded environment as a plain dict (CPython's ``os.environb._data``, which ``os.environ``
# keeps in step on every set and delete): ``Mapping.get`` on ``os.environb`` raises and catches
# a KeyError per unset name, ~40 us for the list against ~2 us here, on every command of a
# long-lived process (the library, the hook daemon). Elsewhere: the public mapping.
_data = getattr(os.environb, "_data", None)
_ENVIRON_B: Mapping[bytes, bytes] = _data if isinstance(_data, dict) else os.environb


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse every setting of ``environ`` (default: this process's environment); never raises."""
    if environ is None:  # only the variables that are set (a miss on os.environ costs a KeyError)
        env: Mapping[str, str] = {n: os.fsdecode(v) for n, v in zip(NAMES, map(_ENVIRON_B.get, _NAMES_B))
                                  if v is not None}
    else:
        env = environ
    values: dict[str, Any] = {}
    pending: list[tuple[Setting, str, Bad]] = []
    raw_seen: dict[str, str] = {}
    for s in SETTINGS:
        raw = env.get(s.name)
        if raw is None or raw == "":
            values[s.name] = s.default
            continue
        raw_seen[s.name] = raw
        try:
            values[s.name] = s.parse(raw)
        except Bad as exc:
            values[s.name] = s.default if exc.partial is None else exc.partial
            pending.append((s, raw, exc))
    active = values["CMDSCOPE_DISABLED"] is not True  # disabled: cmdscope stays out, refuses nothing
    guard_on = active and values["CMDSCOPE_GUARD"] is not False
    closed = values["CMDSCOPE_GUARD_FAIL"] == "closed"
    problems: list[Problem] = []
    for s, raw, bad in pending:
        refuses = guard_on and (s.on_bad == REFUSE or (s.on_bad == REFUSE_IF_CLOSED and closed))
        if s.name == "CMDSCOPE_GUARD":
            refuses = active
        problems.append(Problem(s.name, raw, str(bad), bad.used or f"the default, {s.shown_default}", refuses))
    return Settings(values, tuple(problems), raw_seen)


_memo: dict[tuple[bytes | None, ...], Settings] = {}


def current() -> Settings:
    """The settings of this process's environment now (memoised on the raw variables)."""
    key = tuple(map(_ENVIRON_B.get, _NAMES_B))
    hit = _memo.get(key)
    if hit is None:
        if len(_memo) > 64:
            _memo.clear()
        hit = _memo[key] = load()
    return hit


def of(environ: Mapping[str, str] | None) -> Settings:
    """The settings of ``environ`` (a hook client's, forwarded to the daemon), else this process's."""
    return current() if environ is None or environ is os.environ else load(environ)


def forget() -> None:
    """Re-read on the next call (path settings look at the file system: a long-lived process
    such as the hook daemon calls this per request)."""
    _memo.clear()


def get(name: str) -> Any:
    """The parsed value of one setting (its default when unset or bad)."""
    return current().values[name]


def refusal() -> Problem | None:
    return current().refusal


_announced: set[tuple[str, str]] = set()


def announce(settings: Settings | None = None, write: Callable[[str], Any] | None = None,
             prefix: str = "cmdscope", *, once: bool = True) -> list[str]:
    """Write one line per bad value (once per process and value); returns the lines."""
    settings = settings or current()
    lines: list[str] = []
    for p in settings.problems:
        if once and (p.name, p.raw) in _announced:
            continue
        if once:
            _announced.add((p.name, p.raw))
        lines.append(f"{prefix}: {p}\n")
    if lines:
        out = write or sys.stderr.write
        try:
            for line in lines:
                out(line)
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the command
    return lines


# --- docs -----------------------------------------------------------------------------------


_ON_BAD_TEXT = {
    DEFAULT: "one warning line; the default is used",
    REFUSE: "**refused**: nothing runs (exit 2; an agent hook denies)",
    REFUSE_IF_CLOSED: "one warning line, the missing entries are left out; **refused** with `CMDSCOPE_GUARD_FAIL=closed`",
}


def markdown_table(settings: Iterable[Setting] = SETTINGS) -> str:
    """The settings table of docs/reliability.md (regenerate: ``python scripts/gen_settings_table.py``)."""
    rows = ["| Variable | Accepts | Default | For | A bad value |", "|---|---|---|---|---|"]
    for s in settings:
        rows.append(f"| `{s.name}` | {s.accepts} | {s.shown_default} | {s.doc} | {s.bad_text or _ON_BAD_TEXT[s.on_bad]} |")
    return "\n".join(rows) + "\n"
