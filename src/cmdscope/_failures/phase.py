"""Infer the SDLC phase of a command from its argv (pytest -> test, ruff -> lint, ...).

Also unwraps launchers (`python -m X`, `uv run X`, `npx X`, `env A=1 X`, `timeout 5 X`) so the
classifier's `tools:` matchers see the tool that really ran. Pure string work, no I/O.
"""

from __future__ import annotations

import os

# Launchers whose first non-option argument is the real command.
_PREFIX_WRAPPERS = frozenset(
    {"env", "time", "nice", "nohup", "sudo", "doas", "stdbuf", "ionice", "chrt", "taskset", "xvfb-run"}
)
# Wrapper -> number of positional arguments it consumes before the command.
_ARG_WRAPPERS = {"timeout": 1, "taskset": 1}
# `X run CMD`, `X exec CMD`: run CMD inside a managed environment.
_RUN_WRAPPERS = {
    "uv": ("run", "tool"),
    "poetry": ("run",),
    "pipenv": ("run",),
    "pdm": ("run",),
    "hatch": ("run",),
    "rye": ("run",),
    "pnpm": ("exec", "dlx"),
    "bundle": ("exec",),
    "conda": ("run",),
}
# Wrapper options that take a separate value (`timeout -s KILL 5`, `nice -n 10`, `sudo -u x`).
_WRAPPER_VALUE_OPTIONS = frozenset({"-s", "-k", "-n", "-u", "-g", "-c", "--signal", "--kill-after", "--user"})
_DIRECT_WRAPPERS = frozenset({"npx", "uvx", "pipx", "bunx"})

_TEST_TOOLS = frozenset(
    {"pytest", "py.test", "tox", "nox", "unittest", "jest", "vitest", "mocha", "ava", "ctest",
     "rspec", "phpunit", "nosetests", "ward", "behave", "playwright", "cypress", "karma", "tap"}
)
_LINT_TOOLS = frozenset(
    {"ruff", "flake8", "pylint", "eslint", "prettier", "black", "isort", "shellcheck", "yamllint",
     "markdownlint", "markdownlint-cli2", "stylelint", "hadolint", "rubocop", "golangci-lint",
     "biome", "pre-commit", "codespell", "pydocstyle", "bandit", "autopep8", "yapf", "clang-format",
     "clang-tidy", "cargo-clippy", "rustfmt", "gofmt", "actionlint", "sqlfluff", "djlint"}
)
_TYPECHECK_TOOLS = frozenset({"mypy", "dmypy", "pyright", "basedpyright", "tsc", "vue-tsc", "pytype", "pyre"})
_BUILD_TOOLS = frozenset(
    {"gcc", "g++", "cc", "c++", "clang", "clang++", "make", "cmake", "ninja", "meson", "javac",
     "rustc", "gradle", "gradlew", "mvn", "webpack", "vite", "esbuild", "rollup", "bazel", "scons",
     "msbuild", "swiftc", "kotlinc", "gfortran", "ld"}
)
_PUBLISH_TOOLS = frozenset({"twine"})
_DEPLOY_TOOLS = frozenset({"ansible-playbook", "helmfile"})

