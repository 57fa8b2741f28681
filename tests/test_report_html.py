"""The HTML report opens in headless Chromium (Debian package `chromium`) without console errors,
every chart renders, and a screenshot is saved."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import cmdscope_cli
from test_packets import cli, make_repo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian 'chromium' package (apt-get install -y chromium)")
CHARTS = {"packet-duration", "failure-density", "failure-classes", "denials-danger", "commit-cadence"}


def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", *extra, url],
        capture_output=True, text=True, timeout=120,
    )


def console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def test_detector_sees_console_errors(tmp_path: Path) -> None:
    """Control: a page that logs an error and throws is caught by the console scan."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); throw new Error('kaboom');</script></body></html>")
    errors = console_errors(chromium(tmp_path, bad.as_uri(), "--dump-dom").stderr)
    assert any("boom" in e for e in errors) and any("kaboom" in e for e in errors)


def test_report_renders_every_chart(tmp_path: Path, ledger_path: Path) -> None:
    """A real session (packets, failures, denial, commits) gives a page with no network reference,
    no console error, all five charts marked rendered, and a non-empty screenshot."""
    repo = make_repo(tmp_path / "r")
    for i in range(3):
        cli(repo, "packet", "start", f"PKT-{i}")
        cli(repo, "run", "--", "sh", "-c", "echo 'E   AssertionError' >&2; exit 1")
        cli(repo, "run", "--", "true")
        cli(repo, "run", "--shell", "git push --force origin main")
        (repo / f"f{i}.txt").write_text("x\n")
        cli(repo, "gate", "run", "tests", "--", "true")
        subprocess.run(["git", "add", "."], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-qm", f"c{i}"], cwd=repo, check=True)
        cli(repo, "packet", "commit-hook")
        cli(repo, "packet", "end")
    out = tmp_path / "report.html"
    done = cmdscope_cli("report", "html", "-o", str(out), "--since", "1d", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert not re.search(r"(src|href)=\"https?://", html)
    dom = chromium(tmp_path, out.as_uri(), "--dump-dom")
    assert console_errors(dom.stderr) == []
    rendered = dict(re.findall(r'data-chart="([a-z-]+)"[^>]*data-rendered="(\w+)"', dom.stdout))
    assert rendered == {name: "ok" for name in CHARTS}
    assert 'data-charts-rendered="5"' in dom.stdout
    assert html.count('class="mark"') >= 3 + 3 + 1 + 1 + 1  # points, points, a day bar, a rule bar, a commit bar
    shot = tmp_path / "report.png"
    chromium(tmp_path, out.as_uri(), f"--screenshot={shot}", "--window-size=1400,1800")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
