"""A tiny scripted "agent loop" that runs its tool calls through cmdscope.

Run it from a checkout (no server needed; the ledger goes to a temp dir unless CMDSCOPE_LEDGER
is set), then look at what was recorded:

    python examples/agent/agent_loop.py
    cmdscope ledger tail -n 10

With OTEL_EXPORTER_OTLP_ENDPOINT set, the same run also exports spans and metrics.
"""

from __future__ import annotations

import os
import sys
import tempfile

import cmdscope

os.environ.setdefault("CMDSCOPE_LEDGER", os.path.join(tempfile.mkdtemp(prefix="agent-loop-"), "ledger.jsonl"))
cmdscope.configure(service_name="example-agent")

# What a model might ask for: a mix of reads, a failing test, a retry and a dangerous command.
TOOL_CALLS = [
    ("inspect", ["git", "--version"]),
    ("test", [sys.executable, "-c", "import sys; print('1 failed'); sys.exit(1)"]),
    ("test", [sys.executable, "-c", "import sys; print('1 failed'); sys.exit(1)"]),
    ("implement", "rm -rf ~/", ),
    ("test", [sys.executable, "-c", "print('1 passed')"]),
]


@cmdscope.command(phase="plan")
def plan(task: str) -> list[str]:
    """A Python tool recorded like a command."""
    return [phase for phase, _ in TOOL_CALLS]


def main() -> int:
    with cmdscope.context(actor="example-agent", session="demo-session", packet="PKT-1"):
        plan("make the tests pass")
        for phase, call in TOOL_CALLS:
            try:
                result = cmdscope.run(call, shell=isinstance(call, str), phase=phase, capture_output=True, text=True,
                                      timeout=60)
            except cmdscope.CommandDenied as denied:
                print(f"denied before it ran: {denied}")
                continue
            rec = result.record
            print(f"{phase:<10} exit {result.returncode}  {rec['cmdscope.outcome']:<8} "
                  f"{rec.get('error.type', '')}  retry={rec.get('cmdscope.retry.count', 0)}")
    print(f"\nledger: {os.environ['CMDSCOPE_LEDGER']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
