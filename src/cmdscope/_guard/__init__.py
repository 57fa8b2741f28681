"""Guardrails: the dangerous-command registry, the shell-aware matcher and the policy engine.

Usage::

    from cmdscope._guard import Guard, check
    guard = Guard.load()                      # cached per process and on disk
    d = guard.decide("git push -f origin main", shell=True, actor="claude-code")
    if d.denied: ...                          # action == "deny" and mode == "enforce"
    check("rm -rf ~")                         # [Match(rule_id='fs.rm-recursive-home', ...)]

Importing this package is cheap: YAML, pydantic and tree-sitter load only when needed.
See docs/guardrails.md.
"""

from cmdscope._guard.decision import Decision, GuardInvariantError, Match
from cmdscope._guard.engine import Guard, check
from cmdscope._guard.errors import GuardConfigError, GuardModeError

__all__ = ["Decision", "Guard", "GuardConfigError", "GuardInvariantError", "GuardModeError", "Match",
           "check"]
