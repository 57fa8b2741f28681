"""The compiled-rule caches (guard, failure taxonomy, redaction rules) hold plain JSON, are read
only when private to this user, are keyed by the contents of their source files, and a file
that is not ours, damaged or crafted is ignored and rebuilt (issue 14)."""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
from pathlib import Path

import pytest
from conftest import cmdscope_cli

from cmdscope import _cache_files as cache_files

SRC = Path(__file__).resolve().parent.parent / "src" / "cmdscope"
POLICY = "name: local\nversion: 1.0.0\nrules:\n  - id: no-{word}\n    match: {{executable: [\"{word}\"]}}\n    action: deny\n"
OTHER_UID = 4242


class _Planted:
    """Unpickling this creates a file: what a planted pickle would do if it were loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (open, (str(self.marker), "w"))


def _not_ours(path: Path, how: str) -> None:
    """Make ``path`` untrustworthy in one of the ways the reader must refuse."""
    if how == "file writable by others":
        path.chmod(0o666)
    elif how == "directory writable by others":
        path.parent.chmod(0o777)
    elif how == "owned by another user":
        os.chown(path, OTHER_UID, OTHER_UID)
    elif how == "symlink":
        real = path.with_name("elsewhere.json")
        path.rename(real)
        path.symlink_to(real)
    else:  # pragma: no cover
        raise AssertionError(how)


UNTRUSTED = ["file writable by others", "directory writable by others", "symlink",
             pytest.param("owned by another user", marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root"))]


class TestCacheFile:
    def test_round_trip(self, tmp_path: Path) -> None:
        """What is stored under a key is loaded under the same key, as plain data, 0600 in a
        0700 directory."""
        path = tmp_path / "c" / "x.json"
        cache_files.store(str(path), "k", {"a": [1, "b", None, True]})
        assert cache_files.load(str(path), "k") == {"a": [1, "b", None, True]}
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
        assert json.loads(path.read_bytes())["key"] == "k"

    def test_another_key_is_a_miss(self, tmp_path: Path) -> None:
        path = tmp_path / "x.json"
        cache_files.store(str(path), "k", [1])
        assert cache_files.load(str(path), "other") is None

    @pytest.mark.parametrize("how", UNTRUSTED)
    def test_a_file_that_is_not_ours_is_not_read(self, tmp_path: Path, how: str) -> None:
        path = tmp_path / "c" / "x.json"
        cache_files.store(str(path), "k", [1])
        _not_ours(path, how)
        assert cache_files.load(str(path), "k") is None

    @pytest.mark.parametrize("payload", [b"", b"{", b'{"format": 1, "key": "k", "data": [1]} trailing',
                                         b"\xff\xfe", b"[" * 100000, b'{"format": 1, "key": "k", "data": NaN}',
                                         b"null", b"[1, 2]"])
    def test_damaged_files_are_a_miss(self, tmp_path: Path, payload: bytes) -> None:
        path = tmp_path / "c" / "x.json"
        cache_files.store(str(path), "k", [1])
        path.write_bytes(payload)
        assert cache_files.load(str(path), "k") is None

    def test_a_planted_pickle_is_never_run(self, tmp_path: Path) -> None:
        path = tmp_path / "c" / "x.json"
        cache_files.store(str(path), "k", [1])
        marker = tmp_path / "ran"
        path.write_bytes(pickle.dumps(_Planted(marker)))
        assert cache_files.load(str(path), "k") is None
        assert not marker.exists()

    def test_the_stdlib_scanner_agrees_with_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The decoder the CLI uses (json's C scanner, without the json package) reads what
        json reads, and refuses what is not JSON (NaN included) with a ValueError."""
        monkeypatch.delitem(sys.modules, "orjson", raising=False)  # the CLI's decoder, not orjson
        doc = {"s": "é\u2028\\\"\n", "i": -3, "f": 1.5, "l": [None, True, False, []], "d": {"": {}}}
        raw = json.dumps(doc).encode()
        assert cache_files.loads(raw) == json.loads(raw) == doc
        for bad in (b"{", b"[1,", b'"abc', b'{"a": NaN}', b"[Infinity]", b"[1] x", b""):
            with pytest.raises(ValueError):
                cache_files.loads(bad)

    def test_the_key_follows_contents(self, tmp_path: Path) -> None:
        """Same size and mtime, different bytes: a different key."""
        path = tmp_path / "rules.yaml"
        path.write_text("a: 1\n")
        first = cache_files.content_key([str(path)])
        stamp = path.stat().st_mtime_ns
        path.write_text("a: 2\n")
        os.utime(path, ns=(stamp, stamp))
        assert cache_files.content_key([str(path)]) != first


