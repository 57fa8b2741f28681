"""Compiled-rule caches on disk: plain JSON, private to this user, keyed by what they were built from.

The guard, the failure taxonomy and the redaction rules are YAML validated by pydantic, which
costs ~150 ms to import and read: far too much for every ``cmdscope run``. Each keeps what it
compiled in a cache file and rebuilds it when the key differs. A cache file is:

    {"format": FORMAT, "key": "<the whole key>", "data": <plain data>}

- **Plain data only** (JSON: strings, numbers, lists, objects). Loading a cache runs no code
  from it, unlike pickle or marshal; what it holds is rebuilt into objects by the owner's own
  ``from_data`` code, and anything of the wrong shape makes the owner rebuild from the YAML.
- **Private**: read only if it is a regular file owned by this user and writable by no one
  else, in a directory of the same kind (:func:`cmdscope._private_files.read_private`); written
  0600 in a 0700 directory, atomically (a reader never sees half a file).
- **Keyed by contents**: the key holds every source file's path and the SHA-256 of its bytes
  (:func:`content_key`), plus what else the compiled form depends on (cmdscope's version, the
  format). The whole key is stored and compared; the file name is only its checksum.

Decoding: ``orjson`` when the process already imported it (in-process hosts); otherwise the C
scanner of the stdlib's ``json`` without the ``json`` package around it, whose import costs
~2 ms of a ~40 ms ``cmdscope run`` (importing ``orjson`` costs ~14 ms: it pulls in uuid,
dataclasses and inspect). docs/architecture.md lists this private use and what it buys.
"""

from __future__ import annotations

import os
import sys
import zlib

from cmdscope._private_files import make_private_dirs, read_private, write_private

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

FORMAT = 1


def content_key(paths: Iterable[str], *extra: str) -> str:
    """``extra`` and, per file, its path and the SHA-256 of its contents ("missing" when it
    cannot be read): an edit that keeps the size and mtime still changes the key."""
    from cmdscope._digest import sha256_hex

    parts = [str(FORMAT), *extra]
    for path in paths:
        try:
            with open(path, "rb") as fh:
                parts.append(f"{path}\0{sha256_hex(fh.read())}")
        except OSError:
            parts.append(f"{path}\0missing")
    return "\n".join(parts)


def file_name(prefix: str, key: str) -> str:
    """``<prefix>-<crc32><length>.json``: a short, stable name for a key (the key is checked)."""
    return f"{prefix}-{zlib.crc32(key.encode('utf-8', 'surrogateescape')):08x}{len(key):x}.json"


def load(path: str, key: str) -> Any:
    """The data stored under ``key`` at ``path``, or None when the file is missing, not ours,
    not private, not JSON, not our envelope, or holds another key."""
    try:
        doc = loads(read_private(path))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError, StopIteration, TypeError):
        return None
    if type(doc) is dict and doc.get("format") == FORMAT and doc.get("key") == key:
        return doc.get("data")
    return None


def store(path: str, key: str, data: Any) -> None:
    """Write ``data`` under ``key`` (best effort: a read-only state directory costs the next
    process a rebuild, never a failure)."""
    import orjson  # a rebuild already imported yaml and pydantic; orjson is small beside them

    try:
        payload = orjson.dumps({"format": FORMAT, "key": key, "data": data})
        make_private_dirs(os.path.dirname(path))
        write_private(path, payload)
    except (OSError, TypeError, ValueError):
        pass


def prune(directory: str, prefix: str, keep: int) -> None:
    """Remove all but the ``keep`` most recently written ``<prefix>-*.json`` files."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix + "-") and n.endswith(".json")]
        if len(names) <= keep:
            return
        paths = sorted((os.path.join(directory, n) for n in names), key=_mtime, reverse=True)
        for old in paths[keep:]:
            os.unlink(old)
    except OSError:
        pass


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


class _ScanContext:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None  # the C scanner keeps its own

    @staticmethod
    def parse_constant(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")


_scan: Any = None


def loads(raw: bytes) -> Any:
    """JSON text to plain data (see the module doc for the decoder it picks)."""
    orjson = sys.modules.get("orjson")
    if orjson is not None:
        return orjson.loads(raw)
    global _scan
    text = raw.decode("utf-8")
    if _scan is None:
        try:
            from _json import make_scanner  # type: ignore[import-not-found]
        except ImportError:  # pragma: no cover - a build without the C accelerator
            import json

            return json.loads(text, parse_constant=_ScanContext.parse_constant)
        _scan = make_scanner(_ScanContext())  # type: ignore[arg-type]
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except Exception:  # noqa: BLE001 - damaged text: the json package names the error (the
        import json  # C scanner alone cannot: it raises the package's JSONDecodeError)

        return json.loads(text, parse_constant=_ScanContext.parse_constant)
    if text[end:].strip():
        raise ValueError("extra data after the JSON value")
    return value