# (tool, subcommand) -> phase for tools whose phase depends on the subcommand.
_SUBCOMMAND_PHASES: dict[str, dict[str, str]] = {
    "pip": {"install": "dependencies", "download": "dependencies", "uninstall": "dependencies", "sync": "dependencies"},
    "pip3": {"install": "dependencies", "download": "dependencies", "uninstall": "dependencies"},
    "uv": {"add": "dependencies", "sync": "dependencies", "lock": "dependencies", "remove": "dependencies",
           "build": "build", "publish": "publish"},
    "poetry": {"install": "dependencies", "add": "dependencies", "lock": "dependencies", "update": "dependencies",
               "remove": "dependencies", "build": "build", "publish": "publish"},
    "pipenv": {"install": "dependencies", "lock": "dependencies", "sync": "dependencies", "update": "dependencies"},
    "pdm": {"install": "dependencies", "add": "dependencies", "lock": "dependencies", "sync": "dependencies",
            "build": "build", "publish": "publish"},
    "npm": {"install": "dependencies", "i": "dependencies", "ci": "dependencies", "add": "dependencies",
            "update": "dependencies", "uninstall": "dependencies", "test": "test", "t": "test",
            "publish": "publish"},
    "yarn": {"install": "dependencies", "add": "dependencies", "upgrade": "dependencies", "test": "test",
             "publish": "publish"},
    "pnpm": {"install": "dependencies", "i": "dependencies", "add": "dependencies", "update": "dependencies",
             "test": "test", "publish": "publish"},
    "bun": {"install": "dependencies", "add": "dependencies", "test": "test", "build": "build"},
    "cargo": {"build": "build", "b": "build", "check": "build", "test": "test", "t": "test", "nextest": "test",
              "bench": "test", "clippy": "lint", "fmt": "lint", "add": "dependencies", "fetch": "dependencies",
              "update": "dependencies", "install": "dependencies", "publish": "publish"},
    "go": {"build": "build", "test": "test", "vet": "lint", "get": "dependencies", "mod": "dependencies",
           "install": "dependencies"},
    "git": {"push": "publish", "commit": "commit", "merge": "integrate", "rebase": "integrate",
            "cherry-pick": "integrate", "pull": "integrate"},
    "docker": {"build": "build", "push": "publish", "compose": "deploy"},
    "podman": {"build": "build", "push": "publish"},
    "gh": {"release": "publish"},
    "dotnet": {"build": "build", "test": "test", "restore": "dependencies", "publish": "publish"},
    "mvn": {"test": "test", "verify": "test", "compile": "build", "package": "build", "install": "build",
            "deploy": "publish", "dependency:resolve": "dependencies"},
    "gradle": {"test": "test", "check": "test", "build": "build", "assemble": "build", "publish": "publish"},
    "make": {"test": "test", "check": "test", "lint": "lint", "typecheck": "typecheck", "install": "build"},
    "apt": {"install": "dependencies"},
    "apt-get": {"install": "dependencies"},
    "brew": {"install": "dependencies"},
    "gem": {"install": "dependencies", "push": "publish"},
    "bundle": {"install": "dependencies"},
    "conda": {"install": "dependencies", "create": "dependencies"},
    "mamba": {"install": "dependencies", "create": "dependencies"},
    "terraform": {"apply": "deploy", "destroy": "deploy"},
    "tofu": {"apply": "deploy", "destroy": "deploy"},
    "kubectl": {"apply": "deploy", "rollout": "deploy", "create": "deploy", "delete": "deploy"},
    "helm": {"install": "deploy", "upgrade": "deploy"},
    "ruff": {"check": "lint", "format": "lint"},
    "python": {"build": "build"},
}
# npm/yarn/pnpm `run NAME`: phase from the script name's first word.
_SCRIPT_PREFIXES = (
    ("test", "test"), ("e2e", "test"), ("coverage", "test"), ("lint", "lint"), ("format", "lint"),
    ("fmt", "lint"), ("prettier", "lint"), ("eslint", "lint"), ("typecheck", "typecheck"),
    ("type-check", "typecheck"), ("types", "typecheck"), ("tsc", "typecheck"), ("build", "build"),
    ("compile", "build"), ("deploy", "deploy"), ("release", "publish"), ("publish", "publish"),
)


def _basename(word: str) -> str:
    name = os.path.basename(word).lower()
    name = name.removesuffix(".exe")
    if name.startswith("python") and (len(name) == 6 or name[6:].replace(".", "").isdigit()):
        return "python"  # python3, python3.11 -> python
    if name.startswith("pip") and name[3:].replace(".", "").isdigit():
        return "pip"
    return name


