"""What an interpreter one-liner would run or delete (``python -c``, ``node -e``, ``perl -e``,
``ruby -e``, ``php -r``, and the same programs fed on stdin).

Not a language parser. The code is first split into string literals and the rest (the
*skeleton*), so a call name that only appears inside a string (``print("unlink")``) or a Perl
regex literal (``m{system("...")}``, ``s/`...`/x/``) is never a call. In the skeleton it finds the calls that matter and evaluates their arguments with a small
expression reader (literals, home and working-directory expressions, joins, globs, directory
listings, temporary directories, variables assigned earlier in the code). What it finds is turned
into the shell command that does the same, so the registry judges the target exactly like the
shell ``rm`` target (DANGER_POLICY rules 5-7):

- a recursive delete (``shutil.rmtree``, ``FileUtils.rm_rf``, ``rmtree``/``remove_tree``,
  ``fs.rmSync(.., {recursive: true})``, ``Pathname#rmtree``) -> ``rm -r -f TARGET``;
- a file delete (``os.remove``, ``unlink``, ``File.delete``, ``fs.unlinkSync``) of a literal
  path -> ``rm -f PATH``; of every entry of a directory (``unlink glob "src/*"``, a loop over
  ``os.walk``/``glob``/``readdirSync``/``Dir[]``) -> ``rm -r -f DIR/*``, as ``find DIR -delete``
  is judged;
- a command run (``system``, ``exec``, backticks, ``qx``, ``%x``, ``subprocess.*``,
  ``child_process.*``, ``shell_exec``...) -> that shell string or argv;
- code handed to ``eval``/``exec`` in the same language -> read again, the same way.
"""

from __future__ import annotations

import re

from cmdscope._guard.pathclass import MKTEMP_SENTINEL

Found = list[tuple[str, "list[str] | str"]]

_OPEN, _CLOSE = "\x01", "\x02"  # a string literal in the skeleton: \x01<index>\x02
_LIT = re.compile("\x01(\\d+)\x02")
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_PY_PREFIX = re.compile(r"(?<![\w$])[rRbBuUfF]{1,2}$")
_SPECIAL = re.compile(r"[\'\"`#/qQ%]")
# Nothing in the code can delete or run anything: most one-liners (json.load, print) stop here.
_INTEREST = re.compile(r"rmtree|rm_r|rm\b|rmSync|rmdir|remove|unlink|delete|rimraf|emptyDir|del\.sync|system|"
                       r"exec|spawn|popen|run\b|call\b|check_|Popen|getoutput|capture|passthru|proc_open|eval|"
                       r"Function|runIn|[`]|qx|%x|array_map|array_walk|call_user_func|Deno\.run")
_PERL_Q = re.compile(r"(?<![\w$@%&>-])(qq|qw|qx|q)\s*([^\w\s])")
# Perl regex literals are data (a pattern, a replacement text), not code: m//, qr//, s///, tr///,
# y///, and a bare /.../ where Perl expects a term (after an operator, `(`, `,`, `;`, `{`, `if`,
# `split`...; after a term the slash divides, and the text after it stays code).
_SPECIAL_PERL = re.compile(r"[\'\"`#/qQ%]|(?<![\w$@%&>:-])(?:m|s|tr|y)(?=\s*[^\w\s=,;)}\]>])")
_PERL_RE_OP = re.compile(r"(?<![\w$@%&>:-])(m|qr|s|tr|y)\s*([^\w\s=,;)}\]>])")
_PERL_TERM_EXPECTED = re.compile(r"(?:^|[(,;{=~!&|?:\[]|\b(?:split|grep|map|if|unless|and|or|not|while|until|"
                                 r"return))\s*$")
# Code that runs inside a pattern or replacement: @{[ ... ]}, ${\ ... }, (?{ ... }), (??{ ... }).
_PERL_CODE_IN_RE = re.compile(r"@\{\s*\[|\$\{\s*\\|\(\?\??\{")
_PERL_RE_FLAGS = re.compile(r"[a-zA-Z]*")
_RUBY_PCT = re.compile(r"(?<![\w)\]])%([qQwWxi])([^\w\s])")

# Home, working directory and temporary directories as the languages spell them.
_HOME = re.compile(
    r"os\.path\.expanduser\(\s*\x01(\d+)\x02\s*\)|(?:pathlib\.)?Path\.home\(\s*\)|Dir\.home\b|"
    r"\$ENV\{\s*(?:\x01\d+\x02|HOME)\s*\}|process\.env\.HOME\b|process\.env\[\s*\x01\d+\x02\s*\]|"
    r"(?:require\(\s*\x01\d+\x02\s*\)|os)\.homedir\(\s*\)|os\.environ\[\s*\x01\d+\x02\s*\]|"
    r"os\.(?:getenv|environ\.get)\(\s*\x01\d+\x02\s*\)|ENV(?:\.fetch\(\s*\x01\d+\x02\s*\)|\[\s*\x01\d+\x02\s*\])|"
    r"getenv\(\s*\x01\d+\x02\s*\)|\$_SERVER\[\s*\x01\d+\x02\s*\]|File\.expand_path\(\s*\x01\d+\x02\s*\)|"
    r"Deno\.env\.get\(\s*\x01\d+\x02\s*\)|Bun\.env\.HOME\b")
