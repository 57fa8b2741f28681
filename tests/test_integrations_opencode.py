"""The OpenCode bridge (a real long-lived child process) and the shipped plugin's type check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, read_ledger

TSC = ROOT / "node_modules" / ".bin" / "tsc"
PLUGIN_TYPES = ROOT / "node_modules" / "@opencode-ai" / "plugin" / "package.json"


class BridgeProcess:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cmdscope", "hook", "opencode-bridge"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
        self.next = 0

    def ask(self, **msg) -> dict:
        self.next += 1
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({**msg, "id": self.next}).encode() + b"\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert answer["id"] == self.next
        return answer

    def raw(self, line: bytes) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> int:
        assert self.proc.stdin
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


def test_bridge_decides_injects_env_and_records_exit_codes(ledger_path: Path, tmp_path: Path) -> None:
    """before/env/after over one process: deny names the rule, env carries the call's span, exit codes recorded."""
    b = BridgeProcess()
    try:
        denied = b.ask(op="before", session="ses_1", call="c0", tool="bash", command="rm -rf ~", cwd=str(tmp_path))
        assert denied["action"] == "deny" and "fs.rm-recursive-home" in denied["reason"]
        assert b.ask(op="before", session="ses_1", call="c1", tool="bash", command="exit 3", cwd=str(tmp_path)) == {
            "action": "allow", "id": 2}
        env = b.ask(op="env", session="ses_1", call="c1")["env"]
        assert env["CMDSCOPE_SESSION"] == "ses_1" and env["CMDSCOPE_ACTOR"] == "opencode"
        assert b.ask(op="after", session="ses_1", call="c1", tool="bash", command="exit 3", exit=3, output="")["ok"]
        assert b.ask(op="before", session="ses_1", call="c2", tool="read", command="x")["action"] == "allow"
        b.ask(op="before", session="ses_1", call="c3", tool="bash", command="sleep 9", cwd=str(tmp_path))
    finally:
        assert b.close() == 0
    denial, failed, lost = read_ledger(ledger_path)
    assert denial["kind"] == "denial" and denial["cmdscope.actor"] == "opencode"
    assert failed["process.exit.code"] == 3 and failed["cmdscope.outcome"] == "failure"
    assert env["TRACEPARENT"] == f"00-{failed['trace_id']}-{failed['span_id']}-01", "children join the call's span"
    assert lost["cmdscope.outcome"] == "interrupted" and lost["cmdscope.exit_code.known"] is False


def test_bridge_survives_bad_lines(ledger_path: Path) -> None:
    """A line that is not a request is an integration error answered with allow; the bridge keeps serving."""
    b = BridgeProcess()
    try:
        bad = b.raw(b"{oops")
        assert bad["action"] == "allow" and "error" in bad
        assert b.ask(op="ping")["ok"] is True
    finally:
        b.close()
    assert read_ledger(ledger_path)[0]["kind"] == "integration_error"


def test_bridge_fail_closed_denies_bad_requests() -> None:
    """With CMDSCOPE_GUARD_FAIL=closed an unreadable request is answered deny."""
    b = BridgeProcess({"CMDSCOPE_GUARD_FAIL": "closed"})
    try:
        assert b.raw(b'{"op": "nonsense"}')["action"] == "deny"
    finally:
        b.close()


def test_user_rejection_is_a_denial(ledger_path: Path) -> None:
    """permission.replied 'reject' becomes a denial record by rule opencode.permission."""
    b = BridgeProcess()
    try:
        b.ask(op="permission", session="ses_2", call="perm_1", tool="bash", command="git push", response="reject")
    finally:
        b.close()
    (rec,) = read_ledger(ledger_path)
    assert rec["kind"] == "denial" and rec["cmdscope.policy.rule"] == "opencode.permission"


def test_plugin_type_checks_against_the_real_plugin_package(tmp_path: Path) -> None:
    """`tsc --noEmit` accepts the shipped plugin against @opencode-ai/plugin from the npm registry."""
    if not (TSC.exists() and PLUGIN_TYPES.exists()):
        pytest.skip("node_modules missing: run `npm install` at the repository root (scripts/test.sh does)")
    from cmdscope._integrations.install import plugin_source

    (tmp_path / "cmdscope.ts").write_text(plugin_source("/usr/bin/python3"))
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"target": "ES2022", "module": "ESNext", "moduleResolution": "Bundler", "strict": True,
                            "noEmit": True, "skipLibCheck": True, "types": ["node"],
                            "typeRoots": [str(ROOT / "node_modules" / "@types")]},
        "files": ["cmdscope.ts"]}))
    node_modules = tmp_path / "node_modules"
    node_modules.symlink_to(ROOT / "node_modules")
    done = subprocess.run([str(TSC), "-p", str(tmp_path / "tsconfig.json")], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = plugin_source().replace('"tool.execute.before": async (input, output) => {',
                                     '"tool.execute.before": async (input: { nope: number }, output) => {')
    (tmp_path / "cmdscope.ts").write_text(broken)
    assert subprocess.run([str(TSC), "-p", str(tmp_path / "tsconfig.json")], capture_output=True, check=False).returncode != 0, \
        "the check must be able to fail"