def unwrap(argv: list[str] | tuple[str, ...]) -> list[str]:
    """The argv of the command that really runs: launchers and `python -m` removed.

    `["uv", "run", "python", "-m", "pytest", "-x"]` -> `["pytest", "-x"]`. The first element is
    a normalised basename (lower case, `python3.11` -> `python`).
    """
    args = list(argv)
    for _ in range(8):  # wrappers nest rarely; bounded so odd input cannot loop
        if not args:
            return args
        tool = _basename(args[0])
        rest = args[1:]
        if tool in _PREFIX_WRAPPERS or tool in _ARG_WRAPPERS:
            skip = _ARG_WRAPPERS.get(tool, 0)
            i = 0
            while i < len(rest) and (rest[i].startswith("-") or (tool == "env" and "=" in rest[i])):
                i += 2 if rest[i] in _WRAPPER_VALUE_OPTIONS else 1
            i += skip
            if i >= len(rest):
                return [tool, *rest]
            args = rest[i:]
            continue
        if tool in _DIRECT_WRAPPERS:
            i = 0
            while i < len(rest) and rest[i].startswith("-"):
                i += 1
            if i >= len(rest):
                return [tool, *rest]
            args = rest[i:]
            continue
        subs = _RUN_WRAPPERS.get(tool)
        if subs and rest and rest[0] in subs:
            i = 1
            while i < len(rest) and rest[i].startswith("-"):
                i += 1
            if i >= len(rest):
                return [tool, *rest]
            args = rest[i:]
            continue
        if tool in _SHELLS and len(rest) >= 2 and rest[0] in _SHELL_C_FLAGS:
            # `bash -c 'pytest -q'` runs pytest; its exit code is pytest's only for one simple
            # command (a pipeline or list exits with its last command's status): unwrap only then.
            inner = _simple_command(rest[1])
            if inner is None:
                return [tool, *rest]
            args = inner
            continue
        if tool == "python":
            for i, arg in enumerate(rest):
                if arg == "-m" and i + 1 < len(rest):
                    return [_module_tool(rest[i + 1]), *rest[i + 2 :]]
                if arg == "-c" or not arg.startswith("-"):
                    break
            return ["python", *rest]
        return [tool, *rest]
    return [_basename(args[0]), *args[1:]] if args else args


_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
_SHELL_C_FLAGS = frozenset({"-c", "-lc", "-ec", "-ce", "-xc", "-euc", "-eu", "-cl"})
_SHELL_LISTS = ("|", ";", "&", "<", ">", "`", "$(", "\n", "(", ")", "{", "}")


def _simple_command(script: str) -> list[str] | None:
    """The words of a one-command shell script, or None for pipelines, lists, redirections,
    substitutions, assignments first or anything shlex cannot split."""
    if any(mark in script for mark in _SHELL_LISTS):
        return None
    import shlex

    try:
        words = shlex.split(script)
    except ValueError:
        return None
    if not words or "=" in words[0].split("/", 1)[0]:
        return None
    return words


def _module_tool(module: str) -> str:
    # `python -m mypy.dmypy` -> dmypy; `python -m pip` -> pip; `python -m build` keeps "build".
    name = module.split(".")[-1] if module.startswith("mypy.") else module.split(".")[0]
    return {"build": "python-build"}.get(name, name)


def infer_phase(argv: list[str]) -> str | None:
    """Phase of a command from its argv alone, or None when nothing suggests one.

    pytest -> test, ruff -> lint, mypy -> typecheck, pip/npm/uv install -> dependencies,
    git push -> publish, gcc/make/cargo build -> build (the full table is in docs/failures.md).
    """
    if not argv:
        return None
    args = unwrap(argv)
    if not args:
        return None
    tool = args[0]
    if tool in _TEST_TOOLS:
        return "test"
    if tool in _TYPECHECK_TOOLS:
        return "typecheck"
    if tool == "python-build":
        return "build"
    sub = _first_positional(args[1:])
    if tool in ("npm", "yarn", "pnpm", "bun") and sub == "run":
        script = _first_positional(args[args.index("run") + 1 :]) if "run" in args else None
        return _script_phase(script)
    table = _SUBCOMMAND_PHASES.get(tool)
    if table is not None:
        if sub is not None and sub in table:
            return table[sub]
        if tool == "yarn" and sub is None:
            return "dependencies"
        if tool in ("yarn", "pnpm", "bun") and sub is not None:
            return _script_phase(sub)
        if tool == "make":
            return "build"
        if tool == "ruff":
            return "lint"
    if tool in _LINT_TOOLS:
        return "lint"
    if tool in _BUILD_TOOLS:
        return "build"
    if tool in _PUBLISH_TOOLS:
        return "publish"
    if tool in _DEPLOY_TOOLS:
        return "deploy"
    return None


# Global options that take a separate value (`git -C dir push`, `npm --prefix dir install`).
_VALUE_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--prefix", "--manifest-path", "--cwd", "-f", "--file"})


def _first_positional(args: list[str]) -> str | None:
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return None


def _script_phase(script: str | None) -> str | None:
    if not script:
        return None
    name = script.lower()
    for prefix, phase in _SCRIPT_PREFIXES:
        if name == prefix or name.startswith((prefix + ":", prefix + "-", prefix + "_")):
            return phase
    return None
