"""`cmdscope init` (issue 19 item 1) on fresh repositories of four toolchains: provisions, runs
the generated pipeline, is idempotent, never overwrites a user's file, and undoes exactly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VENV_BIN = str(Path(sys.executable).parent)

PROJECTS: dict[str, dict[str, str]] = {
    "python": {
        "pyproject.toml": '[project]\nname = "demo"\nversion = "0.1.0"\n',
        "demo.py": "def add(a, b):\n    return a + b\n",
        "test_demo.py": "from demo import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    },
    "node": {
        "package.json": json.dumps({"name": "demo", "version": "1.0.0", "scripts": {"test": "node --test"}}),
        "add.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\n"
                       "test('add', () => assert.strictEqual(1 + 2, 3));\n",
    },
    "go": {
        "go.mod": "module example.com/demo\n\ngo 1.21\n",
        "demo.go": "package demo\n\nfunc Add(a, b int) int { return a + b }\n",
        "demo_test.go": 'package demo\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("add")\n\t}\n}\n',
    },
    "rust": {
        "Cargo.toml": '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/lib.rs": "pub fn add(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n"
                      "    fn adds() { assert_eq!(super::add(1, 2), 3); }\n}\n",
    },
}
TOOLS = {"python": None, "node": "node", "go": "go", "rust": "cargo"}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmdscope", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_project(tmp_path: Path, toolchain: str) -> Path:
    repo = tmp_path / toolchain
    for rel, text in PROJECTS[toolchain].items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / ".gitignore").write_text("target/\n__pycache__/\n.pytest_cache/\nnode_modules/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "initial")
    return repo


@pytest.mark.parametrize("toolchain", list(PROJECTS))
def test_provisions_and_the_generated_pipeline_passes(tmp_path: Path, toolchain: str) -> None:
    """From a subdirectory: init detects the toolchain, writes policy, governance, pipeline,
    schedule and README, installs the agent and git hooks; the generated pipeline runs its
    build, test and review stages and passes."""
    tool = TOOLS[toolchain]
    if tool and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    repo = make_project(tmp_path, toolchain)
    sub = repo / "sub"
    sub.mkdir()
    out = run(sub, "init", "--agent", "claude-code", "--schedule", "cron")
    assert out.returncode == 0, out.stderr
    assert f"toolchains: {toolchain}" in out.stdout
    for rel in ("policy.yaml", "governance.yaml", "pipeline.yaml", "README.md", "schedule/crontab", "init.json"):
        assert (repo / ".cmdscope" / rel).is_file(), rel
    assert json.loads((repo / ".claude" / "settings.json").read_text())["hooks"]["PreToolUse"]
    assert (repo / ".git" / "hooks" / "post-commit").is_file()
    pipeline = (repo / ".cmdscope" / "pipeline.yaml").read_text()
    assert f"gate: tests-{toolchain}" in pipeline
    assert run(repo, "pipeline", "validate", ".cmdscope/pipeline.yaml").returncode == 0
    result = run(repo, "pipeline", "run", ".cmdscope/pipeline.yaml", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rec = json.loads(result.stdout)
    assert rec["cicd.pipeline.result"] == "success" and rec["cmdscope.merge.result"] == "auto"
    assert rec["cmdscope.pipeline.gates_passed"] == rec["cmdscope.pipeline.gates"] >= 2


def test_idempotent_dry_run_force_and_undo(tmp_path: Path) -> None:
    """A dry run changes nothing; a user's existing file is kept without --force; a second run
    says there is nothing to do; --undo removes exactly what init added and keeps an edited file."""
    repo = make_project(tmp_path, "python")
    (repo / ".cmdscope").mkdir()
    mine = "# my own pipeline\nname: mine\nstages: []\n"
    (repo / ".cmdscope" / "pipeline.yaml").write_text(mine)
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "my pipeline")
    before = git(repo, "status", "--porcelain", "--ignored")

    dry = run(repo, "init", "--dry-run", "--agent", "codex")
    assert dry.returncode == 0 and "dry run: nothing changed" in dry.stdout
    assert "skip      .cmdscope/pipeline.yaml" in dry.stdout
    assert git(repo, "status", "--porcelain", "--ignored") == before

    first = run(repo, "init", "--agent", "codex")
    assert first.returncode == 0, first.stderr
    assert (repo / ".cmdscope" / "pipeline.yaml").read_text() == mine
    second = run(repo, "init", "--agent", "codex")
    assert second.returncode == 0 and "nothing to do: already set up" in second.stdout
    assert "create" not in second.stdout

    (repo / ".cmdscope" / "policy.yaml").write_text("# edited by the team\nname: p\nversion: 1.0.0\nrules: []\n")
    undo = run(repo, "init", "--undo")
    assert undo.returncode == 0 and "kept    .cmdscope/policy.yaml" in undo.stdout
    assert (repo / ".cmdscope" / "pipeline.yaml").read_text() == mine
    assert not (repo / ".cmdscope" / "governance.yaml").exists() and not (repo / ".codex").exists()
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    assert run(repo, "init", "--undo", "--force").returncode == 0
    assert git(repo, "status", "--porcelain", "--ignored") == before

    forced = run(repo, "init", "--force")
    assert forced.returncode == 0 and "replace   .cmdscope/pipeline.yaml" in forced.stdout
    assert (repo / ".cmdscope" / "pipeline.yaml").read_text() != mine


def test_outside_a_repository_and_bad_values_are_one_line(tmp_path: Path) -> None:
    out = run(tmp_path, "init")
    assert out.returncode == 2 and "not inside a git repository" in out.stderr and len(out.stderr.splitlines()) == 1
    repo = make_project(tmp_path, "python")
    bad = run(repo, "init", "--policy", "strcit")
    assert bad.returncode == 2 and "invalid choice: 'strcit'" in bad.stderr
