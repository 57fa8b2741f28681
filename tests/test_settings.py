"""Settings (issue 15 item 2): every CMDSCOPE_*/OTEL_* variable is parsed before the command runs.

A malformed value is one line on stderr naming the variable and the value used instead, and
the command runs exactly as bare (exit code, side effect once, a record); a setting that decides
safety refuses before anything runs. The variables come from the one list,
``cmdscope._settings.SETTINGS``; a drift test fails when ``src/`` reads a name not in it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_ledger
from hypothesis import given
from hypothesis import strategies as st

from cmdscope import _settings as settings
from cmdscope._settings import NAMES, NOT_SETTINGS, REFUSE, SETTINGS

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "cmdscope"
CONTROL = "bad\x1b[2Jvalue"  # text settings: printable only

# One malformed value per variable (None: every value is valid). {tmp} is the test's tmp_path.
BAD: dict[str, str | None] = {
    "CMDSCOPE_GUARD": "of",
    "CMDSCOPE_GUARD_MODE": "enforec",
    "CMDSCOPE_GUARD_FAIL": "closd",
    "CMDSCOPE_POLICY_PATH": "{tmp}/missing-policy.yaml",
    "CMDSCOPE_REGISTRY_PATH": "{tmp}/missing-overlay",
    "CMDSCOPE_DISABLED": "maybe",
    "CMDSCOPE_LEDGER": "{tmp}",
    "CMDSCOPE_LEDGER_MAX_BYTES": "64M",
    "CMDSCOPE_FSYNC": "bogus",
    "CMDSCOPE_REPORT_JOBS": "two",
    "CMDSCOPE_LEDGER_SEAL": "sometimes",
    "CMDSCOPE_SEAL_KEY": None,
    "CMDSCOPE_REDACT_PATTERNS": "{tmp}/missing-patterns.yaml",
    "CMDSCOPE_TAXONOMY_PATH": "{tmp}/missing-taxonomy",
    "CMDSCOPE_NOTIFY_WEBHOOKS": "ftp://example.invalid/hook",
    "CMDSCOPE_NUDGE": "often",
    "CMDSCOPE_ACTOR": CONTROL,
    "CMDSCOPE_SESSION": CONTROL,
    "CMDSCOPE_PACKET": CONTROL,
    "CMDSCOPE_PHASE": CONTROL,
    "CMDSCOPE_WORKTREE": CONTROL,
    "CMDSCOPE_BRANCH": CONTROL,
    "CMDSCOPE_REVISION": "x" * 300,
    "CMDSCOPE_REGISTRY_SYNC_URL": "not a url",
    "CMDSCOPE_REGISTRY_SYNC_SHA256": "abc",
    "CMDSCOPE_HOOKD": "sometimes",
    "CMDSCOPE_HOOKD_IDLE": "forever",
    "CMDSCOPE_RAISE_INTERNAL": "yes please",
    "OTEL_SDK_DISABLED": "maybe",
    "OTEL_SERVICE_NAME": CONTROL,
    "OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector.invalid",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "10s",
    "OTEL_TRACES_EXPORTER": "jaeger",
    "OTEL_METRICS_EXPORTER": "statsd",
    "OTEL_LOGS_EXPORTER": "console",
    "OTEL_EXPORTER_PROMETHEUS_HOST": "local host",
    "OTEL_EXPORTER_PROMETHEUS_PORT": "99999",
    "OTEL_METRIC_EXPORT_INTERVAL": "1m",
}

SCRIPT = "echo ran >> f; exit 7"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any setting, plus an isolated ledger and state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMDSCOPE_", "OTEL_"))}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), CMDSCOPE_LEDGER=str(tmp_path / "ledger.jsonl"))
    env.update(extra)
    return env


def run_cli(tmp_path: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[bytes]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "cmdscope", *command], cwd=work, env=env, capture_output=True,
                          timeout=120, check=False)


def bad_value(name: str, tmp_path: Path) -> str:
    value = BAD[name]
    assert value is not None
    return value.replace("{tmp}", str(tmp_path))


class TestTheList:
    def test_every_setting_has_a_malformed_example(self) -> None:
        """A new setting cannot be added without its malformed-value case below."""
        assert set(BAD) == set(NAMES)
        assert len(NAMES) == len(set(NAMES))

    def test_src_reads_no_variable_outside_the_list(self) -> None:
        """Drift: every CMDSCOPE_*/OTEL_* name in src/ (Python and the OpenCode plugin) is a
        setting of the list or a named exception; every setting of the list is used in src/."""
        pattern = re.compile(r"\b((?:CMDSCOPE|OTEL)_[A-Z0-9_]*[A-Z0-9])\b")
        seen: dict[str, set[str]] = {}
        for path in [*SRC.rglob("*.py"), *SRC.rglob("*.ts")]:
            if path.name == "settings.py" and path.parent == SRC:
                continue
            for name in pattern.findall(path.read_text(encoding="utf-8")):
                seen.setdefault(name, set()).add(str(path.relative_to(SRC)))
        from cmdscope._context import ENV  # names built at run time: CMDSCOPE_<FIELD>

        for name in ENV.values():
            seen.setdefault(name, set()).add("context.py (ENV)")
        unknown = {n: sorted(where) for n, where in seen.items() if n not in NAMES and n not in NOT_SETTINGS}
        assert not unknown, f"read in src/ but not in cmdscope._settings.SETTINGS: {unknown}"
        unused = [n for n in NAMES if n not in seen]
        assert not unused, f"in SETTINGS but never used in src/: {unused}"

    def test_choices_match_their_owners(self) -> None:
        """The guard's modes and the ledger's fsync modes are the ones the settings accept."""
        from cmdscope._guard.sources import MODES
        from cmdscope._sinks.ledger import FSYNC_MODES

        assert settings._GUARD_MODES == MODES and settings._FSYNC_MODES == FSYNC_MODES

    def test_the_public_environment_gives_the_same_settings(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``os.environb._data`` (a CPython internal read for speed) and its public fallback agree,
        and the memo sees a change made through ``os.environ``."""
        monkeypatch.setenv("CMDSCOPE_ACTOR", "fast-path")
        monkeypatch.setenv("CMDSCOPE_FSYNC", "bogus")
        settings.forget()
        fast = settings.current()
        assert fast["CMDSCOPE_ACTOR"] == "fast-path"
        monkeypatch.setattr(settings, "_ENVIRON_B", os.environb)
        settings.forget()
        public = settings.current()
        assert public.values == fast.values
        assert [str(p) for p in public.problems] == [str(p) for p in fast.problems]
        monkeypatch.setenv("CMDSCOPE_ACTOR", "changed")
        assert settings.get("CMDSCOPE_ACTOR") == "changed"
        settings.forget()

    def test_docs_table_is_generated_from_the_list(self) -> None:
        """docs/reliability.md holds the table markdown_table() makes (regenerate with
        python scripts/gen_settings_table.py)."""
        doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
        assert settings.markdown_table() in doc, "docs/reliability.md settings table drifted: python scripts/gen_settings_table.py"

    def test_load_never_raises_and_names_every_bad_value(self, tmp_path: Path) -> None:
        """Parsing all the malformed values at once: one problem per variable, in list order."""
        env = {n: bad_value(n, tmp_path) for n, v in BAD.items() if v is not None}
        found = settings.load(env)
        assert [p.name for p in found.problems] == [n for n in NAMES if BAD[n] is not None]
        for p in found.problems:
            line = str(p)
            assert "\n" not in line and "\x1b" not in line and line.startswith(p.name + "=")
        assert found.refusal is not None and found.refusal.name == "CMDSCOPE_GUARD"


