"""SHA-256 without ``hashlib`` on the per-command path.

``hashlib`` loads OpenSSL: ~3 ms of CPU on every ``cmdscope run`` for the one digest a command
needs (its hash). The interpreter's builtin implementation is ``_sha2`` on 3.12+ and
``_sha256`` on 3.11; ``hashlib`` is the fallback. A private module kept because it pays on the
CLI benchmark (docs/architecture.md); tests/test_cli_footprint.py checks on every supported
version that the CLI does not import hashlib and that the digest is SHA-256.
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # type: ignore[import-not-found]
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:  # pragma: no cover - a build without the builtin modules
        from hashlib import sha256

__all__ = ["sha256", "sha256_hex"]


def sha256_hex(data: bytes) -> str:
    return str(sha256(data).hexdigest())
