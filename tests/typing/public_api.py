"""A program that uses every public name of cmdscope; tests/test_public_api.py checks it with
``mypy --strict`` (and that no revealed type is ``Any``) and runs it."""

from __future__ import annotations

import asyncio
import sys
from typing import reveal_type

import cmdscope


@cmdscope.command(phase="test")
def add(a: int, b: int) -> int:
    return a + b


@cmdscope.command()
async def later(x: str) -> str:
    return x.upper()


def main(ledger: str) -> int:
    configured = cmdscope.configure(traces_exporter="none", metrics_exporter="none")
    reveal_type(configured)
    reveal_type(cmdscope.run)
    with cmdscope.context(actor="typed", packet="PKT-1") as ctx:
        reveal_type(ctx.actor)
        result = cmdscope.run(["true"], ledger=ledger)
    reveal_type(result)
    reveal_type(result.returncode)
    reveal_type(result.outcome)
    reveal_type(result.record)
    assert result.returncode == 0 and result.outcome == "success"
    text = cmdscope.run("echo hi", shell=True, capture_output=True, text=True, ledger=ledger)
    reveal_type(text.stdout)
    reveal_type(add(1, 2))
    reveal_type(asyncio.run(later("x")))
    redacted = cmdscope.redact.redact("PGPASSWORD=hunter2 psql")
    reveal_type(redacted)
    assert "hunter2" not in redacted
    try:
        cmdscope.run(["git", "push", "--force", "origin", "main"], ledger=ledger)
    except cmdscope.CommandDenied as denied:
        decision: cmdscope.Decision = denied.decision
        reveal_type(decision.rule_id)
        reveal_type(decision.denied)
        reveal_type(denied.record)
    cmdscope.instrument()
    cmdscope.uninstrument()
    reveal_type(cmdscope.flush())
    reveal_type(cmdscope.__version__)
    configured.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
