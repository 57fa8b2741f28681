"""Find every command a bash string would execute, with tree-sitter-bash (MIT licensed).

The walk keeps the state a real shell would build while running the line (variables, aliases,
functions), resolves words to their unquoted values, and follows data into executors: pipeline
stages, heredocs and here-strings, command and process substitutions. Wrappers and payloads
(``sudo``, ``bash -c``, ``ssh host cmd`` ...) are expanded by :mod:`cmdscope._guard.expand`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

from cmdscope._guard.invocation import Invocation
from cmdscope._guard.pathclass import MKTEMP_SENTINEL

MAX_DEPTH = 6       # payload nesting (bash -c "eval 'ssh h ...'")
MAX_LOOP_VALUES = 4  # `for x in a b c d e` bodies walked per value, at most this many
_PARSER: Any = None
_BACKSLASH = re.compile(r"\\(.)", re.S)
# Field separator inside a resolved word: ``"$@"``, ``"${arr[@]}"`` and unquoted expansions
# become several words (split in ``command``), as the shell's word splitting makes them.
SPLIT = "\x1f"
UNRESOLVED = ":unresolved:"  # the executable of a command whose name the line does not give
# What the reference context (DANGER_POLICY: bash, real HOME) gives a few unset variables.
_DEFAULTS = {"SHELL": "/bin/bash", "BASH": "/bin/bash", "0": "bash"}
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

    def set_positional(self, args: list[str]) -> None:
        """``set -- a b`` or a function call: ``$1``.. ``$9``, ``$@``, ``$*``, ``$#``."""
        for i in range(1, 10):
            self.env[str(i)] = args[i - 1] if i <= len(args) else ""
        self.env["@"] = SPLIT.join(args)
        self.env["*"] = " ".join(args)
        self.env["#"] = str(len(args))

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
        self._quoted = 0  # inside "...": no word splitting

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
        extra: list[Any] = []
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
                extra.extend(_redirect_extra(child))
        inner = Feed(feed.fed_by, feed.fed_text, stdin_text, tuple(redirects), feed.sudo, feed.via)
        if body is not None and body.type == "command":
            produced = self.command(body, inner, extra)  # `rm >/dev/null -rf src`
        else:
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
        values = [w for c in node.children_by_field_name("value") for w in self.word(c).split(SPLIT)]
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
        if name is None or name.type != "variable_name":
            return
        key = _text(name)
        if value is None:
            text = ""
        elif value.type == "array":  # arr=(rm -rf /): one field per element
            text = SPLIT.join(w for c in value.named_children for w in self.word(c).split(SPLIT))
        else:
            text = self.word(value).replace(SPLIT, " ")
        if any(c.type == "+=" for c in node.children):
            text = (env.get(key) or self.state.env.get(key) or "") + (SPLIT if value is not None and value.type == "array" else "") + text
        env[key] = text

    # simple commands --------------------------------------------------------------------
    def command(self, node: Any, feed: Feed, extra: list[Any] | None = None) -> list[Invocation]:
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
                arg_nodes.extend(_redirect_extra(child))
            elif kind not in _GENERIC_SKIP:
                arg_nodes.append(child)
        arg_nodes.extend(extra or ())
        self._subst.append((set(), []))
        try:
            name = self.word(name_node.named_children[0]) if name_node and name_node.named_children else ""
            args = [self.word(a) for a in arg_nodes]
        finally:
            subst_exes, subst_texts = self._subst.pop()
        if name_node is None:
            self.state.env.update(prefix_env)
            return []
        words = [w for a in [name, *args] for w in a.split(SPLIT)]  # word splitting
        name, args = words[0], words[1:]
        if _unresolved(name):
            name, args = UNRESOLVED, [name, *args]
        elif executable_base(name) == "git":
            args = _git_env_config({**self.state.env, **prefix_env}) + args
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
        if name == "set":
            if "--" in args:
                state.set_positional(args[args.index("--") + 1:])
            elif args and not args[0].startswith(("-", "+")):
                state.set_positional(args)
            return []
        if name == "eval":
            inv = _invocation("eval", args, feed)
            self.out.append(inv)
            invs = parse_shell(" ".join(args), state, feed, self.depth + 1)
            self.out.extend(invs)
            return [inv, *invs]
        from cmdscope._guard.expand import expand

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
        state.set_positional(args)
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
            self._quoted += 1
            try:
                return "".join(self._string_part(c) for c in node.named_children)
            finally:
                self._quoted -= 1
        if kind == "ansi_c_string":
            return _ansi_c(_text(node)[2:-1])
        if kind == "concatenation":
            return "".join(self.word(c) for c in node.named_children)
        if kind in ("simple_expansion", "expansion"):
            return self.expansion(node)
        if kind in ("command_substitution", "process_substitution"):
            return self.substitution(node)
        for sub in _substitutions(node):  # $(( $(cmd) + 1 )), ${x:-$(cmd)}: cmd still runs
            self.substitution(sub)
        return _text(node)

    def _string_part(self, node: Any) -> str:
        if node.type == "string_content":
            return _DQ_ESCAPE.sub(r"\1", _text(node))
        return self.word(node)

    def expansion(self, node: Any) -> str:
        value = self._expansion_value(node)
        if SPLIT in value and (self._quoted and not _is_at(node)):
            value = value.replace(SPLIT, " ")  # "$*", "${a[*]}": one word
        elif not self._quoted and value[:1] != "$":  # unquoted: split on IFS
            ifs = self.state.env.get("IFS", " \t\n")
            if ifs:
                value = SPLIT.join(w for w in re.split("[" + re.escape(ifs) + "]+", value.replace(SPLIT, ifs[0])) if w)
        return value

    def _expansion_value(self, node: Any) -> str:
        names = [c for c in node.named_children if c.type in ("variable_name", "special_variable_name")]
        index = None
        if not names:
            sub = next((c for c in node.named_children if c.type == "subscript"), None)
            if sub is None or sub.child_by_field_name("name") is None:
                return _text(node)
            names, index = [sub.child_by_field_name("name")], sub.child_by_field_name("index")
        name = _text(names[0])
        if node.type == "expansion" and any(c.type == "#" for c in node.children[:2]):
            return "${#" + name + "}"  # a length, not the value
        value = self.state.env.get(name, _DEFAULTS.get(name))
        if value is not None and index is not None and _text(index) not in ("@", "*"):
            fields = value.split(SPLIT)
            try:
                return fields[int(_text(index))]
            except (ValueError, IndexError):
                return ""
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
        parts = [self.word(c).replace(SPLIT, " ") for c in node.named_children]
        return " ".join(parts) + "\n"

    def _redirect_target(self, node: Any) -> list[str]:
        ops = {c.type for c in node.children if not c.is_named}
        reading = "<" in ops  # `nc host < ~/.ssh/id_rsa`: recorded as "<path"
        if not reading and not ops & {">", ">>", ">|", "&>", "&>>"}:
            return []
        dest = node.child_by_field_name("destination")
        targets = [dest] if dest is not None else [c for c in node.named_children
                                                   if c.type != "file_descriptor"]
        return [("<" if reading else "") + self.word(t).replace(SPLIT, " ") for t in targets[:1]]