_CWD = re.compile(r"^(?:os\.getcwd\(\s*\)|process\.cwd\(\s*\)|Dir\.(?:pwd|getwd)\b|getcwd\(\s*\)|"
                  r"(?:pathlib\.)?Path\.cwd\(\s*\)|Path\(\s*\)|Cwd::(?:cwd|getcwd)\(?\s*\)?|cwd\(\s*\)|"
                  r"__dirname|Deno\.cwd\(\s*\)|os\.curdir)$")
_TMPDIR = re.compile(r"^(?:[\w$]+(?:\.|::|->))*(?:mkdtemp|TemporaryDirectory|mktmpdir|mkdtempSync|tempdir|"
                     r"newdir|makeTempDirSync)\b")
_TMPROOT = re.compile(r"^(?:tempfile\.gettempdir\(\s*\)|os\.tmpdir\(\s*\)|Dir\.tmpdir\b|"
                      r"sys_get_temp_dir\(\s*\)|File::Spec->tmpdir\b)$")

# Calls. Names are matched in the skeleton; arguments follow in parentheses or, in Perl and Ruby,
# without them up to the end of the statement.
_TREE = (r"(?:shutil\.)?rmtree|FileUtils\.(?:rm_rf|rm_r|remove_dir|remove_entry(?:_secure)?|rmtree|"
         r"remove_entry)|rm_rf|rm_r|remove_tree|File::Path::(?:rmtree|remove_tree)|remove_dir_all|"
         r"(?:fse?|fsExtra|fs_extra)\.(?:removeSync|remove|emptyDirSync|emptyDir)|removeSync|emptyDirSync|"
         r"rimraf(?:\.sync|Sync)?|del(?:\.sync|eteSync)")
_NODE_RM = r"rmSync|rmdirSync|Deno\.removeSync|Deno\.remove|(?<=\.)rm|(?<=\.)rmdir|(?<=\.)rmdirAsync"
_FILE = (r"os\.remove|os\.unlink|unlinkSync|(?<=\.)unlink|File\.(?:delete|unlink)|"
         r"FileUtils\.(?:rm|rm_f|remove|remove_file|safe_unlink)|unlink")
_RUN = (r"os\.system|os\.popen|os\.exec[lv]p?e?|os\.spawn[lv]p?e?|os\.posix_spawnp?|system|exec|"
        r"shell_exec|passthru|proc_open|popen|pcntl_exec|getoutput|getstatusoutput|execSync|"
        r"execFileSync|execFile|spawnSync|spawn|run|call|check_call|check_output|Popen|"
        r"capture2e?|capture3|popen[23]e?|IO\.popen|Kernel\.(?:system|spawn|exec)|"
        r"create_subprocess_(?:shell|exec)|Deno\.run|Bun\.spawnSync|Bun\.spawn|\$")
_EVAL = r"eval|exec|instance_eval|class_eval|module_eval|runInThisContext|runInNewContext|Function"
_CALL = re.compile(
    r"(?<![\w$@%])"
    r"(?P<name>" + "|".join((_TREE, _NODE_RM, _FILE, _RUN, _EVAL)) + r")"
    r"(?P<open>\s*\(|\s+(?=[\x01\w$<\[(*%@:'\"`/~.-])|(?=\x01))")
# The object a method is called on (``subprocess.`` before ``run``), read backwards from the name.
_OBJ = re.compile(r"(?:[A-Za-z_]\w*(?:\.|::|->))+$")
_TREE_RE = re.compile(r"^(?:" + _TREE + r")$")
_NODE_RM_RE = re.compile(r"^(?:rmSync|rmdirSync|Deno\.removeSync|Deno\.remove|rm|rmdir|rmdirAsync)$")
_FILE_RE = re.compile(r"^(?:" + _FILE.replace("(?<=\\.)", "") + r")$")
_RUN_RE = re.compile(r"^(?:" + _RUN + r")$")
_EVAL_RE = re.compile(r"^(?:" + _EVAL + r")$")
_METHOD = re.compile(r"(?<![\w.])(?P<ctor>(?:pathlib\.)?Path|Pathname(?:\.new)?)\((?P<arg>[^()]*(?:\([^()]*\)[^()]*)*)\)"
                     r"\.(?P<name>rmtree|unlink|delete|rm_rf|rmdir)\b")
