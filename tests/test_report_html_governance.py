"""`cmdscope report html` carries the governance loop (issue 19): the ratings per repository, packet
and actor with every component's value, weight and tested trend, the governance figures, and the
weekly time to green, all from real CLI runs, escaped, and equal to what `cmdscope rate`,
`report governance` and `report failures --weekly` print."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import cmdscope_cli
from test_packets import cli
from test_time_to_green import weekly_ledger

HOSTILE = "<img src=x onerror=alert(1)>"


class Tables(HTMLParser):
    """Cell texts (entities decoded) of every table row, per ``<section id>``."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {}
        self.section: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id")
            self.sections[self.section or ""] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.section:
            self.sections[self.section].append(self.row)
            self.row = None
        elif tag == "section":
            self.section = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_html_report_shows_ratings_governance_and_weekly_time_to_green(tmp_path: Path, ledger_path: Path) -> None:
    """Three weeks of real records (tests/timeshift.py) plus this week's heartbeats and a command
    by an actor whose name is markup: the page's ratings are `cmdscope rate`'s numbers, every
    component shows value, weight, trend, test, p and verdict (time to green is a significant
    `up`), the governance figures pass or have no data as `report governance` says, the weekly
    table calls the class improved, and the actor's name is text, not markup."""
    weekly_ledger(tmp_path, ledger_path)
    repo = tmp_path / "repo"
    for _ in range(2):
        assert cli(repo, "heartbeat", "nightly", "--every", "1h").returncode == 0
    assert cli(repo, "run", "--", "true", env={"CMDSCOPE_ACTOR": HOSTILE}).returncode == 0

    out = tmp_path / "report.html"
    done = cmdscope_cli("report", "html", "-o", str(out), "--since", "30d", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    parser = Tables()
    parser.feed(html)
    tables = parser.sections
    assert {"ratings", "governance", "time-to-green"} <= set(tables)

    rated = json.loads(cmdscope_cli("rate", "--format", "json", capture_output=True, text=True).stdout)["rows"]
    summary = [r for r in tables["ratings"] if len(r) == 6 and r[0] != "scope"]
    assert summary == [[r["scope"], r["subject"], f"{r['score']:.0f}", r["letter"],
                        "-" if r["previous"] is None else f"{r['previous']:.0f}", r["trend"]] for r in rated]
    assert {r["scope"] for r in rated} == {"repository", "packet", "actor"}
    assert ["actor", HOSTILE] in [row[:2] for row in summary]

    components = [r for r in tables["ratings"] if len(r) == 8 and r[0] != "component"]
    expected = [[c["component"], f"{c['value']:.2f}", f"{c['weight']:.2f}",
                 "-" if c["previous"] is None else f"{c['previous']:.2f}", c["trend"], c["significance"]["test"],
                 "-" if c["significance"]["p_value"] is None else f"{c['significance']['p_value']:.3g}",
                 c["significance"]["verdict"]] for r in rated for c in r["components"]]
    assert components == expected
    repo_row = next(r for r in rated if r["scope"] == "repository" and r["subject"] == str(repo))
    ttg = next(c for c in repo_row["components"] if c["component"] == "time_to_green")
    assert ttg["trend"] == "up" and ttg["significance"]["verdict"] == "significant"
    assert ttg["significance"]["test"] == "mann-whitney-u" and ttg["significance"]["p_value"] < 0.05
    assert {c["weight"] for c in repo_row["components"] if c["component"] == "failure_density"} == {0.25}

    gov = {r[0]: r for r in tables["governance"][1:]}
    assert gov["schedule on time"][1:4] == ["100.0%", ">= 99%", "pass"]
    assert gov["auto merge rate"][3] == "no data"
    printed = json.loads(cmdscope_cli("report", "governance", "--format", "json", capture_output=True,
                                      text=True).stdout)
    assert [f["state"] for f in printed["figures"]] == [gov["auto merge rate"][3], gov["schedule on time"][3]]

    weekly = {r[0]: r for r in tables["time-to-green"][1:]}
    assert weekly["negative_answer"][1] == "10m15s (6)" and weekly["negative_answer"][-1] == "improved"
    assert weekly["command_not_found"][-1] == "no significant change"
    assert "(all classes)" in weekly

    plain = tmp_path / "plain.html"
    assert cmdscope_cli("report", "html", "-o", str(plain), "--no-governance", capture_output=True).returncode == 0
    assert 'id="ratings"' not in plain.read_text() and 'data-chart="failure-classes"' in plain.read_text()


def test_shared_pass_equals_each_section_computed_alone(tmp_path: Path) -> None:
    """The page reads the ledger once (a scan for the charts' and governance figures' lines up to
    where the ratings begin, every record decoded from there): each section equals what its own
    pass gives over the same rotated ledger (40 days from bench/make_ledger.py, so both parts of
    the pass and several segments are used; too few records for a packet to end) at the same clock: the charts and packet rows as
    `--no-governance` reads them, the ratings as `cmdscope rate`, the weekly time to green as
    `report failures --weekly`, the governance figures as `report governance`."""
    import subprocess
    import sys

    from conftest import ROOT

    from cmdscope._ledger_reader import read_records
    from cmdscope._reports import governance, html, time_to_green
    from cmdscope._reports.common import LedgerStream
    from cmdscope._sdlc import rating
    from cmdscope._sdlc.governance import load_policy

    ledger = tmp_path / "big" / "ledger.jsonl"
    ledger.parent.mkdir()
    now = 1_796_000_000 * 10**9
    made = subprocess.run([sys.executable, str(ROOT / "bench" / "make_ledger.py"), str(ledger), "--records", "20000",
                           "--days", "40", "--segment-mb", "2", "--end-ns", str(now - 10**9)],
                          check=False, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert len(list(ledger.parent.iterdir())) > 4
    policy = load_policy(None)
    day = 86400 * 10**9
    since = now - 60 * day

    gov = html.Governance(policy, now)
    assert gov.decode_since > now - 40 * day  # the scanned part holds records
    shared = html.shared_pass(str(ledger), since, gov)
    alone = html.shared_pass(str(ledger), since, None)
    assert shared.failed == alone.failed > 0 and shared.denials == alone.denials and shared.danger == alone.danger
    assert shared.by_class_day == alone.by_class_day and shared.commits_day == alone.commits_day
    rows = shared.packets.finish()
    assert rows == alone.packets.finish()
    assert min(d for _, d in shared.by_class_day) * day < gov.decode_since  # the scanned part counts
    assert shared.figures(rows) == alone.figures(rows)

    weights = policy.rating.weights
    window = policy.rating.window_days * day
    rated = rating.rate(gov.tallier.tallies, weights)
    assert rated == rating.rate_ledger(str(ledger), now - window, now, weights)
    assert {r["scope"] for r in rated} == {"repository", "packet", "actor"}
    records = rating.tally(read_records(str(ledger), since_ns=now - 2 * window), now - 2 * window, now - window, now + 1)
    assert rated == rating.rate(records, weights)

    weekly = gov.weekly.report(top=10, now_ns=now)
    alone_weekly = time_to_green.weekly(read_records(str(ledger), since_ns=gov.weekly.read_start,
                                                     fields=time_to_green.FIELDS), now + 1, top=10, now_ns=now)
    assert weekly == alone_weekly and weekly["totals"]["this_week"]["recovered"] > 0

    fsince = now - policy.targets.window_days * day
    stream = LedgerStream(str(ledger), "test", since_ns=fsince, kinds=governance.KINDS)
    figures = governance.build(stream.records, policy.targets)
    assert gov.figures.result(policy.targets) == figures
    assert figures["figures"][1]["state"] != "no data"


def test_bad_policy_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "gov.yaml"
    bad.write_text("rating:\n  weights:\n    failure_densty: 1\n")
    out = cmdscope_cli("report", "html", "-o", str(tmp_path / "r.html"), "--policy", str(bad),
                       capture_output=True, text=True)
    assert out.returncode == 2 and "failure_densty" in out.stderr and len(out.stderr.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_unreadable_ledger_is_one_line(tmp_path: Path) -> None:
    """A ledger in a directory that does not exist: one line naming it, exit 2, for the
    governance commands and every report behind `cmdscope report`."""
    missing = str(tmp_path / "no-such-dir" / "ledger.jsonl")
    for args in (["rate"], ["report", "html", "-o", str(tmp_path / "r.html")], ["report", "governance"],
                 ["report", "packets"], ["report", "failures", "--weekly"]):
        out = cmdscope_cli(*args, "--ledger", missing, capture_output=True, text=True)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.splitlines() == [f"cmdscope {' '.join(args[:2]) if args[0] == 'report' else 'rate'}: "
                                           f"ledger {missing}: no such file or directory"], args


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="needs the Debian 'chromium' package")
def test_sections_open_without_console_errors(tmp_path: Path, ledger_path: Path) -> None:
    """The page with the new sections still opens in headless Chromium without a console error."""
    from test_report_html import chromium, console_errors

    weekly_ledger(tmp_path, ledger_path)
    out = tmp_path / "report.html"
    assert cmdscope_cli("report", "html", "-o", str(out), capture_output=True).returncode == 0
    dom = chromium(tmp_path, out.as_uri(), "--dump-dom")
    assert console_errors(dom.stderr) == [] and 'id="ratings"' in dom.stdout and 'id="time-to-green"' in dom.stdout
