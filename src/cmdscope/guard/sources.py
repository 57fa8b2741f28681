"""Which registry and policy files are in effect, and a cheap fingerprint of them (no YAML read)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cmdscope.paths import builtin_registry_dir

REGISTRY_ENV = "CMDSCOPE_REGISTRY_PATH"
POLICY_ENV = "CMDSCOPE_POLICY_PATH"
MODE_ENV = "CMDSCOPE_GUARD_MODE"
PROJECT_POLICY = os.path.join(".cmdscope", "policy.yaml")
MODES = ("observe", "warn", "enforce")
_GUARD_DIR = Path(__file__).resolve().parent
# Code whose objects live in the cache: a change to any of them invalidates it.
_CACHED_CODE = ("compiled.py", "rules.py", "options.py", "policy.py", "analyzers.py",
                "pathclass.py", "decision.py", "invocation.py", "loader.py", "schema.py",
                "engine.py")


@dataclass(frozen=True)
class Sources:
    builtin: tuple[str, ...]
    user: tuple[str, ...]
    policies: tuple[tuple[str, int], ...]  # (path, layer): 0 default, 1 project, 2 env

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
    root = str(builtin_registry_dir())
    builtin = _yaml_files(os.path.join(root, "danger"))
    user: list[str] = []
    for directory in _split(env.get(REGISTRY_ENV)):
        user.extend(_yaml_files(directory) if os.path.isdir(directory) else [directory])
    policies = [(p, 0) for p in _yaml_files(os.path.join(root, "policies"))]
    if os.path.isfile(PROJECT_POLICY):
        policies.append((os.path.abspath(PROJECT_POLICY), 1))
    for entry in _split(env.get(POLICY_ENV)):
        if os.path.isdir(entry):
            policies.extend((p, 2) for p in _yaml_files(entry))
        else:
            policies.append((entry, 2))
    return Sources(tuple(builtin), tuple(user), tuple(policies))


def fingerprint(sources: Sources) -> str:
    """Hash of every file's path, mtime and size, plus the code the cache holds objects of."""
    from cmdscope._version import __version__

    h = hashlib.sha256(__version__.encode())
    for path in [*sources.all_files(), *(str(_GUARD_DIR / n) for n in _CACHED_CODE)]:
        try:
            st = os.stat(path)
            h.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        except OSError:
            h.update(f"{path}\0missing\n".encode())
    h.update(repr(sources.policies).encode())
    return h.hexdigest()[:24]
