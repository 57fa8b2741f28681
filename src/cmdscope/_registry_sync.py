"""``cmdscope registry sync``: fetch the team's registry overlay, verify it, activate it atomically.

A team keeps its overlay in a git repository or as a ``.tar.gz`` at an HTTPS (or ``file://``) URL::

    registry.yaml        optional manifest: version: "2026.12.03"
    danger/*.yaml        danger rules (user layer of the guard registry)
    redaction/*.yaml     redaction rules (overlay of registry/redaction/)

A sync fetches it into a scratch directory, computes its content digest (sha256 over every file's
path and bytes), checks a pinned digest when one is configured, lints it (every danger and
redaction example and near miss, on top of the shipped rules), copies it to
``<state>/registry/versions/<version>@<digest>`` and switches the ``current`` symlink with one
``rename``: a command sees the old registry or the new one, never a mix. Any failure leaves the
last good registry active. ``sync.json`` remembers the last attempt and the latest version seen,
which ``--textfile`` exports for Prometheus and ``cmdscope audit`` checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any

from cmdscope import _settings as settings
from cmdscope._paths import state_dir_str

SOURCE_ENV = "CMDSCOPE_REGISTRY_SYNC_URL"
SHA256_ENV = "CMDSCOPE_REGISTRY_SYNC_SHA256"
TEXTFILE_NAME = "cmdscope_registry.prom"
KEEP_VERSIONS = 3
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_LAYERS = ("danger", "redaction")


class SyncError(RuntimeError):
    """A sync that could not fetch, verify or activate; the last good registry stays active."""


def root() -> str:
    return os.path.join(state_dir_str(), "registry")


def _is_archive(source: str) -> bool:
    return urllib.parse.urlsplit(source).path.endswith((".tar.gz", ".tgz"))


def fetch(source: str, dest: str, ref: str | None = None) -> float:
    """Fetch `source` into the empty directory `dest`; returns its publication time (git commit
    time, or the archive's Last-Modified, or now)."""
    if _is_archive(source):
        return _fetch_archive(source, dest)
    cmd = ["git", "clone", "--quiet", "--depth", "1", "--no-tags"]
    if ref:
        cmd += ["--branch", ref]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run([*cmd, "--", source, dest], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["git clone failed"])[-1]
        raise SyncError(f"cannot fetch {source}: {last}")
    stamp = subprocess.run(["git", "-C", dest, "log", "-1", "--format=%ct"], capture_output=True,
                           text=True, check=False).stdout.strip()
    shutil.rmtree(os.path.join(dest, ".git"), ignore_errors=True)
    return float(stamp) if stamp.isdigit() else time.time()


def _fetch_archive(source: str, dest: str) -> float:
    import tarfile
    from email.utils import parsedate_to_datetime

    try:
        with urllib.request.urlopen(source, timeout=60) as resp:
            data = resp.read()
            modified = resp.headers.get("Last-Modified")
    except (OSError, ValueError) as exc:
        raise SyncError(f"cannot fetch {source}: {exc}") from None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            for member in members:
                name = os.path.normpath(member.name)
                if name.startswith(("..", "/")):
                    raise SyncError(f"{source}: archive member {member.name!r} leaves the archive")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python builds without PEP 706 (checked above instead)
                tar.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SyncError(f"{source}: not a .tar.gz archive: {exc}") from None
    _unwrap(dest)
    if modified:
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(modified).timestamp()
    return time.time()


def _unwrap(dest: str) -> None:
    """An archive of one top directory (`team-registry/danger/...`): use that directory."""
    names = os.listdir(dest)
    if len(names) == 1 and os.path.isdir(os.path.join(dest, names[0])) and names[0] not in _LAYERS:
        inner = os.path.join(dest, names[0])
        for name in os.listdir(inner):
            os.rename(os.path.join(inner, name), os.path.join(dest, name))
        os.rmdir(inner)


def files(tree: str) -> list[str]:
    """The overlay's files, relative: registry.yaml, danger/*.yaml, redaction/*.yaml."""
    out = ["registry.yaml"] if os.path.isfile(os.path.join(tree, "registry.yaml")) else []
    for layer in _LAYERS:
        directory = os.path.join(tree, layer)
        if os.path.isdir(directory):
            out.extend(f"{layer}/{n}" for n in sorted(os.listdir(directory)) if n.endswith((".yaml", ".yml")))
    return out


def digest(tree: str) -> str:
    """sha256 over every overlay file's relative path and bytes, in a fixed order."""
    h = hashlib.sha256()
    for rel in files(tree):
        with open(os.path.join(tree, rel), "rb") as fh:
            data = fh.read()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def manifest_version(tree: str, digest_hex: str) -> str:
    path = os.path.join(tree, "registry.yaml")
    if not os.path.isfile(path):
        return digest_hex[:12]
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SyncError(f"registry.yaml: invalid YAML: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - {"version", "description"}:
        raise SyncError("registry.yaml: field '(file)': expected a mapping with 'version' (and 'description')")
    version = str(raw.get("version") or digest_hex[:12])
    if not _VERSION.match(version):
        raise SyncError(f"registry.yaml: field 'version': {version!r} must match {_VERSION.pattern}")
    return version


def lint(tree: str) -> None:
    """Every danger and redaction rule of the overlay validates and passes its examples."""
    if not files(tree) or files(tree) == ["registry.yaml"]:
        raise SyncError("the source holds no danger/*.yaml nor redaction/*.yaml")
    from cmdscope._cli.registry import _lint
    from cmdscope._guard import GuardConfigError
    from cmdscope._redaction.lint import lint as lint_redaction
    from cmdscope._redaction.ruleset import RedactionRegistryError, _yaml_files, shipped_dir

    danger = os.path.join(tree, "danger")
    if os.path.isdir(danger):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = _lint([danger])
        except GuardConfigError as exc:
            raise SyncError(f"lint: {exc}") from None
        if code != 0:
            raise SyncError("lint: " + "; ".join(out.getvalue().strip().splitlines()[:3]))
    try:
        _, problems = lint_redaction(_yaml_files(shipped_dir()), _yaml_files(os.path.join(tree, "redaction")))
    except RedactionRegistryError as exc:
        raise SyncError(f"lint: {exc}") from None
    if problems:
        raise SyncError("lint: " + "; ".join(problems[:3]))


def _state_path() -> str:
    return os.path.join(root(), "sync.json")


def read_state() -> dict[str, Any]:
    try:
        with open(_state_path(), encoding="utf-8") as fh:
            state = json.load(fh)
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_state(state: dict[str, Any]) -> None:
    os.makedirs(root(), mode=0o700, exist_ok=True)
    tmp = f"{_state_path()}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, sort_keys=True, indent=1)
    os.replace(tmp, _state_path())


def active() -> dict[str, Any] | None:
    """The active team registry: version, digest, published, activated, path; None when none."""
    link = os.path.join(root(), "current")
    try:
        target = os.readlink(link)
    except OSError:
        return None
    path = os.path.join(root(), target)
    try:
        with open(os.path.join(path, ".meta.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None
    return {**meta, "path": path} if isinstance(meta, dict) else None


def activate(tree: str, meta: dict[str, Any]) -> str:
    """Copy the verified `tree` into versions/ and switch `current` to it with one rename."""
    versions = os.path.join(root(), "versions")
    os.makedirs(versions, mode=0o700, exist_ok=True)
    name = f"{meta['version']}@{meta['digest']}"
    final = os.path.join(versions, name)
    if not os.path.isdir(final):
        staging = tempfile.mkdtemp(prefix=".staging-", dir=versions)
        for rel in files(tree):
            os.makedirs(os.path.join(staging, os.path.dirname(rel)), exist_ok=True)
            shutil.copyfile(os.path.join(tree, rel), os.path.join(staging, rel))
        with open(os.path.join(staging, ".meta.json"), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, sort_keys=True)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, final)
        except OSError:  # a concurrent sync activated the same content first
            shutil.rmtree(staging, ignore_errors=True)
    link = os.path.join(root(), "current")
    tmp_link = f"{link}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_link)
    os.symlink(os.path.join("versions", name), tmp_link)
    os.replace(tmp_link, link)
    _prune(versions, name)
    return final


def _prune(versions: str, keep: str) -> None:
    entries = []
    for name in os.listdir(versions):
        path = os.path.join(versions, name)
        if name != keep and not name.startswith(".staging-"):
            with contextlib.suppress(OSError):
                entries.append((os.stat(path).st_mtime, path))
    for _, path in sorted(entries, reverse=True)[KEEP_VERSIONS - 1:]:
        shutil.rmtree(path, ignore_errors=True)


def configured_source() -> str | None:
    return settings.get(SOURCE_ENV) or read_state().get("source")


def sync(source: str | None = None, *, sha256: str | None = None, ref: str | None = None) -> dict[str, Any]:
    """Fetch, verify and activate; returns the new state. Raises SyncError (state still saved)."""
    source = source or configured_source()
    if not source:
        raise SyncError(f"no source: pass --from URL or set {SOURCE_ENV}")
    if os.path.isdir(source):
        source = os.path.abspath(source)
    pinned = (sha256 or settings.get(SHA256_ENV) or "").lower().removeprefix("sha256:") or None
    state = read_state()
    state.update(source=source, last_attempt=time.time())
    if ref:
        state["ref"] = ref
    try:
        with tempfile.TemporaryDirectory(prefix="cmdscope-sync-") as scratch:
            tree = os.path.join(scratch, "tree")
            os.mkdir(tree)
            published = fetch(source, tree, ref or state.get("ref"))
            digest_hex = digest(tree)
            version = manifest_version(tree, digest_hex)
            state["latest"] = {"version": version, "digest": digest_hex, "published": published}
            if pinned and pinned != digest_hex:
                raise SyncError(f"content digest sha256:{digest_hex} differs from the pinned sha256:{pinned}")
            lint(tree)
            current = active()
            if current is None or current.get("digest") != digest_hex:
                meta = {"version": version, "digest": digest_hex, "published": published,
                        "activated": time.time(), "source": source}
                activate(tree, meta)
        state.update(ok=True, error=None, last_success=time.time())
        return state
    except SyncError as exc:
        state.update(ok=False, error=str(exc))
        raise
    finally:
        _write_state(state)


def metrics_text() -> str:
    """node_exporter textfile metrics: the active registry and the latest the team published
    (the scrape adds `instance`: one host per textfile collector)."""
    state = read_state()
    current = active()
    latest = state.get("latest") or {}
    lines = ["# HELP cmdscope_registry_info The active team registry on this host (value 1).",
             "# TYPE cmdscope_registry_info gauge"]
    if current:
        lines.append(f'cmdscope_registry_info{{cmdscope_registry_team_version="{_escape(str(current.get("version")))}",'
                     f'cmdscope_registry_digest="{_escape(str(current.get("digest")))}"}} 1')
    for name, help_text, value in (
        ("published_timestamp_seconds", "When the active team registry was published.",
         current.get("published") if current else 0),
        ("latest_timestamp_seconds", "When the newest registry this host fetched was published.",
         latest.get("published")),
        ("sync_success_timestamp_seconds", "Last successful registry sync.", state.get("last_success")),
        ("sync_ok", "Whether the last registry sync succeeded.", 1 if state.get("ok") else 0),
    ):
        lines += [f"# HELP cmdscope_registry_{name} {help_text}", f"# TYPE cmdscope_registry_{name} gauge",
                  f"cmdscope_registry_{name} {float(value or 0):.3f}"]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_textfile(directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, TEXTFILE_NAME)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(metrics_text())
    os.replace(tmp, path)
    return path
