"""Which registry and policy files are in effect, and a cheap fingerprint of them (no YAML read).

Policy layers, by trust: the shipped default (0) and the user's or organisation's
``CMDSCOPE_POLICY_PATH`` files (2) are trusted. The project's ``.cmdscope/policy.yaml`` (1) is
found at the root of the git worktree the command runs in (the nearest directory holding
``.git``, so a nested repository or submodule has its own), or in the directory itself outside
git. Anyone who can write to the repository (a cloned project, an agent's file tools) can write
that file, so it may only tighten the trusted layers, unless the user trusted this file's exact
content with ``cmdscope policy trust`` (like ``direnv allow``: any edit revokes it).
"""

from __future__ import annotations

import os
import zlib

from cmdscope._paths import yaml_files as _yaml_files

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from collections.abc import Mapping

REGISTRY_ENV = "CMDSCOPE_REGISTRY_PATH"
POLICY_ENV = "CMDSCOPE_POLICY_PATH"
MODE_ENV = "CMDSCOPE_GUARD_MODE"
PROJECT_POLICY = os.path.join(".cmdscope", "policy.yaml")
MODES = ("observe", "warn", "enforce")
_GUARD_DIR = os.path.dirname(os.path.abspath(__file__))


def builtin_registry_root() -> str:
    """Same as ``cmdscope._paths.builtin_registry_dir()`` without importing pathlib (~7 ms) on the
    per-command path; tests/test_guard_registry.py checks that the two agree."""
    return os.path.join(os.path.dirname(os.path.realpath(_GUARD_DIR)), "_registry")
# Code whose objects live in the cache: a change to any of them invalidates it.
_CACHED_CODE = ("compiled.py", "rules.py", "options.py", "policy.py", "analyzers.py",
                "pathclass.py", "decision.py", "invocation.py", "loader.py", "schema.py",
                "engine.py")


DEFAULT, PROJECT, USER = 0, 1, 2  # policy layers
LAYER_NAMES = {DEFAULT: "default", PROJECT: "project", USER: "CMDSCOPE_POLICY_PATH"}


class Sources:
    __slots__ = ("builtin", "user", "policies", "trusted")

    def __init__(self, builtin: tuple[str, ...], user: tuple[str, ...],
                 policies: tuple[tuple[str, int], ...], trusted: frozenset[str] = frozenset()) -> None:
        self.builtin = builtin
        self.user = user
        self.policies = policies  # (path, layer): 0 default, 1 project, 2 CMDSCOPE_POLICY_PATH
        self.trusted = trusted    # project policy files the user trusted (by content hash)

    def loosening_allowed(self, path: str, layer: int) -> bool:
        return layer != PROJECT or path in self.trusted

    def all_files(self) -> list[str]:
        return [*self.builtin, *self.user, *(p for p, _ in self.policies)]


def project_root(cwd: str) -> str | None:
    """The nearest directory at or above ``cwd`` that holds ``.git`` (dir or file: worktrees and
    submodules have a file), or None outside git."""
    here = os.path.abspath(cwd)
    while True:
        if os.path.lexists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def project_policy(cwd: str) -> str | None:
    """The project policy file that applies to commands run in ``cwd``, if any."""
    path = os.path.join(project_root(cwd) or os.path.abspath(cwd), PROJECT_POLICY)
    return path if os.path.isfile(path) else None


def trust_dir(environ: Mapping[str, str] | None = None) -> str:
    base = (os.environ if environ is None else environ).get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "cmdscope", "trusted-policies")


def trust_token(path: str) -> str | None:
    """sha256 of the file's real path and content: what ``cmdscope policy trust`` records."""
    try:
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - Python 3.12+ builds name it _sha2
        from hashlib import sha256
    real = os.path.realpath(path)
    try:
        with open(real, "rb") as fh:
            content = fh.read()
    except OSError:
        return None
    return sha256(real.encode("utf-8", "surrogateescape") + b"\0" + content).hexdigest()


def is_trusted(path: str, environ: Mapping[str, str] | None = None) -> bool:
    token = trust_token(path)
    return token is not None and os.path.isfile(os.path.join(trust_dir(environ), token))


def discover(environ: Mapping[str, str] | None = None, cwd: str | None = None) -> Sources:
    env = os.environ if environ is None else environ
    from cmdscope import _settings as settings  # the paths that exist: a missing one was reported before any command ran

    found = settings.current() if environ is None else settings.load(environ)
    root = builtin_registry_root()
    builtin = _yaml_files(os.path.join(root, "danger"))
    user: list[str] = []
    for directory in found[REGISTRY_ENV]:
        user.extend(_yaml_files(directory) if os.path.isdir(directory) else [directory])
    from cmdscope._paths import synced_registry_dir  # the team registry (cmdscope registry sync)

    synced = synced_registry_dir(env)
    if synced:
        user.extend(_yaml_files(os.path.join(synced, "danger")))
    # Only the guard's default policy: registry/policies/ also holds other subsystems' files.
    default = os.path.join(root, "policies", "default.yaml")
    policies = [(default, 0)] if os.path.isfile(default) else []
    trusted: set[str] = set()
    project = project_policy(cwd or os.getcwd())
    if project is not None:
        policies.append((project, PROJECT))
        if is_trusted(project, env):
            trusted.add(project)
    for entry in found[POLICY_ENV]:
        if os.path.isdir(entry):
            policies.extend((p, 2) for p in _yaml_files(entry))
        else:
            policies.append((entry, 2))
    return Sources(tuple(builtin), tuple(user), tuple(policies), frozenset(trusted))


def fingerprint(sources: Sources) -> str:
    """Every registry and policy file's path and contents (digest), plus the code the cache holds
    objects of (the cache stores this whole key and is rebuilt when it differs; the file name is
    its CRC)."""
    from cmdscope._version import __version__

    from cmdscope._digest import sha256_hex

    parts = [__version__, repr(sources.policies), repr(sorted(sources.trusted))]
    for path in sources.all_files():  # by contents: an edit that keeps mtime and size still counts
        try:
            with open(path, "rb") as fh:
                parts.append(f"{path}\0{sha256_hex(fh.read())}")
        except OSError:
            parts.append(f"{path}\0missing")
    for path in (os.path.join(_GUARD_DIR, n) for n in _CACHED_CODE):
        try:
            st = os.stat(path)
            parts.append(f"{path}\0{st.st_mtime_ns}\0{st.st_size}")
        except OSError:
            parts.append(f"{path}\0missing")
    return "\n".join(parts)


def key_name(key: str) -> str:
    return f"{zlib.crc32(key.encode()):08x}{len(key):x}"


def trust(path: str, *, revoke: bool = False) -> str:
    """Record (or with ``revoke`` forget) that the user trusts ``path`` as it is now; returns
    the token. Any later edit of the file changes the token, so the trust lapses."""
    token = trust_token(path)
    if token is None:
        raise OSError(f"{path}: cannot read")
    folder = trust_dir()
    entry = os.path.join(folder, token)
    if revoke:
        try:
            os.unlink(entry)
        except FileNotFoundError:
            pass
        return token
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(os.path.realpath(path) + "\n")
    return token