# A delete function used as a value (``map(os.remove, ...)``, ``forEach(fs.unlinkSync)``,
# PHP ``array_map('unlink', ...)``): it deletes whatever the code enumerates.
_AS_VALUE = re.compile(r"(?<![\w$])(?:os\.remove|os\.unlink|unlinkSync|fs\.unlink|File\.delete|"
                       r"FileUtils\.rm(?:_f|_rf|_r)?|shutil\.rmtree|rmSync)\s*[,)]|"
                       r"(?:array_map|array_walk|call_user_func)\(\s*\x01(\d+)\x02")
# Enumerations of a directory's entries (what a delete loop visits).
_ENUM = re.compile(
    r"(?<![\w$.])(?P<fn>os\.walk|os\.scandir|os\.listdir|glob\.i?glob|glob|Dir\.(?:glob|children|entries|"
    r"each_child|foreach)|(?:fs\.)?readdirSync|(?:fs\.)?readdir|Find\.find|File::Find::find|find|opendir|"
    r"scandir|Deno\.readDirSync)(?=\s*\(|\s+[\x01$<\w])"
    r"|(?<![\w$.])Dir(?=\[)"
    r"|(?<![\w$.])(?:pathlib\.)?Path\((?P<parg>[^()]*)\)\.(?P<meth>r?glob|iterdir)\((?P<marg>[^()]*)\)"
    r"|<(?P<pat>[^<>\s;]*[*?][^<>\s;]*)>")
# A loop that filters the entries by name deletes some of them, not the directory's contents.
_NAME_FILTER = re.compile(r"\.(?:endswith|startswith|endsWith|startsWith|suffix|stem|match|search|test|"
                          r"includes|filter|end_with\?|start_with\?|extname)\b|fnmatch|extname|=~|\bgrep\b|"
                          r"\bpreg_match|\bstr_ends_with|\bname\s*==|\.ext\b")
_ARGV = re.compile(r"(?P<one>sys\.argv|process\.argv|\$argv|\$_SERVER\[\x01\d+\x02\])\[(?P<i>\d+)\]|"
                   r"(?:\$ARGV|ARGV)\[(?P<i2>\d+)\]|(?P<all>@ARGV|ARGV|sys\.argv\[1:\]|process\.argv\.slice\(1\))|"
                   r"shift(?:\(\s*\))?|ARGV\.first|\$\*\[0\]")
_REQUIRE = re.compile(r"(?<![\w.])(?:require|__import__)\(\s*\x01(\d+)\x02\s*\)\.")
_METHOD_ON_LIT = re.compile(r"\x01(\d+)\x02\.(split|format)\((.*)\)", re.S)
_HOME_IN_STRING = re.compile(r"\$ENV\{HOME\}|#\{\s*Dir\.home\s*\}|#\{\s*ENV\[.HOME.\]\s*\}|"
                             r"\$\{\s*(?:os\.homedir\(\)|process\.env\.HOME)\s*\}")
_INTERPOLATION = {
    "python": re.compile(r"(?<!\{)\{([^{}:!]+)(?:[:!][^{}]*)?\}"),
    "node": re.compile(r"\$\{([^{}]+)\}"),
    "ruby": re.compile(r"#\{([^{}]+)\}"),
    "perl": re.compile(r"[$@]\{(\w+)\}|[$@](\w+)"),
    "php": re.compile(r"\{\$(\w+)\}|\$(\w+)"),
}
_STMT_END = re.compile(r"[;\n}]|\b(?:if|unless|for|foreach|while|until|or|and|do)\b|\|\||&&")
MAX_DEPTH = 3
_NAME_EXPR = re.compile(r"[$@]?[A-Za-z_]\w*")
_ANGLE_EXPR = re.compile(r"<([^<>\s;]+)>")
_CALL_EXPR = re.compile(r"(?P<fn>[\w.:]+(?:->\w+)?)\s*(?:\((?P<a>.*)\)|\s+(?P<b>.+)|\[(?P<c>.*)\])", re.S)
_PATH_GLOB_EXPR = re.compile(r"(?:pathlib\.)?Path\((.*)\)\.(?:r?glob|iterdir)\((.*)\)")
_LIT_ANY = re.compile(r"\x01(\d+)\x02")
_OPTION_ARG = re.compile(r"\s*\{.*\}\s*|\s*(?:recursive|force|secure|verbose|noop|keep_root|"
                         r"safe|error|result)\b.*|\s*(?:True|False|true|false)\s*", re.S)
_KEYWORD_ARG = re.compile(r"\s*\w+\s*=[^=]")


