"""Who ran a command, where and why: actor, session, worktree, branch, revision, packet, phase.

Resolution order for every field: explicit argument > enclosing ``cmdscope.context()`` scope >
``CMDSCOPE_*`` environment > git > default. Git facts are read from the ``.git`` files directly
(``HEAD``, refs, ``packed-refs``) instead of spawning ``git rev-parse``: a spawn costs about a
millisecond, the file reads a few microseconds, and the answer is cached per directory.
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager

TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:  # dataclasses and typing cost ~20 ms of import on the per-command CLI path
    from typing import Any, Iterator, Mapping

FIELDS = ("actor", "session", "packet", "phase", "worktree", "branch", "revision")
ENV = {name: f"CMDSCOPE_{name.upper()}" for name in FIELDS}
DEFAULT_ACTOR = "user"


class Context:
    """An immutable set of context fields (a slotted class: a dataclass would cost its import)."""

    __slots__ = (*FIELDS, "_hash", "_attrs")
    actor: str | None
    session: str | None
    packet: str | None
    phase: str | None
    worktree: str | None
    branch: str | None
    revision: str | None

    def __init__(
        self,
        actor: str | None = None,
        session: str | None = None,
        packet: str | None = None,
        phase: str | None = None,
        worktree: str | None = None,
        branch: str | None = None,
        revision: str | None = None,
    ) -> None:
        set_ = object.__setattr__
        for name, value in zip(FIELDS, (actor, session, packet, phase, worktree, branch, revision)):
            set_(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Context is immutable; use merged()")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and all(getattr(self, f) == getattr(other, f) for f in FIELDS)

    def __hash__(self) -> int:
        try:
            return self._hash  # type: ignore[attr-defined, no-any-return]
        except AttributeError:  # immutable: computed once (contexts key per-command caches)
            value = hash(tuple(getattr(self, f) for f in FIELDS))
            object.__setattr__(self, "_hash", value)
            return value

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in FIELDS if getattr(self, f) is not None)
        return f"Context({shown})"

    def merged(self, **overrides: str | None) -> "Context":
        """A copy where every override that is not None replaces the field."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        return Context(**{f: given.get(f, getattr(self, f)) for f in FIELDS})

    def attributes(self) -> dict[str, object]:
        """The context as record attributes (docs/telemetry.md); built once per context."""
        try:
            return dict(self._attrs)  # type: ignore[attr-defined]
        except AttributeError:
            attrs = self._attributes()
            object.__setattr__(self, "_attrs", attrs)
            return dict(attrs)

    def _attributes(self) -> dict[str, object]:
        attrs: dict[str, object] = {"cmdscope.actor": self.actor or DEFAULT_ACTOR}
        if self.session:
            attrs["session.id"] = self.session
        if self.worktree:
            attrs["cmdscope.worktree"] = self.worktree
        if self.packet:
            attrs["cmdscope.packet"] = self.packet
        if self.phase:
            attrs["cmdscope.phase"] = self.phase
        if self.branch:
            attrs["vcs.ref.head.name"] = self.branch
        if self.revision:
            attrs["vcs.ref.head.revision"] = self.revision
        return attrs

    def env(self) -> dict[str, str]:
        """``CMDSCOPE_*`` variables that carry this context into a child process."""
        out = {}
        for name in ("actor", "session", "packet", "phase"):
            value = getattr(self, name)
            if value:
                out[ENV[name]] = value
        return out


_scope: contextvars.ContextVar[Context] = contextvars.ContextVar("cmdscope_context", default=Context())


