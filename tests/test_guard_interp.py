"""Interpreter one-liners that delete or run commands through a library call (issue 18).

The code is read as the shell command that does the same, so its target is classified like the
shell ``rm`` target; a call name inside a string literal is not a call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmdscope._guard.interp import commands_in_code
from cmdscope._guard.loader import build_registry
from cmdscope._guard.pathclass import MKTEMP_SENTINEL
from cmdscope._guard.sources import discover

REGISTRY, _ = build_registry(discover({}))


def ids(command: str) -> list[str]:
    return [m.rule_id for m in REGISTRY.check(command)]


@pytest.mark.parametrize(("code", "lang", "expected"), [
    ('unlink glob "src/*"', "perl", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ("unlink <src/*>", "perl", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ('unlink for glob("src/*")', "perl", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ('rmtree "src", "lib"', "perl", [("argv", ["rm", "-r", "-f", "src"]), ("argv", ["rm", "-r", "-f", "lib"])]),
    ("remove_tree($ENV{HOME})", "perl", [("argv", ["rm", "-r", "-f", "~"])]),
    ('system("rm", "-rf", "/")', "perl", [("argv", ["rm", "-rf", "/"])]),
    ('system "git reset --hard"', "ruby", [("shell", "git reset --hard")]),
    ("qx{git clean -fdx}", "perl", [("shell", "git clean -fdx")]),
    ('FileUtils.rm_rf Dir.glob("*")', "ruby", [("argv", ["rm", "-r", "-f", "*"])]),
    ('Dir["src/**/*"].each { |f| File.delete(f) }', "ruby", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ("Pathname.new(Dir.home).rmtree", "ruby", [("argv", ["rm", "-r", "-f", "~"])]),
    ("require('fs').rmSync(require('os').homedir(), {recursive: true})", "node", [("argv", ["rm", "-r", "-f", "~"])]),
    ("fs.readdirSync('src').forEach(f => fs.unlinkSync('src/' + f))", "node", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ("require('fs').rmSync('a.txt')", "node", [("argv", ["rm", "-f", "a.txt"])]),
    ("require('child_process').spawnSync('rm', ['-rf', 'src'])", "node", [("argv", ["rm", "-rf", "src"])]),
    ("import shutil, os; shutil.rmtree(os.path.join(os.path.expanduser('~'), 'x'))", "python",
     [("argv", ["rm", "-r", "-f", "~/x"])]),
    ("import shutil; d = 'src'; shutil.rmtree(d)", "python", [("argv", ["rm", "-r", "-f", "src"])]),
    ("import tempfile, shutil; d = tempfile.mkdtemp(); shutil.rmtree(d)", "python",
     [("argv", ["rm", "-r", "-f", MKTEMP_SENTINEL])]),
    ("import os, glob; list(map(os.remove, glob.glob('src/*')))", "python", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ("from pathlib import Path\nfor p in Path('src').rglob('*'): p.unlink()", "python",
     [("argv", ["rm", "-r", "-f", "src/*"])]),
    ("import os; os.execvp('rm', ['rm', '-rf', '/'])", "python", [("argv", ["rm", "rm", "-rf", "/"])]),
    ('exec("import shutil; shutil.rmtree(\'src\')")', "python", [("argv", ["rm", "-r", "-f", "src"])]),
    ("array_map('unlink', glob('src/*'));", "php", [("argv", ["rm", "-r", "-f", "src/*"])]),
    ("import tempfile, os; d = tempfile.mkdtemp(); os.system(f'rm -rf {d}')", "python",
     [("shell", f"rm -rf {MKTEMP_SENTINEL}")]),
    ("import os, sys; os.system(f'rm -rf {sys.argv[1]}')", "python", [("shell", "rm -rf $UNKNOWN")]),
    ('my $d = "src"; system("rm -rf $d")', "perl", [("shell", "rm -rf src")]),
    ("my $d = 'src'; system('rm -rf $d')", "perl", [("shell", "rm -rf $d")]),
    ('d = Dir.mktmpdir; system("rm -rf #{d}")', "ruby", [("shell", f"rm -rf {MKTEMP_SENTINEL}")]),
    ("subprocess.check_call('git clean -fdx'.split())", "python", [("argv", ["git", "clean", "-fdx"])]),
    ("os.system('rm -rf %s' % 'src')", "python", [("shell", "rm -rf src")]),
    ("os.system('rm -rf {}'.format(d))", "python", [("shell", "rm -rf $UNKNOWN")]),
    ("import os; [os.unlink(f) for f in os.listdir()]", "python", [("argv", ["rm", "-r", "-f", "./*"])]),
    ("require('fs').rmSync(require('path').join(require('os').homedir(), 'p'), {recursive: true})", "node",
     [("argv", ["rm", "-r", "-f", "~/p"])]),
    ("__import__('os').system('rm -rf ' + os.environ['HOME'])", "python", [("shell", "rm -rf ~")]),
    ("os.system('git push --force origin ' + branch)", "python", [("shell", "git push --force origin $UNKNOWN")]),
    ("echo `rm -rf /`;", "php", [("shell", "rm -rf /")]),
])
def test_library_calls_become_the_equivalent_command(code: str, lang: str, expected: list[object]) -> None:
    assert commands_in_code(code, lang) == expected


@pytest.mark.parametrize(("code", "lang"), [
    ('print "unlink"', "perl"),
    ("import shutil; print(shutil.rmtree.__doc__)", "python"),
    ("import shutil; help(shutil.rmtree)", "python"),
    ('print("shutil.rmtree(\'src\')")', "python"),
    ('puts "FileUtils.rm_rf(src)"', "ruby"),
    ("console.log(`fs.rmSync('src', {recursive: true})`)", "node"),
    ("# shutil.rmtree('src')\nprint(1)", "python"),
    ("import glob; print(glob.glob('src/*'))", "python"),
    ("require('fs').rmdirSync('src')", "node"),
    ("import os; os.rmdir('src')", "python"),
    ("x = [1, 2]; x.remove(1)", "python"),
    ("/re/.exec('rm -rf /')", "node"),
    ("fs.readdirSync('src').filter(f => f.endsWith('.map')).forEach(f => fs.unlinkSync('src/' + f))", "node"),
])
def test_mentions_and_non_deleting_calls_are_not_commands(code: str, lang: str) -> None:
    assert commands_in_code(code, lang) == []


@pytest.mark.parametrize(("command", "rule"), [
    ("perl -e 'unlink glob \"src/*\"'", "fs.rm-recursive-worktree"),
    ("perl -MFile::Path -e 'rmtree \"src\"'", "fs.rm-recursive-worktree"),
    ("perl5.36 -MFile::Path=rmtree -e 'rmtree($ENV{HOME})'", "fs.rm-recursive-home"),
    ("python3 -c 'import shutil, sys; shutil.rmtree(sys.argv[1])' src", "fs.rm-recursive-worktree"),
    ("ruby -rfileutils -e 'FileUtils.rm_rf(ARGV)' lib src", "fs.rm-recursive-worktree"),
    ("python3 -c 'from subprocess import run; run([\"git\", \"reset\", \"--hard\"])'", "git.reset-hard"),
    ("ruby -rpathname -e 'Pathname.new(Dir.home).rmtree'", "fs.rm-recursive-home"),
    ("node -e \"require('fs').promises.rm('.git', {recursive: true})\"", "fs.rm-recursive-worktree"),
    ("php -r 'shell_exec(\"git push --force origin main\");'", "git.push-force-shared"),
    ("python3 - <<'EOF'\nimport shutil, pathlib\nshutil.rmtree(pathlib.Path.home() / 'work')\nEOF",
     "fs.rm-recursive-below-home"),
])
def test_one_liners_are_judged_like_the_shell_command(command: str, rule: str) -> None:
    assert rule in ids(command)


@pytest.mark.parametrize("command", [
    "perl -e 'print \"unlink\"'",
    "python -c \"import shutil; print(shutil.rmtree.__doc__)\"",
    "perl -MFile::Temp=tempdir -MFile::Path -e 'my $d = tempdir(); rmtree($d)'",
    "ruby -rtmpdir -rfileutils -e 'Dir.mktmpdir { |d| FileUtils.rm_rf(File.join(d, \"x\")) }'",
    "d=$(mktemp -d) && python3 -c \"import shutil; shutil.rmtree('$d/sub')\"",
    "perl -e 'unlink glob \"*.log\"'",
    "python3 -c 'import shutil; shutil.rmtree(\"node_modules\")'",
    "python3 -c 'import shutil, sys; shutil.rmtree(sys.argv[1])' /tmp/scratch-1",
    "python3 -c \"import os; [os.remove(f) for f in os.listdir('.') if f.endswith('.pyc')]\"",
])
def test_scoped_or_harmless_one_liners_stay_quiet(command: str) -> None:
    assert ids(command) == []


# Perl regex literals (m//, /.../, s///, tr///, qr//) are patterns: a command written inside one
# is searched for or replaced, never run (DANGER_POLICY rule 1). The code around them still is.
REGEX_ROWS = [row for row in map(json.loads, (Path(__file__).parent / "data" / "danger_corpus.jsonl").read_text().splitlines())
              if row["command"].startswith("perl") and any(w in row["note"] for w in ("regex", "pattern", "///"))]


@pytest.mark.parametrize("code", [
    "if ($x =~ /rm -rf \\//) { print }",
    "print if m{system(\"rm -rf ~\")}",
    "print if m!`rm -rf /`!",
    "print if /`git reset --hard`/",
    "s/`git reset --hard`/[redacted]/g",
    "s{qx(git clean -fdx)}\n {x}g",
    "my $re = qr/system(\"rm -rf ~\")/; print 1 if $ARGV[0] =~ $re",
    "print unless /rmtree(\"src\")/",
    "@f = grep { /unlink glob \"src\\/*\"/ } <STDIN>",
])
def test_perl_regex_literals_are_not_code(code: str) -> None:
    assert commands_in_code(code, "perl") == []


@pytest.mark.parametrize(("code", "expected"), [
    ("system(\"rm -rf /\") if $x =~ /y/", [("shell", "rm -rf /")]),
    ("print 1 if \"a\" =~ /a/; `rm -rf /`", [("shell", "rm -rf /")]),
    ("my $n = 10 / 2; system(\"rm -rf ~\") / 3", [("shell", "rm -rf ~")]),  # divisions, not a pattern
    ("tr/a-z/A-Z/; y/a/b/; system(\"git reset --hard\")", [("shell", "git reset --hard")]),
    ("split /,/, $l; m/x/ or exec \"git clean -fdx\"", [("shell", "git clean -fdx")]),
    ("my %h = (s => 1, y => 2); system(\"rm -rf ~\")", [("shell", "rm -rf ~")]),  # barewords, not s///, y///
    ("print -s $f; system(\"rm -rf ~\")", [("shell", "rm -rf ~")]),  # the -s file test
    ("s/x/system(\"rm -rf ~\")/e", [("shell", "rm -rf ~")]),  # /e: the replacement is code
    ("print if /@{[ `rm -rf ~` ]}/", [("shell", "rm -rf ~")]),  # code interpolated into the pattern
    ("print if m/unterminated; system(\"rm -rf ~\")", [("shell", "rm -rf ~")]),  # no pattern: still code
])
def test_code_around_perl_regex_literals_still_runs(code: str, expected: list[object]) -> None:
    assert commands_in_code(code, "perl") == expected


@pytest.mark.parametrize("row", REGEX_ROWS, ids=lambda row: row["command"][:60])
def test_perl_regex_corpus_rows(row: dict) -> None:
    """The corpus rows for Perl regex literals, each: flagged exactly when labelled dangerous."""
    assert bool(ids(row["command"])) == (row["label"] == "dangerous")
