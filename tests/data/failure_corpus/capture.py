"""Regenerate the captured failure corpus by running the real tools on this machine.

    .venv/bin/python tests/data/failure_corpus/capture.py            # all cases
    .venv/bin/python tests/data/failure_corpus/capture.py git curl   # only ids starting so

Every case sets up a scratch directory, runs one real failing command and stores what the
runner would see (exit code, signal, outcome, the last 16 KiB of stderr and stdout) with the
class a human assigned (`label`) in captured/<id>.json. Cases whose tool is missing are skipped
and listed. Scratch paths are rewritten to /tmp/corpus so regenerating gives small diffs.
Hand-written cases for tools that cannot run here live in handwritten/ (source: "hand-written").
"""

from __future__ import annotations

import json
import os
import shutil
import signal as signals
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import families  # the script's directory is on sys.path

HERE = Path(__file__).resolve().parent
OUT = HERE / "captured"
TAIL = 16384
PLACEHOLDER = "/tmp/corpus"
PYTHON = sys.executable
SYSTEM_PY = "/usr/bin/python3"


@dataclass
class Case:
    id: str
    label: str
    argv: list[str]
    files: dict[str, str] = field(default_factory=dict)
    setup: list[list[str]] = field(default_factory=list)  # commands run before, must succeed
    needs: str | None = None  # tool that must exist
    user: str | None = None
    kill: int | None = None  # send this signal after `kill_after` seconds
    kill_after: float = 0.5
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "."
    chmod: dict[str, int] = field(default_factory=dict)
    note: str = ""
    prepare: Callable[[Path], None] | None = None


CASES: list[Case] = []


def case(*args: object, **kwargs: object) -> None:
    CASES.append(Case(*args, **kwargs))  # type: ignore[arg-type]


# ------------------------------------------------------------------ local HTTP server
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        code = int(self.path.strip("/").split("/")[0] or 200)
        if code == 999:  # never answers in time
            time.sleep(3)
            code = 200
        body = f"status {code}\n".encode()
        self.send_response(code)
        if code == 429:
            self.send_header("Retry-After", "30")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def start_server() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ case definitions