@contextmanager
def context(**fields: str | None) -> Iterator[Context]:
    """Scope actor/session/packet/phase for every command run inside; nests, innermost wins."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"cmdscope.context() got unknown field(s): {', '.join(sorted(unknown))}")
    token = _scope.set(_scope.get().merged(**fields))
    try:
        yield _scope.get()
    finally:
        _scope.reset(token)


def current_scope() -> Context:
    return _scope.get()


_UNSET: Any = object()


def resolve(cwd: str | None = None, environ: Mapping[str, str] | None = None, *, git: bool = True,
            active: Any = _UNSET, **explicit: str | None) -> Context:
    """The effective context for a command run in ``cwd``.

    ``git=False`` leaves worktree/branch/revision to :func:`with_git` (the runner reads them
    while the child runs); ``active`` is the worktree's packet state when already read.
    """
    source: Mapping[str, Any]
    if environ is None:  # this process's: parsed before any command ran (cmdscope._settings)
        from cmdscope import _settings as settings

        source = settings.current().values
    else:
        source = environ
    lookup = source.get
    scope = _scope.get()
    values: dict[str, str | None] = {}
    for name in FIELDS:
        values[name] = explicit.get(name) or getattr(scope, name) or lookup(ENV[name]) or None
    if not values["packet"]:
        state = active_packet(cwd) if active is _UNSET else active
        if state:
            values["packet"] = state["packet"]
    values["actor"] = values["actor"] or DEFAULT_ACTOR
    ctx = Context(**values)  # type: ignore[arg-type]
    return with_git(ctx, cwd) if git else ctx


def with_git(ctx: Context, cwd: str | None) -> Context:
    """``ctx`` with worktree, branch and revision filled in from git where unset."""
    if ctx.worktree and ctx.branch and ctx.revision:
        return ctx
    try:
        facts = git_facts(cwd or os.getcwd())  # read every time: a commit between commands shows
    except OSError:  # the working directory was removed
        facts = {}
    return ctx.merged(worktree=ctx.worktree or facts.get("worktree"), branch=ctx.branch or facts.get("branch"),
                      revision=ctx.revision or facts.get("revision"))


# --- the active packet of a worktree (``cmdscope packet start``) ----------------------------

_packets: dict[str, tuple[tuple[int, int, int], dict[str, str] | None]] = {}


_packet_paths: dict[str, str | None] = {}


def packet_state_path(cwd: str | None = None) -> str | None:
    """``<git dir>/cmdscope/packet.json`` of the worktree containing ``cwd`` (per worktree;
    cached per directory, like the git location it derives from)."""
    try:
        where = cwd or os.getcwd()
    except OSError:  # the working directory was removed
        return None
    try:
        return _packet_paths[where]
    except KeyError:
        found = _git_location(where)
        path = _packet_paths[where] = os.path.join(found[1], "cmdscope", "packet.json") if found else None
        return path


def active_packet(cwd: str | None = None) -> dict[str, str] | None:
    """The packet started in this worktree and not yet ended, or None.

    One ``stat`` per call; the file is re-read only when it changed (it is replaced atomically
    by ``cmdscope packet start|end``), so a command pays at most one small read.
    """
    path = packet_state_path(cwd)
    if path is None or not os.access(path, os.F_OK):  # no exception for the usual "no packet"
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _packets.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    state: dict[str, str] | None = None
    import json  # only when a packet is active: json pulls in re (~3 ms) on the package import

    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        if isinstance(raw, dict) and isinstance(raw.get("packet"), str) and raw["packet"]:
            state = raw
    except (OSError, ValueError):
        state = None
    _packets[path] = (key, state)
    return state


# --- git, read from files -------------------------------------------------------------------

_git_dirs: dict[str, tuple[str, str] | None] = {}


def git_facts(cwd: str) -> dict[str, str]:
    """``worktree``, ``branch`` and ``revision`` of the checkout containing ``cwd`` (or {}).

    Where the checkout is, is cached per directory; HEAD and the ref are re-read every time
    (a few microseconds) so a commit or checkout between two commands is never missed.
    """
    found = _git_location(cwd)
    if found is None:
        return {}
    top, gitdir = found
    facts = {"worktree": top}
    head = _read_text(os.path.join(gitdir, "HEAD"))
    if head is None:
        return facts
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/"):
            facts["branch"] = ref[len("refs/heads/"):]
        sha = _read_ref(gitdir, ref)
        if sha:
            facts["revision"] = sha
    elif head:
        facts["revision"] = head
    return facts


def _git_location(cwd: str) -> tuple[str, str] | None:
    if cwd in _git_dirs:
        return _git_dirs[cwd]
    found = _git_dirs[cwd] = _find_git(cwd)
    return found


def _find_git(start: str) -> tuple[str, str] | None:
    """(top-level directory, git dir) for ``start``; follows ``.git`` files of linked worktrees."""
    path = os.path.abspath(start)
    while True:
        dotgit = os.path.join(path, ".git")
        if os.path.isdir(dotgit):
            return path, dotgit
        if os.path.isfile(dotgit):
            try:
                with open(dotgit, encoding="utf-8") as fh:
                    line = fh.read().strip()
            except OSError:
                return None
            if line.startswith("gitdir:"):
                gitdir = line[7:].strip()
                if not os.path.isabs(gitdir):
                    gitdir = os.path.normpath(os.path.join(path, gitdir))
                return path, gitdir
            return None
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _read_text(path: str) -> str | None:
    """A small file's stripped text, or None. Raw os calls: ``open()`` builds a TextIOWrapper,
    which made reading HEAD and a ref a large share of the per-command bookkeeping."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode("utf-8", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


_common_dirs: dict[str, str] = {}


def _common_dir(gitdir: str) -> str:
    """The shared git dir of a linked worktree (its ``commondir`` file), else ``gitdir``; cached."""
    cached = _common_dirs.get(gitdir)
    if cached is None:
        common = _read_text(os.path.join(gitdir, "commondir"))
        if not common:
            cached = gitdir
        else:
            cached = common if os.path.isabs(common) else os.path.normpath(os.path.join(gitdir, common))
        _common_dirs[gitdir] = cached
    return cached


def _read_ref(gitdir: str, ref: str) -> str | None:
    sha = _read_text(os.path.join(gitdir, ref))
    if sha:
        return sha
    common = _common_dir(gitdir)
    if common != gitdir:
        sha = _read_text(os.path.join(common, ref))
        if sha:
            return sha
    try:
        with open(os.path.join(_common_dir(gitdir), "packed-refs"), encoding="utf-8") as fh:
            for line in fh:
                if line.endswith(" " + ref + "\n") or line.rstrip("\n").endswith(" " + ref):
                    return line.split(" ", 1)[0]
    except OSError:
        pass
    return None