@pytest.mark.parametrize("name", [n for n in NAMES if BAD[n] is not None])
def test_malformed_setting_never_changes_the_command(name: str, tmp_path: Path) -> None:
    """`cmdscope run -- sh -c 'echo ran >> f; exit 7'` with one malformed setting: the exit code
    is 7, the side effect happened once, the record was written, and stderr is one line naming
    the variable. A setting that decides safety refuses instead: exit 2 and nothing ran."""
    value = bad_value(name, tmp_path)
    env = clean_env(tmp_path, **{name: value})
    done = run_cli(tmp_path, env, "run", "--", "sh", "-c", SCRIPT)
    err = done.stderr.decode()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].split(": ", 1)[1].startswith(f"{name}="), err
    assert "Traceback" not in err
    marker = tmp_path / "work" / "f"
    setting = next(s for s in SETTINGS if s.name == name)
    if setting.on_bad == REFUSE:
        assert done.returncode == 2 and not marker.exists()
        assert "refused: nothing runs" in lines[0]
        return
    assert done.returncode == 7, err
    assert marker.read_text() == "ran\n"
    ledger = tmp_path / "state" / "cmdscope" / "ledger.jsonl" if name == "CMDSCOPE_LEDGER" else tmp_path / "ledger.jsonl"
    (rec,) = read_ledger(ledger)
    assert rec["kind"] == "command" and rec["process.exit.code"] == 7
    assert "using " in lines[0]
    if name == "CMDSCOPE_ACTOR":
        assert rec["cmdscope.actor"] == "user"  # the default, not the bad value
    if name == "CMDSCOPE_REDACT_PATTERNS":
        assert rec["process.command_line"] == "[REDACTION FAILED]"  # what it would have hidden is not guessed