def _unresolved(name: str) -> bool:
    """A command name still holding an unset variable or an opaque substitution."""
    return "$" in name or "`" in name


def executable_base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _is_at(node: Any) -> bool:
    """``$@`` or ``${arr[@]}``: one word per element even inside double quotes."""
    text = _text(node)
    return text in ("$@", "${@}") or text.endswith("[@]}")


def _substitutions(node: Any) -> list[Any]:
    """The outermost ``$(...)``/``<(...)`` below ``node`` (arithmetic, array subscripts...)."""
    found: list[Any] = []
    stack = list(node.named_children)
    while stack:
        child = stack.pop()
        if child.type in ("command_substitution", "process_substitution"):
            found.append(child)
        else:
            stack.extend(child.named_children)
    return found


_GIT_CONFIG_PAIR = re.compile(r"'([^'=]+)=([^']*)'")


def _git_env_config(env: dict[str, str]) -> list[str]:
    """``GIT_CONFIG_PARAMETERS`` / ``GIT_CONFIG_KEY_n``: config (aliases) git reads from the
    environment, as ``-c key=value`` options."""
    out: list[str] = []
    for key, value in _GIT_CONFIG_PAIR.findall(env.get("GIT_CONFIG_PARAMETERS", "")):
        out += ["-c", f"{key}={value}"]
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    for i in range(min(count, 16)):
        key = env.get(f"GIT_CONFIG_KEY_{i}")
        if key:
            out += ["-c", f"{key}={env.get(f'GIT_CONFIG_VALUE_{i}', '')}"]
    return out


def _redirect_extra(node: Any) -> list[Any]:
    """Words tree-sitter attaches to a redirect after its target (``>/dev/null -rf src``):
    bash gives them to the command as arguments."""
    dests = [c for c in node.named_children if c.type != "file_descriptor"]
    return dests[1:]


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
        return _printf(args)
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


_PRINTF_SPEC = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d+)?([sdbqcixXu]))")


def _printf(args: list[str]) -> str | None:
    """What ``printf FMT ARGS...`` prints: escapes decoded, the format reused until the
    arguments run out (as printf(1) does)."""
    if args[0] == "-v" or args[0].startswith("-") and args[0] != "--":
        return None  # -v VAR assigns; other options: unknown
    if args[0] == "--":
        args = args[1:]
    if not args:
        return None
    fmt, rest = _ansi_c(args[0]), list(args[1:])
    out: list[str] = []
    for _ in range(64):
        def fill(m: re.Match[str]) -> str:
            if m.group(0) == "%%":
                return "%"
            value = rest.pop(0) if rest else ""
            return _ansi_c(value) if m.group(1) == "b" else value
        out.append(_PRINTF_SPEC.sub(fill, fmt))
        if not rest or not _PRINTF_SPEC.search(fmt.replace("%%", "")):
            break
    return "".join(out)


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace")


def _ansi_c(body: str) -> str:
    try:
        return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return body
