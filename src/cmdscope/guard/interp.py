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
# The home directory as the languages spell it: deleting it is judged as ``rm -rf ~``.
_HOME = (r"os\.path\.expanduser\(\s*['\"]~/?['\"]\s*\)|(?:pathlib\.)?Path\.home\(\s*\)|Dir\.home\b|"
         r"\$ENV\{\s*['\"]?HOME['\"]?\s*\}|process\.env\.HOME\b|os\.homedir\(\s*\)|"
         r"os\.environ\[\s*['\"]HOME['\"]\s*\]|os\.getenv\(\s*['\"]HOME['\"]\s*\)|ENV\[\s*['\"]HOME['\"]\s*\]")
_RMTREE = re.compile(
    r"\b(?:rmtree|rm_rf|rm_r|remove_dir_all|rmSync|rmdirSync|remove_tree|rmtree_p|rm_rf!)"
    r"(?:\s*\(\s*|\s+)(" + _STR + "|" + _HOME + ")"
)
# A walk over a tree that removes each file it visits: ``for r, _, fs in os.walk(X): os.remove``.
_WALK = re.compile(r"\b(?:os\.walk|os\.scandir|glob\.glob|Path\(\s*" + _STR + r"\s*\)\.rglob|"
                   r"readdirSync|Find\.find|File::Find)\s*\(\s*(" + _STR + "|" + _HOME + ")")
_REMOVE = re.compile(r"\b(?:os\.remove|os\.unlink|\.unlink\(|unlinkSync|File\.delete|unlink\b)")
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
        found.append(("argv", ["rm", "-r", "-f", _target(m.group(1))]))
    if _REMOVE.search(code):
        for m in _WALK.finditer(code):
            found.append(("argv", ["rm", "-r", "-f", _target(m.group(1))]))
    return found


def _target(token: str) -> str:
    return _literal(token) if token[:1] in "'\"" else "~"
