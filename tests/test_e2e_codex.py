"""End to end with the real Codex CLI (``@openai/codex``, pinned in package.json; scripts/test.sh
installs it) run as ``codex exec`` against the scripted Responses-API server on loopback, after
``cmdscope integrations install codex``. HOME and CODEX_HOME are temp dirs; no network but loopback.

Codex 0.169 runs a hook only when the hook is trusted (its hash in config.toml's ``hooks.state``:
the TUI's review, or ``cmdscope integrations install codex --trust``) or when ``codex exec
--dangerously-bypass-hook-trust`` is given, and reads a project's ``.codex/`` only in a trusted
project. The tests cover both ways, and pin that an untrusted hook is skipped without a word.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import cmdscope_cli, read_ledger
from model_server import ModelServer
from test_e2e_agents import (
    BENIGN,
    DANGEROUS,
    FAILING,
    LEAKY,
    SECRET,
    check_ledger_and_spans,
    cli_or_skip,
    project,
)

__all__ = ["project"]  # the fixture, shared with the other agents' end-to-end tests

def codex_config(codex_home: Path, server: ModelServer, trusted_project: Path | None = None) -> None:
    """A custom provider on the scripted server (this Codex accepts only ``wire_api = "responses"``),
    and the project trusted the way Codex's docs say (the TUI's trust prompt writes the same)."""
    codex_home.mkdir(parents=True, exist_ok=True)
    project = f'\n[projects."{trusted_project}"]\ntrust_level = "trusted"\n' if trusted_project else ""
    (codex_home / "config.toml").write_text(f"""model = "scripted"
model_provider = "scripted"
check_for_update_on_startup = false

[model_providers.scripted]
name = "Scripted"
base_url = "{server.url}/v1"
wire_api = "responses"
{project}""")


def install(*args: str, home: Path, codex_home: Path) -> subprocess.CompletedProcess:
    return cmdscope_cli("integrations", "install", "codex", *args, "--codex", str(cli_or_skip("codex")),
                        capture_output=True, text=True, timeout=120,
                        env={"HOME": str(home), "CODEX_HOME": str(codex_home)})


def run_codex(codex: Path, args: list[str], cwd: Path, home: Path, codex_home: Path) -> tuple[str, list[dict]]:
    """``codex exec --json ...``: (thread id, the JSONL events); fails the test on a non-zero exit."""
    env = {**os.environ, "HOME": str(home), "CODEX_HOME": str(codex_home), "CMDSCOPE_HOOKD_IDLE": "10",
           "PWD": str(cwd)}
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run([str(codex), "exec", "--json", "--sandbox", "danger-full-access", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    (thread,) = [e["thread_id"] for e in events if e.get("type") == "thread.started"]
    return thread, events


def test_codex_exec_denies_records_and_joins_the_session(project: tuple[Path, Path], ledger_path: Path,
                                                         tmp_path: Path) -> None:
    """Project install with --trust, then a plain ``codex exec``: the deny reaches the model with the
    rule id before the command runs (the sandbox is off, so only the hook stands between it and the
    marker); the other commands, two of them asked for in one response, are recorded with Codex's
    session id and real exit codes."""
    codex = cli_or_skip("codex")
    proj, home = project
    codex_home = tmp_path / "codex-home"
    with ModelServer([DANGEROUS, BENIGN, [FAILING, LEAKY]]) as server:
        codex_config(codex_home, server, trusted_project=proj)
        user_state = '[hooks.state."/elsewhere/hooks.json:stop:0:0"]\nenabled = false\n'
        with (codex_home / "config.toml").open("a") as fh:
            fh.write(user_state)
        done = install("--dir", str(proj), "--trust", home=home, codex_home=codex_home)
        assert done.returncode == 0 and done.stdout.count("trusted: ") == 4, done.stdout + done.stderr
        assert '"/elsewhere/hooks.json:stop:0:0"]\nenabled = false' in (codex_home / "config.toml").read_text()
        thread, events = run_codex(codex, ["run the scripted commands"], proj, home, codex_home)
        tool_results = list(server.tool_results)
    assert len(tool_results) == 4, tool_results
    assert any("Command blocked by PreToolUse hook" in text for text in tool_results)
    ran = [e["item"]["command"] for e in events
           if e.get("type") == "item.completed" and e["item"].get("type") == "command_execution"]
    assert not any(DANGEROUS in command for command in ran), ran
    check_ledger_and_spans(ledger_path, "codex", thread, tool_results, home / "marker" / "keep.txt",
                           exit_codes_known=True)
    records = {r["process.command_line"]: r for r in read_ledger(ledger_path)}
    assert records[BENIGN]["duration_s"] < 30 and records[BENIGN]["cmdscope.exit_code.known"] is True


def test_codex_user_install_in_codex_home_across_turns(tmp_path: Path, ledger_path: Path) -> None:
    """``--user`` writes $CODEX_HOME/hooks.json, run with ``--dangerously-bypass-hook-trust``; a second
    turn (``codex exec resume``) started from a subdirectory is guarded and recorded under the same
    session, and SessionEnd leaves nothing open."""
    codex = cli_or_skip("codex")
    home, codex_home, repo = tmp_path / "home", tmp_path / "codex-home", tmp_path / "repo"
    home.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "src").mkdir()
    installed = cmdscope_cli("integrations", "install", "codex", "--user", capture_output=True, text=True,
                             env={"HOME": str(home), "CODEX_HOME": str(codex_home)})
    assert installed.returncode == 0 and str(codex_home / "hooks.json") in installed.stdout, installed.stdout
    assert not (home / ".codex").exists()
    force_push = "git push --force origin main"
    with ModelServer(["echo turn-one", ["echo turn-two", force_push]]) as server:
        codex_config(codex_home, server)
        first, _ = run_codex(codex, ["--dangerously-bypass-hook-trust", "first turn"], repo, home, codex_home)
        second, _ = run_codex(codex, ["--dangerously-bypass-hook-trust", "resume", first, "second turn"],
                              repo / "src", home, codex_home)
        tool_results = list(server.tool_results)
    assert first == second and len(tool_results) == 3, tool_results
    records = read_ledger(ledger_path)
    by_command = {r["process.command_line"]: r for r in records}
    assert {r["session.id"] for r in records} == {first}
    assert by_command["echo turn-one"]["process.exit.code"] == 0
    assert by_command["echo turn-two"]["process.exit.code"] == 0
    denial = by_command[force_push]
    assert denial["kind"] == "denial" and any(denial["cmdscope.policy.rule"] in t for t in tool_results)
    assert all(r["cmdscope.outcome"] != "interrupted" for r in records)


def test_codex_skips_untrusted_hooks_silently(project: tuple[Path, Path], ledger_path: Path, tmp_path: Path) -> None:
    """Pinned Codex behaviour the docs warn about: without hook trust (or the bypass flag),
    ``codex exec`` runs none of the installed hooks and says nothing, so nothing is guarded."""
    codex = cli_or_skip("codex")
    proj, home = project
    assert cmdscope_cli("integrations", "install", "codex", "--user", capture_output=True,
                        env={"HOME": str(home), "CODEX_HOME": str(tmp_path / "codex-home")}).returncode == 0
    with ModelServer([BENIGN]) as server:
        codex_config(tmp_path / "codex-home", server)
        run_codex(codex, ["run the scripted commands"], proj, home, tmp_path / "codex-home")
        assert len(server.tool_results) == 1
    assert read_ledger(ledger_path) == []


def test_trust_in_an_untrusted_project_says_what_to_do(tmp_path: Path) -> None:
    """--trust for a project Codex does not trust: exit 2 and how to fix it; hooks.json stays installed."""
    home, codex_home, repo = tmp_path / "home", tmp_path / "codex-home", tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    codex_home.mkdir()
    done = install("--dir", str(repo), "--trust", home=home, codex_home=codex_home)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not trusted" in done.stderr and "codex exec --trust" in done.stderr
    assert (repo / ".codex" / "hooks.json").is_file()
    config = codex_home / "config.toml"
    assert not config.exists() or "hooks.state" not in config.read_text()


def test_codex_started_in_a_subdirectory_finds_the_project_hooks(tmp_path: Path, ledger_path: Path) -> None:
    """Codex looks for .codex/ from its working directory up to the repository root: a session
    started in a subdirectory of a trusted project runs the project's (trusted) hooks."""
    codex = cli_or_skip("codex")
    home, codex_home, repo = tmp_path / "home", tmp_path / "codex-home", tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "pkg" / "deep").mkdir(parents=True)
    with ModelServer(["pwd"]) as server:
        codex_config(codex_home, server, trusted_project=repo)
        assert install("--dir", str(repo), "--trust", home=home, codex_home=codex_home).returncode == 0
        thread, _ = run_codex(codex, ["print the directory"], repo / "pkg" / "deep", home, codex_home)
    (rec,) = read_ledger(ledger_path)
    assert rec["process.command_line"] == "pwd" and rec["session.id"] == thread and rec["process.exit.code"] == 0


