"""Find every command a bash string would execute, with tree-sitter-bash (MIT licensed).

The walk keeps the state a real shell would build while running the line (variables, aliases,
functions), resolves words to their unquoted values, and follows data into executors: pipeline
stages, heredocs and here-strings, command and process substitutions. Wrappers and payloads
(``sudo``, ``bash -c``, ``ssh host cmd`` ...) are expanded by :mod:`cmdscope.guard.expand`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

from cmdscope.guard.invocation import Invocation
from cmdscope.guard.pathclass import MKTEMP_SENTINEL

MAX_DEPTH = 6       # payload nesting (bash -c "eval 'ssh h ...'")
MAX_LOOP_VALUES = 4  # `for x in a b c d e` bodies walked per value, at most this many
_PARSER: Any = None
_BACKSLASH = re.compile(r"\\(.)", re.S)
_DQ_ESCAPE = re.compile(r'\\([$`"\\\n])')


def _parser() -> Any:
    global _PARSER
    if _PARSER is None:
        import tree_sitter_bash
        from tree_sitter import Language, Parser

        _PARSER = Parser(Language(tree_sitter_bash.language()))
    return _PARSER


@dataclass
class ShellState:
    """What a shell accumulates while running one line."""

    env: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)
    calling: tuple[str, ...] = ()

    def child(self) -> ShellState:
        """State of a child shell (``bash -c``): it inherits variables but not aliases."""
        return ShellState(dict(self.env), {}, dict(self.functions), self.calling)


@dataclass
class Feed:
    """What reaches a command from outside its own words."""

    fed_by: frozenset[str] = frozenset()
    fed_text: str = ""
    stdin_text: str | None = None
    redirects: tuple[str, ...] = ()
    sudo: bool = False
    via: str = ""


def parse_shell(text: str, state: ShellState | None = None, feed: Feed | None = None,
                depth: int = 0) -> list[Invocation]:
    """Every invocation ``text`` would execute, in order."""
    if depth > MAX_DEPTH or not text.strip():
        return []
    tree = _parser().parse(text.encode("utf-8", "surrogatepass"))
    walker = _Walker(state or ShellState(), feed or Feed(), depth)
    walker.statement(tree.root_node, walker.base)
    return walker.out


_GENERIC_SKIP = frozenset({"comment", "heredoc_body", "heredoc_start", "heredoc_end"})


class _Walker:
    def __init__(self, state: ShellState, base: Feed, depth: int) -> None:
        self.state = state
        self.base = base
        self.depth = depth
        self.out: list[Invocation] = []
        self._subst: list[tuple[set[str], list[str]]] = []

    # statements -------------------------------------------------------------------------
    def statement(self, node: Any, feed: Feed) -> list[Invocation]:
        kind = node.type
        if kind == "command":
            return self.command(node, feed)
        if kind == "pipeline":
            return self.pipeline([c for c in node.named_children], feed)
        if kind == "redirected_statement":
            return self.redirected(node, feed)
        if kind == "variable_assignment":
            self.assign(node, self.state.env)
            return []
        if kind == "function_definition":
            name = node.child_by_field_name("name")
            body = node.child_by_field_name("body")
            if name is not None and body is not None:
                self.state.functions[_text(name)] = body
            return []
        if kind == "for_statement":
            return self.for_loop(node, feed)
        if kind in _GENERIC_SKIP:
            return []
        if kind in ("command_substitution", "process_substitution"):
            self.substitution(node)
            return []
        produced: list[Invocation] = []
        for child in node.named_children:
            produced.extend(self.statement(child, feed))
        return produced

    def pipeline(self, stages: list[Any], feed: Feed, first_fed: list[Invocation] | None = None
                 ) -> list[Invocation]:
        produced: list[Invocation] = []
        current = feed
        if first_fed is not None:
            current = _feed_from(first_fed, feed)
        for stage in stages:
            produced = self.statement(stage, current)
            current = _feed_from(produced, feed)
        return produced

    def redirected(self, node: Any, feed: Feed) -> list[Invocation]:
        body = node.child_by_field_name("body") or (node.named_children[0] if node.named_children else None)
        stdin_text = feed.stdin_text
        redirects = list(feed.redirects)
        continuation: list[Any] = []
        for child in node.named_children:
            if child is body:
                continue
            if child.type == "heredoc_redirect":
                for part in child.named_children:
                    if part.type == "heredoc_body":
                        stdin_text = _text(part)
                    elif part.type == "file_redirect":
                        redirects.extend(self._redirect_target(part))
                    elif part.type not in ("heredoc_start", "heredoc_end"):
                        continuation.append(part)
            elif child.type == "herestring_redirect":
                stdin_text = self._herestring(child)
            elif child.type == "file_redirect":
                redirects.extend(self._redirect_target(child))
        inner = Feed(feed.fed_by, feed.fed_text, stdin_text, tuple(redirects), feed.sudo, feed.via)
        produced = self.statement(body, inner) if body is not None else []
        for part in continuation:
            if part.type == "pipeline":
                produced = self.pipeline(list(part.named_children), feed, produced)
            else:
                self.statement(part, feed)
        return produced

    def for_loop(self, node: Any, feed: Feed) -> list[Invocation]:
        var = node.child_by_field_name("variable")
        body = node.child_by_field_name("body")
        values = [self.word(c) for c in node.children_by_field_name("value")]
        if body is None:
            return []
        if var is None or not values:
            return self.statement(body, feed)
        produced: list[Invocation] = []
        for value in values[:MAX_LOOP_VALUES]:
            self.state.env[_text(var)] = value
            produced.extend(self.statement(body, feed))
        return produced

    def assign(self, node: Any, env: dict[str, str]) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is not None:
            env[_text(name)] = self.word(value) if value is not None else ""

    # simple commands --------------------------------------------------------------------
    def command(self, node: Any, feed: Feed) -> list[Invocation]:
        prefix_env: dict[str, str] = {}
        name_node = None
        arg_nodes: list[Any] = []
        stdin_text = feed.stdin_text
        redirects = list(feed.redirects)
        for child in node.named_children:
            kind = child.type
            if kind == "variable_assignment" and name_node is None:
                self.assign(child, prefix_env)
            elif kind == "command_name":
                name_node = child
            elif kind == "herestring_redirect":
                stdin_text = self._herestring(child)
            elif kind == "file_redirect":
                redirects.extend(self._redirect_target(child))
            elif kind not in _GENERIC_SKIP:
                arg_nodes.append(child)
        self._subst.append((set(), []))
        try:
            name = self.word(name_node.named_children[0]) if name_node and name_node.named_children else ""
            args = [self.word(a) for a in arg_nodes]
        finally:
            subst_exes, subst_texts = self._subst.pop()
        if name_node is None:
            self.state.env.update(prefix_env)
            return []
        first = name_node.named_children[0] if name_node.named_children else None
        if first is not None and first.type in ("simple_expansion", "expansion") and " " in name.strip():
            words = name.split()  # unquoted $cmd is split into words: cmd="rm -rf"; $cmd /
            name, args = words[0], words[1:] + args
        fed_by = feed.fed_by | frozenset(subst_exes)
        fed_text = " ".join(filter(None, [feed.fed_text, *subst_texts]))
        cmd_feed = Feed(fed_by, fed_text, stdin_text, tuple(redirects), feed.sudo, feed.via)
        return self.run(name, args, cmd_feed)

    def run(self, name: str, args: list[str], feed: Feed) -> list[Invocation]:
        """Execute ``name args`` in this shell: builtins that change the shell, then programs."""
        state = self.state
        if name == "alias":
            for arg in args:
                key, eq, value = arg.partition("=")
                if eq:
                    state.aliases[key] = value
            return []
        if name in state.aliases and name not in state.calling:
            import shlex

            text = state.aliases[name] + " " + " ".join(shlex.quote(a) for a in args)
            saved = state.calling
            state.calling = saved + (name,)
            try:
                invs = parse_shell(text, state, feed, self.depth + 1)
            finally:
                state.calling = saved
            self.out.extend(invs)
            return invs
        if name in state.functions:
            return self.call_function(name, args, feed)
        if name == "eval":
            inv = _invocation("eval", args, feed)
            self.out.append(inv)
            invs = parse_shell(" ".join(args), state, feed, self.depth + 1)
            self.out.extend(invs)
            return [inv, *invs]
        from cmdscope.guard.expand import expand

        invs = expand(_invocation(name, args, feed), state, self.depth)
        self.out.extend(invs)
        return invs

    def call_function(self, name: str, args: list[str], feed: Feed) -> list[Invocation]:
        state = self.state
        body = state.functions[name]
        if name in state.calling:
            # A function that calls itself again; through a pipe or in the background it
            # multiplies processes without bound: a fork bomb.
            if "|" in _text(body) or "&" in _text(body):
                inv = _invocation(":fork-bomb:", [name], feed)
                self.out.append(inv)
                return [inv]
            return []
        saved_env = {k: state.env.get(k) for k in ["@", "*", "#"] + [str(i) for i in range(1, 10)]}
        for i in range(1, 10):
            state.env[str(i)] = args[i - 1] if i <= len(args) else ""
        state.env["@"] = state.env["*"] = " ".join(args)
        state.calling = state.calling + (name,)
        try:
            return self.statement(body, feed)
        finally:
            state.calling = state.calling[:-1]
            for key, value in saved_env.items():
                if value is None:
                    state.env.pop(key, None)
                else:
                    state.env[key] = value

    # words ------------------------------------------------------------------------------
    def word(self, node: Any) -> str:
        kind = node.type
        if kind == "word":
            return _BACKSLASH.sub(r"\1", _text(node))
        if kind == "raw_string":
            return _text(node)[1:-1]
        if kind in ("string", "translated_string"):
            return "".join(self._string_part(c) for c in node.named_children)
        if kind == "ansi_c_string":
            return _ansi_c(_text(node)[2:-1])
        if kind == "concatenation":
            return "".join(self.word(c) for c in node.named_children)
        if kind in ("simple_expansion", "expansion"):
            return self.expansion(node)
        if kind in ("command_substitution", "process_substitution"):
            return self.substitution(node)
        return _text(node)

    def _string_part(self, node: Any) -> str:
        if node.type == "string_content":
            return _DQ_ESCAPE.sub(r"\1", _text(node))
        return self.word(node)

    def expansion(self, node: Any) -> str:
        names = [c for c in node.named_children if c.type in ("variable_name", "special_variable_name")]
        if not names:
            return _text(node)
        name = _text(names[0])
        if node.type == "expansion" and any(c.type == "#" for c in node.children[:2]):
            return "${#" + name + "}"  # a length, not the value
        value = self.state.env.get(name)
        if value is not None:
            return value
        if node.type == "expansion":
            # ${X:-default}: unknown here, so the default is what runs
            defaults = [c for c in node.named_children if c is not names[0]]
            ops = {c.type for c in node.children}
            if defaults and (":-" in ops or "-" in ops):
                return self.word(defaults[0])
        return "$" + name

    def substitution(self, node: Any) -> str:
        inner = Feed(self.base.fed_by, self.base.fed_text, None, (), self.base.sudo, self.base.via)
        produced: list[Invocation] = []
        for child in node.named_children:
            produced.extend(self.statement(child, inner))
        if self._subst:
            exes, texts = self._subst[-1]
            for inv in produced:
                exes.add(inv.exe)
                exes.update(inv.fed_by)
                texts.append(" ".join((inv.exe, *inv.args)))
        if node.type == "process_substitution":
            return "/dev/fd/63"
        if len(produced) == 1:
            inv = produced[0]
            if inv.exe == "mktemp":
                return MKTEMP_SENTINEL
            output = _output_text(inv)
            if output is not None:
                return output.strip()
            if inv.exe == "pwd":
                return "."
        return "$(" + (produced[0].exe if produced else "") + ")"

    def _herestring(self, node: Any) -> str:
        parts = [self.word(c) for c in node.named_children]
        return " ".join(parts) + "\n"

    def _redirect_target(self, node: Any) -> list[str]:
        ops = {c.type for c in node.children if not c.is_named}
        if not ops & {">", ">>", ">|", "&>", "&>>"}:
            return []
        dest = node.child_by_field_name("destination")
        targets = [dest] if dest is not None else [c for c in node.named_children
                                                   if c.type != "file_descriptor"]
        return [self.word(t) for t in targets[:1]]


def _invocation(name: str, args: list[str], feed: Feed) -> Invocation:
    return Invocation(name, tuple(args), sudo=feed.sudo, fed_by=feed.fed_by, fed_text=feed.fed_text,
                      stdin_text=feed.stdin_text, redirects=feed.redirects, via=feed.via)


def _feed_from(produced: list[Invocation], outer: Feed) -> Feed:
    """What the next pipeline stage receives from ``produced``."""
    exes = set(outer.fed_by)
    texts = [outer.fed_text] if outer.fed_text else []
    stdin_text = None
    for inv in produced:
        exes.add(inv.exe)
        exes.update(inv.fed_by)
        if inv.fed_text:
            texts.append(inv.fed_text)
        texts.append(" ".join((inv.exe, *inv.args)))
    if produced:
        stdin_text = _output_text(produced[-1]) if len(produced) == 1 else _output_text(produced[0])
    return Feed(frozenset(exes), " ".join(texts), stdin_text, (), outer.sudo, outer.via)


def _output_text(inv: Invocation) -> str | None:
    """What a command prints, when that is literal text on the line."""
    exe, args = inv.exe, list(inv.args)
    if exe == "echo":
        while args and re.fullmatch(r"-[neE]+", args[0]):
            args.pop(0)
        return " ".join(args) + "\n"
    if exe == "printf" and args:
        fmt = args[0]
        try:
            return fmt.replace("%s", "{}").format(*args[1:]) if "%s" in fmt else " ".join(args)
        except (IndexError, ValueError):
            return " ".join(args)
    if exe in ("cat", "tee") and inv.stdin_text is not None and not [a for a in args if not a.startswith("-")]:
        return inv.stdin_text
    if exe == "base64" and inv.stdin_text is not None and ({"-d", "--decode", "-D"} & set(args)):
        import base64
        import binascii

        try:
            return base64.b64decode(inv.stdin_text.strip() + "==").decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    return None


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace")


def _ansi_c(body: str) -> str:
    try:
        return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return body