# The one pickle: a forked report worker hands its accumulator to its parent over an anonymous
# pipe (same code, same process tree; nothing is written to or read from a file).
PICKLE_IN_MEMORY = {"_reports/parallel.py"}


def test_no_pickle_or_marshal_in_src() -> None:
    """No module of cmdscope imports pickle or marshal (loading either runs or builds code
    objects from bytes; the caches are plain JSON), except the report workers' pipe, which
    never loads from a file."""
    pattern = re.compile(r"^\s*(?:import|from)\s+_?(?:c?pickle|marshal)\b", re.M)
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if pattern.search(p.read_text())]
    assert sorted(offenders) == sorted(PICKLE_IN_MEMORY)
    for rel in PICKLE_IN_MEMORY:
        text = (SRC / rel).read_text()
        # loads only from the worker's anonymous pipe, opened from the fd os.pipe() gave
        assert text.count("pickle.load(") == 1 and "pickle.load(source)" in text and "os.pipe()" in text
        assert "open(receive, " in text and "pickle.loads(" not in text


# --- the guard, through the real CLI -----------------------------------------------------------


def _guard_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(word="true"))
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "CMDSCOPE_LEDGER": str(tmp_path / "ledger.jsonl"),
           "CMDSCOPE_POLICY_PATH": str(policy)}
    assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 126
    return env, tmp_path / "state" / "cmdscope" / "guard-cache"


def _full(cache: Path) -> Path:
    (path,) = [p for p in cache.glob("*.json") if not p.name.endswith(".front.json")]
    return path


def _without_the_deny(full: Path) -> bytes:
    """The cache's own document with the policy rule that denies ``true`` taken out."""
    doc = json.loads(full.read_bytes())
    rules = doc["data"]["policy"]["rules"]
    doc["data"]["policy"]["rules"] = [r for r in rules if r[0]["id"] != "no-true"]
    assert len(doc["data"]["policy"]["rules"]) == len(rules) - 1
    return json.dumps(doc).encode()


class TestGuardCache:
    def test_a_private_cache_is_what_decides(self, tmp_path: Path) -> None:
        """The control: a private cache file is trusted (so the refusals below could fail)."""
        env, cache = _guard_env(tmp_path)
        full = _full(cache)
        full.write_bytes(_without_the_deny(full))
        assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 0

    @pytest.mark.parametrize("how", UNTRUSTED)
    def test_a_cache_that_is_not_ours_is_rebuilt(self, tmp_path: Path, how: str) -> None:
        env, cache = _guard_env(tmp_path)
        full = _full(cache)
        full.write_bytes(_without_the_deny(full))
        _not_ours(full, how)
        done = cmdscope_cli("run", "--", "true", env=env, capture_output=True, text=True)
        assert done.returncode == 126, done.stderr
        assert cache.stat().st_mode & 0o777 == 0o700

    @pytest.mark.parametrize("damage", ["truncated", "wrong shape", "pickle", "other key"])
    @pytest.mark.parametrize("which", ["front", "full"])
    def test_a_damaged_or_crafted_cache_is_rebuilt(self, tmp_path: Path, damage: str, which: str) -> None:
        env, cache = _guard_env(tmp_path)
        path = _full(cache) if which == "full" else next(cache.glob("*.front.json"))
        doc = json.loads(path.read_bytes())
        marker = tmp_path / "ran"
        if damage == "truncated":
            payload = path.read_bytes()[:100]
        elif damage == "wrong shape":
            doc["data"] = {k: "x" for k in doc["data"]}
            payload = json.dumps(doc).encode()
        elif damage == "pickle":
            payload = pickle.dumps(_Planted(marker))
        else:
            doc["key"] = doc["key"] + "x"
            doc["data"] = json.loads(_without_the_deny(_full(cache)))["data"] if which == "full" else doc["data"]
            payload = json.dumps(doc).encode()
        path.write_bytes(payload)
        done = cmdscope_cli("run", "--", "true", env=env, capture_output=True, text=True)
        assert done.returncode == 126 and "Traceback" not in done.stderr, done.stderr
        assert not marker.exists()
        assert json.loads(path.read_bytes())["key"] != "x"  # rewritten whole
        assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 126

    def test_an_edit_keeping_mtime_and_size_takes_effect(self, tmp_path: Path) -> None:
        env, _ = _guard_env(tmp_path)
        policy = Path(env["CMDSCOPE_POLICY_PATH"])
        stamp = policy.stat().st_mtime_ns
        policy.write_text(POLICY.format(word="tree"))  # same size
        os.utime(policy, ns=(stamp, stamp))
        assert cmdscope_cli("run", "--", "true", env=env, capture_output=True).returncode == 0