def test_codex_native_otel_export_pinned(project: tuple[Path, Path], ledger_path: Path, tmp_path: Path) -> None:
    """Codex 0.169's own OTLP export (``[otel]`` in config.toml), next to cmdscope's hooks: its log
    events name the same call ids and session, and its ``codex.tool_result`` carries the command's
    output unredacted (documented: cmdscope cannot redact another exporter)."""
    from otlp_receiver import OtlpReceiver

    codex = cli_or_skip("codex")
    proj, home = project
    codex_home = tmp_path / "codex-home"
    receiver = OtlpReceiver().start()
    try:
        with ModelServer([BENIGN, LEAKY]) as server:
            codex_config(codex_home, server)
            with (codex_home / "config.toml").open("a") as fh:
                fh.write(f"""
[otel]
environment = "cmdscope-test"
exporter = {{ otlp-http = {{ endpoint = "{receiver.endpoint}/v1/logs", protocol = "binary" }} }}
trace_exporter = {{ otlp-http = {{ endpoint = "{receiver.endpoint}/v1/traces", protocol = "binary" }} }}
""")
            assert install("--user", "--trust", home=home, codex_home=codex_home).returncode == 0
            thread, _ = run_codex(codex, ["run the scripted commands"], proj, home, codex_home)
        logs = list(receiver.received.logs)
        spans = list(receiver.received.spans)
    finally:
        receiver.stop()
    names = {log.get("event.name") for log in logs}
    assert {"codex.conversation_starts", "codex.user_prompt", "codex.api_request", "codex.tool_decision",
            "codex.tool_result"} <= names, names
    results = [log for log in logs if log.get("event.name") == "codex.tool_result"]
    assert {log["conversation.id"] for log in results} == {thread}
    records = read_ledger(ledger_path)
    assert {log["call_id"] for log in results} == {r["gen_ai.tool.call.id"] for r in records}
    assert any(SECRET in log["output"] for log in results) and SECRET not in ledger_path.read_text()
    exec_spans = [s for s in spans if s.resource.get("service.name") == "codex_exec"]  # (--trust: codex-app-server)
    assert exec_spans and {s.resource["service.version"] for s in exec_spans} == {"0.169.0"}
