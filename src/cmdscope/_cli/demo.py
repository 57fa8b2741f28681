"""``cmdscope demo``: a short scripted agent session against a fresh local ledger.

Two actors work on two packets in a throwaway git repository: commands succeed, fail in
different ways, time out, are retried, and one dangerous command is denied before it runs.
Then the demo prints what was recorded. It needs no collector and no server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from cmdscope._cli.args import Parser

PY = sys.executable

# (actor, packet, phase, argv or shell string, timeout, note); phase "test" commands are gates.
SCRIPT: list[tuple[str, str, str | None, Any, float | None, str]] = [
    ("claude-code", "PKT-101", "setup", ["git", "status", "--short"], None, "look around"),
    ("claude-code", "PKT-101", "implement", [PY, "-c", "open('app.py', 'w').write('def add(a, b):\\n    return a - b\\n')"], None, "write code"),
    ("claude-code", "PKT-101", "test", [PY, "-c", "from app import add; assert add(2, 2) == 4, 'add(2, 2) returned 0'"], None, "test fails"),
    ("claude-code", "PKT-101", "implement", [PY, "-c", "open('app.py', 'w').write('def add(a, b):\\n    return a + b\\n')"], None, "fix code"),
    ("claude-code", "PKT-101", "test", [PY, "-c", "from app import add; assert add(2, 2) == 4, 'add(2, 2) returned 0'"], None, "test passes"),
    ("claude-code", "PKT-101", None, "git push --force origin main", None, "dangerous: denied before it runs"),
    ("claude-code", "PKT-101", None, ["cat", "config/settings.yaml"], None, "file not found"),
    ("codex", "PKT-102", "dependencies", [PY, "-c", "import yaml_that_does_not_exist"], None, "import fails"),
    ("codex", "PKT-102", "dependencies", [PY, "-c", "import yaml_that_does_not_exist"], None, "retried, fails again"),
    ("codex", "PKT-102", "test", ["sleep", "10"], 0.5, "hangs: timed out"),
    ("codex", "PKT-102", None, ["deploy-tool", "--env", "staging"], None, "command not found"),
    ("codex", "PKT-102", None, "curl -sS -H 'Authorization: Bearer sk-ant-api03-DEMOdemoDEMOdemoDEMOdemo1234' http://127.0.0.1:9/v1", None, "secret redacted; connection refused"),
    ("codex", "PKT-102", "lint", [PY, "-c", "print('All checks passed!')"], None, "lint passes"),
]


def main(argv: list[str]) -> int:
    from cmdscope._cli.args import work_dir

    parser = Parser(prog="cmdscope demo", description=__doc__)
    parser.add_argument("--dir", type=work_dir, help="where to put the demo repository and ledger (default: a new temp dir)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)

    base = Path(args.dir or tempfile.mkdtemp(prefix="cmdscope-demo-")).resolve()
    repo = base / "repo"
    try:
        repo.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --dir: {args.dir}: {exc.strerror}")
    ledger = base / "ledger.jsonl"
    if ledger.exists():
        ledger.unlink()
    os.environ["CMDSCOPE_LEDGER"] = str(ledger)
    os.environ.setdefault("XDG_STATE_HOME", str(base / "state"))
    _git_repo(repo)

    import cmdscope

    out = sys.stdout
    out.write(f"cmdscope demo: a scripted agent session in {repo}\nledger: {ledger}\n\n")
    packets: dict[str, list[tuple[str, str, str | None, Any, float | None, str]]] = {}
    for step in SCRIPT:
        packets.setdefault(step[1], []).append(step)
    for packet_id, steps in packets.items():
        actor = steps[0][0]
        with cmdscope.packet(packet_id, title=f"demo work of {actor}", actor=actor):
            for _, packet, phase, cmd, timeout, note in steps:
                status = _step(cmdscope, actor, packet, phase, cmd, timeout, repo)
                if not args.quiet:
                    shell = isinstance(cmd, str)
                    shown = cmd if shell else " ".join(os.path.basename(c) if c == PY else c for c in cmd)
                    out.write(f"  {actor:<12} {packet}  {shown[:52]:<52}  -> {status}   # {note}\n")

    from cmdscope._sdlc.heartbeats import checkin

    checkin("demo-nightly", every_s=86400)  # a scheduled check-in, for the governance summary

    from cmdscope._pipeline import close_ledgers
    from cmdscope._sinks.ledger import read_records

    close_ledgers()
    records = list(read_records(ledger))
    out.write(f"\nRecorded {len(records)} records:\n\n")
    from cmdscope._cli.ledger import format_table

    format_table([r for r in records if r.get("kind") in ("command", "denial")], out)
    _summary(records, out)
    _packets(records, out)
    _failure_report(records, out)
    _ratings(str(ledger), out)
    out.write(f"\nSee them again with:  CMDSCOPE_LEDGER={ledger} cmdscope ledger tail -n 20\n")
    return 0


def _step(cmdscope: Any, actor: str, packet: str, phase: str | None, cmd: Any, timeout: float | None,
          repo: Path) -> str:
    """Run one scripted command; test-phase commands also count as the packet's test gate."""
    shell = isinstance(cmd, str)
    try:
        result = cmdscope.run(cmd, shell=shell, actor=actor, packet=packet, phase=phase, session=f"demo-{actor}",
                              timeout=timeout, cwd=repo, capture_output=True)
    except cmdscope.CommandDenied as denied:
        return f"DENIED by {denied.decision.rule_id}"
    rec = result.record
    status = f"exit {result.returncode:<3} {rec['cmdscope.outcome']}"
    if rec.get("error.type"):
        status += f" ({rec['error.type']})"
    if rec.get("cmdscope.retry.count"):
        status += f", retry #{rec['cmdscope.retry.count']}"
    if phase == "test":
        cmdscope.gate("tests", passed=result.returncode == 0, packet=packet, actor=actor, cwd=repo, show_nudge=False)
        status += ", gate " + ("passed" if result.returncode == 0 else "failed")
    return status


