"""The guard's on-disk cache is trusted only when it is private, and is keyed by the contents of
every registry and policy file (issue 14, item 6). A real CLI process each time."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import cmdscope_cli

POLICY = "name: local\nversion: 1.0.0\nrules:\n  - id: no-{word}\n    match: {{executable: [\"{word}\"]}}\n    action: deny\n"


def _env(tmp_path: Path, policy: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "CMDSCOPE_LEDGER": str(tmp_path / "ledger.jsonl"),
            "CMDSCOPE_POLICY_PATH": str(policy)}


def test_an_edit_keeping_mtime_and_size_takes_effect(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(word="true"))
    env = _env(tmp_path, policy)
    assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 126
    stamp = policy.stat().st_mtime_ns
    policy.write_text(POLICY.format(word="tree"))  # same size
    os.utime(policy, ns=(stamp, stamp))
    assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 0


class _Planted:
    """Unpickling this runs a command: what a planted cache file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_cache_others_can_write_is_not_loaded(tmp_path: Path) -> None:
    """A cache file writable by group/others, or in such a directory, is never loaded (it is
    rebuilt from the policy files and the directory made private again); a private one is."""
    import pickle

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(word="true"))
    env = _env(tmp_path, policy)
    assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 126
    cache = tmp_path / "state" / "cmdscope" / "guard-cache"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    marker = tmp_path / "ran"

    def plant(file_mode: int, dir_mode: int) -> None:
        for f in cache.iterdir():
            f.write_bytes(pickle.dumps(_Planted(marker)))
            f.chmod(file_mode)
        cache.chmod(dir_mode)

    for file_mode, dir_mode in ((0o666, 0o700), (0o600, 0o777)):
        plant(file_mode, dir_mode)
        assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 126
        assert not marker.exists()
        assert oct(cache.stat().st_mode & 0o777) == "0o700"
    plant(0o600, 0o700)  # the control: a private cache is trusted (so the checks above could fail)
    cmdscope_cli("run", "--", "true", env=env, capture_output=True)
    assert marker.exists()
