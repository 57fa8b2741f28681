"""See through wrappers and into payloads: one command line becomes every program it runs.

DANGER_POLICY rule 1 (executors are judged by their payload) and rule 2 (wrappers are
transparent). Each handler returns the invocations that run, the wrapper itself included when
it is a program in its own right (``bash``, ``ssh``, ``find``) so rules can see both.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from cmdscope._guard.invocation import Invocation
from cmdscope._guard.shell import MAX_DEPTH, UNRESOLVED, Feed, ShellState, parse_shell

Handler = Callable[[Invocation, ShellState, int], list[Invocation]]
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "busybox"})
_PYTHON = re.compile(r"^python[0-9.]*$|^pypy[0-9.]*$")
_VERSIONED = re.compile(r"^(perl|ruby|php|node)[0-9][0-9.]*$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def executable_name(word: str) -> str:
    """``/usr/bin/rm`` -> ``rm``; ``python3.11`` -> ``python``."""
    name = word.rsplit("/", 1)[-1] if "/" in word else word
    if _PYTHON.match(name):
        return "python"
    if name in ("nodejs",):
        return "node"
    versioned = _VERSIONED.match(name)  # perl5.36, ruby3.2, php8.1, node18
    if versioned:
        return versioned.group(1)
    return name


def expand(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    if depth > MAX_DEPTH:
        return []
    name = executable_name(inv.exe)
    if name != inv.exe:
        inv = _rename(inv, name)
    handler = HANDLERS.get(name)
    if handler is None:
        return [inv]
    return handler(inv, state, depth)


def _rename(inv: Invocation, name: str) -> Invocation:
    new = Invocation(name, inv.args, sudo=inv.sudo, fed_by=inv.fed_by, fed_text=inv.fed_text,
                     stdin_text=inv.stdin_text, redirects=inv.redirects, via=inv.via)
    return new


def _then(inv: Invocation, rest: list[str] | tuple[str, ...], state: ShellState, depth: int,
          via: str, **changes: object) -> list[Invocation]:
    """Run ``rest`` as the wrapped command."""
    rest = list(rest)
    while rest and _ASSIGN.match(rest[0]):
        rest.pop(0)
    if not rest:
        return []
    child = inv.derive(rest[0], tuple(rest[1:]), via, **changes)
    return expand(child, state, depth + 1)


def _skip_options(args: tuple[str, ...], value_opts: str, value_long: tuple[str, ...] = (),
                  stop_at_first: bool = True) -> int:
    """Index of the first non-option argument (getopt, options before operands)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return i + 1
        if not arg.startswith("-") or arg == "-":
            return i
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0]
            if "=" not in arg and name in value_long:
                i += 1
        else:
            body = arg[1:]
            for j, ch in enumerate(body):
                if ch in value_opts:
                    if j == len(body) - 1:
                        i += 1
                    break
        i += 1
    return i


def _shell_payload(inv: Invocation, text: str, state: ShellState | None, depth: int, via: str
                   ) -> list[Invocation]:
    feed = Feed(inv.fed_by, inv.fed_text, None, (), inv.sudo, f"{inv.via} > {via}" if inv.via else via)
    return parse_shell(text, state or ShellState(), feed, depth + 1)