def commands_in_code(code: str, lang: str = "", depth: int = 0, argv: list[str] | tuple[str, ...] = ()) -> Found:
    """``("shell", "cmd string")`` or ``("argv", [...])`` for each command the code would run;
    deletions come back as the ``rm`` argv that does the same. ``argv``: the arguments given to
    the program after the code (``sys.argv[1:]``, ``@ARGV``, ``ARGV``)."""
    if not _INTEREST.search(code):
        return []
    skeleton, lits, ticks, interp = _split(code, lang)
    if "require" in skeleton or "__import__" in skeleton:  # require('fs').rmSync -> fs.rmSync
        skeleton = _REQUIRE.sub(lambda m: lits[int(m.group(1))].rsplit(":", 1)[-1] + ".", skeleton)
    reader = _Reader(skeleton, lits, lang, tuple(argv), interp)
    found: Found = []
    unknown_delete = False
    for m in _CALL.finditer(skeleton):
        name = m.group("name")
        start = m.start()
        before = _OBJ.search(skeleton, max(0, start - 60), start) if start and skeleton[start - 1] in ".:>" else None
        obj = before.group(0) if before else ""
        args_text = _args_after(skeleton, m.end("name"), m.group("open"), lang)
        if args_text is None:
            continue
        full = obj + name
        if _EVAL_RE.match(name) and not (name == "exec" and lang not in ("python", "")) and not obj:
            if depth < MAX_DEPTH:
                for arg in _split_args(args_text):
                    value = reader.value(arg)
                    if isinstance(value, str):
                        found.extend(commands_in_code(value, lang, depth + 1, argv))
            if lang == "python" or name != "exec":
                continue
        if _TREE_RE.match(full) or _TREE_RE.match(name):
            targets = reader.paths(args_text)
            if not targets:
                unknown_delete = True
            for target in targets:
                found.append(("argv", ["rm", "-r", "-f", target]))
        elif _NODE_RM_RE.match(name) and (name.endswith("Sync") or obj or lang in ("node", "")):
            recursive = re.search(r"\brecursive\s*:\s*true\b", args_text) is not None
            first = _split_args(args_text)[:1]
            targets = reader.paths(first[0]) if first else []
            if not targets:
                unknown_delete = True
            for target in targets:
                if recursive:
                    found.append(("argv", ["rm", "-r", "-f", target]))
                elif not name.startswith("rmdir"):
                    found.append(("argv", ["rm", "-f", target] if not _whole_dir(target) else ["rm", "-r", "-f", target]))
        elif _FILE_RE.match(full) or (_FILE_RE.match(name) and (name == "unlink" or obj)):
            if not args_text.strip():
                unknown_delete = True  # Perl's unlink of $_, p.unlink() on a loop variable
                continue
            if name == "unlink" and lang in ("python", "node") and not obj:
                continue
            targets = reader.paths(args_text)
            if not targets:
                unknown_delete = True
            for target in targets:
                found.append(("argv", ["rm", "-r", "-f", target] if _whole_dir(target) else ["rm", "-f", target]))
        elif _RUN_RE.match(full) or _RUN_RE.match(name):
            if name in ("run", "call", "exec", "spawn", "popen"):
                window = skeleton[max(0, m.start() - 40):m.start()]
                if not obj and window.endswith("."):  # a method of an expression: require('child_process').exec
                    req = re.search(r"require\(\s*\x01(\d+)\x02\s*\)\.$", window)
                    if not (req and lits[int(req.group(1))].endswith("child_process")):
                        continue
                elif not (_runner_context(obj, name, lang) or re.search(
                        r"from\s+subprocess\s+import\s+[^;\n]*\b" + name + r"\b", skeleton)):
                    continue
            found.extend(reader.command(args_text))
    for m in _METHOD.finditer(skeleton):
        if m.group("name") == "rmdir":
            continue
        path = reader.path(m.group("arg"))
        if path is None:
            unknown_delete = True
        elif m.group("name") in ("rmtree", "rm_rf"):
            found.append(("argv", ["rm", "-r", "-f", path]))
        else:
            found.append(("argv", ["rm", "-f", path]))
    for m in _AS_VALUE.finditer(skeleton):
        if m.group(1) is None or lits[int(m.group(1))] in ("unlink", "rmdir", "File::Path::rmtree"):
            unknown_delete = True
    if unknown_delete and not _NAME_FILTER.search(skeleton):
        for m in _ENUM.finditer(skeleton):
            for target in reader.enumerated(skeleton, m):
                found.append(("argv", ["rm", "-r", "-f", target]))
    if lang in ("perl", "ruby", "php", ""):
        for index in ticks:
            found.append(("shell", reader.lit(str(index))))
    return found


def _runner_context(obj: str, name: str, lang: str) -> bool:
    """``run``/``call``/``exec``/``spawn``/``popen`` are common words: a command runner only on a
    process module (``subprocess.run``, ``child_process.exec``) or, for exec/spawn/popen, bare in
    the languages where the bare name runs a command."""
    if obj:
        return bool(re.search(r"(?:subprocess|child_process|cp|proc|os|Process|Open3|IO|Kernel|sp|"
                              r"execa|shell|Deno|Bun)[.:>-]*$", obj, re.I)) or obj.endswith("subprocess.")
    if name in ("exec", "spawn", "popen"):
        return lang in ("perl", "ruby", "php", "node", "")
    return False