def test_a_key_is_any_value(tmp_path: Path) -> None:
    """CMDSCOPE_SEAL_KEY has no malformed value: any text is a key; nothing is said."""
    env = clean_env(tmp_path, CMDSCOPE_SEAL_KEY=CONTROL, CMDSCOPE_LEDGER_SEAL="1")
    done = run_cli(tmp_path, env, "run", "--", "sh", "-c", SCRIPT)
    assert done.returncode == 7 and done.stderr == b""
    (rec,) = read_ledger(tmp_path / "ledger.jsonl")
    assert rec["process.exit.code"] == 7 and "seal_hash" in rec


def test_issue_examples(tmp_path: Path) -> None:
    """The two reproductions of the issue: 64M and bogus fsync keep exit 0 and 7 and a record."""
    for name, value, code in (("CMDSCOPE_LEDGER_MAX_BYTES", "64M", 0), ("CMDSCOPE_FSYNC", "bogus", 7)):
        env = clean_env(tmp_path, **{name: value})
        done = run_cli(tmp_path, env, "run", "--", "sh", "-c", f"echo ran >> f; exit {code}")
        assert done.returncode == code and done.stderr.decode().count("\n") == 1
    assert (tmp_path / "work" / "f").read_text() == "ran\nran\n"
    assert [r["process.exit.code"] for r in read_ledger(tmp_path / "ledger.jsonl")] == [0, 7]


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_ledger_path_that_is_not_a_regular_file_is_the_default(kind: str, tmp_path: Path) -> None:
    """CMDSCOPE_LEDGER naming a FIFO or a symlink: one line, and the record goes to the default
    ledger (it would otherwise be refused after the command ran, and lost)."""
    odd = tmp_path / "odd.jsonl"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.symlink_to(tmp_path / "elsewhere.jsonl")
    done = run_cli(tmp_path, clean_env(tmp_path, CMDSCOPE_LEDGER=str(odd)), "run", "--", "sh", "-c", SCRIPT)
    assert done.returncode == 7 and done.stderr.decode().count("\n") == 1
    assert "CMDSCOPE_LEDGER=" in done.stderr.decode() and "not a regular file" in done.stderr.decode()
    (rec,) = read_ledger(tmp_path / "state" / "cmdscope" / "ledger.jsonl")
    assert rec["process.exit.code"] == 7
    assert not (tmp_path / "elsewhere.jsonl").exists()


