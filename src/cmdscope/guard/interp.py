"""Shell commands inside interpreter one-liners (``python -c``, ``node -e``, ``perl -e``, ``ruby -e``).

Not a language parser: it finds the calls that run a command or delete a tree and reads their
literal arguments, which is what a one-liner written to do damage looks like.
"""

from __future__ import annotations

import re

_STR = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_LIST = r"\[\s*" + _STR + r"(?:\s*,\s*" + _STR + r")*\s*,?\s*\]"
_SHELL_CALL = re.compile(
    r"\b(?:system|popen|getoutput|getstatusoutput|execSync|exec|spawnSync|spawn|execFileSync|"
    r"run|call|check_call|check_output|Popen|qx|%x)\s*\(\s*(" + _LIST + "|" + _STR + r")"
    r"(?:\s*,\s*(" + _LIST + r"))?"
)
_BACKTICK = re.compile(r"`([^`]+)`|\bqx\{([^}]*)\}|%x\{([^}]*)\}")
_RMTREE = re.compile(
    r"\b(?:rmtree|rm_rf|rm_r|remove_dir_all|rmSync|rmdirSync|remove_tree|rmtree_p)\s*\(\s*(" + _STR + ")"
)
_STR_ITEM = re.compile(_STR)


def _literal(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def commands_in_code(code: str) -> list[tuple[str, list[str] | str]]:
    """``("shell", "cmd string")`` or ``("argv", [...])`` for each command the code would run."""
    found: list[tuple[str, list[str] | str]] = []
    for m in _SHELL_CALL.finditer(code):
        first, second = m.group(1), m.group(2)
        if first.startswith("["):
            found.append(("argv", [_literal(t) for t in _STR_ITEM.findall(first)]))
        elif second:
            found.append(("argv", [_literal(first)] + [_literal(t) for t in _STR_ITEM.findall(second)]))
        else:
            found.append(("shell", _literal(first)))
    for m in _BACKTICK.finditer(code):
        found.append(("shell", next(g for g in m.groups() if g is not None)))
    for m in _RMTREE.finditer(code):
        found.append(("argv", ["rm", "-r", "-f", _literal(m.group(1))]))
    return found
