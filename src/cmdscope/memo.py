"""Bounded memos for the per-command path.

The same contexts, commands and environments recur from command to command, so several steps
keep their answers in a plain dict. A dict that reaches its limit is emptied and refilled: the
entries that recur come back at once, and nothing grows without bound in a long-lived agent.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not "from typing import": typing costs ~4 ms per CLI process

if TYPE_CHECKING:
    from typing import TypeVar

    K = TypeVar("K")
    V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """``memo[key] = value``, emptying ``memo`` first when it holds ``limit`` entries."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