def _fill(placeholder: re.Pattern[str], text: str, values: list[object]) -> str:
    """``text`` with each placeholder replaced by the next value ($UNKNOWN when not a string)."""
    it = iter(values)

    def one(_m: re.Match[str]) -> str:
        value = next(it, None)
        return value if isinstance(value, str) else "$UNKNOWN"

    return placeholder.sub(one, text)


def _tree_glob(pattern: str) -> str:
    """``src/**/*`` and ``src/**`` visit everything below ``src``: the same as ``src/*`` here."""
    if "**" not in pattern:
        return pattern
    return re.sub(r"^\*\*(?:/\*\*)*(?:/\*)?$", "*", re.sub(r"(?:/\*\*)+(?:/\*)?$", "/*", pattern))


def _whole_dir(target: str) -> bool:
    """Every entry of a directory (``src/*``, ``*``, ``src/**/*``) rather than named files."""
    last = target.rstrip("/").rsplit("/", 1)[-1]
    return last in ("*", ".*", "**", "*.*", "{*,.*}")


class _Reader:
    """Values of argument expressions in the skeleton: a path string, a list, or None (unknown)."""

    def __init__(self, skeleton: str, lits: list[str], lang: str, argv: tuple[str, ...] = (),
                 interp: set[int] | None = None) -> None:
        self.lits = lits
        self.lang = lang
        self.argv = argv
        self.interp = interp or set()
        self.vars: dict[str, object] = {}
        for m in re.finditer(r"(?:(?<=[;\n{(:])|^)\s*(?:my\s+|our\s+|local\s+|const\s+|let\s+|var\s+)?"
                             r"[$@]?([A-Za-z_]\w*)\s*(?::[^=;\n]+)?=(?![=~>])\s*([^;\n]+)", skeleton):
            value = self.value(m.group(2).strip())
            if value is not None:
                self.vars.setdefault(m.group(1), value)
        for m in re.finditer(r"\bwith\s+([^\n:]+?)\s+as\s+([A-Za-z_]\w*)\s*:", skeleton):
            if _TMPDIR.search(m.group(1)):
                self.vars.setdefault(m.group(2), MKTEMP_SENTINEL)
        for m in re.finditer(r"Dir\.mktmpdir[^|\n]*\|\s*(\w+)\s*\|", skeleton):
            self.vars.setdefault(m.group(1), MKTEMP_SENTINEL)

    def lit(self, index: str) -> str:
        text = self.lits[int(index)]
        # Interpolated home inside a string: "$ENV{HOME}/x", "#{Dir.home}/x", `${os.homedir()}/x`.
        text = _HOME_IN_STRING.sub("~", text)
        if int(index) not in self.interp:
            return text
        # Variables interpolated into the string: their value when it is known here, else a
        # value nobody can judge (an f-string's {d} is a mkdtemp() directory or is opaque).
        pattern = _INTERPOLATION.get(self.lang)
        if pattern is None:
            return text

        def resolve(m: re.Match[str]) -> str:
            name = next(g for g in m.groups() if g is not None).strip()
            value = self.vars.get(name) if re.fullmatch(r"\w+", name) else None
            return value if isinstance(value, str) else "$UNKNOWN"

        return pattern.sub(resolve, text)

    def value(self, expr: str, depth: int = 0) -> object:
        expr = expr.strip().rstrip(",").strip()
        while expr.startswith("*") or expr.startswith("..."):
            expr = expr.lstrip("*.").strip()  # splats: File.delete(*Dir["x"])
        if depth > 8 or not expr:
            return None
        if expr[0] == "(" and _matching(expr, 0) == len(expr) - 1:
            return self.value(expr[1:-1], depth + 1)
        m = _LIT.fullmatch(expr)
        if m:
            return self.lit(m.group(1))
        if _HOME.fullmatch(expr):
            lit_m = _LIT_ANY.search(expr)
            if lit_m and expr.startswith(("os.path.expanduser", "File.expand_path")):
                return self.lit(lit_m.group(1))
            if lit_m and "require" not in expr and self.lits[int(lit_m.group(1))] not in ("HOME", "USERPROFILE"):
                return None  # another environment variable
            return "~"
        if _CWD.match(expr):
            return "."
        if _TMPROOT.match(expr):
            return "/tmp"
        if _TMPDIR.match(expr):
            return MKTEMP_SENTINEL
        if expr[0] == "[" and _matching(expr, 0) == len(expr) - 1:
            items = [self.value(a, depth + 1) for a in _split_args(expr[1:-1])]
            return items
        m = _ARGV.fullmatch(expr)
        if m:  # the program's own arguments: sys.argv[1], $ARGV[0], ARGV[0], process.argv[1], shift
            index = m.group("i") or m.group("i2")
            offset = 1 if m.group("one") else 0
            if index is None:
                return list(self.argv) if m.group("all") else (self.argv[0] if self.argv else None)
            k = int(index) - offset
            return self.argv[k] if 0 <= k < len(self.argv) else None
        if _NAME_EXPR.fullmatch(expr):
            name = expr.lstrip("$@")
            return self.vars.get(name)
        m = _ANGLE_EXPR.fullmatch(expr)
        if m and self.lang in ("perl", ""):
            return m.group(1)
        m = _METHOD_ON_LIT.fullmatch(expr)
        if m:  # "git clean -fdx".split(), "rm -rf {}".format(d)
            text = self.lit(m.group(1))
            if m.group(2) == "split":
                return text.split() if not m.group(3).strip() else None
            return _fill(re.compile(r"\{[^{}]*\}"), text, [self.value(a, depth + 1) for a in _split_args(m.group(3))])
        parts = _split_top(expr, r"\s%\s")
        if len(parts) == 2 and _LIT.fullmatch(parts[0].strip()):  # "rm -rf %s" % d
            right = parts[1].strip()
            operands = _split_args(right[1:-1]) if right[:1] == "(" and right[-1:] == ")" else [right]
            fmt = self.lit(_LIT.fullmatch(parts[0].strip()).group(1))  # type: ignore[union-attr]
            return _fill(re.compile(r"%[sdr]"), fmt, [self.value(a, depth + 1) for a in operands])
        for op in (r"\s\.\s", r"\+", r"(?<![*/])/(?![*/])"):
            parts = _split_top(expr, op)
            if len(parts) > 1:
                values = [self.value(p, depth + 1) for p in parts]
                if not any(isinstance(v, str) for v in values):
                    return None
                # An unknown part stays visible: 'git push --force origin ' + branch.
                strs = [v if isinstance(v, str) else "$UNKNOWN" for v in values]
                sep = "/" if op.startswith("(?<!") else ""
                return sep.join(v.rstrip("/") for v in strs) if sep else "".join(strs)
        m = _CALL_EXPR.fullmatch(expr)
        if m:
            fn = m.group("fn")
            inner = m.group("a") if m.group("a") is not None else (m.group("b") or m.group("c") or "")
            if m.group("a") is not None and _matching(expr, expr.index("(")) != len(expr) - 1:
                inner = None
            if inner is not None:
                args = [self.value(a, depth + 1) for a in _split_args(inner)]
                return self._call(fn, args, m.group("c") is not None)
        m = _PATH_GLOB_EXPR.fullmatch(expr)
        if m:
            base = self.value(m.group(1), depth + 1) if m.group(1).strip() else "."
            pattern = self.value(m.group(2), depth + 1) if m.group(2).strip() else "*"
            if isinstance(base, str) and isinstance(pattern, str):
                return base.rstrip("/") + "/" + pattern
        return None

    def _call(self, fn: str, args: list[object], indexed: bool) -> object:
        strs = [a for a in args if isinstance(a, str)]
        short = fn.rsplit(".", 1)[-1].rsplit("::", 1)[-1]
        if indexed and fn == "Dir":
            return strs[0] if strs else None
        if not args or any(not isinstance(a, str) for a in args):
            return None
        if fn == "shlex.split" and len(strs) == 1:
            return strs[0].split()
        if short in ("join", "catfile", "catdir", "resolve") or fn in ("File.join", "path.join", "os.path.join"):
            return "/".join(s.rstrip("/") if i < len(strs) - 1 else s for i, s in enumerate(strs))
        if short in ("Path", "PurePath", "Pathname", "new", "expanduser", "abspath", "realpath",
                     "expand_path", "normpath", "resolve", "str", "String", "fspath", "glob", "iglob",
                     "strval", "realpathSync"):
            return strs[0] if len(strs) == 1 else None
        if short in ("listdir", "scandir", "readdirSync", "readdir", "children", "entries", "walk",
                     "readDirSync", "each_child", "opendir"):
            return strs[0].rstrip("/") + "/*" if len(strs) == 1 else None
        return None

    def path(self, expr: str) -> str | None:
        value = self.value(expr)
        return value if isinstance(value, str) else None

    def paths(self, args_text: str) -> list[str]:
        """Every path a delete call is given (lists flattened); [] when any is unknown."""
        out: list[str] = []
        for arg in _split_args(args_text):
            if _OPTION_ARG.fullmatch(arg):
                continue  # option hashes: {recursive: true}, secure: true, ignore_errors=True
            if _KEYWORD_ARG.match(arg):
                continue  # keyword argument
            value = self.value(arg)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if not isinstance(v, str) or "$UNKNOWN" in v:
                    return []
                out.append(v)
        return out

    def command(self, args_text: str) -> Found:
        args = _split_args(args_text)
        values = [self.value(a) for a in args]
        # Leading non-strings (an env hash, os.P_WAIT) and keyword arguments are not the command.
        while values and not isinstance(values[0], (str, list)):
            values.pop(0)
            args.pop(0)
        if not values:
            return []
        first = values[0]
        if isinstance(first, list):
            return [("argv", [v if isinstance(v, str) else "$(unknown)" for v in first])]
        head = str(first)
        rest = [v for v in values[1:] if isinstance(v, (str, list))]
        if rest and isinstance(rest[0], list):
            return [("argv", [head] + [v if isinstance(v, str) else "$(unknown)" for v in rest[0]])]
        strings = [v for v in rest if isinstance(v, str)]
        if strings:
            return [("argv", [head] + strings)]
        return [("shell", head)]

    def enumerated(self, skeleton: str, m: re.Match[str]) -> list[str]:
        """The directory pattern an enumeration visits (``src/*``), when it is literal."""
        if m.group("pat") is not None:
            return [m.group("pat")] if self.lang in ("perl", "") else []
        if m.group("meth") is not None:  # Path(x).glob(p) / .rglob(p) / .iterdir()
            base = self.value(m.group("parg")) if m.group("parg").strip() else "."
            pattern = self.value(m.group("marg")) if m.group("marg").strip() else "*"
            if isinstance(base, str) and isinstance(pattern, str):
                if m.group("meth") == "rglob" and "/" not in pattern:
                    pattern = "**/" + pattern
                return [_tree_glob(base.rstrip("/") + "/" + pattern)]
            return []
        inner = _args_after(skeleton, m.end(), " ", self.lang if m.group("fn") else "ruby")
        args = _split_args(inner) if inner else []
        fn = m.group("fn") or "Dir"
        if fn in ("find", "File::Find::find", "Find.find") and len(args) > 1 and self.lang == "perl":
            args = args[1:]  # File::Find's find(\&wanted, DIR)
        if not args:
            return ["./*"] if fn in ("os.listdir", "os.scandir") and inner is not None else []
        value = self.value(args[0])
        if not isinstance(value, str):
            return []
        if fn in ("glob", "glob.glob", "glob.iglob", "Dir.glob", "Dir"):
            return [_tree_glob(value)]
        return [value.rstrip("/") + "/*"]


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing the one at ``i`` (-1 if none)."""
    close = _PAIRS[text[i]]
    depth = 0
    for k in range(i, len(text)):
        ch = text[k]
        if ch == text[i]:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return k
    return -1


_SEPS: dict[str, re.Pattern[str]] = {}


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` (a regex) outside brackets."""
    pattern = _SEPS.get(sep) or _SEPS.setdefault(sep, re.compile(sep))
    if not pattern.search(text):
        return [text]
    parts: list[str] = []
    depth = 0
    last = 0
    k = 0
    while k < len(text):
        ch = text[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            m = pattern.match(text, k)
            if m and m.end() > m.start():
                parts.append(text[last:k])
                last = k = m.end()
                continue
        k += 1
    parts.append(text[last:])
    return [p for p in parts] if len(parts) > 1 else [text]


def _split_args(text: str) -> list[str]:
    return [p.strip() for p in _split_top(text, ",") if p.strip()] if text.strip() else []


def _args_after(skeleton: str, end: int, opener: str, lang: str) -> str | None:
    """The argument text of a call whose name ends at ``end``."""
    k = end
    while k < len(skeleton) and skeleton[k] in " \t":
        k += 1
    if k < len(skeleton) and skeleton[k] in "([" and (opener.strip() in ("(", "[") or not opener.strip()):
        close = _matching(skeleton, k)
        if close < 0:
            return skeleton[k + 1:]
        return skeleton[k + 1:close]
    if lang not in ("perl", "ruby", "php", ""):
        return None if not skeleton[k:k + 1] == "\x01" else None
    # Perl/Ruby without parentheses: to the end of the statement.
    m = _STMT_END.search(skeleton, k)
    text = skeleton[k:m.start() if m else len(skeleton)]
    return text if text.strip() else ""


def _split(code: str, lang: str) -> tuple[str, list[str], list[int], set[int]]:
    """(skeleton, literals, indices of backtick/qx/%x literals, indices of literals that
    interpolate variables). Comments are dropped from the skeleton."""
    out: list[str] = []
    lits: list[str] = []
    ticks: list[int] = []
    interp: set[int] = set()
    i, n = 0, len(code)
    hash_comments = lang in ("python", "ruby", "perl", "")
    special = _SPECIAL_PERL if lang == "perl" else _SPECIAL
    while i < n:
        m = special.search(code, i)
        j = m.start() if m else n
        if j > i:  # plain code up to the next character that may open a literal or comment
            out.append(code[i:j])
            i = j
            if i >= n:
                break
        ch = code[i]
        if lang == "perl" and ch in "/mqsty":
            regex = _perl_regex(code, i, "".join(out[-8:])[-40:])
            if regex is not None:
                out.append(f"\x01{len(lits)}\x02")
                lits.append(regex[1])
                i = regex[0]
                continue
        if lang in ("perl", "") or lang == "ruby":
            pm = (_PERL_Q if lang != "ruby" else _RUBY_PCT).match(code, i) if ch in "qQ%" else None
            if pm and (i == 0 or not (code[i - 1].isalnum() or code[i - 1] in "_$@")):
                opener = pm.group(2)
                close = _PAIRS.get(opener, opener)
                j = code.find(close, pm.end())
                if j < 0:
                    j = n
                body = code[pm.end():j]
                kind = pm.group(1)
                if kind in ("qx", "x"):
                    ticks.append(len(lits))
                    interp.add(len(lits))
                    out.append("\x01%d\x02" % len(lits))
                    lits.append(body)
                elif kind in ("qw", "w", "W", "i"):
                    out.append("[" + ", ".join("\x01%d\x02" % (len(lits) + k) for k in range(len(body.split()))) + "]")
                    lits.extend(body.split())
                else:
                    if kind in ("qq", "Q"):
                        interp.add(len(lits))
                    out.append("\x01%d\x02" % len(lits))
                    lits.append(body)
                i = j + 1
                continue
        if ch in "'\"`":
            triple = code.startswith(ch * 3, i) and lang in ("python", "")
            quote = ch * 3 if triple else ch
            j = i + len(quote)
            buf: list[str] = []
            while j < n and not code.startswith(quote, j):
                if code[j] == "\\" and j + 1 < n:
                    nxt = code[j + 1]
                    buf.append({"n": "\n", "t": "\t"}.get(nxt, nxt) if ch != "'" or nxt in "'\\" else "\\" + nxt)
                    j += 2
                    continue
                buf.append(code[j])
                j += 1
            body = "".join(buf)
            if lang in ("python", "") and out:  # r"...", b'...', f"...": the prefix is part of the literal
                prefix = _PY_PREFIX.search(out[-1])
                if prefix:
                    out[-1] = out[-1][:prefix.start()]
                    if "f" in prefix.group(0).lower():
                        interp.add(len(lits))
            elif (ch == "`" and lang != "python") or (ch == '"' and lang in ("perl", "ruby", "php")):
                interp.add(len(lits))
            if ch == "`" and lang not in ("node", "python"):
                ticks.append(len(lits))
            out.append("\x01%d\x02" % len(lits))
            lits.append(body)
            i = j + len(quote)
            continue
        if ch == "#" and hash_comments and (i == 0 or code[i - 1] in " \t\n;") and not (
                lang == "ruby" and code.startswith("#{", i)):
            j = code.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == "/" and code.startswith("//", i) and lang in ("node", "php") and (i == 0 or code[i - 1] in " \t\n;"):
            j = code.find("\n", i)
            i = n if j < 0 else j
            continue
        out.append(ch)
        i += 1
    return "".join(out), lits, ticks, interp


def _perl_regex(code: str, i: int, before: str) -> tuple[int, str] | None:
    """The Perl regex literal at ``code[i]`` (``before``: the skeleton just before it): (the
    index after it and its flags, its pattern). None when there is none (a division, a bareword)
    or when it would run code (``s///e``, ``@{[ ]}`` or ``(?{ })`` inside): then it stays code."""
    if code[i] == "/":
        if not _PERL_TERM_EXPECTED.search(before):
            return None
        op, k = "m", i
    else:
        m = _PERL_RE_OP.match(code, i)
        if m is None:
            return None
        op, k = m.group(1), m.start(2)
    texts: list[str] = []
    parts = 2 if op in ("s", "tr", "y") else 1
    for part in range(parts):
        while part and k < len(code) and code[k].isspace():
            k += 1  # s{a} {b}
        end = _delimited_end(code, k) if k < len(code) else -1
        if end < 0:
            return None
        texts.append(code[k + 1:end])
        # s/a/b/: the delimiter that ends the pattern also opens the replacement.
        k = end if code[k] not in _PAIRS and part + 1 < parts else end + 1
    flags = _PERL_RE_FLAGS.match(code, k).group(0)  # type: ignore[union-attr]
    if (op == "s" and "e" in flags) or (op not in ("tr", "y") and any(_PERL_CODE_IN_RE.search(t) for t in texts)):
        return None
    return k + len(flags), texts[0]


def _delimited_end(code: str, k: int) -> int:
    """Where the text opened by the delimiter ``code[k]`` closes (backslash escapes skipped,
    bracket pairs nested), or -1."""
    opener = code[k]
    close = _PAIRS.get(opener, opener)
    depth = 1
    j = k + 1
    while j < len(code):
        c = code[j]
        if c == "\\":
            j += 2
            continue
        if c == close:
            depth -= 1
            if depth == 0:
                return j
        elif c == opener:
            depth += 1
        j += 1
    return -1
