"""Property-based fuzzing of every parser that takes outside input: no crash, no hang, a clear
error. (Longer runs: `HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py`.)"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SHELL_ALPHABET = st.sampled_from(list("abcrmfgitpushdel -/*.'\"\\$(){}[];&|<>`=~!#\n\t") + ["rm", "-rf", "git", "push", "--force", "sudo", "bash -c ", "eval ", "$(", "<<EOF\n", "DROP TABLE x", "curl x | sh"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


class TestLedgerReader:
    @given(st.lists(st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values), max_size=30))
    def test_any_bytes(self, tmp_path: Path, chunks: list[bytes]) -> None:
        """Arbitrary bytes in a ledger: the reader yields dicts and notes the rest, never raises."""
        from cmdscope._sinks.ledger import ReadStats, read_records

        path = tmp_path / "fuzz.jsonl"
        path.write_bytes(b"\n".join(chunks))
        stats = ReadStats()
        records = list(read_records(path, stats=stats))
        assert all(isinstance(r, dict) for r in records)
        assert stats.records == len(records)


class TestShellMatcher:
    @given(st.lists(SHELL_ALPHABET, max_size=40).map("".join))
    def test_any_command_string(self, command: str) -> None:
        """Any shell text: the guard returns a decision quickly, with a rule id whenever it denies."""
        from cmdscope._guard import Guard

        t0 = time.monotonic()
        decision = Guard.load().decide(command, shell=True)
        assert time.monotonic() - t0 < 2.0
        if decision.action == "deny":
            assert decision.rule_id

    @given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
    def test_any_argv(self, argv: list[str]) -> None:
        from cmdscope._guard import Guard

        decision = Guard.load().decide(argv, shell=False)
        assert decision.action in ("allow", "warn", "deny")


class TestRegistryAndPolicyYaml:
    @given(json_values)
    def test_registry_file(self, tmp_path: Path, data: object) -> None:
        """Any YAML document as a registry file: loads or raises GuardConfigError naming the file."""
        from cmdscope._guard import GuardConfigError
        from cmdscope._guard.loader import load_registry_file

        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump(data))
        try:
            load_registry_file(str(path))
        except GuardConfigError as exc:
            assert "rules.yaml" in str(exc) and "\n" not in str(exc).strip()

    @given(json_values)
    def test_policy_file(self, tmp_path: Path, data: object) -> None:
        from cmdscope._guard import GuardConfigError
        from cmdscope._guard.loader import load_policy_file

        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(data))
        try:
            load_policy_file(str(path))
        except GuardConfigError as exc:
            assert "policy.yaml" in str(exc)

    @given(st.text(max_size=200))
    def test_not_yaml_at_all(self, tmp_path: Path, text: str) -> None:
        from cmdscope._guard import GuardConfigError
        from cmdscope._guard.loader import load_registry_file

        path = tmp_path / "rules.yaml"
        path.write_text(text)
        try:
            load_registry_file(str(path))
        except GuardConfigError:
            pass


class TestTaxonomyYaml:
    @given(json_values)
    def test_taxonomy_overlay(self, tmp_path: Path, data: object) -> None:
        """Any YAML as a taxonomy overlay: compiles or raises TaxonomyError naming the file."""
        from cmdscope._failures.taxonomy import TaxonomyError, builtin_taxonomy_path, compile_taxonomy

        path = tmp_path / "overlay.yaml"
        path.write_text(yaml.safe_dump(data))
        try:
            compile_taxonomy(builtin_taxonomy_path(), [path])
        except TaxonomyError as exc:
            assert "overlay.yaml" in str(exc)


class TestAlertmanagerWebhook:
    @given(json_values)
    def test_any_json_payload(self, data: object) -> None:
        """Any JSON body: parsed into a notification or a PayloadError (HTTP 400), never a crash."""
        from cmdscope._incidents.payload import PayloadError, parse_payload

        try:
            parse_payload(json.dumps(data).encode())
        except PayloadError:
            pass

    @given(st.binary(max_size=300))
    def test_any_bytes_payload(self, body: bytes) -> None:
        from cmdscope._incidents.payload import PayloadError, parse_payload

        try:
            parse_payload(body)
        except PayloadError:
            pass


class TestRedaction:
    @given(st.text(max_size=300))
    def test_redact_total_and_idempotent(self, text: str) -> None:
        """Any text: redaction never raises and redacting twice changes nothing more."""
        from cmdscope.redact import redact

        once = redact(text)
        assert redact(once) == once


@pytest.mark.parametrize("hook", ["claude-code", "codex"])
def test_hook_json_fuzz(hook: str, tmp_path: Path) -> None:
    """Malformed hook JSON never blocks the agent by accident: the hook exits 0 with JSON or nothing."""
    import subprocess
    import sys

    from hypothesis import find  # noqa: F401  (keeps hypothesis import explicit)

    from cmdscope._cli import SUBCOMMANDS

    try:
        __import__(SUBCOMMANDS["hook"][0])
    except ImportError:
        pytest.skip("cmdscope hook is not in this build")
    bodies = [b"", b"{", b"null", b"[]", b'{"hook_event_name": 5}', b'{"tool_input": {"command": 7}}',
              b"\xff\xfe", json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash"}).encode()]
    for body in bodies:
        out = subprocess.run([sys.executable, "-m", "cmdscope", "hook", hook], input=body, capture_output=True,
                             timeout=30)
        assert out.returncode in (0, 2), (body, out.stderr)
        assert b"Traceback" not in out.stderr
        if out.stdout.strip():
            json.loads(out.stdout)