def _git_repo(repo: Path) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="demo", GIT_AUTHOR_EMAIL="demo@example.invalid",
               GIT_COMMITTER_NAME="demo", GIT_COMMITTER_EMAIL="demo@example.invalid")
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
        (repo / "README.md").write_text("demo\n")
        subprocess.run(["git", "-C", str(repo), "add", "README.md"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "Start demo"], check=True, env=env)


def _summary(records: list[dict[str, Any]], out: Any) -> None:
    records = [r for r in records if r.get("kind") in ("command", "denial")]
    kinds = Counter(r.get("kind") for r in records)
    out.write(f"\nCommands: {kinds['command']} run, {kinds['denial']} denied before running\n")
    outcomes = Counter(r.get("cmdscope.outcome") for r in records)
    packets = Counter(r.get("cmdscope.packet") for r in records)
    out.write("By outcome: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + "\n")
    out.write("By packet:  " + ", ".join(f"{k} {v}" for k, v in sorted(packets.items())) + "\n")
    from cmdscope._command_text import as_typed

    denials = [r for r in records if r.get("kind") == "denial"]
    for d in denials:
        out.write(f"Denied:     {as_typed(d)}  rule {d.get('cmdscope.policy.rule')}"
                  f" ({d.get('cmdscope.danger.severity')}), policy {d.get('cmdscope.policy.source')}\n")


def _packets(records: list[dict[str, Any]], out: Any) -> None:
    out.write("\nPackets (cmdscope report packets):\n")
    for r in records:
        if r.get("kind") == "packet":
            out.write(f"  {r.get('cmdscope.packet')}: {r.get('cmdscope.packet.status', '')}, "
                      f"{r.get('cmdscope.packet.commands', 0)} commands, "
                      f"failure density {float(r.get('cmdscope.packet.failure_density') or 0):.2f}, "
                      f"gate pass rate {_rate(r.get('cmdscope.packet.gate_pass_rate'))}, "
                      f"{r.get('cmdscope.packet.denials', 0)} denial(s), {r.get('duration_s', 0):.2f}s\n")


def _ratings(ledger: str, out: Any) -> None:
    """The overall ratings and the governance figures of the session (cmdscope rate, report governance)."""
    import time

    from cmdscope._reports.common import LedgerStream
    from cmdscope._reports.governance import KINDS as GOVERNANCE_KINDS
    from cmdscope._reports.governance import build
    from cmdscope._sdlc.governance import load_policy
    from cmdscope._sdlc.rating import rate_ledger

    policy = load_policy()
    now = time.time_ns()
    out.write("\nRatings (cmdscope rate):\n")
    for row in rate_ledger(ledger, now - 3600 * 10**9, now, policy.rating.weights):
        if row["subject"] in {step[0] for step in SCRIPT} | {step[1] for step in SCRIPT}:
            weakest = min(row["components"], key=lambda c: c["value"])
            out.write(f"  {row['scope']:<7} {row['subject']:<12} {row['score']:5.1f} {row['letter']}"
                      f"   weakest: {weakest['component']} {weakest['value']:.2f}\n")
    out.write("\nGovernance (cmdscope report governance):\n")
    stream = LedgerStream(ledger, "cmdscope demo", since_ns=now - 30 * 86400 * 10**9, kinds=GOVERNANCE_KINDS)
    figures = build(stream.records, policy.targets)["figures"]
    stream.finish()
    for fig in figures:
        value = "no data" if fig["value"] is None else f"{fig['value']:.0%}"
        out.write(f"  {fig['figure'].replace('_', ' '):<17} {value:<8} target {fig['target']:.0%}: {fig['state']}\n")


def _rate(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def _failure_report(records: list[dict[str, Any]], out: Any) -> None:
    try:
        from cmdscope._reports.failures import failure_rollup, render_rollup
    except ImportError:
        classes = Counter(r.get("error.type") for r in records if r.get("cmdscope.outcome") not in ("success", None))
        out.write("Failures:   " + ", ".join(f"{k} {v}" for k, v in classes.most_common()) + "\n")
        return
    out.write("\nFailure report (cmdscope report failures):\n")
    out.write(render_rollup(failure_rollup(iter(records)), "table"))
