"""Second wave of corpus cases (issue 22): real failures per tool family, in broken setups.

Each label was written from the taxonomy's class definitions before the classifier saw the
output. Ids start with the family's prefix (see FAMILIES) so docs/failures.md can report accuracy
and `unknown` per family. Colour is forced on some tools on purpose (terminal escapes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# id prefix -> tool family reported in docs/failures.md (longest prefix wins)
FAMILIES = {
    "python": "python", "unittest": "python", "perl": "shell",
    "pytest": "pytest", "mypy": "python", "ruff": "python",
    "pip": "pip/uv",
    "node": "node/npm/tsc", "npm": "node/npm/tsc", "tsc": "node/npm/tsc",
    "git": "git",
    "gcc": "make/cmake/gcc", "gpp": "make/cmake/gcc", "make": "make/cmake/gcc", "cmake": "make/cmake/gcc",
    "native": "make/cmake/gcc",
    "cargo": "cargo", "rustc": "cargo",
    "java": "java", "javac": "java",
    "curl": "network", "wget": "network", "ssh": "network",
    "sqlite": "sqlite/jq/terraform", "jq": "sqlite/jq/terraform", "terraform": "sqlite/jq/terraform",
    # hand-written cases for tools not installed here
    "eslint": "node/npm/tsc", "jest": "node/npm/tsc", "vitest": "node/npm/tsc", "mocha": "node/npm/tsc",
    "pnpm": "node/npm/tsc", "yarn": "node/npm/tsc", "prettier": "node/npm/tsc", "vue": "node/npm/tsc",
    "webpack": "node/npm/tsc", "npx": "node/npm/tsc", "uvicorn": "python", "uv": "pip/uv", "poetry": "pip/uv", "flake8": "python", "black": "python",
    "isort": "python", "pylint": "python", "pyright": "python", "mvn": "java", "gradle": "java",
    "go": "other", "docker": "other", "gh": "other", "kubectl": "other", "helm": "other", "aws": "other",
    "apt": "other", "swift": "other", "ruby": "other", "openai": "other", "oom": "other", "disk": "other",
    "unknown": "other",
}


def family_of(case_id: str) -> str:
    head = case_id.split("-", 1)[0].rstrip("0123456789")
    return FAMILIES.get(head, "shell")


def define(case: Callable[..., None], py: str, http_port: int, dead_port: int, tsc: str | None) -> None:
    base = f"http://127.0.0.1:{http_port}"
    dead = f"http://127.0.0.1:{dead_port}"
    g = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
         "-c", "advice.detachedHead=false"]
    repo = [[*g, "init", "-q"], ["sh", "-c", "echo base > a.txt"], [*g, "add", "a.txt"], [*g, "commit", "-qm", "base"]]
    commit = "git -c user.name=t -c user.email=t@e commit -q"

    # ------------------------------------------------------------------ python scripts
    scripts: dict[str, tuple[str, str]] = {
        "timeout": (f"import urllib.request\nurllib.request.urlopen('{base}/999', timeout=0.3)\n", "network_error"),
        "socket-timeout": (f"import socket\ns = socket.create_connection(('127.0.0.1', {http_port}), timeout=0.3)\ns.recv(10)\n", "network_error"),
        "addr-in-use": (f"import socket\ns = socket.socket()\ns.bind(('127.0.0.1', {http_port}))\n", "address_in_use"),
        "http-server-in-use": (f"import http.server\nhttp.server.HTTPServer(('127.0.0.1', {http_port}), http.server.BaseHTTPRequestHandler)\n", "address_in_use"),
        "mkdir-exists": ("import os\nos.mkdir('build')\n", "already_exists"),
        "json-truncated": ("import json\nrows = json.loads(open('data.json').read())\n", "invalid_input"),
        "zip-bad": ("import zipfile\nzipfile.ZipFile('bundle.zip')\n", "invalid_input"),
        "tar-bad": ("import tarfile\ntarfile.open('bundle.tar.gz')\n", "invalid_input"),
        "gzip-bad": ("import gzip\ngzip.open('data.gz').read()\n", "invalid_input"),
        "csv-records-yaml": ("import yaml\nyaml.safe_load(open('records.yaml'))\n", "invalid_input"),
        "sqlite-no-table": ("import sqlite3\nsqlite3.connect('app.db').execute('select * from users')\n", "database_error"),
        "sqlite-unique": ("import sqlite3\nc = sqlite3.connect(':memory:')\nc.execute('create table t(x unique)')\nc.execute('insert into t values (1)')\nc.execute('insert into t values (1)')\n", "database_error"),
        "sqlite-locked": ("import sqlite3\na = sqlite3.connect('app.db', isolation_level=None)\na.execute('create table if not exists t(x)')\na.execute('begin exclusive')\nb = sqlite3.connect('app.db', timeout=0)\nb.execute('insert into t values (1)')\n", "database_error"),
        "valueerror": ("port = int('eighty')\n", "runtime_exception"),
        "notimplemented": ("class A:\n    def run(self):\n        raise NotImplementedError\nA().run()\n", "runtime_exception"),
        "requests-refused": (f"import requests\nrequests.get('{dead}/api')\n", "network_error"),
        "requests-timeout": (f"import requests\nrequests.get('{base}/999', timeout=0.3)\n", "network_error"),
        "requests-404": (f"import requests\nrequests.get('{base}/404/item').raise_for_status()\n", "http_error"),
        "requests-401": (f"import requests\nrequests.get('{base}/401/item').raise_for_status()\n", "auth_failure"),
        "requests-503": (f"import requests\nrequests.get('{base}/503/item').raise_for_status()\n", "http_error"),
        "logging-error-exit": ("import logging, sys\nlogging.basicConfig()\nlogging.error('could not open settings: config/app.toml: No such file or directory')\nsys.exit(1)\n", "file_not_found"),
        "subprocess-missing": ("import subprocess\nsubprocess.run(['nosuchtool-xyz', '--version'])\n", "command_not_found"),
        # first labelled unknown; runtime_exception's definition covers an uncaught CalledProcessError
        "calledprocesserror": ("import subprocess\nsubprocess.run(['false'], check=True)\n", "runtime_exception"),
        "permission-exec": ("import subprocess\nsubprocess.run(['./tool.sh'])\n", "permission_denied"),
    }
    for name, (body, label) in scripts.items():
        files = {"app.py": body}
        setup: list[list[str]] = []
        if name == "json-truncated":
            files["data.json"] = '[{"id": 1, "name": "a"},\n {"id": 2, "na'
        elif name in ("zip-bad", "tar-bad", "gzip-bad"):
            files = {**files, "bundle.zip": "not a zip\n", "bundle.tar.gz": "not a tarball\n", "data.gz": "plain text\n"}
        elif name == "csv-records-yaml":
            files["records.yaml"] = "- id: 1\n  name: [a, b\n- id: 2\n"
        elif name == "mkdir-exists":
            setup = [["mkdir", "build"]]
        elif name == "sqlite-no-table":
            setup = [["touch", "app.db"]]
        elif name == "permission-exec":
            files["tool.sh"] = "#!/bin/sh\necho hi\n"
        case(f"python2-{name}", label, [py, "app.py"], files, setup=setup)
    case("python2-c-nameerror", "runtime_exception", [py, "-c", "prnt('hello')"])
    case("python2-unittest-no-tests", "no_tests", [py, "-m", "unittest", "discover", "-s", "."])

    # ------------------------------------------------------------------ pytest
    pt = [py, "-m", "pytest", "-p", "no:cacheprovider"]
    case("pytest2-no-tests", "no_tests", pt, {"README.md": "nothing here\n"})
    case("pytest2-no-tests-k", "no_tests", [*pt, "-k", "nomatch"], {"test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-no-tests-q", "no_tests", [*pt, "-q"], {"test_a.py": "x = 1\n"})
    case("pytest2-bad-ini-addopts", "config_error", pt, {"pytest.ini": "[pytest]\naddopts = --frobnicate\n", "test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-bad-ini-syntax", "config_error", pt, {"pytest.ini": "[pytest\naddopts = -q\n", "test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-bad-pyproject", "config_error", pt, {"pyproject.toml": "[tool.pytest.ini_options\naddopts = '-q'\n", "test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-bad-ini-option-value", "config_error", pt, {"pytest.ini": "[pytest]\nminversion = 99.0\n", "test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-strict-markers", "config_error", [*pt, "--strict-markers"],
         {"test_a.py": "import pytest\n\n@pytest.mark.slowish\ndef test_a():\n    pass\n"})
    case("pytest2-collect-runtime", "test_failure", pt, {"test_a.py": "raise RuntimeError('fixture data missing')\n\ndef test_a():\n    pass\n"})
    case("pytest2-color-assert", "test_failure", [*pt, "--color=yes"], {"test_a.py": "def test_a():\n    assert [1, 2] == [1, 3]\n"})
    case("pytest2-color-q", "test_failure", [*pt, "--color=yes", "-q"], {"test_a.py": "def test_a():\n    assert 'ab' == 'ac'\n"})
    case("pytest2-fixture-missing", "test_failure", pt, {"test_a.py": "def test_a(dbx):\n    pass\n"})
    case("pytest2-import-in-test", "test_failure", pt, {"test_a.py": "def test_a():\n    import nosuch_dep_xyz\n"})
    case("pytest2-setup-module", "test_failure", pt, {"test_a.py": "def setup_module():\n    raise OSError('cannot reach db')\n\ndef test_a():\n    pass\n"})
    case("pytest2-warning-error", "test_failure", [*pt, "-W", "error::DeprecationWarning"],
         {"test_a.py": "import warnings\n\ndef test_a():\n    warnings.warn('old api', DeprecationWarning)\n"})
    case("pytest2-conftest-syntax", "syntax_error", pt, {"conftest.py": "def f(:\n    pass\n", "test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-conftest-import", "import_error", pt, {"conftest.py": "import nosuch_plugin_xyz\n", "test_a.py": "def test_a():\n    pass\n"})
    case("pytest2-doctest", "test_failure", [*pt, "--doctest-modules", "m.py"], {"m.py": "def f():\n    '''\n    >>> f()\n    2\n    '''\n    return 1\n"})
    case("pytest2-file-not-found-in-test", "test_failure", [*pt, "-q"], {"test_a.py": "def test_a():\n    open('fixtures/users.csv')\n"})
    case("pytest2-timeout-net", "test_failure", [*pt, "-q"],
         {"test_a.py": f"import socket\n\ndef test_a():\n    socket.create_connection(('127.0.0.1', {dead_port}))\n"})

    # ------------------------------------------------------------------ pip
    pip = [py, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    case("pip2-index-refused", "network_error", [*pip, "install", "--retries", "1", "--index-url", f"{dead}/simple", "nosuchpkg-xyz"])
    case("pip2-index-401", "auth_failure", [*pip, "install", "--retries", "1", "--index-url", f"{base}/401/simple", "nosuchpkg-xyz"])
    case("pip2-index-403", "auth_failure", [*pip, "install", "--retries", "1", "--index-url", f"{base}/403/simple", "nosuchpkg-xyz"])
    case("pip2-index-404", "dependency_error", [*pip, "install", "--retries", "1", "--index-url", f"{base}/404/simple", "nosuchpkg-xyz"])
    case("pip2-index-timeout", "network_error", [*pip, "install", "--retries", "1", "--timeout", "0.5", "--index-url", f"{base}/999/simple", "nosuchpkg-xyz"])
    case("pip2-bad-requirement-line", "config_error", [*pip, "install", "--no-index", "-r", "requirements.txt"], {"requirements.txt": "requests>>=2.0\n"})
    case("pip2-bad-requirement-arg", "usage_error", [*pip, "install", "--no-index", "requests>>=2.0"])
    case("pip2-broken-pyproject", "config_error", [*pip, "install", "--no-index", "--no-build-isolation", "."],
         {"pyproject.toml": "[project\nname = 'demo'\n"})
    case("pip2-no-project", "config_error", [*pip, "install", "--no-index", "-e", "."])
    case("pip2-requires-python", "dependency_error", [*pip, "install", "--no-index", "--no-build-isolation", "."],
         {"pyproject.toml": "[build-system]\nrequires = ['setuptools']\nbuild-backend = 'setuptools.build_meta'\n\n[project]\nname = 'demo'\nversion = '1.0'\nrequires-python = '>=4'\n"})
    case("pip2-check", "dependency_error", [py, "-c", "import sys, runpy; sys.path.insert(0, 'site'); sys.argv = ['pip', 'check']; runpy.run_module('pip', run_name='__main__')"],
         {"site/demo_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nRequires-Dist: nosuchdep-xyz>=1\n",
          "site/demo_pkg-1.0.dist-info/RECORD": "", "site/demo_pkg-1.0.dist-info/INSTALLER": "pip\n"})
    case("pip2-uninstall-missing-file", "file_not_found", [*pip, "uninstall", "-y", "-r", "nope-requirements.txt"])

    # ------------------------------------------------------------------ node / npm / tsc
    node = {
        "addr-in-use": (f"require('http').createServer().listen({http_port}, '127.0.0.1');\n", "address_in_use"),
        "fetch-refused": (f"fetch('{dead}/api').then(r => r.text());\n", "network_error"),
        "fetch-timeout": (f"fetch('{base}/999', {{signal: AbortSignal.timeout(300)}}).then(r => r.text());\n", "network_error"),
        "json-truncated": ("JSON.parse(require('fs').readFileSync('data.json', 'utf8'));\n", "invalid_input"),
        "readfile-async": ("require('fs/promises').readFile('data/input.csv').then(b => console.log(b.length));\n", "file_not_found"),
        "unhandled-rejection": ("Promise.reject(new Error('upstream returned no items'));\n", "runtime_exception"),
        "mkdir-exists": ("require('fs').mkdirSync('dist');\n", "already_exists"),
        "esm-require": ("const fs = require('fs');\n", "runtime_exception"),
        "rangeerror": ("new Array(-1);\n", "runtime_exception"),
    }
    for name, (body, label) in node.items():
        fname = "app.mjs" if name == "esm-require" else "app.js"
        files = {fname: body}
        setup = [["mkdir", "dist"]] if name == "mkdir-exists" else []
        if name == "json-truncated":
            files["data.json"] = '{"items": [1, 2,'
        case(f"node2-{name}", label, ["node", fname], files, setup=setup, needs="node")
    npm = ["npm", "--no-audit", "--no-fund", "--fetch-retries=0", "--no-update-notifier"]
    pkg = ('{\n  "name": "demo",\n  "version": "1.0.0",\n  "scripts": {\n    "build": "node -e \\"process.exit(3)\\"",\n'
           '    "test": "jest --ci",\n    "typecheck": "TSC --noEmit",\n    "start": "node server.js"\n  }\n}\n')
    case("npm2-install-refused", "network_error", [*npm, "install", "left-pad", f"--registry={dead}/"], {"package.json": pkg}, needs="npm")
    case("npm2-install-404", "dependency_error", [*npm, "install", "left-padz", f"--registry={base}/404/"], {"package.json": pkg}, needs="npm")
    case("npm2-install-401", "auth_failure", [*npm, "install", "left-pad", f"--registry={base}/401/"], {"package.json": pkg}, needs="npm")
    case("npm2-install-500", "http_error", [*npm, "install", "left-pad", f"--registry={base}/500/"], {"package.json": pkg}, needs="npm")
    case("npm2-run-exit", "unknown", [*npm, "run", "build"], {"package.json": pkg}, needs="npm")
    case("npm2-test-jest-missing", "command_not_found", [*npm, "test"], {"package.json": pkg}, needs="npm")
    case("npm2-no-package-json", "config_error", [*npm, "run", "build"], needs="npm")
    case("npm2-no-test-script", "config_error", [*npm, "test"], {"package.json": '{"name": "demo", "version": "1.0.0"}\n'}, needs="npm")
    case("npm2-start-addr-in-use", "address_in_use", [*npm, "start"],
         {"package.json": pkg, "server.js": f"require('http').createServer().listen({http_port}, '127.0.0.1');\n"}, needs="npm")
    if tsc:
        ts_bad = "const n: number = 'one';\nexport {};\n"
        tsconfig = '{"compilerOptions": {"strict": true, "noEmit": true}, "files": ["a.ts"]}\n'
        pkg_ts = pkg.replace("TSC", tsc)
        case("tsc2-type-error", "typecheck_failure", [tsc, "--noEmit", "a.ts"], {"a.ts": ts_bad}, needs=tsc)
        case("tsc2-project-error", "typecheck_failure", [tsc, "-p", "."], {"a.ts": ts_bad, "tsconfig.json": tsconfig}, needs=tsc)
        case("tsc2-pretty", "typecheck_failure", [tsc, "-p", ".", "--pretty"], {"a.ts": ts_bad, "tsconfig.json": tsconfig}, needs=tsc)
        case("tsc2-missing-module", "typecheck_failure", [tsc, "--noEmit", "a.ts"], {"a.ts": "import _ from 'lodash';\nexport const x = _;\n"}, needs=tsc)
        case("tsc2-unknown-option", "config_error", [tsc, "-p", "."],
             {"a.ts": "export {};\n", "tsconfig.json": '{"compilerOptions": {"strictt": true}, "files": ["a.ts"]}\n'}, needs=tsc)
        case("tsc2-bad-tsconfig-json", "config_error", [tsc, "-p", "."], {"a.ts": "export {};\n", "tsconfig.json": '{"compilerOptions": {"strict": true,}\n'}, needs=tsc)
        case("tsc2-no-inputs", "config_error", [tsc, "-p", "."], {"tsconfig.json": '{"include": ["src"]}\n'}, needs=tsc)
        case("tsc2-missing-file", "file_not_found", [tsc, "--noEmit", "nope.ts"], needs=tsc)
        case("tsc2-bad-flag", "usage_error", [tsc, "--frobnicate"], needs=tsc)
        case("npm2-run-typecheck", "typecheck_failure", [*npm, "run", "typecheck"],
             {"package.json": pkg_ts, "a.ts": ts_bad, "tsconfig.json": tsconfig}, needs=tsc)

    # ------------------------------------------------------------------ git
    def diverged(extra: list[list[str]]) -> list[list[str]]:
        return [["git", "init", "-q", "--bare", "-b", "main", "remote.git"],
                [*g, "clone", "-q", "remote.git", "w1"],
                ["sh", "-c", f"cd w1 && echo 1 > f && git add f && {commit} -m 1 && git push -q origin main"],
                [*g, "clone", "-q", "remote.git", "w2"],
                ["sh", "-c", f"cd w1 && echo 2 > f && {commit} -am 2 && git push -q origin main"],
                ["sh", "-c", f"cd w2 && echo 3 > g && git add g && {commit} -m 3"], *extra]

    def hooked(hook: str, body: str, files: dict[str, str]) -> dict[str, Any]:
        return {"files": {"hook": f"#!/bin/sh\n{body}\n", **files},
                "setup": [*repo, ["cp", "hook", f".git/hooks/{hook}"], ["chmod", "+x", f".git/hooks/{hook}"]]}

    case("git2-detached-pull", "git_state", [*g, "pull"], setup=[*diverged([]), ["sh", "-c", "cd w2 && git checkout -q --detach"]], cwd="w2")
    case("git2-divergent", "git_state", [*g, "pull"], setup=diverged([]), cwd="w2")
    case("git2-ff-only", "git_state", [*g, "pull", "--ff-only"], setup=diverged([]), cwd="w2")
    case("git2-unrelated", "git_state", [*g, "merge", "other"],
         setup=[*repo, [*g, "checkout", "-q", "--orphan", "other"], ["sh", "-c", "echo o > o.txt && git add o.txt"],
                [*g, "commit", "-qm", "o"], [*g, "checkout", "-q", "main"]])
    case("git2-identity", "config_error", ["git", "-c", "user.useConfigOnly=true", "commit", "-m", "x"],
         setup=[["git", "init", "-q"], ["sh", "-c", "echo x > a.txt"], ["git", "add", "a.txt"]])
    case("git2-index-lock", "git_state", [*g, "commit", "-am", "x"], setup=[*repo, ["sh", "-c", "echo y > a.txt"], ["touch", ".git/index.lock"]])
    case("git2-index-lock-add", "git_state", [*g, "add", "a.txt"], setup=[*repo, ["sh", "-c", "echo y > a.txt"], ["touch", ".git/index.lock"]])
    case("git2-clone-404", "http_error", ["git", "clone", f"{base}/404/r.git"], env={"GIT_TERMINAL_PROMPT": "0"})
    case("git2-clone-500", "http_error", ["git", "clone", f"{base}/500/r.git"], env={"GIT_TERMINAL_PROMPT": "0"})
    case("git2-clone-401", "auth_failure", ["git", "clone", f"{base}/401/r.git"], env={"GIT_TERMINAL_PROMPT": "0"})
    case("git2-clone-nonempty", "already_exists", ["git", "clone", "-q", "src.git", "dest"],
         setup=[["git", "init", "-q", "--bare", "src.git"], ["mkdir", "dest"], ["touch", "dest/keep"]])
    case("git2-ls-remote-refused", "network_error", ["git", "ls-remote", f"{dead}/r.git"])
    case("git2-stash-none", "git_state", [*g, "stash", "pop"], setup=repo)
    case("git2-merge-conflict-color", "merge_conflict", [*g, "-c", "color.ui=always", "merge", "feature"],
         setup=[*repo, [*g, "checkout", "-qb", "feature"], ["sh", "-c", "echo f > a.txt"], [*g, "commit", "-qam", "f"],
                [*g, "checkout", "-q", "main"], ["sh", "-c", "echo m > a.txt"], [*g, "commit", "-qam", "m"]])
    case("git2-rebase-in-progress", "git_state", [*g, "rebase", "feature"],
         setup=[*repo, [*g, "checkout", "-qb", "feature"], ["sh", "-c", "echo f > a.txt"], [*g, "commit", "-qam", "f"],
                [*g, "checkout", "-q", "main"], ["sh", "-c", "echo m > a.txt"], [*g, "commit", "-qam", "m"],
                ["sh", "-c", "git -c user.name=t -c user.email=t@e rebase feature || true"]])
    case("git2-worktree-in-use", "git_state", [*g, "worktree", "add", "../wt", "main"], setup=repo)
    case("git2-tag-exists", "git_state", [*g, "tag", "v1"], setup=[*repo, [*g, "tag", "v1"]])
    case("git2-remote-exists", "git_state", [*g, "remote", "add", "origin", "x"], setup=[*repo, [*g, "remote", "add", "origin", "y"]])
    case("git2-diff-exit-code", "negative_answer", [*g, "diff", "--exit-code"], setup=[*repo, ["sh", "-c", "echo changed > a.txt"]])
    case("git2-grep-nomatch", "negative_answer", [*g, "grep", "needle"], setup=repo)
    case("git2-config-missing", "negative_answer", [*g, "config", "--get", "deploy.target"], setup=repo)
    case("git2-pull-rebase-dirty", "git_state", [*g, "pull", "--rebase"], setup=[*diverged([]), ["sh", "-c", "cd w2 && echo dirty > f"]], cwd="w2")
    case("git2-hook-commit-ruff", "lint_failure", [*g, "commit", "-m", "x"],
         **hooked("pre-commit", "exec ruff check --no-cache m.py", {"m.py": "import os\n"}))
    case("git2-hook-commit-ruff-format", "lint_failure", [*g, "commit", "-m", "x"],
         **hooked("pre-commit", "exec ruff format --check --no-cache m.py", {"m.py": "x=[1 ,2]\n"}))
    case("git2-hook-commit-pytest", "test_failure", [*g, "commit", "-m", "x"],
         **hooked("pre-commit", f"exec {py} -m pytest -q -p no:cacheprovider", {"test_m.py": "def test_m():\n    assert 1 == 2\n"}))
    case("git2-hook-commit-mypy", "typecheck_failure", [*g, "commit", "-m", "x"],
         **hooked("pre-commit", "exec mypy --no-incremental m.py", {"m.py": "x: int = 'a'\n"}))
    case("git2-hook-push-pytest", "test_failure", [*g, "push", "origin", "main"],
         files={"hook": f"#!/bin/sh\nexec {py} -m pytest -q -p no:cacheprovider\n", "test_m.py": "def test_m():\n    assert 1 == 2\n"},
         setup=[["git", "init", "-q", "--bare", "-b", "main", "remote.git"], *repo, [*g, "remote", "add", "origin", "remote.git"],
                ["cp", "hook", ".git/hooks/pre-push"], ["chmod", "+x", ".git/hooks/pre-push"]])

    # ------------------------------------------------------------------ make / cmake / gcc
    case("make2-cmd-not-found", "command_not_found", ["make"], {"Makefile": "all:\n\tnosuchtool --build\n"}, needs="make")
    case("make2-sh-cmd-not-found", "command_not_found", ["make"], {"Makefile": "all:\n\tnosuchtool --build && echo done\n"}, needs="make")
    case("make2-test-node", "test_failure", ["make", "test"],
         {"Makefile": "test:\n\tnode --test\n", "t.test.js": "const test = require('node:test');\nconst assert = require('assert');\ntest('x', () => assert.equal(1, 2));\n"}, needs="make")
    case("make2-exit1", "build_error", ["make"], {"Makefile": "all:\n\t@echo building\n\t@exit 1\n"}, needs="make")
    case("make2-python-traceback", "runtime_exception", ["make"], {"Makefile": f"all:\n\t{py} gen.py\n", "gen.py": "d = {}\nd['version']\n"}, needs="make")
    case("make2-lint-ruff", "lint_failure", ["make", "lint"], {"Makefile": "lint:\n\truff check --no-cache m.py\n", "m.py": "import os\n"}, needs="make")
    case("make2-permission", "permission_denied", ["make"], {"Makefile": "all:\n\t./gen.sh\n", "gen.sh": "#!/bin/sh\necho hi\n"}, needs="make")
    case("make2-cat-missing", "file_not_found", ["make"], {"Makefile": "all:\n\tcat VERSION\n"}, needs="make")
    case("make2-missing-separator", "syntax_error", ["make"], {"Makefile": "all:\n    echo spaces\n"}, needs="make")
    case("make2-gcc-color", "build_error", ["make"], {"Makefile": "a.out: a.c\n\tgcc -fdiagnostics-color=always a.c -o a.out\n", "a.c": "int main(void) { return q; }\n"}, needs="make")
    case("make2-j-errors", "build_error", ["make", "-j2", "-k"],
         {"Makefile": "all: a.o b.o\n%.o: %.c\n\tgcc -c $< -o $@\n", "a.c": "int f(void) { return x; }\n", "b.c": "int g(void) { return y; }\n"}, needs="make")
    case("make2-unknown-option", "usage_error", ["make", "--frob"], needs="make")
    case("make2-include-missing", "file_not_found", ["make"], {"Makefile": "include config.mk\nall:\n\ttrue\n"}, needs="make")
    case("make2-link-error", "build_error", ["make"], {"Makefile": "app: a.c\n\tgcc a.c -o app\n", "a.c": "void nosuch(void);\nint main(void) { nosuch(); return 0; }\n"}, needs="make")
    case("make2-pytest-no-tests", "no_tests", ["make", "test"], {"Makefile": f"test:\n\t{py} -m pytest -q -p no:cacheprovider tests\n", "tests/README": "x\n"}, needs="make")
    cm = "cmake_minimum_required(VERSION 3.10)\nproject(demo C)\n"
    case("cmake2-no-cmakelists", "config_error", ["cmake", "-S", ".", "-B", "build"], needs="cmake")
    case("cmake2-unknown-command", "config_error", ["cmake", "-S", ".", "-B", "build"], {"CMakeLists.txt": cm + "frobnicate(x)\n"}, needs="cmake")
    case("cmake2-missing-package", "dependency_error", ["cmake", "-S", ".", "-B", "build"], {"CMakeLists.txt": cm + "find_package(NoSuchLibXyz REQUIRED)\n"}, needs="cmake")
    case("cmake2-missing-source", "file_not_found", ["cmake", "-S", ".", "-B", "build"], {"CMakeLists.txt": cm + "add_executable(app main.c)\n"}, needs="cmake")
    case("cmake2-build-error", "build_error", ["cmake", "--build", "build"],
         {"CMakeLists.txt": cm + "add_executable(app main.c)\n", "main.c": "int main(void) { return nope; }\n"},
         setup=[["cmake", "-S", ".", "-B", "build"]], needs="cmake")
    case("cmake2-bad-flag", "usage_error", ["cmake", "--frob"], needs="cmake")
    case("gcc2-color-undeclared", "build_error", ["gcc", "-fdiagnostics-color=always", "-c", "a.c"], {"a.c": "int main(void) { return w; }\n"}, needs="gcc")
    case("gcc2-color-header", "build_error", ["gcc", "-fdiagnostics-color=always", "-c", "a.c"], {"a.c": "#include <nosuch/lib.h>\nint main(void) { return 0; }\n"}, needs="gcc")
    case("gcc2-unknown-option", "usage_error", ["gcc", "--frob", "a.c"], {"a.c": "int main(void) { return 0; }\n"}, needs="gcc")
    case("gpp2-link", "build_error", ["g++", "a.cpp", "-o", "a.out"], {"a.cpp": "int missing();\nint main() { return missing(); }\n"}, needs="g++")

    # ------------------------------------------------------------------ cargo
    cargo_toml = '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
    case("cargo2-color-build", "build_error", ["cargo", "build", "--offline", "--color", "always"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    let x: u8 = \"s\";\n}\n"}, needs="cargo")
    case("cargo2-color-test", "test_failure", ["cargo", "test", "--offline", "--color", "always"],
         {"Cargo.toml": cargo_toml, "src/lib.rs": "#[test]\nfn t() {\n    assert_eq!(1, 2);\n}\n"}, needs="cargo")
    case("cargo2-new-exists", "already_exists", ["cargo", "new", "--offline", "demo"], setup=[["mkdir", "demo"]], needs="cargo")
    case("cargo2-run-file", "file_not_found", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    let s = std::fs::read_to_string(\"config.toml\").unwrap();\n    println!(\"{s}\");\n}\n"}, needs="cargo")
    case("cargo2-run-exit", "unknown", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    std::process::exit(2);\n}\n"}, needs="cargo")
    case("cargo2-no-bin", "usage_error", ["cargo", "run", "--offline", "--bin", "nosuch"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {}\n"}, needs="cargo")
    case("cargo2-bad-edition", "config_error", ["cargo", "build", "--offline"],
         {"Cargo.toml": cargo_toml.replace("2021", "2099"), "src/main.rs": "fn main() {}\n"}, needs="cargo")
    case("cargo2-deny-warnings", "build_error", ["cargo", "build", "--offline"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "#![deny(warnings)]\nfn main() {\n    let unused = 1;\n}\n"}, needs="cargo")
    case("cargo2-run-refused", "network_error", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": f"fn main() {{\n    std::net::TcpStream::connect(\"127.0.0.1:{dead_port}\").unwrap();\n}}\n"}, needs="cargo")
    case("cargo2-run-addr-in-use", "address_in_use", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": f"fn main() {{\n    std::net::TcpListener::bind(\"127.0.0.1:{http_port}\").unwrap();\n}}\n"}, needs="cargo")

    # ------------------------------------------------------------------ java
    def java_main(body: str) -> dict[str, str]:
        return {"A.java": "import java.io.*;\nimport java.net.*;\nclass A {\n  public static void main(String[] a) throws Exception {\n" + body + "\n  }\n}\n"}

    case("javac2-missing-file", "file_not_found", ["javac", "Nope.java"], needs="javac")
    case("javac2-package-missing", "import_error", ["javac", "A.java"], {"A.java": "import org.nosuch.Thing;\nclass A {}\n"}, needs="javac")
    case("javac2-syntax", "build_error", ["javac", "A.java"], {"A.java": "class A {\n  void f() { int x = 1 }\n}\n"}, needs="javac")
    case("java2-file-not-found", "file_not_found", ["java", "A.java"], java_main("    new FileReader(\"config.properties\");"), needs="java")
    case("java2-number-format", "runtime_exception", ["java", "A.java"], java_main("    Integer.parseInt(\"eighty\");"), needs="java")
    case("java2-oom", "killed", ["java", "-Xmx16m", "A.java"], java_main("    long[][] m = new long[64][];\n    for (int i = 0; i < 64; i++) m[i] = new long[1 << 20];"), needs="java")
    case("java2-stackoverflow", "runtime_exception", ["java", "A.java"], {"A.java": "class A {\n  static int f(int n) { return f(n + 1) + 1; }\n  public static void main(String[] a) { f(0); }\n}\n"}, needs="java")
    case("java2-refused", "network_error", ["java", "A.java"], java_main(f"    new Socket(\"127.0.0.1\", {dead_port});"), needs="java")
    case("java2-read-timeout", "network_error", ["java", "A.java"],
         java_main(f"    Socket s = new Socket(\"127.0.0.1\", {http_port});\n    s.setSoTimeout(300);\n    s.getInputStream().read();"), needs="java")
    case("java2-bind-in-use", "address_in_use", ["java", "A.java"], java_main(f"    new ServerSocket({http_port}, 1, InetAddress.getByName(\"127.0.0.1\"));"), needs="java")
    case("java2-http-404", "http_error", ["java", "A.java"], java_main(f"    new URL(\"{base}/404/x\").openStream();"), needs="java")
    case("java2-exit", "unknown", ["java", "A.java"], java_main("    System.exit(3);"), needs="java")

    # ------------------------------------------------------------------ network clients
    case("curl2-refused-ipv6", "network_error", ["curl", "-sS", f"http://[::1]:{dead_port}/"], needs="curl")
    case("curl2-proxy-refused", "network_error", ["curl", "-sS", "-x", dead, "http://example.invalid/"], needs="curl")
    case("curl2-post-500", "http_error", ["curl", "-sSf", "-X", "POST", "-d", "{}", f"{base}/500/items"], needs="curl")
    case("curl2-output-dir-missing", "file_not_found", ["curl", "-sS", "-o", "nodir/out.txt", f"{base}/200/x"], needs="curl")
    case("curl2-bad-url", "usage_error", ["curl", "-sS", "http://"], needs="curl")
    case("curl2-bad-protocol", "usage_error", ["curl", "-sS", "foo://example"], needs="curl")
    case("curl2-max-time", "network_error", ["curl", "-sS", "--max-time", "0.4", f"{base}/999"], needs="curl")
    case("curl2-upload-missing", "file_not_found", ["curl", "-sS", "-T", "nope.bin", f"{base}/200/x"], needs="curl")
    case("wget2-timeout", "network_error", ["wget", "--timeout=0.5", "--tries=1", "-O", "/dev/null", f"{base}/999"], needs="wget")
    case("wget2-403", "auth_failure", ["wget", "--tries=1", "-O", "/dev/null", f"{base}/403/x"], needs="wget")

    # ------------------------------------------------------------------ shell and coreutils
    case("sh2-unbound-variable", "config_error", ["bash", "-c", "set -u; echo \"deploying to $DEPLOY_TARGET\""])
    case("sh2-required-variable", "config_error", ["bash", "-c", ": \"${API_URL:?API_URL must be set}\""])
    case("sh2-redirect-dir-missing", "file_not_found", ["bash", "-c", "echo x > logs/out.txt"])
    case("sh2-mkdir-exists", "already_exists", ["mkdir", "build"], setup=[["mkdir", "build"]])
    case("sh2-ln-exists", "already_exists", ["ln", "-s", "a.txt", "b.txt"], {"a.txt": "a\n", "b.txt": "b\n"})
    case("sh2-cp-dir", "usage_error", ["cp", "src", "dest"], setup=[["mkdir", "src"]])
    case("sh2-grep-q", "negative_answer", ["grep", "-q", "TODO", "a.txt"], {"a.txt": "done\n"})
    case("sh2-grep-r", "negative_answer", ["grep", "-rn", "FIXME", "."], {"a.txt": "done\n"})
    case("sh2-diff-u", "negative_answer", ["diff", "-u", "a.txt", "b.txt"], {"a.txt": "1\n2\n", "b.txt": "1\n3\n"})
    case("sh2-test-n", "negative_answer", ["bash", "-c", "[ -n \"$NOPE\" ]"])
    case("sh2-tar-not-gzip", "invalid_input", ["tar", "xzf", "a.tar.gz"], {"a.tar.gz": "plain text\n"})
    case("sh2-tar-not-tar", "invalid_input", ["tar", "xf", "a.tar"], {"a.tar": "plain text, not an archive\n" * 30})
    case("sh2-gunzip", "invalid_input", ["gunzip", "-c", "a.gz"], {"a.gz": "plain\n"})
    case("sh2-unzip", "invalid_input", ["unzip", "-o", "a.zip"], {"a.zip": "plain\n"}, needs="unzip")
    case("sh2-base64", "invalid_input", ["base64", "-d", "a.b64"], {"a.b64": "@@@not base64@@@\n"})
    case("sh2-xz", "invalid_input", ["xz", "-d", "-c", "a.xz"], {"a.xz": "plain\n"}, needs="xz")
    case("sh2-script-cmd-not-found", "command_not_found", ["bash", "build.sh"], {"build.sh": "set -e\necho start\nnosuch-generator --all\n"})
    case("sh2-script-syntax-quote", "syntax_error", ["bash", "run.sh"], {"run.sh": "echo \"start\nif [ -f x ]; then\n  echo y\nfi\n"})
    case("sh2-exec-format", "permission_denied", ["bash", "-c", "./data.bin"], {"data.bin": "\x00\x01garbage"}, chmod={"data.bin": 0o755})
    case("sh2-cd-missing-script", "file_not_found", ["bash", "deploy.sh"], {"deploy.sh": "set -e\ncd infra/prod\nmake apply\n"})

    # ------------------------------------------------------------------ sqlite, jq, terraform
    sq = ["sqlite3", "app.db"]
    case("sqlite2-no-table", "database_error", [*sq, "select * from users;"], needs="sqlite3")
    case("sqlite2-unique", "database_error", [*sq, "insert into t values (1);"], setup=[[*sq, "create table t(x unique); insert into t values (1);"]], needs="sqlite3")
    case("sqlite2-notnull", "database_error", [*sq, "insert into t(y) values (1);"], setup=[[*sq, "create table t(x not null, y);"]], needs="sqlite3")
    case("sqlite2-fk", "database_error", [*sq, "pragma foreign_keys=on; insert into c values (9);"],
         setup=[[*sq, "create table p(id integer primary key); create table c(pid references p(id));"]], needs="sqlite3")
    case("sqlite2-no-column", "database_error", [*sq, "select nosuch from t;"], setup=[[*sq, "create table t(x);"]], needs="sqlite3")
    case("sqlite2-syntax", "syntax_error", [*sq, "selec 1;"], needs="sqlite3")
    case("sqlite2-not-a-db", "database_error", [*sq, "select 1;"], {"app.db": "this is a text file, not a database\n" * 20}, needs="sqlite3")
    case("sqlite2-readonly", "database_error", ["sqlite3", "-readonly", "app.db", "insert into t values (1);"], setup=[[*sq, "create table t(x);"]], needs="sqlite3")
    case("sqlite2-locked", "database_error", [py, "lock.py"],
         {"lock.py": "import sqlite3, subprocess, sys\na = sqlite3.connect('app.db', isolation_level=None)\na.execute('create table if not exists t(x)')\n"
                     "a.execute('begin exclusive')\nsys.exit(subprocess.run(['sqlite3', 'app.db', 'insert into t values (1);']).returncode)\n"}, needs="sqlite3")
    case("sqlite2-read-file", "database_error", ["sqlite3", "-bail", "app.db", ".read in.sql"], setup=[[*sq, "create table t(x unique);"]],
         files={"in.sql": "insert into t values (1);\ninsert into t values (1);\n"}, needs="sqlite3")
    case("jq2-truncated", "invalid_input", ["jq", ".", "data.json"], {"data.json": '{"a": [1, 2,\n'}, needs="jq")
    case("jq2-not-json", "invalid_input", ["jq", ".name", "data.json"], {"data.json": "name=demo\n"}, needs="jq")
    case("jq2-cannot-index", "invalid_input", ["jq", ".a.b", "data.json"], {"data.json": '{"a": 3}\n'}, needs="jq")
    case("jq2-iterate-null", "invalid_input", ["jq", ".items[] | .id", "data.json"], {"data.json": '{"items": 5}\n'}, needs="jq")
    case("jq2-e-null", "negative_answer", ["jq", "-e", ".missing", "data.json"], {"data.json": '{"a": 1}\n'}, needs="jq")
    case("jq2-bad-option", "usage_error", ["jq", "--frob", "."], needs="jq")
    tf = ["terraform"]
    tf_env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": "/dev/null"}
    main_ok = 'resource "terraform_data" "x" {\n  input = "a"\n}\n'
    case("terraform2-hcl-syntax", "config_error", [*tf, "validate"], {"main.tf": 'resource "terraform_data" "x" {\n  input = \n}\n'}, env=tf_env, needs="terraform")
    case("terraform2-unsupported-argument", "config_error", [*tf, "validate"], {"main.tf": 'resource "terraform_data" "x" {\n  nosuch = 1\n}\n'},
         setup=[["terraform", "init", "-input=false", "-backend=false"]], env=tf_env, needs="terraform")
    case("terraform2-undeclared-var", "config_error", [*tf, "validate"], {"main.tf": 'resource "terraform_data" "x" {\n  input = var.nope\n}\n'},
         setup=[["terraform", "init", "-input=false", "-backend=false"]], env=tf_env, needs="terraform")
    case("terraform2-no-config", "config_error", [*tf, "plan", "-input=false"], env=tf_env, needs="terraform")
    case("terraform2-missing-var", "config_error", [*tf, "plan", "-input=false"], {"main.tf": 'variable "region" {}\n' + main_ok},
         setup=[["terraform", "init", "-input=false"]], env=tf_env, needs="terraform")
    case("terraform2-not-initialized", "dependency_error", [*tf, "plan", "-input=false"],
         {"main.tf": 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'}, env=tf_env, needs="terraform")
    case("terraform2-init-offline", "network_error", [*tf, "init", "-input=false"],
         {"main.tf": 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'},
         env={**tf_env, "HTTPS_PROXY": dead, "HTTP_PROXY": dead}, needs="terraform")
    case("terraform2-fmt-check", "lint_failure", [*tf, "fmt", "-check"], {"main.tf": 'resource "terraform_data" "x" {\ninput="a"\n}\n'}, env=tf_env, needs="terraform")
    case("terraform2-bad-flag", "usage_error", [*tf, "plan", "-frob"], {"main.tf": main_ok}, env=tf_env, needs="terraform")
