"""Classify a path argument by what deleting it would cost (DANGER_POLICY rules 5 and 6)."""

from __future__ import annotations

import posixpath
import re

# Regenerable, clearly local directories (rule 5).
REGENERABLE = frozenset({
    "node_modules", "dist", "build", "target", "out", ".next", "coverage", "__pycache__",
    ".pytest_cache", ".venv", "venv", ".terraform", ".mypy_cache", ".ruff_cache", ".tox", ".nox",
    ".nuxt", ".cache", ".parcel-cache", ".turbo", "htmlcov", ".eggs", ".gradle", ".svelte-kit",
    ".angular", "bower_components", ".hypothesis", ".coverage", "tmp", ".tmp",
    # package-manager caches (rule 5: caches are regenerable)
    ".npm", "_cacache", ".pnpm-store", ".yarn-cache", ".bun", ".cache-loader",
})
SYSTEM_TOP = frozenset({
    "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sbin", "srv",
    "sys", "usr", "var", "snap", "mnt", "media", "run", "home", "Users", "lost+found", "System",
    "Library", "Applications", "private",
})
TMP_ROOTS = ("/tmp/", "/var/tmp/", "/private/tmp/", "/dev/shm/")
MKTEMP_SENTINEL = "/tmp/cmdscope.mktemp"  # what ``$(mktemp -d)`` resolves to while matching
_HOME_RE = re.compile(r"^(?:~[A-Za-z0-9_.-]*|\$HOME|\$\{HOME\}|/root|/home/[^/]+|/Users/[^/]+)(?=/|$)")
_TMP_VAR_RE = re.compile(r"^(?:\$TMPDIR|\$\{TMPDIR\}|\$TMP|\$\{TMP\}|\$TEMP|\$\{TEMP\})(?=/|$)")
_GLOB = re.compile(r"[*?\[]")

CLASSES = ("root", "system", "home", "home_top", "home_deep", "tmp", "regenerable", "cwd",
           "parent", "vcs", "source", "pattern", "opaque")


def _is_regenerable_part(part: str) -> bool:
    return part in REGENERABLE or part.endswith(".egg-info")


def classify_path(raw: str) -> str:
    """One of CLASSES. ``opaque`` means the value is unknown here (an unresolved variable)."""
    path = raw.strip()
    if not path:
        return "opaque"
    tmp = _TMP_VAR_RE.match(path)
    if tmp:
        rest = path[tmp.end():].strip("/")
        return "tmp" if rest else "system"
    home = _HOME_RE.match(path)
    if home:
        return _classify_home(path[home.end():])
    if "$" in path or "`" in path:
        prefix = re.split(r"[$`]", path, maxsplit=1)[0]
        if any(prefix.startswith(root) for root in TMP_ROOTS) and ".." not in path:
            return "tmp"
        return "opaque"
    parts_glob = _GLOB.search(path)
    if parts_glob:
        head, _, last = path.rstrip("/").rpartition("/")
        if last in ("*", ".*", "*.*", ".[!.]*", "{*,.*}"):
            parent = head if head else ("/" if path.startswith("/") else ".")
            if posixpath.normpath(parent) + "/" in TMP_ROOTS:
                return "tmp"  # /tmp/*: everything strictly below /tmp
            if not parent.startswith("/") and parent in (".", "") and "/" not in path.rstrip("/"):
                return "cwd"
            return classify_path(parent)
        if path.startswith("/") and ".." not in path:
            # /???, /e*, /usr/l*: a pattern over system directories reaches them (rule 5)
            parent = classify_path(head) if head else "root"
            if posixpath.normpath(head) + "/" in TMP_ROOTS or parent == "tmp":
                return "tmp"
            if parent in ("root", "system"):
                return "system"
        return "pattern"
    if path.startswith("/"):
        norm = posixpath.normpath(path)
        if norm in ("/", "//"):
            return "root"
        if any(norm.startswith(root) for root in TMP_ROOTS) and norm.count("/") >= 2:
            return "tmp"
        parts = norm.strip("/").split("/")
        if len(parts) > 1 and any(_is_regenerable_part(p) for p in parts[1:]):
            return "regenerable"
        if parts[0] in SYSTEM_TOP or len(parts) == 1:
            return "system"
        return "source"
    norm = posixpath.normpath(path)
    if norm == ".":
        return "cwd"
    if norm == ".." or norm.startswith("../"):
        rest = norm.lstrip("./")
        return "parent" if not rest else (
            "regenerable" if any(_is_regenerable_part(p) for p in rest.split("/")) else "source")
    parts = norm.split("/")
    if ".git" in parts:
        return "vcs"
    if any(_is_regenerable_part(p) for p in parts):
        return "regenerable"
    return "source"


def _classify_home(rest: str) -> str:
    parts = [p for p in posixpath.normpath("/" + rest).split("/") if p]
    if not parts or parts == ["*"]:
        return "home"
    if parts[0] == ".." or parts[0] == ".":
        return "system"
    if any(_is_regenerable_part(p) for p in parts):
        return "regenerable"
    if _GLOB.search(parts[-1]) and parts[-1] not in ("*", ".*"):
        return "home" if len(parts) == 1 else "pattern"  # ~/???*: every top-level entry
    return "home_top" if len(parts) == 1 or (len(parts) == 2 and parts[1] in ("*", ".*")) else "home_deep"
