"""The classifier on every path a failure takes: `cmdscope run`, the Python API, agent hooks,
`cmdscope classify` on saved logs; stdout and stderr both read; excerpts redacted before cut."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PYTHON, cmdscope_cli, read_ledger

import cmdscope
from cmdscope._failures import classify
from cmdscope._failures.classify import EXCERPT_MAX, TEXT_WINDOW
from cmdscope.redact import redact

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]


def _conflicted_repo(path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run([*GIT, *args], cwd=path, check=True, capture_output=True)

    git("init", "-q")
    (path / "a.txt").write_text("base\n")
    git("add", "a.txt")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (path / "a.txt").write_text("feature\n")
    git("commit", "-qam", "feature")
    git("checkout", "-q", "main")
    (path / "a.txt").write_text("main\n")
    git("commit", "-qam", "main")


def _one(ledger: Path, kind: str = "command") -> dict:
    records = [r for r in read_ledger(ledger) if r["kind"] == kind]
    assert len(records) == 1, records
    return records[0]


# ---------------------------------------------------------------- stdout and stderr


def test_stdout_only_evidence_classifies() -> None:
    """git prints a merge conflict on stdout only; the classifier reads it there."""
    c = classify(exit_code=1, signal=None, executable="git", argv=["git", "merge", "feature"], phase=None,
                 outcome="failure", stderr_tail=b"",
                 stdout_tail=b"Auto-merging a.txt\nCONFLICT (content): Merge conflict in a.txt\n"
                             b"Automatic merge failed; fix conflicts and then commit the result.\n")
    assert (c.error_type, c.excerpt) == ("merge_conflict", "CONFLICT (content): Merge conflict in a.txt")


def test_both_streams_optional() -> None:
    none = classify(exit_code=3, signal=None, executable="x", argv=None, phase=None, outcome="failure",
                    stderr_tail=None, stdout_tail=None)  # type: ignore[arg-type]
    assert none.error_type == "unknown" and none.excerpt is None


def test_specific_evidence_on_stdout_beats_a_generic_line_on_stderr() -> None:
    """make's closing `*** Error 1` (stderr) is a fallback: the test failure on stdout decides."""
    c = classify(exit_code=2, signal=None, executable="make", argv=["make", "test"], phase=None, outcome="failure",
                 stderr_tail=b"make: *** [Makefile:2: test] Error 1\n",
                 stdout_tail=b"FAILED test_m.py::test_m - assert 0\n1 failed in 0.02s\n")
    assert c.error_type == "test_failure"
    only_make = classify(exit_code=2, signal=None, executable="make", argv=["make"], phase=None,
                         outcome="failure", stderr_tail=b"make: *** [Makefile:2: all] Error 1\n")
    assert (only_make.error_type, only_make.pattern_id) == ("build_error", "build_error.make")


def test_terminal_escapes_do_not_hide_error_lines() -> None:
    err = (b"\x1b[31m\xe2\x95\xb7\x1b[0m\x1b[0m\n\x1b[31m\xe2\x94\x82\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: "
           b"\x1b[0m\x1b[0m\x1b[1mReference to undeclared input variable\x1b[0m\n")
    c = classify(exit_code=1, signal=None, executable="terraform", argv=["terraform", "validate"], phase=None,
                 outcome="failure", stderr_tail=err)
    assert c.error_type == "config_error" and "\x1b" not in (c.excerpt or "")


