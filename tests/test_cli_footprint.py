"""What a `cmdscope run` process imports: the per-command CLI path stays off the OTel SDK, the
exporters and pydantic (issue 2), and off the pure-Python modules whose import alone costs
milliseconds of a ~50 ms process (bench/bench_cli.py). A real CLI process, read through
``python -X importtime``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import PYTHON

# Heavy for a process that runs one command; each has a cheaper stand-in on this path.
NEVER = ("opentelemetry.sdk", "opentelemetry.exporter", "pydantic", "pathlib", "typing", "json", "pickle",
         "mmap", "ctypes", "hashlib", "tree_sitter", "yaml", "urllib", "ipaddress")


def _imported(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    import os

    full_env = {**os.environ, "CMDSCOPE_LEDGER": str(tmp_path / "ledger.jsonl"), **(env or {})}
    proc = subprocess.run([PYTHON, "-X", "importtime", "-m", "cmdscope", *args], env=full_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def _offenders(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == bad or m.startswith(bad + ".") for bad in NEVER))


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9"], ids=["no export", "OTLP endpoint down"])
def test_run_true_imports_nothing_heavy(tmp_path: Path, endpoint: str | None) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint} if endpoint else {}
    for _ in range(2):  # the second run reads the caches the first one wrote (guard, taxonomy)
        modules = _imported(tmp_path, "run", "--", "true", env=env)
    assert "cmdscope._pipeline" in modules  # the probe sees our own imports
    assert _offenders(modules) == []


def test_a_classified_failure_imports_nothing_heavy(tmp_path: Path) -> None:
    """`cmdscope run -- false` reads the taxonomy cache and classifies: still no typing (the
    verdict is a plain tuple class), json or yaml. Read from ``sys.modules`` at the end of a
    real CLI process (``-X importtime`` does not list the classifier, imported through
    ``importlib``)."""
    import os

    probe = ("import sys\n"
             "from cmdscope._cli import main\n"
             "code = main(['run', '--', 'false'])\n"
             "print(' '.join(sorted(sys.modules)))\n")
    env = {**os.environ, "CMDSCOPE_LEDGER": str(tmp_path / "ledger.jsonl")}
    for _ in range(2):  # the second run reads the caches the first one wrote
        proc = subprocess.run([PYTHON, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set(proc.stdout.split())
    assert "cmdscope._failures.classify" in modules
    assert _offenders(modules) == []


def test_the_builtin_digest_is_sha256() -> None:
    """The CLI's digest (the interpreter's builtin module, hashlib as fallback) is SHA-256 on
    this Python: record hashes stay the same whichever module computed them."""
    import hashlib

    from cmdscope._digest import sha256_hex

    for data in (b"", b"git status", "é".encode() * 1000):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
