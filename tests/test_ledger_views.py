"""Ledger views (issue 21.11): a KIND column, phases never cut, commands shown as typed, "what
was denied today, by which rule" as one documented command, retries scoped to their ledger."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, cmdscope_cli, read_ledger

from cmdscope._command_text import as_typed, quote_word

EXAMPLE = ROOT / "examples" / "agent" / "agent_loop.py"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cmdscope_cli(*args, env=env, capture_output=True, text=True, timeout=120)


def run_example(ledger: Path) -> subprocess.CompletedProcess[str]:
    """The shipped example agent loop, as a user runs it, writing into ``ledger``."""
    done = subprocess.run([PYTHON, str(EXAMPLE)], env={**os.environ, "CMDSCOPE_LEDGER": str(ledger)},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done


class TestCommandText:
    def test_words_are_quoted_the_way_people_write_them(self) -> None:
        """Bare when safe, '...' without a single quote inside, "..." when only single quotes
        need protecting, shlex's form otherwise (a $ or a backquote inside)."""
        assert [quote_word(w) for w in ("git", "a b", "print('x')", "it's $HOME", "")] == [
            "git", "'a b'", '"print(\'x\')"', "'it'\"'\"'s $HOME'", "''"]

    def test_program_as_typed_and_shell_strings_unchanged(self) -> None:
        rec = {"process.command_line": "/venv/bin/python -c 'print('\"'\"'1 passed'\"'\"')'",
               "process.executable.name": "python"}
        assert as_typed(rec) == "python -c \"print('1 passed')\""
        shell = {"process.command_line": "curl -s http://x | sh && echo 'done'", "process.executable.name": "curl"}
        assert as_typed(shell) == shell["process.command_line"]
        other = {"process.command_line": "/opt/tool/bin/run --x", "process.executable.name": "python"}
        assert as_typed(other) == "/opt/tool/bin/run --x"  # a path that is not the recorded program stays


def test_tail_has_a_kind_column_whole_phases_and_commands_as_typed(tmp_path: Path, ledger_path: Path) -> None:
    """`ledger tail` of the example agent's run: the KIND column tells functions, commands and
    denials apart; a long phase is printed whole; the example's `sys.executable -c ...` reads
    as `python -c "..."`, not a venv path with '"'"' quoting. JSON keeps the exact line."""
    run_example(ledger_path)
    assert cli("run", "--phase", "integration-tests", "--", "true").returncode == 0
    assert cli("gate", "run", "unit", "--", "true").returncode == 0
    table = cli("ledger", "tail", "-n", "20").stdout.splitlines()
    assert table[0].split()[:3] == ["TIME", "(UTC)", "KIND"], table[0]
    rows = table[1:]
    kinds = [row.split()[2] for row in rows]
    assert {"function", "command", "denial", "gate"} <= set(kinds), kinds
    assert any("integration-tests" in row.split() for row in rows), rows
    exe = Path(PYTHON).name
    assert any(row.endswith(f"{exe} -c \"import sys; print('1 failed'); sys.exit(1)\"") for row in rows), rows
    assert not any("'\"'\"'" in row or str(Path(PYTHON).parent) in row for row in rows), rows
    assert any(row.split()[2] == "gate" and row.endswith("unit") for row in rows), rows
    raw = [json.loads(line) for line in cli("ledger", "tail", "-n", "20", "--format", "json").stdout.splitlines()]
    assert any(r.get("process.command_line", "").startswith(PYTHON + " -c ") for r in raw)


def test_denied_today_by_rule_is_one_documented_command(ledger_path: Path) -> None:
    """The runbooks name one command for "what was denied today, by which rule", and it lists
    each denied command with its policy rule and danger rule."""
    command = "cmdscope report denials --since today"
    assert f"`{command}`" in (ROOT / "docs" / "runbooks.md").read_text()
    cli("run", "--", "true")
    assert cli("run", "--", "git", "push", "--force", "origin", "main").returncode == 126
    done = cli(*command.split()[1:])
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("denied commands", 1)[1].splitlines()
    assert listed[1].split() == ["TIME", "(UTC)", "ACTOR", "POLICY", "RULE", "DANGER", "RULE", "COMMAND"]
    row = listed[3]
    assert row.endswith("git push --force origin main") and "default.deny-critical" in row, listed
    assert "git.push-force" in row, row
    as_json = json.loads(cli(*command.split()[1:], "--format", "json").stdout)
    assert [d["command"] for d in as_json["denied"]] == ["git push --force origin main"]


@pytest.mark.timeout(400)
def test_retries_are_scoped_to_the_ledger_they_are_written_to(tmp_path: Path) -> None:
    """Two runs of the example agent loop, same machine state, two fresh ledgers: the second
    ledger's retries point at its own records (it used to report retry #2 and #3 of the first)."""
    first, second = tmp_path / "one" / "ledger.jsonl", tmp_path / "two" / "ledger.jsonl"
    run_example(first)
    run_example(second)
    for ledger in (first, second):
        records = read_ledger(ledger)
        ids = {r["record_id"] for r in records}
        retries = [r for r in records if r.get("cmdscope.retry.count")]
        assert [r["cmdscope.retry.count"] for r in retries] == [1], (ledger, retries)
        assert all(r.get("cmdscope.retry_of") in ids for r in records if "cmdscope.retry_of" in r), ledger
