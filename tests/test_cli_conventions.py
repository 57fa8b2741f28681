"""One CLI convention (issue 21.8-21.10): bad arguments are one line naming the argument and
exit 2 (never a traceback, never a record written first); --format with --json as an alias;
--since takes today/yesterday and shows its default; unknown filter values are rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cmdscope_cli, read_ledger


def cli(*args: str, cwd: Path | None = None):
    return cmdscope_cli(*args, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("args,argument", [
    (("ledger", "tail", "-n", "-3"), "argument -n"),
    (("ledger", "query", "--limit", "-1"), "argument --limit"),
    (("ledger", "query", "--kind", "bogus"), "argument --kind"),
    (("ledger", "query", "--outcome", "passed"), "argument --outcome"),
    (("report", "failures", "--by", "colour"), "argument --by"),
    (("report", "denials", "--since", "tomorrow-ish"), "argument --since"),
    (("packet", "list", "--since", "last week"), "argument --since"),
    (("packet", "end", "--format", "yaml"), "argument --format"),
    (("ledger", "query", "--since", "last tuesday"), "argument --since"),
    (("report", "packets", "-o", "/no/dir/x"), "argument -o/--output"),
    (("report", "html", "-o", "/no/dir/x"), "argument -o/--output"),
    (("heartbeat", ""), "argument name"),
    (("gate", "run", "", "--", "true"), "argument name"),
    (("gate", "run", "a\nb", "--", "true"), "argument name"),
    (("demo", "--dir", "/proc/x"), "argument --dir"),
    (("integrations", "install", "claude-code", "--dir", "/no/such/dir"), "--dir"),
])
def test_bad_argument_is_one_line_exit_2_and_writes_nothing(args: tuple[str, ...], argument: str,
                                                            ledger_path: Path) -> None:
    cli("run", "--", "true")
    before = ledger_path.read_bytes()
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    errors = done.stderr.splitlines()  # one line: no usage block before it
    assert len(errors) == 1 and argument in errors[0] and "Traceback" not in done.stderr, done.stderr
    assert ledger_path.read_bytes() == before  # `gate run ''` used to write a record verify rejects
    assert cli("ledger", "verify").returncode == 0


def test_format_everywhere_with_json_alias_and_since_today(ledger_path: Path) -> None:
    for args in (("gate", "run", "g", "--format", "json", "--", "true"),
                 ("gate", "run", "g", "--json", "--", "true"),
                 ("heartbeat", "nightly", "--format", "json")):
        done = cli(*args)
        assert done.returncode == 0 and json.loads(done.stdout)["kind"] in ("gate", "heartbeat"), done.stderr
    for flag in (("--format", "json"), ("--json",)):
        lines = cli("ledger", "query", "--since", "today", *flag).stdout.splitlines()
        assert len(lines) == len(read_ledger(ledger_path)) == 5 and all(json.loads(line)["kind"] for line in lines)
    assert cli("ledger", "tail", "--format", "table").stdout.startswith("TIME (UTC)")
    assert cli("ledger", "query", "--since", "yesterday", "--kind", "gate", "--format", "json").stdout.count("\n") == 2
    assert cli("report", "failures", "--since", "today").returncode == 0


def test_help_shows_since_default_and_every_option_has_help() -> None:
    out = cli("ledger", "query", "--help").stdout
    assert "today" in out and "(default: everything)" in out
    for args in (("ledger", "query"), ("ledger", "tail"), ("gate", "run"), ("heartbeat",), ("check",), ("doctor",),
                 ("policy", "show"), ("integrations",)):
        text = cli(*args, "--help").stdout
        options = text.split("options:", 1)[1]
        for line in options.splitlines():
            stripped = line.strip()
            if stripped.startswith("-") and "  " not in stripped:  # help text would follow on the same line
                nxt = options.splitlines()[options.splitlines().index(line) + 1]
                assert nxt.startswith(" " * 10), f"{args}: option without help: {stripped}"


def test_limit_returns_the_newest_matches_oldest_first(ledger_path: Path) -> None:
    """`ledger query --limit N` is "the last N that match" (what `tail` means), not the first N."""
    for i in range(5):
        assert cli("gate", "run", f"g{i}", "--", "true").returncode == 0
    cli("run", "--", "true")  # a newer record that does not match
    done = cli("ledger", "query", "--kind", "gate", "--limit", "2", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["cmdscope.gate.name"] for line in done.stdout.splitlines()] == ["g3", "g4"]
    assert cli("ledger", "query", "--kind", "gate", "--limit", "2").stdout.count("\n") == 3  # header + 2


def test_packet_and_pipeline_views_take_format(tmp_path: Path, ledger_path: Path) -> None:
    """packet end/status/list and pipeline run print table, json (also as --json) or md."""
    from test_packets import make_repo

    repo = make_repo(tmp_path / "repo")
    assert cli("packet", "start", "PKT-F", "--title", "fmt", cwd=repo).returncode == 0
    status = cli("packet", "status", "--format", "json", cwd=repo)
    assert json.loads(status.stdout)["packet"] == "PKT-F", status.stderr
    end = cli("packet", "end", "--format", "json", cwd=repo)
    assert json.loads(end.stdout)["cmdscope.packet"] == "PKT-F", end.stderr
    for flag in (("--format", "json"), ("--json",)):
        listed = json.loads(cli("packet", "list", "--since", "today", *flag, cwd=repo).stdout)
        assert [r["cmdscope.packet"] for r in listed["ended"]] == ["PKT-F"]
    md = cli("packet", "list", "--format", "md", cwd=repo).stdout.splitlines()
    assert md[0].startswith("| ENDED (UTC) | PACKET") and md[1].startswith("|---") and "| PKT-F |" in md[2]
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: fmt\nstages:\n  - name: build\n    steps:\n      - run: [\"true\"]\n")
    done = cli("pipeline", "run", str(pipeline), "--format", "md", cwd=repo)
    lines = done.stdout.splitlines()
    assert lines[:2] == ["| FIELD | VALUE |", "|---|---|"] and "| cicd.pipeline.name | fmt |" in lines, done
    done = cli("pipeline", "run", str(pipeline), "--format", "json", cwd=repo)
    assert json.loads(done.stdout)["cicd.pipeline.name"] == "fmt", done.stderr