def test_other_commands_say_a_bad_setting_once(tmp_path: Path) -> None:
    """Every other command (here `ledger tail`) says a bad setting in one line and goes on."""
    env = clean_env(tmp_path)
    assert run_cli(tmp_path, env, "run", "--", "true").returncode == 0
    done = run_cli(tmp_path, {**env, "CMDSCOPE_FSYNC": "bogus"}, "ledger", "tail", "-n", "1")
    assert done.returncode == 0 and b"true" in done.stdout
    assert done.stderr.decode().splitlines() == [
        "cmdscope ledger: CMDSCOPE_FSYNC='bogus': must be one of never, batch, always; using the default, batch"]


def test_missing_policy_layer_refuses_when_failing_closed(tmp_path: Path) -> None:
    """A policy path that does not exist is a warning, and a refusal with CMDSCOPE_GUARD_FAIL=closed."""
    env = clean_env(tmp_path, CMDSCOPE_POLICY_PATH=str(tmp_path / "nope.yaml"), CMDSCOPE_GUARD_FAIL="closed")
    done = run_cli(tmp_path, env, "run", "--", "sh", "-c", SCRIPT)
    assert done.returncode == 2 and not (tmp_path / "work" / "f").exists()
    assert done.stderr.decode().count("\n") == 1 and "CMDSCOPE_POLICY_PATH=" in done.stderr.decode()


def test_guard_off_makes_guard_settings_moot(tmp_path: Path) -> None:
    """CMDSCOPE_GUARD=off: a bad guard mode is reported but refuses nothing (there is no guard)."""
    env = clean_env(tmp_path, CMDSCOPE_GUARD="off", CMDSCOPE_GUARD_MODE="enforec")
    done = run_cli(tmp_path, env, "run", "--", "sh", "-c", SCRIPT)
    assert done.returncode == 7 and done.stderr.decode().count("\n") == 1


def test_disabled_stays_out_even_of_bad_settings(tmp_path: Path) -> None:
    """CMDSCOPE_DISABLED=1 execs the command: a bad guard setting neither refuses nor prints."""
    env = clean_env(tmp_path, CMDSCOPE_DISABLED="1", CMDSCOPE_GUARD_MODE="enforec", CMDSCOPE_FSYNC="bogus")
    done = run_cli(tmp_path, env, "run", "--", "sh", "-c", SCRIPT)
    assert done.returncode == 7 and done.stderr == b""
    assert (tmp_path / "work" / "f").read_text() == "ran\n"
    assert read_ledger(tmp_path / "ledger.jsonl") == []