# --- the failure taxonomy and the redaction rules, in process ---------------------------------


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CMDSCOPE_TAXONOMY_PATH", raising=False)
    monkeypatch.delenv("CMDSCOPE_REGISTRY_PATH", raising=False)
    return tmp_path


def _taxonomy_file(homes: Path) -> Path:
    from cmdscope._failures.taxonomy import load_taxonomy

    load_taxonomy()
    (path,) = (homes / "cache" / "cmdscope").glob("failure-taxonomy-*.json")
    return path


def _redaction_file(homes: Path) -> Path:
    from cmdscope._redaction.ruleset import load_rules

    load_rules()
    (path,) = (homes / "state" / "cmdscope" / "redaction-cache").glob("rules-*.json")
    return path


def _crafted(path: Path, kind: str) -> None:
    """Keep the key, change what the cache says: the taxonomy's version, a redaction rule's name."""
    doc = json.loads(path.read_bytes())
    if kind == "taxonomy":
        doc["data"]["version"] = "crafted"
    else:
        doc["data"][0][0] = "crafted"
    path.write_bytes(json.dumps(doc).encode())


def _seen(kind: str) -> str:
    if kind == "taxonomy":
        from cmdscope._failures.taxonomy import load_taxonomy

        return load_taxonomy().version
    from cmdscope._redaction.ruleset import load_rules

    return load_rules()[0].name


@pytest.mark.parametrize("kind", ["taxonomy", "redaction"])
class TestTaxonomyAndRedactionCaches:
    def _file(self, homes: Path, kind: str) -> Path:
        return _taxonomy_file(homes) if kind == "taxonomy" else _redaction_file(homes)

    def test_a_private_cache_is_used(self, homes: Path, kind: str) -> None:
        """The control: the loader does read its private cache (so the refusals could fail)."""
        path = self._file(homes, kind)
        _crafted(path, kind)
        assert _seen(kind) == "crafted"

    @pytest.mark.parametrize("how", UNTRUSTED)
    def test_a_cache_that_is_not_ours_is_rebuilt(self, homes: Path, kind: str, how: str) -> None:
        path = self._file(homes, kind)
        _crafted(path, kind)
        _not_ours(path, how)
        assert _seen(kind) != "crafted"
        if how != "directory writable by others":  # that directory is tightened, then rewritten
            assert path.stat(follow_symlinks=False).st_mode & 0o777 == 0o600
            assert path.stat().st_uid == os.geteuid()

    @pytest.mark.parametrize("damage", ["truncated", "wrong shape", "pickle"])
    def test_a_damaged_cache_is_rebuilt(self, homes: Path, kind: str, damage: str) -> None:
        path = self._file(homes, kind)
        good = _seen(kind)
        marker = homes / "ran"
        doc = json.loads(path.read_bytes())
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:50])
        elif damage == "wrong shape":
            doc["data"] = {"version": 3} if kind == "taxonomy" else [["x", 1, 2]]
            path.write_bytes(json.dumps(doc).encode())
        else:
            path.write_bytes(pickle.dumps(_Planted(marker)))
        assert _seen(kind) == good
        assert not marker.exists()
        assert json.loads(path.read_bytes())["key"] == doc["key"]  # rewritten

    def test_an_edit_keeping_mtime_and_size_takes_effect(self, homes: Path, kind: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        if kind == "taxonomy":
            from cmdscope._failures.taxonomy import load_taxonomy

            overlay = homes / "o.yaml"
            overlay.write_text("overlay: t\nversion: 1.0.0\n")
            monkeypatch.setenv("CMDSCOPE_TAXONOMY_PATH", str(overlay))
            assert load_taxonomy().version.endswith("+t-1.0.0")
            stamp = overlay.stat().st_mtime_ns
            overlay.write_text("overlay: u\nversion: 1.0.0\n")
            os.utime(overlay, ns=(stamp, stamp))
            assert load_taxonomy().version.endswith("+u-1.0.0")
            return
        from cmdscope._redaction.ruleset import load_rules

        root = homes / "overlay"
        (root / "redaction").mkdir(parents=True)
        rules = root / "redaction" / "team.yaml"
        text = ("rules:\n  - name: team-{}\n    description: a team token\n    pattern: 'tok_[a-z]{{20}}'\n"
                "    keywords: [tok_]\n    examples: ['tok_abcdefghijklmnopqrst']\n    near_misses: ['tok_x']\n")
        rules.write_text(text.format("aaaa"))
        monkeypatch.setenv("CMDSCOPE_REGISTRY_PATH", str(root))
        assert "team-aaaa" in {r.name for r in load_rules()}
        stamp = rules.stat().st_mtime_ns
        rules.write_text(text.format("bbbb"))
        os.utime(rules, ns=(stamp, stamp))
        assert "team-bbbb" in {r.name for r in load_rules()}