def define_cases(http_port: int, dead_port: int) -> None:
    py = PYTHON
    base = f"http://127.0.0.1:{http_port}"

    # --- pytest: 6 scenarios x 4 output styles
    pytest_files = {
        "assert": {"test_a.py": "def test_add():\n    assert 1 + 1 == 3\n\ndef test_ok():\n    assert True\n"},
        "exception": {"test_b.py": "def helper():\n    raise ValueError('bad value')\n\ndef test_b():\n    helper()\n"},
        "fixture": {"test_c.py": "import pytest\n\n@pytest.fixture\ndef db():\n    raise RuntimeError('db down')\n\ndef test_c(db):\n    pass\n"},
        "multi": {"test_d.py": "import pytest\n\n@pytest.mark.parametrize('n', [1, 2, 3])\ndef test_even(n):\n    assert n % 2 == 0\n"},
        "filenotfound": {"test_e.py": "def test_reads():\n    open('fixtures/data.json').read()\n"},
        "strict-xfail": {"test_f.py": "import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_f():\n    assert True\n"},
    }
    styles = {"default": [], "q": ["-q"], "tbline": ["--tb=line", "-rf"], "v": ["-v", "-x"]}
    for name, files in pytest_files.items():
        for style, opts in styles.items():
            case(f"pytest-{name}-{style}", "test_failure", [py, "-m", "pytest", "-p", "no:cacheprovider", *opts], files)
    case("pytest-collect-import", "import_error", [py, "-m", "pytest", "-p", "no:cacheprovider"],
         {"test_g.py": "import nosuchmodule_xyz\n\ndef test_g():\n    pass\n"})
    case("pytest-collect-import-q", "import_error", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
         {"test_g.py": "from os import nosuchname\n\ndef test_g():\n    pass\n"})
    case("pytest-collect-syntax", "syntax_error", [py, "-m", "pytest", "-p", "no:cacheprovider"],
         {"test_h.py": "def test_h(:\n    pass\n"})
    case("pytest-no-such-path", "file_not_found", [py, "-m", "pytest", "-p", "no:cacheprovider", "tests/nope.py"])
    case("pytest-bad-option", "usage_error", [py, "-m", "pytest", "-p", "no:cacheprovider", "--frobnicate"])

    # --- unittest
    ut = {
        "fail": "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        self.assertEqual(2, 3)\n",
        "error": "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        {}['k']\n",
        "raises": "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        with self.assertRaises(ValueError):\n            int('1')\n",
        "true": "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        self.assertTrue(0, 'flag must be set')\n",
    }
    for name, body in ut.items():
        case(f"unittest-{name}", "test_failure", [py, "-m", "unittest", "test_u.py"], {"test_u.py": body})
        case(f"unittest-{name}-v", "test_failure", [py, "-m", "unittest", "-v", "test_u.py"], {"test_u.py": body})
    case("unittest-import", "import_error", [py, "-m", "unittest", "test_missing_mod"])
    case("unittest-import-inside", "import_error", [py, "-m", "unittest", "test_u"],
         {"test_u.py": "import nosuch_dep\nimport unittest\n"})

    # --- python scripts
    scripts = {
        "modulenotfound": ("import requestz\n", "import_error"),
        "importname": ("from os.path import nosuchfn\n", "import_error"),
        "filenotfound": ("open('config/settings.yaml').read()\n", "file_not_found"),
        "assert": ("rows = [1, 2]\nassert len(rows) == 3, f'expected 3 rows, got {len(rows)}'\n", "script_assertion"),
        "assert-bare": ("x = 0\nassert x\n", "script_assertion"),
        "keyerror": ("d = {}\nprint(d['missing'])\n", "runtime_exception"),
        "zerodiv": ("print(1 / 0)\n", "runtime_exception"),
        "typeerror": ("len(5)\n", "runtime_exception"),
        "attributeerror": ("None.strip()\n", "runtime_exception"),
        "recursion": ("def f():\n    return f()\nf()\n", "runtime_exception"),
        "memoryerror": ("b = bytearray(10**15)\n", "killed"),
        "syntax": ("def f(:\n    pass\n", "syntax_error"),
        "indent": ("def f():\nreturn 1\n", "syntax_error"),
        "envvar": ("import os\ntoken = os.environ['DEPLOY_TOKEN']\n", "config_error"),
        "refused": (f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{dead_port}/')\n", "network_error"),
        "socket-refused": (f"import socket\nsocket.create_connection(('127.0.0.1', {dead_port}))\n", "network_error"),
        "dns": ("import socket\nsocket.getaddrinfo('nohost.invalid', 443)\n", "network_error"),
        "http404": (f"import urllib.request\nurllib.request.urlopen('{base}/404/x')\n", "http_error"),
        "http500": (f"import urllib.request\nurllib.request.urlopen('{base}/500/x')\n", "http_error"),
        "http401": (f"import urllib.request\nurllib.request.urlopen('{base}/401/x')\n", "auth_failure"),
        "http403": (f"import urllib.request\nurllib.request.urlopen('{base}/403/x')\n", "auth_failure"),
        "http429": (f"import urllib.request\nurllib.request.urlopen('{base}/429/x')\n", "rate_limited"),
        "json-config": ("import json\njson.load(open('conf.json'))\n", "invalid_input"),  # malformed data file
        "diskfull": ("with open('/dev/full', 'w') as f:\n    f.write('x' * 100)\n", "disk_full"),
        "argparse-unknown": ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--verbose', action='store_true')\np.parse_args()\n", "usage_error"),
        "argparse-required": ("import argparse\np = argparse.ArgumentParser()\np.add_argument('target')\np.parse_args()\n", "usage_error"),
        "segfault": ("import ctypes\nctypes.string_at(0)\n", "crashed"),
    }
    for name, (body, label) in scripts.items():
        extra = ["--frob"] if name == "argparse-unknown" else []
        files = {"app.py": body}
        if name == "json-config":
            files["conf.json"] = '{"name": "demo",\n "retries": 3,\n}\n'
        case(f"python-{name}", label, [py, "app.py", *extra], files)
    case("python-missing-script", "file_not_found", [py, "nope.py"])
    case("python-m-missing", "import_error", [py, "-m", "nosuch_tool_mod"])
    # nobody cannot run the venv's interpreter (under /root): use the system one for these.
    case("python-permission", "permission_denied", [SYSTEM_PY, "-c", "open('/root/.profile_x', 'w')"], user="nobody")
    case("python-permission-read", "permission_denied", [SYSTEM_PY, "-c", "import os; os.listdir('/root')"], user="nobody")
    case("python-sysexit-msg", "unknown", [py, "-c", "import sys; sys.exit('nothing to do today')"])
    case("python-exit-3", "unknown", [py, "-c", "raise SystemExit(3)"])

    # --- mypy
    mypy_files = {
        "return": "def f() -> str:\n    return 1\n",
        "arg": "def f(x: int) -> int:\n    return x\n\nf('a')\n",
        "attr": "import os\nos.nosuchattr\n",
        "name": "print(undefined_name)\n",
        "import": "import nosuch_pkg_xyz\n",
        "callarg": "def f(x: int) -> int:\n    return x\n\nf(1, 2)\n",
        "union": "from typing import Optional\n\ndef f(x: Optional[str]) -> int:\n    return len(x)\n",
        "assign": "x: int = 'a'\ny: list[str] = [1]\n",
        "override": "class A:\n    def f(self, x: int) -> int:\n        return x\n\nclass B(A):\n    def f(self, x: str) -> int:\n        return 1\n",
        "syntax": "def f(:\n    pass\n",
    }
    for name, body in mypy_files.items():
        case(f"mypy-{name}", "typecheck_failure", ["mypy", "--no-incremental", "m.py"], {"m.py": body}, needs="mypy")
    case("mypy-strict", "typecheck_failure", ["mypy", "--strict", "--no-incremental", "m.py"],
         {"m.py": "def f(x):\n    return x\n"}, needs="mypy")
    case("mypy-missing-file", "file_not_found", ["mypy", "--no-incremental", "nope.py"], needs="mypy")
    case("mypy-bad-flag", "usage_error", ["mypy", "--frob", "m.py"], {"m.py": "x = 1\n"}, needs="mypy")

    # --- ruff
    ruff_files = {
        "unused-import": "import os\n",
        "unused-var": "def f():\n    x = 1\n",
        "compare-none": "x = None\nif x == None:\n    pass\n",
        "multi": "import os, sys\ndef f():\n    l = 1\n    return\n",
        "undefined": "print(undefined_thing)\n",
        "bare-except": "try:\n    pass\nexcept:\n    pass\n",
    }
    for name, body in ruff_files.items():
        case(f"ruff-{name}", "lint_failure", ["ruff", "check", "--no-cache", "--select", "E,F", "m.py"], {"m.py": body}, needs="ruff")
        case(f"ruff-{name}-concise", "lint_failure", ["ruff", "check", "--no-cache", "--select", "E,F", "--output-format", "concise", "m.py"], {"m.py": body}, needs="ruff")
    case("ruff-format-check", "lint_failure", ["ruff", "format", "--check", "--no-cache", "m.py"], {"m.py": "x=[1,2 ,3]\n"}, needs="ruff")
    case("ruff-format-diff", "lint_failure", ["ruff", "format", "--diff", "--no-cache", "m.py"], {"m.py": "def f( a ):\n  return a\n"}, needs="ruff")
    case("ruff-isort", "lint_failure", ["ruff", "check", "--no-cache", "--select", "I", "m.py"], {"m.py": "import sys\nimport os\n"}, needs="ruff")
    case("ruff-bad-config", "config_error", ["ruff", "check", "--no-cache", "m.py"],
         {"m.py": "x = 1\n", "pyproject.toml": "[tool.ruff]\nline-lenght = 100\n"}, needs="ruff")
    case("ruff-bad-toml", "config_error", ["ruff", "check", "--no-cache", "m.py"],
         {"m.py": "x = 1\n", "ruff.toml": "line-length = \n"}, needs="ruff")
    case("ruff-bad-select", "usage_error", ["ruff", "check", "--no-cache", "--select", "XYZ999", "m.py"], {"m.py": "x = 1\n"}, needs="ruff")

    # --- gcc / g++ / make
    c_files = {
        "syntax": "int main(void) {\n    int x = 1\n    return x;\n}\n",
        "undeclared": "int main(void) {\n    return y;\n}\n",
        "header": "#include \"missing_header.h\"\nint main(void) { return 0; }\n",
        "types": "struct s { int a; };\nint main(void) {\n    struct s v;\n    return v.b;\n}\n",
        "args": "int f(int a, int b) { return a + b; }\nint main(void) { return f(1); }\n",
    }
    for name, body in c_files.items():
        case(f"gcc-{name}", "build_error", ["gcc", "-c", "a.c", "-o", "a.o"], {"a.c": body}, needs="gcc")
        case(f"gcc-{name}-werror", "build_error", ["gcc", "-Wall", "-Werror", "a.c", "-o", "a.out"], {"a.c": body}, needs="gcc")
    case("gcc-implicit-werror", "build_error", ["gcc", "-Werror", "a.c"], {"a.c": "int main(void) { return undeclared_fn(); }\n"}, needs="gcc")
    case("gcc-undefined-reference", "build_error", ["gcc", "a.c", "-o", "a.out"],
         {"a.c": "int missing(void);\nint main(void) { return missing(); }\n"}, needs="gcc")
    case("gcc-no-main", "build_error", ["gcc", "a.c", "-o", "a.out"], {"a.c": "int helper(void) { return 1; }\n"}, needs="gcc")
    case("gcc-multiple-definition", "build_error", ["gcc", "a.c", "b.c", "-o", "a.out"],
         {"a.c": "int x = 1;\nint main(void) { return x; }\n", "b.c": "int x = 2;\n"}, needs="gcc")
    case("gcc-missing-lib", "build_error", ["gcc", "a.c", "-lnosuchlib", "-o", "a.out"], {"a.c": "int main(void) { return 0; }\n"}, needs="gcc")
    case("gcc-no-input", "file_not_found", ["gcc", "nope.c"], needs="gcc")
    case("gpp-template", "build_error", ["g++", "-c", "a.cpp"],
         {"a.cpp": "#include <vector>\n#include <string>\nint main() {\n    std::vector<int> v;\n    v.push_back(std::string(\"x\"));\n}\n"}, needs="g++")
    case("gpp-undeclared", "build_error", ["g++", "-c", "a.cpp"], {"a.cpp": "int main() { return nope::x; }\n"}, needs="g++")
    case("make-no-rule", "build_error", ["make", "nosuchtarget"], {"Makefile": "all:\n\ttrue\n"}, needs="make")
    case("make-no-makefile", "build_error", ["make"], needs="make")
    case("make-recipe-gcc", "build_error", ["make"], {"Makefile": "a.out: a.c\n\tgcc a.c -o a.out\n", "a.c": "int main(void) { return z; }\n"}, needs="make")
    case("make-missing-source", "build_error", ["make"], {"Makefile": "a.out: a.c\n\tgcc a.c -o a.out\n"}, needs="make")
    case("make-recipe-pytest", "test_failure", ["make", "test"],
         {"Makefile": f"test:\n\t{py} -m pytest -q -p no:cacheprovider\n", "test_m.py": "def test_m():\n    assert 0\n"}, needs="make")
    native = {
        "segv": ("#include <stddef.h>\nint main(void) { int *p = NULL; return *p; }\n", "crashed"),
        "abort": ("#include <stdlib.h>\nint main(void) { abort(); }\n", "crashed"),
        "assert": ("#include <assert.h>\nint main(void) { int x = 1; assert(x == 2); return 0; }\n", "script_assertion"),
        "fpe": ("#include <signal.h>\nint main(void) { raise(SIGFPE); return 0; }\n", "crashed"),
        "exit3": ("int main(void) { return 3; }\n", "unknown"),
    }
    for name, (body, label) in native.items():
        case(f"native-{name}", label, ["./a.out"], {"a.c": body}, setup=[["gcc", "-g", "a.c", "-o", "a.out"]], needs="gcc")
        case(f"native-{name}-bash", label, ["bash", "-c", "./a.out"], {"a.c": body}, setup=[["gcc", "-g", "a.c", "-o", "a.out"]], needs="gcc")

    # --- rust / cargo
    cargo_toml = '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
    rust = {
        "types": ("fn main() {\n    let x: i32 = \"a\";\n}\n", "build_error"),
        "undefined": ("fn main() {\n    println!(\"{}\", y);\n}\n", "build_error"),
        "borrow": ("fn main() {\n    let s = String::new();\n    let t = s;\n    println!(\"{}\", s);\n}\n", "build_error"),
        "syntax": ("fn main() {\n    let x = ;\n}\n", "build_error"),
        "unresolved": ("use nosuchcrate::thing;\nfn main() {}\n", "import_error"),
        "method": ("fn main() {\n    let v = vec![1];\n    v.nosuch();\n}\n", "build_error"),
    }
    for name, (body, label) in rust.items():
        files = {"Cargo.toml": cargo_toml, "src/main.rs": body}
        case(f"cargo-build-{name}", label, ["cargo", "build", "--offline", "-q"], files, needs="cargo")
        case(f"rustc-{name}", label, ["rustc", "--edition", "2021", "src/main.rs"], files, needs="rustc")
    case("cargo-missing-dep", "dependency_error", ["cargo", "build", "--offline"],
         {"Cargo.toml": cargo_toml + 'serde_nosuch_xyz = "1"\n', "src/main.rs": "fn main() {}\n"}, needs="cargo")
    case("cargo-test-fail", "test_failure", ["cargo", "test", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/lib.rs": "#[cfg(test)]\nmod tests {\n    #[test]\n    fn it_works() {\n        assert_eq!(2 + 2, 5);\n    }\n}\n"}, needs="cargo")
    case("cargo-test-panic", "test_failure", ["cargo", "test", "--offline"],
         {"Cargo.toml": cargo_toml, "src/lib.rs": "pub fn f(v: &[i32]) -> i32 { v[3] }\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn idx() {\n        super::f(&[1]);\n    }\n}\n"}, needs="cargo")
    case("cargo-run-panic", "runtime_exception", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    let v: Vec<i32> = vec![];\n    println!(\"{}\", v[0]);\n}\n"}, needs="cargo")
    case("cargo-run-unwrap", "runtime_exception", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    let n: i32 = \"x\".parse().unwrap();\n    println!(\"{n}\");\n}\n"}, needs="cargo")
    case("cargo-run-assert", "script_assertion", ["cargo", "run", "--offline", "-q"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    let n = 1;\n    assert_eq!(n, 2);\n}\n"}, needs="cargo")
    case("cargo-bad-manifest", "config_error", ["cargo", "build", "--offline"],
         {"Cargo.toml": '[package]\nname = "demo"\nversion = \n', "src/main.rs": "fn main() {}\n"}, needs="cargo")
    case("cargo-no-manifest", "config_error", ["cargo", "build", "--offline"], needs="cargo")
    case("cargo-no-such-command", "command_not_found", ["cargo", "frobnicate"], needs="cargo")
    case("cargo-bad-flag", "usage_error", ["cargo", "build", "--frob"], {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {}\n"}, needs="cargo")
    case("cargo-clippy", "lint_failure", ["cargo", "clippy", "--offline", "-q", "--", "-D", "warnings"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main() {\n    let x = 5;\n    if x == 5 { } else { }\n    let _v = vec![1].len() == 0;\n}\n"}, needs="cargo-clippy")
    case("cargo-fmt-check", "lint_failure", ["cargo", "fmt", "--check"],
         {"Cargo.toml": cargo_toml, "src/main.rs": "fn main(){let x=1;println!(\"{}\",x);}\n"}, needs="cargo-fmt")

    # --- node / npm
    node = {
        "syntax": ("let x = ;\n", "syntax_error"),
        "module": ("require('left-padz');\n", "import_error"),
        "relative-module": ("require('./lib/util');\n", "import_error"),
        "throw": ("function f() { throw new Error('boom: invalid state'); }\nf();\n", "runtime_exception"),
        "typeerror": ("const o = undefined;\nconsole.log(o.name);\n", "runtime_exception"),
        "assert": ("const assert = require('assert');\nassert.strictEqual(1 + 1, 3);\n", "script_assertion"),
        "refused": (f"require('http').get('http://127.0.0.1:{dead_port}/');\n", "network_error"),
        "dns": ("require('http').get('http://nohost.invalid/');\n", "network_error"),
        "readfile": ("require('fs').readFileSync('data/input.csv');\n", "file_not_found"),
        "eacces": ("require('fs').writeFileSync('/root/x.txt', 'x');\n", "permission_denied"),
        "esm-export": ("import { nosuch } from './lib.mjs';\n", "import_error"),
    }
    for name, (body, label) in node.items():
        fname = "app.mjs" if name == "esm-export" else "app.js"
        files = {fname: body}
        if name == "esm-export":
            files["lib.mjs"] = "export const x = 1;\n"
        user = "nobody" if name == "eacces" else None
        case(f"node-{name}", label, ["node", fname], files, needs="node", user=user)
    case("node-missing-entry", "file_not_found", ["node", "nope.js"], needs="node")
    case("node-oom", "killed", ["node", "--max-old-space-size=16", "-e", "const a = []; while (true) a.push(new Array(1e5).fill(1));"], needs="node")
    case("node-test-fail", "test_failure", ["node", "--test"],
         {"test/a.test.js": "const test = require('node:test');\nconst assert = require('assert');\ntest('adds', () => { assert.strictEqual(1 + 1, 3); });\n"}, needs="node")
    case("node-test-throw", "test_failure", ["node", "--test"],
         {"test/b.test.js": "const test = require('node:test');\ntest('throws', () => { throw new Error('nope'); });\n"}, needs="node")
    pkg = '{\n  "name": "demo",\n  "version": "1.0.0",\n  "scripts": {\n    "test": "node --test",\n    "build": "node build.js",\n    "lint": "eslintz src"\n  }\n}\n'
    case("npm-missing-script", "config_error", ["npm", "run", "deploy"], {"package.json": pkg}, needs="npm")
    case("npm-test-fail", "test_failure", ["npm", "test"],
         {"package.json": pkg, "test/a.test.js": "const test = require('node:test');\nconst assert = require('assert');\ntest('x', () => assert.ok(false));\n"}, needs="npm")
    case("npm-run-build-throw", "runtime_exception", ["npm", "run", "build"],
         {"package.json": pkg, "build.js": "throw new TypeError('config.entry must be a string');\n"}, needs="npm")
    case("npm-run-not-found", "command_not_found", ["npm", "run", "lint"], {"package.json": pkg}, needs="npm")
    case("npm-bad-json", "config_error", ["npm", "run", "test"], {"package.json": '{\n  "name": "demo",\n  "scripts": {\n}\n'}, needs="npm")
    case("npm-install-offline", "dependency_error", ["npm", "install", "--offline", "--no-audit", "--no-fund", "left-padz@1.0.0"],
         {"package.json": pkg}, needs="npm")
    case("npm-ci-no-lock", "dependency_error", ["npm", "ci", "--offline"], {"package.json": pkg}, needs="npm")

    # --- pip
    pipx = [py, "-m", "pip", "--disable-pip-version-check", "install", "--no-index", "--find-links", "/nonexistent-wheels"]
    case("pip-no-such-package", "dependency_error", [*pipx, "nosuch-package-xyz"])
    case("pip-no-version", "dependency_error", [*pipx, "pytest==0.0.1"])
    case("pip-missing-requirements", "file_not_found", [*pipx, "-r", "requirements-dev.txt"])
    case("pip-not-installable", "config_error", [*pipx, "."], note="relabelled in 1.1.0: the manifest is missing (cf. cargo-no-manifest)")
    case("pip-bad-requirement", "dependency_error", [*pipx, "foo==="], note="pip reads 'foo===' as a requirement it cannot find")
    case("pip-bad-option", "usage_error", [py, "-m", "pip", "install", "--frob"])

    # --- git
    g = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
         "-c", "advice.detachedHead=false"]
    repo_setup = [[*g, "init", "-q"], ["sh", "-c", "echo base > a.txt"], [*g, "add", "a.txt"], [*g, "commit", "-qm", "base"]]

    def conflict_setup(extra: list[list[str]]) -> list[list[str]]:
        return [*repo_setup,
                [*g, "checkout", "-qb", "feature"], ["sh", "-c", "echo feature > a.txt"], [*g, "commit", "-qam", "feature"],
                [*g, "checkout", "-q", "main"], ["sh", "-c", "echo main > a.txt"], [*g, "commit", "-qam", "main"], *extra]

    case("git-merge-conflict", "merge_conflict", [*g, "merge", "feature"], setup=conflict_setup([]))
    case("git-merge-conflict-noff", "merge_conflict", [*g, "merge", "--no-ff", "-m", "m", "feature"], setup=conflict_setup([]))
    case("git-rebase-conflict", "merge_conflict", [*g, "rebase", "feature"], setup=conflict_setup([]))
    case("git-cherry-pick-conflict", "merge_conflict", [*g, "cherry-pick", "feature"], setup=conflict_setup([]))
    case("git-pull-conflict", "merge_conflict", [*g, "pull", "--no-rebase", ".", "feature"], setup=conflict_setup([]))
    case("git-commit-unmerged", "merge_conflict", [*g, "commit", "-m", "x"],
         setup=conflict_setup([["sh", "-c", "git -c user.name=t -c user.email=t@e merge feature || true"]]))
    case("git-merge-again-unmerged", "merge_conflict", [*g, "merge", "feature"],
         setup=conflict_setup([["sh", "-c", "git -c user.name=t -c user.email=t@e merge feature || true"]]))
    case("git-add-add-conflict", "merge_conflict", [*g, "merge", "other"],
         setup=[*repo_setup, [*g, "checkout", "-qb", "other"], ["sh", "-c", "echo o > b.txt"], [*g, "add", "b.txt"],
                [*g, "commit", "-qm", "o"], [*g, "checkout", "-q", "main"], ["sh", "-c", "echo m > b.txt"],
                [*g, "add", "b.txt"], [*g, "commit", "-qm", "m"]])
    case("git-modify-delete-conflict", "merge_conflict", [*g, "merge", "other"],
         setup=[*repo_setup, [*g, "checkout", "-qb", "other"], [*g, "rm", "-q", "a.txt"], [*g, "commit", "-qm", "rm"],
                [*g, "checkout", "-q", "main"], ["sh", "-c", "echo changed > a.txt"], [*g, "commit", "-qam", "chg"]])
    case("git-stash-pop-conflict", "merge_conflict", [*g, "stash", "pop"],
         setup=[*repo_setup, ["sh", "-c", "echo stashed > a.txt"], [*g, "stash", "-q"], ["sh", "-c", "echo other > a.txt"],
                [*g, "commit", "-qam", "other"]])

    def push_setup(extra: list[list[str]]) -> list[list[str]]:
        return [["git", "init", "-q", "--bare", "-b", "main", "remote.git"],
                [*g, "clone", "-q", "remote.git", "w1"], ["sh", "-c", "cd w1 && echo 1 > f && git add f && git -c user.name=t -c user.email=t@e commit -qm 1 && git push -q origin main"],
                [*g, "clone", "-q", "remote.git", "w2"], ["sh", "-c", "cd w1 && echo 2 > f && git -c user.name=t -c user.email=t@e commit -qam 2 && git push -q origin main"],
                ["sh", "-c", "cd w2 && echo 3 > g && git add g && git -c user.name=t -c user.email=t@e commit -qm 3"], *extra]

    case("git-push-fetch-first", "push_rejected", [*g, "push", "origin", "main"], setup=push_setup([]), cwd="w2")
    case("git-push-fetch-first-u", "push_rejected", [*g, "push", "-u", "origin", "main"], setup=push_setup([]), cwd="w2")
    case("git-push-non-ff", "push_rejected", [*g, "push", "origin", "main"], setup=push_setup([["sh", "-c", "cd w2 && git fetch -q origin"]]), cwd="w2")
    case("git-push-non-ff-porcelain", "push_rejected", [*g, "push", "--porcelain", "origin", "main"], setup=push_setup([["sh", "-c", "cd w2 && git fetch -q origin"]]), cwd="w2")
    case("git-push-hook-declined", "push_rejected", [*g, "push", "origin", "main"],
         files={"hook": "#!/bin/sh\necho 'policy: direct pushes to main are not allowed' >&2\nexit 1\n"},
         setup=[["git", "init", "-q", "--bare", "-b", "main", "remote.git"], ["cp", "hook", "remote.git/hooks/pre-receive"],
                ["chmod", "+x", "remote.git/hooks/pre-receive"], [*g, "clone", "-q", "remote.git", "w"],
                ["sh", "-c", "cd w && echo 1 > f && git add f && git -c user.name=t -c user.email=t@e commit -qm 1"]],
         cwd="w")
    case("git-push-no-remote", "git_state", [*g, "push", "origin", "main"], setup=repo_setup)
    case("git-push-no-upstream", "git_state", [*g, "push"],
         setup=[*push_setup([]), ["sh", "-c", "cd w2 && git checkout -qb topic"]], cwd="w2")
    case("git-status-not-repo", "git_state", ["git", "status"])
    case("git-log-not-repo", "git_state", ["git", "log", "-1"])
    case("git-commit-not-repo", "git_state", ["git", "commit", "-m", "x"])
    case("git-dirty-checkout", "git_state", [*g, "checkout", "feature"],
         setup=[*repo_setup, [*g, "checkout", "-qb", "feature"], ["sh", "-c", "echo f > a.txt"], [*g, "commit", "-qam", "f"],
                [*g, "checkout", "-q", "main"], ["sh", "-c", "echo dirty > a.txt"]])
    case("git-dirty-merge", "git_state", [*g, "merge", "feature"],
         setup=[*repo_setup, [*g, "checkout", "-qb", "feature"], ["sh", "-c", "echo f > a.txt"], [*g, "commit", "-qam", "f"],
                [*g, "checkout", "-q", "main"], ["sh", "-c", "echo dirty > a.txt"]])
    case("git-dirty-rebase", "git_state", [*g, "rebase", "feature"],
         setup=[*repo_setup, [*g, "branch", "feature"], ["sh", "-c", "echo dirty > a.txt"]])
    case("git-nothing-to-commit", "git_state", [*g, "commit", "-m", "x"], setup=repo_setup)
    case("git-nothing-added", "git_state", [*g, "commit", "-m", "x"], setup=[*repo_setup, ["sh", "-c", "echo x > a.txt"]])
    case("git-bad-branch", "git_state", [*g, "checkout", "nosuchbranch"], setup=repo_setup)
    case("git-bad-revision", "git_state", [*g, "log", "nosuchrev"], setup=repo_setup)
    case("git-bad-reset", "git_state", [*g, "reset", "--hard", "nosuchrev"], setup=repo_setup)
    case("git-branch-exists", "git_state", [*g, "branch", "main"], setup=repo_setup)
    case("git-switch-unknown", "git_state", [*g, "switch", "nosuch"], setup=repo_setup)
    case("git-pathspec", "file_not_found", [*g, "add", "nope.txt"], setup=repo_setup)
    case("git-rm-pathspec", "file_not_found", [*g, "rm", "nope.txt"], setup=repo_setup)
    case("git-unknown-command", "command_not_found", ["git", "frobnicate"])
    case("git-unknown-option", "usage_error", ["git", "commit", "--frob"], setup=repo_setup)
    case("git-bad-config", "config_error", ["git", "status"], setup=[["git", "init", "-q"], ["sh", "-c", "echo '[core' >> .git/config"]])
    case("git-clone-refused", "network_error", ["git", "clone", f"http://127.0.0.1:{dead_port}/r.git"])
    case("git-clone-dns", "network_error", ["git", "clone", "https://nohost.invalid/r.git"])
    case("git-fetch-no-remote", "git_state", ["git", "fetch", "upstream"], setup=repo_setup)

    # --- curl / wget / ssh / docker
    case("curl-refused", "network_error", ["curl", "-sS", f"http://127.0.0.1:{dead_port}/"], needs="curl")
    case("curl-refused-verbose", "network_error", ["curl", "-v", f"http://localhost:{dead_port}/api"], needs="curl")
    case("curl-dns", "network_error", ["curl", "-sS", "https://nohost.invalid/"], needs="curl")
    case("curl-tls-wrong-version", "network_error", ["curl", "-sS", f"https://127.0.0.1:{http_port}/"], needs="curl")
    case("curl-timeout", "network_error", ["curl", "-sS", "-m", "0.5", f"{base}/999"], needs="curl")
    for code, label in ((404, "http_error"), (500, "http_error"), (502, "http_error"), (503, "http_error"),
                        (401, "auth_failure"), (403, "auth_failure"), (429, "rate_limited")):
        case(f"curl-http-{code}", label, ["curl", "-sSf", f"{base}/{code}/resource"], needs="curl")
    case("curl-http-404-fail-with-body", "http_error", ["curl", "-sS", "--fail-with-body", f"{base}/404/x"], needs="curl")
    for code, label in ((404, "http_error"), (500, "http_error"), (401, "auth_failure"), (429, "rate_limited")):
        if label == "http_error":  # quiet wget says nothing: only its exit code 8 tells
            case(f"wget-http-{code}", label, ["wget", "-q", "-O", "/dev/null", "--tries=1", f"{base}/{code}/x"], needs="wget")
        case(f"wget-http-{code}-verbose", label, ["wget", "-O", "/dev/null", "--tries=1", f"{base}/{code}/x"], needs="wget")
    case("wget-refused", "network_error", ["wget", "--tries=1", f"http://127.0.0.1:{dead_port}/"], needs="wget")
    case("wget-dns", "network_error", ["wget", "--tries=1", "http://nohost.invalid/"], needs="wget")
    case("ssh-refused", "network_error", ["ssh", "-o", "BatchMode=yes", "-p", str(dead_port), "127.0.0.1", "true"], needs="ssh")
    case("ssh-dns", "network_error", ["ssh", "-o", "BatchMode=yes", "nohost.invalid", "true"], needs="ssh")
    case("docker-no-daemon", "network_error", ["docker", "ps"], needs="docker", env={"DOCKER_HOST": f"tcp://127.0.0.1:{dead_port}"})

    # --- files and commands
    case("cat-missing", "file_not_found", ["cat", "missing.txt"])
    case("ls-missing", "file_not_found", ["ls", "build/output"])
    case("cp-missing", "file_not_found", ["cp", "nope.txt", "dest.txt"])
    case("mv-missing", "file_not_found", ["mv", "nope.txt", "dest.txt"])
    case("rm-missing", "file_not_found", ["rm", "nope.txt"])
    case("head-missing", "file_not_found", ["head", "-n1", "nope.log"])
    case("grep-missing", "file_not_found", ["grep", "x", "nope.txt"])
    case("cd-missing", "file_not_found", ["bash", "-c", "cd src/nope && make"])
    case("source-missing", "file_not_found", ["bash", "-c", "source .env.local"])
    case("tar-missing", "file_not_found", ["tar", "xf", "nope.tar.gz"])
    case("jq-missing", "file_not_found", ["jq", ".", "nope.json"], needs="jq")
    case("sqlite-missing-dir", "file_not_found", ["sqlite3", "nodir/db.sqlite", "select 1;"], needs="sqlite3")
    case("bash-cmd-not-found", "command_not_found", ["bash", "-c", "pytset -q"])
    case("sh-cmd-not-found", "command_not_found", ["sh", "-c", "frobnicate --all"])
    case("bash-path-not-found", "command_not_found", ["bash", "-c", "./scripts/deploy.sh"])
    case("bash-script-not-found", "command_not_found", ["bash", "-c", "bin/nosuch-tool --version"])
    case("env-not-found", "command_not_found", ["env", "FOO=1", "nosuchtool", "run"])
    case("xargs-not-found", "command_not_found", ["sh", "-c", "echo a | xargs nosuchtool"])
    case("timeout-not-found", "command_not_found", ["timeout", "5", "nosuchtool"])
    case("exec-not-found", "command_not_found", ["nosuchtool-xyz", "--help"], note="the runner cannot start the child: no stderr at all")
    case("exec-path-not-found", "command_not_found", ["./bin/nosuch"], note="the runner cannot start the child")
    case("exec-not-executable", "permission_denied", ["./run.sh"], {"run.sh": "#!/bin/sh\necho hi\n"}, note="the runner cannot start the child")
    case("bash-not-executable", "permission_denied", ["bash", "-c", "./run.sh"], {"run.sh": "#!/bin/sh\necho hi\n"})
    case("bash-dir-exec", "permission_denied", ["bash", "-c", "./src"], setup=[["mkdir", "src"]])

    # --- permissions (as nobody)
    for name, argv in {
        "cat": ["cat", "/root/.bashrc"], "touch": ["touch", "/root/new.txt"], "mkdir": ["mkdir", "/root/newdir"],
        "ls": ["ls", "/root"], "rm": ["rm", "-f", "/etc/hostname"], "cp": ["cp", "/etc/hostname", "/root/"],
        "git-init": ["git", "init", "/root/newrepo"], "redirect": ["sh", "-c", "echo x > /root/x"],
        "chmod": ["chmod", "600", "/etc/hostname"], "chown": ["chown", "nobody", "/tmp"],
        "kill": ["kill", "-0", "1"],
    }.items():
        case(f"perm-{name}", "permission_denied", argv, user="nobody")
    case("perm-python-write", "permission_denied", [SYSTEM_PY, "-c", "import pathlib; pathlib.Path('/etc/cmdscope.conf').write_text('x')"], user="nobody")

    # --- disk full
    case("diskfull-dd", "disk_full", ["dd", "if=/dev/zero", "of=/dev/full", "bs=1k", "count=1"])
    case("diskfull-echo", "disk_full", ["bash", "-c", "echo hello > /dev/full"])
    case("diskfull-cp", "disk_full", ["cp", "big.bin", "/dev/full"], {"big.bin": "x" * 8192})
    case("diskfull-tee", "disk_full", ["sh", "-c", "echo data | tee /dev/full"])

    # --- timeout, signals
    case("timeout-sleep", "timeout", ["timeout", "0.2", "sleep", "5"])
    case("timeout-python", "timeout", ["timeout", "0.3", py, "-c", "while True: pass"])
    case("timeout-bash-loop", "timeout", ["timeout", "0.2", "bash", "-c", "while :; do :; done"])
    case("timeout-kill", "killed", ["timeout", "-s", "KILL", "0.2", "sleep", "5"])
    case("sigkill-sleep", "killed", ["sleep", "5"], kill=signals.SIGKILL)
    case("sigkill-python", "killed", [py, "-c", "import time; print('working', flush=True); time.sleep(5)"], kill=signals.SIGKILL)
    case("sigkill-self", "killed", [py, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    case("sigkill-bash-child", "killed", ["bash", "-c", "sleep 5 & kill -9 $!; wait $!"])
    case("sigint-python", "interrupted", [py, "-c", "import time; time.sleep(5)"], kill=signals.SIGINT)
    case("sigterm-sleep", "interrupted", ["sleep", "5"], kill=signals.SIGTERM)
    case("sighup-sleep", "interrupted", ["sleep", "5"], kill=signals.SIGHUP)
    case("sigterm-make", "interrupted", ["make"], {"Makefile": "all:\n\tsleep 5\n"}, kill=signals.SIGTERM, needs="make")

    # --- syntax errors
    case("bash-syntax-if", "syntax_error", ["bash", "-c", "if then fi"])
    case("bash-syntax-eof", "syntax_error", ["bash", "-c", "echo \"unclosed"])
    case("bash-script-syntax", "syntax_error", ["bash", "s.sh"], {"s.sh": "for x in 1 2\necho $x\ndone\n"})
    case("sh-syntax", "syntax_error", ["sh", "-c", "if then"])
    case("bash-bad-substitution", "syntax_error", ["bash", "-c", "echo ${x:-}}} ${!}x${"])
    case("node-e-syntax", "syntax_error", ["node", "-e", "const = 1"], needs="node")
    case("python-c-syntax", "syntax_error", [py, "-c", "print('a'"])
    case("perl-syntax", "syntax_error", ["perl", "-e", "my $x = ;"], needs="perl")
    case("perl-die", "runtime_exception", ["perl", "-e", "die"], needs="perl")
    case("jq-syntax", "syntax_error", ["jq", ".a[", "x.json"], {"x.json": "{}\n"}, needs="jq")

    # --- java
    case("javac-error", "build_error", ["javac", "A.java"], {"A.java": "class A {\n  int f() { return \"s\"; }\n}\n"}, needs="javac")
    case("javac-symbol", "build_error", ["javac", "A.java"], {"A.java": "class A {\n  void f() { nosuch(); }\n}\n"}, needs="javac")
    case("java-exception", "runtime_exception", ["java", "A.java"],
         {"A.java": "class A {\n  public static void main(String[] a) {\n    Object o = null;\n    o.toString();\n  }\n}\n"}, needs="java")
    case("java-no-class", "import_error", ["java", "-cp", ".", "NoSuchMain"], needs="java")
    case("java-assert", "script_assertion", ["java", "-ea", "A.java"],
         {"A.java": "class A {\n  public static void main(String[] a) {\n    int n = 1;\n    assert n == 2 : \"n must be 2\";\n  }\n}\n"}, needs="java")

    # --- usage errors
    case("ls-bad-option", "usage_error", ["ls", "--frob"])
    case("grep-bad-option", "usage_error", ["grep", "-Q", "x"])
    case("cp-missing-operand", "usage_error", ["cp"])
    case("tar-bad-option", "usage_error", ["tar", "--frob"])
    case("git-log-bad-option", "usage_error", ["git", "log", "--frob"], setup=repo_setup)
    case("sort-bad-option", "usage_error", ["sort", "--frob"])
    case("curl-bad-option", "usage_error", ["curl", "--frobnicate"], needs="curl")
    case("node-bad-option", "usage_error", ["node", "--frobnicate"], needs="node")

    # --- a negative answer (no match, differences found) is not a tool failure: negative_answer
    # --- no diagnosis possible: must stay unknown
    case("false", "unknown", ["false"])
    case("test-f", "negative_answer", ["test", "-f", "nope.txt"])
    case("grep-no-match", "negative_answer", ["grep", "needle", "hay.txt"], {"hay.txt": "straw\n"})
    case("diff-differs", "negative_answer", ["diff", "a.txt", "b.txt"], {"a.txt": "one\ntwo\n", "b.txt": "one\nthree\n"})
    case("bash-exit-2", "unknown", ["bash", "-c", "echo 'checking release notes'; exit 2"])
    case("cmp-differs", "negative_answer", ["cmp", "a.bin", "b.bin"], {"a.bin": "a", "b.bin": "b"})
    case("sqlite-constraint", "database_error", ["sqlite3", ":memory:", "create table t(x unique); insert into t values(1); insert into t values(1);"], needs="sqlite3")


# ------------------------------------------------------------------ running
def _demote(user: str) -> dict[str, object]:
    import pwd

    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def outcome_of(exit_code: int, sig: int | None) -> str:
    """Like the runner: 124 timeout, death by SIGINT/SIGTERM/SIGHUP interrupted, 126/127 error."""
    if exit_code == 124:
        return "timeout"
    if sig in (signals.SIGINT, signals.SIGTERM, signals.SIGHUP):
        return "interrupted"
    if exit_code in (126, 127):
        return "error"
    return "failure"


def run_case(c: Case, scratch: Path) -> dict[str, object] | None:
    work = scratch / c.id
    work.mkdir(parents=True)
    for rel, text in c.files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, mode in c.chmod.items():
        os.chmod(work / rel, mode)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMDSCOPE_", "PYTEST_"))}
    env.update({"HOME": str(scratch / "home"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NO_COLOR": "1",
                "GIT_CONFIG_NOSYSTEM": "1", "CARGO_TARGET_DIR": str(scratch / "cargo-target"),
                "npm_config_cache": str(scratch / "npm-cache"), "CARGO_TERM_COLOR": "never",
                "PYTHONDONTWRITEBYTECODE": "1", "MYPY_CACHE_DIR": str(scratch / "mypy-cache"),
                "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup")),
                "CARGO_HOME": os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))})
    env.update(c.env)
    (scratch / "home").mkdir(exist_ok=True)
    for cmd in c.setup:
        subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True, timeout=120)
    extra = {}
    if c.user:
        os.chmod(work, 0o777)
        for p in work.rglob("*"):
            os.chmod(p, 0o777)
        os.chmod(scratch, 0o755)
        extra = _demote(c.user)
        env["HOME"] = "/tmp"
    cwd = work / c.cwd
    try:
        proc = subprocess.Popen(c.argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, **extra)  # type: ignore[call-overload]
    except FileNotFoundError:
        return {"exit_code": 127, "signal": None, "outcome": "error", "stdout": "", "stderr": ""}
    except PermissionError:
        return {"exit_code": 126, "signal": None, "outcome": "error", "stdout": "", "stderr": ""}
    if c.kill is not None:
        time.sleep(c.kill_after)
        proc.send_signal(c.kill)
    out, err = proc.communicate(timeout=300)
    rc = proc.returncode
    sig = -rc if rc < 0 else None
    exit_code = 128 + sig if sig else rc
    if rc == 0:
        print(f"  ! {c.id}: exited 0, not a failure; skipped", file=sys.stderr)
        return None

    def clean(data: bytes) -> str:
        text = data[-TAIL:].decode("utf-8", "replace")
        return text.replace(str(scratch / c.id), PLACEHOLDER).replace(str(scratch), PLACEHOLDER)

    return {"exit_code": exit_code, "signal": sig, "outcome": outcome_of(exit_code, sig),
            "stdout": clean(out), "stderr": clean(err)}


def main(argv: list[str]) -> int:
    os.environ["PATH"] = os.path.dirname(PYTHON) + os.pathsep + os.environ.get("PATH", "")
    http_port = start_server()
    dead_port = closed_port()
    define_cases(http_port, dead_port)
    tsc = HERE.parents[2] / "node_modules" / ".bin" / "tsc"
    families.define(case, PYTHON, http_port, dead_port, str(tsc) if tsc.exists() else None)
    selected = [c for c in CASES if not argv or c.id.startswith(tuple(argv))]
    OUT.mkdir(exist_ok=True)
    skipped = []
    written = 0
    with tempfile.TemporaryDirectory(prefix="cmdscope-corpus-") as tmp:
        scratch = Path(tmp)
        os.chmod(scratch, 0o755)
        for c in selected:
            tool = c.needs or (c.argv[0] if "/" not in c.argv[0] else None)
            if tool and shutil.which(tool) is None and c.id not in ("exec-not-found",) and not c.id.startswith("exec-"):
                skipped.append(c.id)
                continue
            try:
                result = run_case(c, scratch)
            except Exception as exc:  # a broken setup is reported, not fatal for the other cases
                print(f"  ! {c.id}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if result is None:
                continue
            root = str(HERE.parents[2]) + "/"
            argv_shown = [PLACEHOLDER + "/python" if a in (PYTHON, SYSTEM_PY) else a.replace(root, "") for a in c.argv]
            record = {"id": c.id, "label": c.label, "source": "captured", "note": c.note,
                      "executable": os.path.basename(argv_shown[0]), "argv": argv_shown, "phase": None,
                      "family": families.family_of(c.id), **result}
            (OUT / f"{c.id}.json").write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            written += 1
    print(f"wrote {written} cases to {OUT}; skipped (tool missing): {', '.join(skipped) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
