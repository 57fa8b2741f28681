"""Which registry and policy files are in effect, and a cheap fingerprint of them (no YAML read)."""

from __future__ import annotations

import os
import zlib

REGISTRY_ENV = "CMDSCOPE_REGISTRY_PATH"
POLICY_ENV = "CMDSCOPE_POLICY_PATH"
MODE_ENV = "CMDSCOPE_GUARD_MODE"
PROJECT_POLICY = os.path.join(".cmdscope", "policy.yaml")
MODES = ("observe", "warn", "enforce")
_GUARD_DIR = os.path.dirname(os.path.abspath(__file__))


def builtin_registry_root() -> str:
    """Same as ``cmdscope.paths.builtin_registry_dir()`` without importing pathlib (~7 ms) on the
    per-command path; tests/test_guard_registry.py checks that the two agree."""
    return os.path.join(os.path.dirname(os.path.realpath(_GUARD_DIR)), "_registry")
# Code whose objects live in the cache: a change to any of them invalidates it.
_CACHED_CODE = ("compiled.py", "rules.py", "options.py", "policy.py", "analyzers.py",
                "pathclass.py", "decision.py", "invocation.py", "loader.py", "schema.py",
                "engine.py")


class Sources:
    __slots__ = ("builtin", "user", "policies")

    def __init__(self, builtin: tuple[str, ...], user: tuple[str, ...],
                 policies: tuple[tuple[str, int], ...]) -> None:
        self.builtin = builtin
        self.user = user
        self.policies = policies  # (path, layer): 0 default, 1 project, 2 CMDSCOPE_POLICY_PATH

    def all_files(self) -> list[str]:
        return [*self.builtin, *self.user, *(p for p, _ in self.policies)]


def _yaml_files(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if n.endswith((".yaml", ".yml"))]


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(os.pathsep) if part]


def discover(environ: os._Environ[str] | dict[str, str] | None = None) -> Sources:
    env = os.environ if environ is None else environ
    root = builtin_registry_root()
    builtin = _yaml_files(os.path.join(root, "danger"))
    user: list[str] = []
    for directory in _split(env.get(REGISTRY_ENV)):
        user.extend(_yaml_files(directory) if os.path.isdir(directory) else [directory])
    # Only the guard's default policy: registry/policies/ also holds other subsystems' files.
    default = os.path.join(root, "policies", "default.yaml")
    policies = [(default, 0)] if os.path.isfile(default) else []
    if os.path.isfile(PROJECT_POLICY):
        policies.append((os.path.abspath(PROJECT_POLICY), 1))
    for entry in _split(env.get(POLICY_ENV)):
        if os.path.isdir(entry):
            policies.extend((p, 2) for p in _yaml_files(entry))
        else:
            policies.append((entry, 2))
    return Sources(tuple(builtin), tuple(user), tuple(policies))


def fingerprint(sources: Sources) -> str:
    """Every registry and policy file's path and contents (digest), plus the code the cache holds
    objects of (the cache stores this whole key and is rebuilt when it differs; the file name is
    its CRC)."""
    from cmdscope._version import __version__

    from cmdscope._digest import sha256_hex

    parts = [__version__, repr(sources.policies)]
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