def test_library_records_a_denial_for_a_refusing_setting(tmp_path: Path, ledger_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (the library, the auto-instrumentation): a bad safety setting is a denial
    with its own rule id naming the variable, before the child starts."""
    from cmdscope import _pipeline as pipeline

    monkeypatch.setenv("CMDSCOPE_GUARD_FAIL", "closd")
    marker = tmp_path / "ran"
    with pytest.raises(pipeline.Denied):
        pipeline.run_command(pipeline.CommandSpec(command=["touch", str(marker)]))
    pipeline.close_ledgers()
    assert not marker.exists()
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "denial" and rec["cmdscope.policy.rule"] == "cmdscope._settings-error"
    assert rec["cmdscope.policy.source"] == "CMDSCOPE_GUARD_FAIL"


# -- the hook path -------------------------------------------------------------------------------


def pre_tool_use(command: str, call_id: str) -> bytes:
    return json.dumps({"session_id": "s-settings", "cwd": "/tmp", "hook_event_name": "PreToolUse",
                       "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": call_id}).encode()


def hook(tmp_path: Path, raw: bytes, **extra: str) -> subprocess.CompletedProcess[bytes]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "cmdscope", "hook", "claude-code"], input=raw, cwd=work,
                          env=clean_env(tmp_path, **extra), capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize("name", [s.name for s in SETTINGS if s.on_bad == REFUSE])
def test_hook_denies_when_a_safety_setting_is_malformed(name: str, tmp_path: Path) -> None:
    """Claude Code's hook: a malformed guard setting denies the call (never a traceback or allow),
    records the denial, and says which variable."""
    done = hook(tmp_path, pre_tool_use("ls", "c-refuse"), **{name: BAD[name] or ""})
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    out = json.loads(done.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and name in out["permissionDecisionReason"]
    assert done.stderr.decode().count(f"{name}=") == 1
    (rec,) = read_ledger(tmp_path / "ledger.jsonl")
    assert rec["kind"] == "denial" and rec["cmdscope.policy.rule"] == "cmdscope._settings-error"


def test_hook_allows_with_one_line_for_an_ordinary_bad_setting(tmp_path: Path) -> None:
    """A malformed ordinary setting: the call is allowed as usual, one line names the variable."""
    done = hook(tmp_path, pre_tool_use("ls", "c-ok"), CMDSCOPE_FSYNC="bogus", CMDSCOPE_LEDGER_MAX_BYTES="64M")
    assert done.returncode == 0 and done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "cmdscope hook: CMDSCOPE_LEDGER_MAX_BYTES='64M': must be a whole number; using the default, 67108864 (64 MiB)",
        "cmdscope hook: CMDSCOPE_FSYNC='bogus': must be one of never, batch, always; using the default, batch"]


def test_hook_unreadable_input_with_a_refusing_setting_blocks(tmp_path: Path) -> None:
    """Input the hook cannot read, with a malformed guard setting: blocked (exit 2), as with
    CMDSCOPE_GUARD_FAIL=closed; never exit 1 (which Claude Code reads as allow)."""
    done = hook(tmp_path, b"{not json", CMDSCOPE_GUARD_MODE="enforec")
    assert done.returncode == 2 and b"Traceback" not in done.stderr


def test_daemon_reads_each_callers_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm daemon parses the forwarded settings per request: a bad guard setting denies that
    call only; the next caller's good settings allow."""
    from cmdscope._integrations import hookd

    monkeypatch.chdir(tmp_path)

    def ask(env: dict[str, str], call_id: str) -> tuple[int, str, str]:
        forwarded = {k: v for k, v in clean_env(tmp_path, **env).items() if k.startswith(("CMDSCOPE_", "OTEL_", "XDG_"))}
        request = {"agent": "claude-code", "cwd": str(tmp_path), "env": forwarded,
                   "stdin": pre_tool_use("ls", call_id).decode()}
        return hookd.handle(json.dumps(request).encode())

    code, out, err = ask({"CMDSCOPE_GUARD_FAIL": "closd"}, "d1")
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "CMDSCOPE_GUARD_FAIL='closd'" in err
    code, out, err = ask({}, "d2")
    assert code == 0 and out == "" and err == ""
    assert os.environ.get("CMDSCOPE_GUARD_FAIL") is None  # the daemon's own environment is back


def _urlsplit_accepts(value: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


_URL_PIECES = st.sampled_from(["http", "https", "HTTP", "ftp", "://", ":", "/", "?", "#", "@", "[", "]", "::1",
                               "localhost", "127.0.0.1", "collector.example", "a_b", "-", ".", "4318", "0",
                               "65535", "65536", "00080", "x", "%41", "é", "\u0664", " "])


@given(st.lists(_URL_PIECES, max_size=8).map("".join))
def test_the_urllib_free_url_check_agrees_with_urlsplit(value: str) -> None:
    """The fast check (no urllib.parse, which imports ipaddress on the CLI path) accepts only
    URLs urlsplit accepts; everything else still goes through urlsplit."""
    value = value.strip()
    if settings._plain_http_url(value):
        assert _urlsplit_accepts(value), value
    try:
        accepted = settings._url(value) == value
    except settings.Bad:
        accepted = False
    assert accepted == _urlsplit_accepts(value), value


@pytest.mark.parametrize("value", ["http://127.0.0.1:4318", "https://collector.example/v1/traces", "http://h:/x"])
def test_the_usual_endpoints_skip_urllib(value: str) -> None:
    assert settings._plain_http_url(value) and _urlsplit_accepts(value)
