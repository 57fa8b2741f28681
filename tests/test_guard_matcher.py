"""The shell-aware matcher: payloads, wrappers, argv mode, and the cheap path for benign commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cmdscope.guard.loader import build_registry
from cmdscope.guard.pathclass import classify_path
from cmdscope.guard.shell import parse_shell
from cmdscope.guard.sources import discover

REGISTRY, _ = build_registry(discover({}))


def ids(command: str | list[str], shell: bool = True) -> list[str]:
    return [m.rule_id for m in REGISTRY.check(command, shell)]


def test_nested_payloads_are_followed() -> None:
    """bash -c inside ssh inside sudo inside a substitution still reaches the rm."""
    assert ids("""echo $(sudo ssh host "bash -c 'rm -rf /etc'")""") == ["fs.rm-recursive-root"]
    assert ids(["kubectl", "exec", "pg", "--", "psql", "-c", "drop database x"], shell=False) == ["db.drop-database"]


def test_severity_is_the_maximum_and_order_most_severe_first() -> None:
    """A compound command reports every matching rule, most severe first."""
    assert ids("git branch -D x; git reset --hard; rm -rf ~") == [
        "fs.rm-recursive-home", "git.reset-hard", "git.branch-force-delete"]


def test_parser_state_variables_functions_aliases() -> None:
    """Variables, functions and aliases defined earlier in the line resolve."""
    invs = parse_shell("X=/etc; f() { rm -rf \"$1\"; }; f $X")
    assert [(i.exe, i.args) for i in invs] == [("rm", ("-rf", "/etc"))]
    assert ids("f() { rm -rf /; }") == []  # defined, never called


@pytest.mark.parametrize("path,cls", [("/", "root"), ("~/.cache/x", "regenerable"), ("/tmp/a", "tmp"),
                                      ("/tmp", "system"), ("../*", "parent"), ("$X", "opaque"),
                                      ("/tmp/$x/y", "tmp"), ("/tmp/../etc", "system")])
def test_path_classes(path: str, cls: str) -> None:
    """Paths are classified per DANGER_POLICY rules 5 and 6."""
    assert classify_path(path) == cls


def test_benign_command_never_imports_the_parser(tmp_path: Path) -> None:
    """With a warm cache, deciding a benign command imports no tree-sitter, pydantic or yaml."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path))
    code = ("from cmdscope.guard import Guard; g = Guard.load(); d = g.decide('pytest -q tests', shell=True);"
            "import sys; print(d.action, sorted(m for m in ('tree_sitter', 'pydantic', 'yaml') if m in sys.modules))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # builds cache
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.split(maxsplit=1) == ["allow", "[]\n"]