def test_cmdscope_run_classifies_from_stdout(tmp_path: Path, ledger_path: Path) -> None:
    """`cmdscope run -- git merge` with a conflict: git says so on stdout, which the user still sees."""
    _conflicted_repo(tmp_path)
    done = cmdscope_cli("run", "--", *GIT, "merge", "feature", cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 1 and b"CONFLICT (content)" in done.stdout
    assert _one(ledger_path)["error.type"] == "merge_conflict"


def test_api_with_captured_stdout_classifies_from_it(tmp_path: Path, ledger_path: Path) -> None:
    _conflicted_repo(tmp_path)
    result = cmdscope.run([*GIT, "merge", "feature"], cwd=tmp_path, capture_output=True)
    assert result.returncode == 1
    rec = _one(ledger_path)
    assert (rec["error.type"], rec["cmdscope.error.pattern"]) == ("merge_conflict", "merge_conflict.conflict-line")


def test_claude_code_hook_classifies_from_the_tool_stdout(ledger_path: Path) -> None:
    """PostToolUse carries the tool's stdout and stderr: the class comes from what the agent saw."""
    base = {"session_id": "s-1", "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp", "permission_mode": "default",
            "tool_name": "Bash", "tool_input": {"command": "python -m pytest -q", "description": "d"},
            "tool_use_id": "toolu_x"}
    for name, extra in (("PreToolUse", {}),
                        ("PostToolUse", {"tool_response": {"stdout": "FAILED t.py::test_a - assert 1 == 2\n"
                                                                     "1 failed in 0.01s\n",
                                                           "stderr": "", "interrupted": False, "exit_code": 1}})):
        done = cmdscope_cli("hook", "claude-code", input=json.dumps({**base, "hook_event_name": name, **extra}).encode(),
                            capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    rec = _one(ledger_path)
    if rec.get("process.exit.code") is None:
        pytest.skip("this Claude Code payload carries no exit code: no failure to classify")
    assert rec["error.type"] == "test_failure"
    assert rec["cmdscope.error.excerpt"] == "FAILED t.py::test_a - assert 1 == 2"


# ---------------------------------------------------------------- denials


def test_denial_error_type_is_the_taxonomy_id(tmp_path: Path, ledger_path: Path) -> None:
    subprocess.run([*GIT, "init", "-q"], cwd=tmp_path, check=True)
    done = cmdscope_cli("run", "--", "git", "push", "--force", "origin", "main", cwd=tmp_path,
                        capture_output=True, timeout=60, env={"CMDSCOPE_MODE": "enforce"})
    assert done.returncode == 126, done.stderr
    rec = _one(ledger_path, "denial")
    assert rec["error.type"] == "policy_denied"
    from cmdscope._failures import default_classifier

    assert "policy_denied" in default_classifier().taxonomy.classes


def test_hook_denial_error_type_is_the_taxonomy_id(ledger_path: Path) -> None:
    data = {"session_id": "s-2", "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp", "hook_event_name": "PreToolUse",
            "permission_mode": "default", "tool_name": "Bash", "tool_use_id": "toolu_d",
            "tool_input": {"command": "rm -rf ~", "description": "d"}}
    done = cmdscope_cli("hook", "claude-code", input=json.dumps(data).encode(), capture_output=True, timeout=60)
    assert done.returncode == 0 and b"deny" in done.stdout
    assert _one(ledger_path, "denial")["error.type"] == "policy_denied"


# ---------------------------------------------------------------- redact first, then cut

# (text as printed, the part that is secret)
SECRETS = [
    ("ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    ("sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7" * 2, "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7"),
    ("https://alice:S3cr3tPassw0rd99@git.example.com/o/r.git", "S3cr3tPassw0rd99"),
    ("AKIAZ7QK3M9TR2XW5VBN", "Z7QK3M9TR2XW5VBN"),  # AWS docs' AKIA...EXAMPLE is a kept placeholder
]


def _leaks(secret_part: str, text: str) -> str | None:
    """A piece of 6 characters of the secret found in text, if any."""
    for i in range(len(secret_part) - 5):
        if secret_part[i : i + 6] in text:
            return secret_part[i : i + 6]
    return None


@pytest.mark.parametrize("secret_case", SECRETS, ids=lambda c: c[0][:8])
def test_a_secret_across_the_excerpt_cut_never_leaks(secret_case: tuple[str, str]) -> None:
    """Every offset of the secret around the excerpt's 240-character cut: no piece of it survives."""
    secret, part = secret_case
    assert _leaks(part, redact(secret)) is None, "the redactor must know this secret"
    for start in range(EXCERPT_MAX - len(secret) - 2, EXCERPT_MAX + 2):
        prefix = "error: could not fetch " + "x" * max(0, start - 23)
        line = (prefix + " " + secret + " while connecting")[: start + len(secret) + 40]
        for stream in ("stderr_tail", "stdout_tail"):
            kw = {"stderr_tail": b"", "stdout_tail": b"", stream: (line + "\n").encode()}
            c = classify(exit_code=1, signal=None, executable="tool", argv=["tool"], phase=None,
                         outcome="failure", **kw)
            assert c.excerpt is not None and len(c.excerpt) <= EXCERPT_MAX
            assert _leaks(part, c.excerpt) is None, (start, c.excerpt)


@pytest.mark.parametrize("secret_case", SECRETS, ids=lambda c: c[0][:8])
def test_a_secret_across_the_window_cut_never_leaks(secret_case: tuple[str, str]) -> None:
    """The classifier reads the last TEXT_WINDOW bytes: a secret split by that cut must not leave a
    recognisable-less tail in the excerpt (the partial line is dropped or kept whole)."""
    secret, part = secret_case
    for shift in range(0, len(secret) + 1, 3):
        head = "x" * 100 + " " + secret + " tail"
        filler = "y" * (TEXT_WINDOW - len(head) + shift)
        one_line = (head + filler + " fatal: could not read from remote\n").encode()
        for text in (one_line, b"first\n" + one_line, one_line + b"Error: done\n"):
            c = classify(exit_code=1, signal=None, executable="tool", argv=["tool"], phase=None,
                         outcome="failure", stderr_tail=text)
            excerpt = c.excerpt or ""
            assert _leaks(part, excerpt) is None, (shift, excerpt)


def test_excerpt_secret_redacted_in_the_ledger(tmp_path: Path, ledger_path: Path) -> None:
    """End to end: a failing command whose error line puts a token right at the cut."""
    token = SECRETS[0][0]
    pad = "E" * (EXCERPT_MAX - 20)
    script = f"import sys; sys.stderr.write('fatal: {pad} {token} rejected\\n'); sys.exit(1)"
    done = cmdscope_cli("run", "--", PYTHON, "-c", script, capture_output=True, timeout=60)
    assert done.returncode == 1
    rec = _one(ledger_path)
    assert token[4:16] not in json.dumps(rec)
    assert "[REDACTED" in rec["cmdscope.error.excerpt"] or token[:8] not in rec["cmdscope.error.excerpt"]


# ---------------------------------------------------------------- cmdscope classify


def test_classify_cli_on_a_ci_log(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("2024-05-01T10:00:00.1234567Z ##[group]Run make test\n"
                   "2024-05-01T10:00:01.0000000Z \x1b[31mFAILED tests/test_a.py::test_x - assert 1 == 2\x1b[0m\n"
                   "2024-05-01T10:00:01.5000000Z make: *** [Makefile:4: test] Error 1\n"
                   "2024-05-01T10:00:02.0000000Z ##[error]Process completed with exit code 2.\n")
    done = cmdscope_cli("classify", "--json", str(log), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["error.type"] == "test_failure" and doc["exit_code"] == 2
    assert doc["pattern"] == "test_failure.pytest-failed-line"
    assert doc["excerpt"] == "FAILED tests/test_a.py::test_x - assert 1 == 2"
    text = cmdscope_cli("classify", str(log), capture_output=True, text=True, timeout=60)
    assert text.stdout.startswith("class:       test_failure (Test failure)\n")
    assert "evidence:    FAILED tests/test_a.py::test_x" in text.stdout


def test_classify_cli_streams_from_files_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text("Auto-merging a.txt\nCONFLICT (content): Merge conflict in a.txt\n")
    done = cmdscope_cli("classify", "--json", "--command", "git merge feature", "--exit-code", "1",
                        "--stdout", str(tmp_path / "out.txt"), "--stderr", "-", input=b"",
                        capture_output=True, timeout=60)
    doc = json.loads(done.stdout)
    assert (doc["error.type"], doc["phase"]) == ("merge_conflict", "integrate")
    piped = cmdscope_cli("classify", "--json", "--command", "grep -q x f", "--exit-code", "1",
                         input=b"", capture_output=True, timeout=60)
    assert json.loads(piped.stdout)["error.type"] == "negative_answer"


def test_classify_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = cmdscope_cli("classify", str(tmp_path / "nope.log"), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "nope.log" in missing.stderr
    assert "Traceback" not in missing.stderr
    both = cmdscope_cli("classify", "a.log", "--stdout", "b.log", capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "Traceback" not in both.stderr
    bad_overlay = tmp_path / "tax"
    bad_overlay.mkdir()
    (bad_overlay / "x.yaml").write_text("overlay: t\nversion: 1.0.0\ndisable: [no_such]\n")
    overlay = cmdscope_cli("classify", input="x\n", capture_output=True, text=True, timeout=60,
                           env={"CMDSCOPE_TAXONOMY_PATH": str(bad_overlay)})
    assert overlay.returncode == 2 and "x.yaml" in overlay.stderr and "Traceback" not in overlay.stderr


def test_classify_cli_reads_only_the_tail_of_a_huge_log(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with open(log, "w") as fh:
        fh.writelines(f"step {i}: compiling module {i} ok\n" for i in range(200_000))
        fh.write("fatal: refusing to merge unrelated histories\n")
    done = cmdscope_cli("classify", "--json", str(log), capture_output=True, timeout=60)
    assert json.loads(done.stdout)["error.type"] == "git_state"


def test_cmdscope_run_classifies_from_stdout_merged_with_stderr(tmp_path: Path, ledger_path: Path) -> None:
    """`cmdscope run -- git merge ... 2>&1 | cat`: with both streams on one pipe the runner keeps
    one tail of both, so the conflict git prints on stdout classifies the failure."""
    _conflicted_repo(tmp_path)
    cmd = [sys.executable, "-m", "cmdscope", "run", "--", *GIT, "merge", "feature"]
    done = subprocess.run(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert done.returncode == 1 and b"CONFLICT (content)" in done.stdout
    assert _one(ledger_path)["error.type"] == "merge_conflict"
