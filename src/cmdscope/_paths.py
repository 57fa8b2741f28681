"""Where cmdscope's shipped data and local state live.

The ``*_str`` variants serve the per-command hot path: importing pathlib (with urllib.parse,
ipaddress and fnmatch behind it) costs ~5 ms, a noticeable share of a ``cmdscope run``.
"""

from __future__ import annotations

import os


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

PACKAGE_DIR_STR = os.path.dirname(os.path.realpath(__file__))


def builtin_registry_dir_str() -> str:
    return os.path.join(PACKAGE_DIR_STR, "_registry")


def builtin_registry_dir() -> Path:
    """The shipped registry: ``registry/`` of the checkout, or its copy inside the wheel."""
    from pathlib import Path

    return Path(builtin_registry_dir_str())


# Both paths are looked up on every command: memoised on the raw variables they derive from
# (read from CPython's encoded environment, which os.environ keeps in step).
_memo: dict[tuple[str, bytes | None, bytes | None, bytes | None], str] = {}


def _env_key(kind: str) -> tuple[str, bytes | None, bytes | None, bytes | None] | None:
    return (kind, os.environb.get(b"CMDSCOPE_LEDGER"), os.environb.get(b"XDG_STATE_HOME"), os.environb.get(b"HOME"))


def state_dir_str() -> str:
    key = _env_key("state")
    hit = _memo.get(key) if key is not None else None
    if hit is None:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        hit = os.path.join(base, "cmdscope")
        if key is not None:
            _memo[key] = hit
    return hit


def state_dir() -> Path:
    from pathlib import Path

    return Path(state_dir_str())


def default_ledger_path_str() -> str:
    key = _env_key("ledger")
    hit = _memo.get(key) if key is not None else None
    if hit is None:
        from cmdscope import _settings as settings  # a bad CMDSCOPE_LEDGER (a directory) was reported: the default

        hit = settings.get("CMDSCOPE_LEDGER") or os.path.join(state_dir_str(), "ledger.jsonl")
        if key is not None:
            _memo[key] = hit
    return hit


def ledger_path_in(environ: Mapping[str, str]) -> str:
    """The default ledger path for a process with environment ``environ`` (the hook daemon
    records each client's command in that client's ledger)."""
    return environ.get("CMDSCOPE_LEDGER") or os.path.join(state_dir_in(environ), "ledger.jsonl")


def state_dir_in(environ: Mapping[str, str]) -> str:
    """``state_dir_str()`` for a process with environment ``environ``."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state"), "cmdscope")


def default_ledger_path() -> Path:
    from pathlib import Path

    return Path(default_ledger_path_str())


def __getattr__(name: str) -> object:
    if name == "PACKAGE_DIR":  # kept for callers that want a Path
        from pathlib import Path

        return Path(PACKAGE_DIR_STR)
    raise AttributeError(name)


def synced_registry_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """The team registry activated by ``cmdscope registry sync`` (resolved: the path names the
    version, so caches keyed on paths see a new one), or None when none is active."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                     ".local", "state")
    link = os.path.join(base, "cmdscope", "registry", "current")
    try:
        return os.path.join(os.path.dirname(link), os.readlink(link))
    except OSError:
        return None


_synced_memo: dict[str | None, dict[str, str]] = {}


def synced_registry_attributes() -> dict[str, str]:
    """``cmdscope.registry.digest`` and ``cmdscope.registry.team_version`` of the active team
    registry (its directory is named ``<version>@<sha256>``); {} when none is active. Read once
    per process, like the guard's registry itself."""
    key = os.environ.get("XDG_STATE_HOME") or os.environ.get("HOME")
    hit = _synced_memo.get(key)
    if hit is None:
        path = synced_registry_dir()
        version, at, digest = os.path.basename(path or "").rpartition("@")
        hit = {"cmdscope.registry.digest": f"sha256:{digest}",
               "cmdscope.registry.team_version": version} if at and digest else {}
        _synced_memo[key] = hit
    return hit


def file_stamps(paths: list[str]) -> list[str]:
    """`path\0mtime_ns\0size` (or `path\0missing`) per file: cache keys of data read from them."""
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
            stamps.append(f"{path}\0{st.st_mtime_ns}\0{st.st_size}")
        except OSError:
            stamps.append(f"{path}\0missing")
    return stamps


def yaml_files(directory: str) -> list[str]:
    """The ``*.yaml``/``*.yml`` files of a registry directory, sorted ([] when it is missing)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if n.endswith((".yaml", ".yml"))]