# wrappers -------------------------------------------------------------------------------
def _sudo(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = inv.args
    i = _skip_options(args, "ugChpDrtUTRg", ("user", "group", "host", "prompt", "chdir",
                                            "role", "type", "other-user", "command-timeout"))
    opts = set("".join(a[1:] for a in args[:i] if a.startswith("-") and not a.startswith("--")))
    if "e" in opts:  # sudoedit edits files, runs nothing
        return []
    rest = list(args[i:])
    if ("s" in opts or "i" in opts) and rest:
        return _shell_payload(inv.derive("sh", (), "sudo -s", sudo=True), " ".join(rest),
                              state.child(), depth, "sudo -s")
    return _then(inv, rest, state, depth, "sudo", sudo=True)


def _env(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = list(inv.args)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-S", "--split-string") and i + 1 < len(args):
            args[i:i + 2] = shlex.split(args[i + 1]) if _safe_split(args[i + 1]) else [args[i + 1]]
            continue
        if arg.startswith("--split-string="):
            args[i:i + 1] = shlex.split(arg.split("=", 1)[1])
            continue
        if arg in ("-u", "-C", "--unset", "--chdir", "-P"):
            i += 2
            continue
        if arg == "--":
            i += 1
            break
        if arg.startswith("-") or _ASSIGN.match(arg):
            i += 1
            continue
        break
    rest = args[i:]
    if not rest:
        return [inv]  # prints the environment
    return _then(inv, rest, state, depth, "env")


def _safe_split(text: str) -> bool:
    try:
        shlex.split(text)
        return True
    except ValueError:
        return False


def _simple(value_opts: str = "", value_long: tuple[str, ...] = ()) -> Handler:
    def handler(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
        i = _skip_options(inv.args, value_opts, value_long)
        return _then(inv, inv.args[i:], state, depth, inv.exe)

    return handler


def _command(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    if any(a in ("-v", "-V") for a in inv.args[:2]):
        return []  # only looks the name up
    return _simple("")(inv, state, depth)


def _timeout(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    i = _skip_options(inv.args, "sk", ("signal", "kill-after"))
    return _then(inv, inv.args[i + 1:], state, depth, "timeout")  # skip DURATION


def _nice(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = inv.args
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] == "-n" else 1
    return _then(inv, args[i:], state, depth, "nice")


def _chrt(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """``chrt [options] PRIORITY COMMAND...`` (``-p`` acts on a pid and runs nothing)."""
    i = _skip_options(inv.args, "TPD", ("sched-runtime", "sched-period", "sched-deadline"))
    if any(a in ("-p", "--pid") for a in inv.args[:i]):
        return [inv]
    return _then(inv, inv.args[i + 1:], state, depth, "chrt")


def _flock(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """``flock [options] FILE COMMAND...`` or ``flock [options] FILE -c 'shell text'``."""
    args = inv.args
    i = _skip_options(args, "wE", ("timeout", "conflict-exit-code"))
    head, rest = args[:i], list(args[i + 1:])
    code = _option_value(head, "c", "command") or _option_value(tuple(rest), "c", "command")
    if code is not None:
        return _shell_payload(inv, code, state.child(), depth, "flock -c")
    return _then(inv, rest, state, depth, "flock")


def _script(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """``script -qc 'shell text' LOGFILE`` runs the text in a shell."""
    code = _option_value(inv.args, "c", "command")
    if code is None:
        return [inv]
    return _shell_payload(inv, code, state.child(), depth, "script -c")


def _option_value(args: tuple[str, ...] | list[str], short: str, long: str) -> str | None:
    """The value of ``-X v``, ``-abX v``, ``-Xv``, ``--long v`` or ``--long=v``."""
    for k, arg in enumerate(args):
        if arg == "--":
            return None
        if arg == f"--{long}" and k + 1 < len(args):
            return args[k + 1]
        if arg.startswith(f"--{long}="):
            return arg.split("=", 1)[1]
        if arg.startswith("-") and not arg.startswith("--") and short in arg[1:]:
            tail = arg[arg.index(short, 1) + 1:]
            if tail:
                return tail
            return args[k + 1] if k + 1 < len(args) else None
    return None


_AWK_SYSTEM = re.compile(r"""\bsystem\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)""")


def _awk(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """``awk 'BEGIN{system("cmd")}'``: the literal ``system()`` commands run in a shell."""
    args = inv.args
    i = _skip_options(args, "vFf", ("assign", "field-separator", "file"))
    if any(a == "-f" or a.startswith("--file") for a in args[:i]) or i >= len(args):
        return [inv]
    out = [inv]
    for m in _AWK_SYSTEM.finditer(args[i]):
        out.extend(_shell_payload(inv, re.sub(r"\\(.)", r"\1", m.group(1)), state.child(), depth, "awk system()"))
    return out


_GIT_SUBCOMMANDS = frozenset({"push", "reset", "clean", "checkout", "restore", "switch", "branch",
                              "stash", "rebase", "filter-branch", "filter-repo", "rm", "tag",
                              "update-ref", "reflog", "gc", "worktree"})


def _unresolved(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """A command whose name the line does not give (``$RM -rf /``, ``"$(get-cmd)" ...``).

    Judged by what its arguments would do under the programs that take them: git's
    subcommands, rm's recursive flags, a shell's ``-c``. Rules on ``:unresolved:`` itself
    flag destructive-looking arguments (DANGER_POLICY rule 2, issue: never silently allowed).
    """
    out = [inv]
    args = inv.args[1:]
    if not args:
        return out
    via = f"unresolved {inv.args[0]}"
    if args[0] in _GIT_SUBCOMMANDS:
        out.extend(_then(inv, ["git", *args], state, depth, via))
    elif args[0] == "-c" and len(args) > 1:
        out.extend(_shell_payload(inv, args[1], state.child(), depth, via))
    elif any(re.fullmatch(r"-[a-zA-Z]*[rR][a-zA-Z]*|--recursive", a) for a in args):
        out.extend(_then(inv, ["rm", *args], state, depth, via))
    return out


def _sqlite(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """An in-memory database (``:memory:``, or no database file) vanishes with the process:
    statements against it destroy nothing (DANGER_POLICY definition)."""
    args = inv.args
    i = _skip_options(args, "", ("cmd", "init", "separator", "newline", "nullvalue"))
    if i >= len(args) or args[i] in (":memory:", ""):
        return [inv.derive(f"{inv.exe}:memory", args, "in-memory")] if i < len(args) else [inv]
    return [inv]


def _xargs(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = inv.args
    i = 0
    replace: str | None = None
    from_file = False
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        arg = args[i]
        if arg in ("-I",):
            replace = args[i + 1] if i + 1 < len(args) else "{}"
            i += 2
            continue
        if arg.startswith("-I") and len(arg) > 2:
            replace = arg[2:]
        elif arg.startswith("--replace"):
            replace = arg.split("=", 1)[1] if "=" in arg else "{}"
        elif arg in ("-a", "--arg-file") or arg.startswith("--arg-file="):
            from_file = True
            i += 0 if "=" in arg else 1
        elif arg in ("-n", "-P", "-L", "-l", "-d", "-E", "-e", "-s"):
            i += 1
        i += 1
    if i < len(args) and args[i] == "--":
        i += 1
    template = list(args[i:]) or ["echo"]
    if inv.stdin_text and not from_file:
        items = re.split(r"[\s\x00]+", inv.stdin_text.strip("\x00 \n\t"))
    elif not from_file and re.fullmatch(r"ls(?:\s+-\w+)*(?:\s+\.)?", inv.fed_text.strip()):
        items = ["*"]  # `ls | xargs ...`: every entry of the working directory
    else:
        items = ["$(xargs-input)"]
    runs: list[list[str]] = []
    for item in items[:8]:
        if replace:
            runs.append([w.replace(replace, item) for w in template])
    if not replace:
        runs.append(template + items[:16])
    out: list[Invocation] = []
    for run in runs:
        out.extend(_then(inv, run, state, depth, "xargs", stdin_text=None))
    return out


_FIND_NARROWING = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename",
                             "-regex", "-iregex", "-mtime", "-mmin", "-atime", "-amin", "-ctime",
                             "-cmin", "-newer", "-size", "-empty", "-user", "-perm", "-links",
                             "-samefile", "-inum", "-lname", "-ilname"})
_FIND_EXEC = ("-exec", "-execdir", "-ok", "-okdir")


def _find(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """``find -delete`` / ``-exec cmd {}``: judged as the deletion of what find selects."""
    args = list(inv.args)
    starts: list[str] = []
    i = 0
    while i < len(args) and not (args[i].startswith("-") or args[i] in ("(", "!", ",")):
        starts.append(args[i])
        i += 1
    starts = starts or ["."]
    pattern: str | None = None
    narrowed = False
    out = [inv]
    execs: list[list[str]] = []
    delete = False
    while i < len(args):
        arg = args[i]
        if arg in _FIND_NARROWING:
            narrowed = True
            if arg in ("-name", "-iname") and i + 1 < len(args):
                pattern = args[i + 1]
            i += 2
            continue
        if arg in _FIND_EXEC:
            j = i + 1
            cmd: list[str] = []
            while j < len(args) and args[j] not in (";", "+"):
                cmd.append(args[j])
                j += 1
            execs.append(cmd)
            i = j + 1
            continue
        if arg == "-delete":
            delete = True
        i += 1
    targets = []
    for start in starts:
        if narrowed:
            targets.append(start.rstrip("/") + "/" + (pattern or "*.selected"))
        else:
            targets.append(start)
    if delete:
        out.extend(inv.derive("rm", ("-r", "-f", *targets), "find -delete") for _ in [0])
    for cmd in execs:
        if not cmd:
            continue
        for target in targets[:4]:
            words = [w.replace("{}", target) for w in cmd]
            if executable_name(words[0]) == "rm" and not narrowed:
                words.insert(1, "-r")  # find walks the tree: rm on each entry removes all of it
            out.extend(_then(inv, words, state, depth, "find -exec"))
    return out


def _parallel(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = list(inv.args)
    sep = next((k for k, a in enumerate(args) if a in (":::", "::::", ":::+")), len(args))
    head, items = args[:sep], [a for a in args[sep + 1:] if a not in (":::", ":::+")]
    i = _skip_options(tuple(head), "jPSnNdaI", ("jobs", "arg-file", "delay", "timeout", "sshlogin",
                                                "colsep", "results", "joblog"))
    template = head[i:]
    if not items:
        items = inv.stdin_text.split() if inv.stdin_text else ["$(parallel-input)"]
    out: list[Invocation] = []
    for item in items[:8]:
        if len(template) == 1 and " " in template[0]:
            text = template[0].replace("{}", shlex.quote(item)) if "{}" in template[0] else f"{template[0]} {shlex.quote(item)}"
            out.extend(_shell_payload(inv, text, state.child(), depth, "parallel"))
        elif template:
            words = [w.replace("{}", item) for w in template]
            if not any("{}" in w for w in template):
                words.append(item)
            out.extend(_then(inv, words, state, depth, "parallel"))
    return out


def _watch(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    i = _skip_options(inv.args, "nq", ("interval",))
    rest = inv.args[i:]
    if any(a in ("-x", "--exec") for a in inv.args[:i]):
        return _then(inv, rest, state, depth, "watch")
    return _shell_payload(inv, " ".join(rest), state.child(), depth, "watch")


def _shell(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = list(inv.args)
    if inv.exe == "busybox":
        if not args or args[0] not in ("sh", "ash", "bash"):
            return _then(inv, args, state, depth, "busybox")
        args = args[1:]
    has_c = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-") and not arg.startswith("+"):
            break
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if not arg.startswith("--") and "c" in arg[1:]:
            has_c = True
        i += 1
    if i < len(args) and args[i] == "--":
        i += 1
    out = [inv]
    if has_c:
        if i < len(args):
            out.extend(_shell_payload(inv, args[i], state.child(), depth, f"{inv.exe} -c"))
    elif i >= len(args) and inv.stdin_text:
        out.extend(_shell_payload(inv, inv.stdin_text, state.child(), depth, f"{inv.exe} stdin"))
    return out


def _su(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = inv.args
    for k, arg in enumerate(args):
        if arg in ("-c", "--command") and k + 1 < len(args):
            return _shell_payload(inv.derive("su", (), "su", sudo=True), args[k + 1], state.child(),
                                  depth, "su -c")
        if arg.startswith("--command="):
            return _shell_payload(inv.derive("su", (), "su", sudo=True), arg.split("=", 1)[1],
                                  state.child(), depth, "su -c")
    return [inv]


def _ssh(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    i = _skip_options(inv.args, "bcDEeFIiJLlmOoPpQRSWw")
    rest = inv.args[i + 1:]
    out = [inv]
    if rest:
        out.extend(_shell_payload(inv, " ".join(rest), ShellState(), depth, "ssh"))
    elif inv.stdin_text:
        out.extend(_shell_payload(inv, inv.stdin_text, ShellState(), depth, "ssh stdin"))
    return out


_DOCKER_EXEC_VALUES = "euwi"


def _docker(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = list(inv.args)
    start = _skip_options(tuple(args), "Hlc", ("host", "context", "config", "log-level"))
    words = args[start:]
    if words[:2] in (["container", "exec"], ["compose", "exec"]):
        words = words[1:]
    if not words or words[0] != "exec":
        return [inv]
    rest = tuple(words[1:])
    i = _skip_options(rest, "euw", ("env", "env-file", "user", "workdir", "detach-keys", "index"))
    payload = rest[i + 1:]
    out = [inv]
    if payload:
        out.extend(_then(inv, payload, ShellState(), depth, f"{inv.exe} exec", sudo=False))
    return out


def _docker_compose(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    return _docker(inv.derive("docker", ("compose", *inv.args), "docker-compose"), state, depth)


def _kubectl(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    args = list(inv.args)
    if "exec" not in args:
        return [inv]
    out = [inv]
    if "--" in args:
        payload = args[args.index("--") + 1:]
    else:
        k = args.index("exec")
        rest = tuple(args[k + 1:])
        i = _skip_options(rest, "nc", ("namespace", "container", "context", "kubeconfig"))
        payload = list(rest[i + 1:])
    if payload:
        out.extend(_then(inv, payload, ShellState(), depth, f"{inv.exe} exec", sudo=False))
    return out


_CODE_FLAGS = {"python": ("-c",), "node": ("-e", "--eval", "-p", "--print"), "perl": ("-e", "-E"),
               "ruby": ("-e",), "php": ("-r",), "deno": ("eval",), "bun": ("-e", "--eval")}


_LANG = {"python": "python", "node": "node", "perl": "perl", "ruby": "ruby", "php": "php", "bun": "node",
         "deno": "node"}


def _interpreter(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    from cmdscope._guard.interp import commands_in_code

    flags = _CODE_FLAGS.get(inv.exe, ())
    codes: list[str] = []
    args = inv.args
    script_args: tuple[str, ...] = ()
    for k, arg in enumerate(args):
        if arg in flags and k + 1 < len(args):
            codes.append(args[k + 1])
            script_args = tuple(a for a in args[k + 2:] if a != "--")
        elif len(arg) > 2 and arg[:2] in flags and not arg.startswith("--"):
            codes.append(arg[2:])  # python -c'code'
            script_args = tuple(a for a in args[k + 1:] if a != "--")
        elif arg.startswith("-") and not arg.startswith("--") and arg[-1:] in ("c", "e") and f"-{arg[-1]}" in flags and k + 1 < len(args):
            codes.append(args[k + 1])  # perl -ne / python -Ic
            script_args = tuple(a for a in args[k + 2:] if a != "--")
    positionals = [a for a in args if not a.startswith("-") or a == "-"]
    if not codes and inv.stdin_text and (not positionals or positionals[0] == "-"):
        codes.append(inv.stdin_text)  # `python3 <<EOF`: the program is read from stdin
    out = [inv]
    if inv.exe == "python" and "-m" in args and "-c" not in args:
        k = args.index("-m")
        if k + 1 < len(args):  # python -m twine upload: the module is the program
            out.extend(_then(inv, args[k + 1:], state, depth, "python -m"))
    for code in codes:
        for kind, payload in commands_in_code(code, _LANG.get(inv.exe, ""), argv=script_args):
            if kind == "shell":
                out.extend(_shell_payload(inv, str(payload), ShellState(), depth, f"{inv.exe} one-liner"))
            elif payload:
                out.extend(_then(inv, list(payload), ShellState(), depth, f"{inv.exe} one-liner"))
    return out


_GIT_VALUE_GLOBALS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace",
                                "--exec-path", "--config-env", "--super-prefix", "--list-cmds"})


def _git(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """Drop git's global options and resolve aliases defined inline with ``-c alias.x=...``."""
    args = list(inv.args)
    aliases: dict[str, str] = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg in _GIT_VALUE_GLOBALS and i + 1 < len(args):
            if arg == "-c":
                key, _, value = args[i + 1].partition("=")
                if key.lower().startswith("alias."):
                    aliases[key[6:]] = value
            i += 2
            continue
        i += 1
    rest = args[i:]
    if rest and rest[0] in aliases:
        value = aliases[rest[0]]
        tail = " ".join(shlex.quote(a) for a in rest[1:])
        if value.startswith("!"):
            return [inv] + _shell_payload(inv, value[1:] + " " + tail, state.child(), depth, "git alias")
        words = shlex.split(value) if _safe_split(value) else value.split()
        return [inv.derive("git", (*words, *rest[1:]), "git alias")]
    return [_rename(Invocation("git", tuple(rest), sudo=inv.sudo, fed_by=inv.fed_by,
                               fed_text=inv.fed_text, stdin_text=inv.stdin_text,
                               redirects=inv.redirects, via=inv.via), "git")]


_RUNNERS = {"npx": None, "bunx": None, "pnpx": None, "uvx": None, "pnpm": ("exec", "dlx"),
            "yarn": ("exec", "dlx"), "bundle": ("exec",), "poetry": ("run",), "uv": ("run",),
            "pdm": ("run",), "hatch": ("run",), "pipx": ("run",), "rye": ("run",)}


def _runner(inv: Invocation, state: ShellState, depth: int) -> list[Invocation]:
    """``npx prisma ...``, ``bundle exec rails ...``, ``uv run python ...`` run their arguments."""
    verbs = _RUNNERS[inv.exe]
    args = inv.args
    if verbs is not None:
        if not args or args[0] not in verbs:
            return [inv]
        args = args[1:]
    i = _skip_options(args, "pc", ("package", "call", "with", "from", "python", "group"))
    if i >= len(args):
        return [inv]
    return [inv, *_then(inv, args[i:], state, depth, inv.exe)]


HANDLERS: dict[str, Handler] = {
    **{name: _runner for name in _RUNNERS},
    "sudo": _sudo, "doas": _sudo, "env": _env, "command": _command, "builtin": _simple(),
    "exec": _simple("a"), "nohup": _simple(), "time": _simple("fo", ("format", "output")),
    "nice": _nice, "timeout": _timeout, "stdbuf": _simple("ioe"), "ionice": _simple("cnpt"),
    "unbuffer": _simple(), "caffeinate": _simple("tw"), "chrt": _chrt, "setsid": _simple(),
    "flock": _flock, "script": _script, "awk": _awk, "gawk": _awk, "mawk": _awk, "nawk": _awk,
    "busybox-awk": _awk, UNRESOLVED: _unresolved, "sqlite3": _sqlite, "duckdb": _sqlite, "firejail": _simple(), "proxychains": _simple("f"),
    "proxychains4": _simple("f"), "torsocks": _simple(), "fakeroot": _simple(),
    "xargs": _xargs, "find": _find, "parallel": _parallel, "watch": _watch, "su": _su,
    "ssh": _ssh, "docker": _docker, "podman": _docker, "nerdctl": _docker,
    "docker-compose": _docker_compose, "kubectl": _kubectl, "oc": _kubectl,
    "python": _interpreter, "node": _interpreter, "perl": _interpreter, "ruby": _interpreter,
    "php": _interpreter, "bun": _interpreter, "deno": _interpreter, "git": _git,
    **{name: _shell for name in SHELLS},
}


def expand_argv(argv: list[str] | tuple[str, ...]) -> list[Invocation]:
    """Invocations for an argv that runs without a shell (``shell=False``)."""
    if not argv:
        return []
    return expand(Invocation(argv[0], tuple(argv[1:])), ShellState(), 0)
