"""``cmdscope registry sync`` end to end: a team's bare git repository (and a .tar.gz over file://)
as the source, the real CLI, ``cmdscope run`` enforcing what was pushed, failures keeping the last
good registry, records carrying the digest, textfile metrics and the audit check."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import cmdscope_cli, read_ledger

DANGER = """\
rules:
  - id: team.drop-prod-cache
    title: Flushing the production cache cluster
    category: db_destroy
    severity: critical
    rationale: The team's production cache takes an hour to warm up again.
    playbook: docs/playbooks/db_destroy.md
    match: {executable: [acme-cache], subcommand: [flush]}
    examples:
      - acme-cache flush --all
    near_misses:
      - acme-cache stats
"""
REDACTION = """\
rules:
  - name: acme-ticket-key
    keywords: [acme-tk-]
    pattern: 'ACME-TK-[0-9a-f]{24}'
    examples:
      - 'deploy --key ACME-TK-0123456789abcdef01234567'
    near_misses:
      - 'ACME-TK-short'
"""
SECRET = "ACME-TK-" + "4f2a9c" * 4


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path]:
    """(bare repository, a clone to push from) holding version 1 of the team registry."""
    bare = tmp_path / "team-registry.git"
    git("init", "--quiet", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    work = tmp_path / "work"
    git("clone", "--quiet", str(bare), str(work), cwd=tmp_path)
    git("checkout", "--quiet", "-b", "main", cwd=work)
    (work / "registry.yaml").write_text('version: "2026.12.1"\n')
    (work / "redaction").mkdir()
    (work / "redaction" / "acme.yaml").write_text(REDACTION)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "v1: redaction of ACME ticket keys", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    return bare, work


def push(work: Path, message: str) -> None:
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)


def sync(*args: str) -> subprocess.CompletedProcess[str]:
    return cmdscope_cli("registry", "sync", *args, capture_output=True, text=True, timeout=120)


def test_a_pushed_rule_is_enforced_on_the_next_command_after_one_sync(team: tuple[Path, Path], tmp_path: Path) -> None:
    """Push a danger rule; one sync later `cmdscope run` denies the command (exit 126, not run)
    and the record names the team registry's digest; prints the push-to-enforcement latency."""
    bare, work = team
    assert sync("--from", str(bare)).returncode == 0
    marker = tmp_path / "ran"
    command = ["sh", "-c", f"touch {marker}", "acme-cache"]
    (work / "danger").mkdir()
    (work / "danger" / "acme.yaml").write_text(DANGER)
    (work / "registry.yaml").write_text('version: "2026.12.2"\n')
    push(work, "v2: never flush the production cache")

    pushed = time.monotonic()
    done = sync()  # the source is remembered from the first sync
    synced = time.monotonic()
    run = cmdscope_cli("run", "--", "acme-cache", "flush", "--all", capture_output=True, text=True, timeout=120)
    enforced = time.monotonic()
    print(f"\npush-to-enforcement latency: sync {synced - pushed:.2f} s + next command "
          f"{enforced - synced:.2f} s = {enforced - pushed:.2f} s")
    assert done.returncode == 0, done.stderr
    assert "2026.12.2" in done.stdout
    assert run.returncode == 126, run.stdout + run.stderr
    assert "team.drop-prod-cache" in run.stderr
    assert not marker.exists() and command  # nothing ran
    record = read_ledger(Path(os.environ["CMDSCOPE_LEDGER"]))[-1]
    assert record["kind"] == "denial"
    active = json.loads(sync("--status", "--json").stdout)["active"]
    assert record["cmdscope.registry.digest"] == f"sha256:{active['digest']}"
    assert record["cmdscope.registry.team_version"] == "2026.12.2"
    assert "+user:" in record["cmdscope.registry.version"]


def test_a_pushed_redaction_rule_masks_secrets_in_records(team: tuple[Path, Path]) -> None:
    """The team's redaction overlay applies to `cmdscope run` records and `cmdscope redact`."""
    bare, _ = team
    before = cmdscope_cli("redact", input=f"key {SECRET}\n", capture_output=True, text=True).stdout
    assert SECRET in before
    assert sync("--from", str(bare)).returncode == 0
    after = cmdscope_cli("redact", input=f"key {SECRET}\n", capture_output=True, text=True).stdout
    assert after == "key [REDACTED:acme-ticket-key]\n"
    cmdscope_cli("run", "--", "echo", SECRET, capture_output=True, timeout=120)
    ledger = Path(os.environ["CMDSCOPE_LEDGER"]).read_text()
    assert SECRET not in ledger and "[REDACTED:acme-ticket-key]" in ledger


def test_a_push_that_fails_lint_keeps_the_last_good_registry(team: tuple[Path, Path]) -> None:
    """A rule whose example does not match is refused (exit 1, the lint message on stderr); the
    previously active registry stays active and is still enforced."""
    bare, work = team
    assert sync("--from", str(bare)).returncode == 0
    good = json.loads(sync("--status", "--json").stdout)["active"]["digest"]
    (work / "redaction" / "acme.yaml").write_text(REDACTION.replace("ACME-TK-0123", "ACME-XX-0123"))
    push(work, "broken example")
    bad = sync()
    assert bad.returncode == 1
    assert "field 'examples': not masked" in bad.stderr and "last good registry stays active" in bad.stderr
    status = json.loads(sync("--status", "--json").stdout)
    assert status["active"]["digest"] == good
    assert status["state"]["ok"] is False and status["state"]["latest"]["digest"] != good
    out = cmdscope_cli("redact", input=SECRET, capture_output=True, text=True).stdout
    assert out == "[REDACTED:acme-ticket-key]"


def test_a_pinned_digest_must_match(team: tuple[Path, Path]) -> None:
    """--sha256 (or CMDSCOPE_REGISTRY_SYNC_SHA256) refuses content with another digest."""
    bare, _ = team
    wrong = sync("--from", str(bare), "--sha256", "0" * 64)
    assert wrong.returncode == 1 and "differs from the pinned" in wrong.stderr
    assert json.loads(sync("--status", "--json").stdout)["active"] is None
    digest = json.loads(sync("--status", "--json").stdout)["state"]["latest"]["digest"]
    right = cmdscope_cli("registry", "sync", "--from", str(bare), capture_output=True, text=True,
                         env={"CMDSCOPE_REGISTRY_SYNC_SHA256": f"sha256:{digest}"})
    assert right.returncode == 0, right.stderr


def test_tar_gz_over_a_url_and_textfile_metrics(tmp_path: Path, team: tuple[Path, Path]) -> None:
    """A .tar.gz fetched by URL (file:// here; https:// the same way) activates; --textfile writes
    the metrics the CmdscopeRegistryBehind alert reads."""
    _, work = team
    archive = tmp_path / "team.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work / "registry.yaml", "team/registry.yaml")
        tar.add(work / "redaction", "team/redaction")
    metrics = tmp_path / "textfile"
    done = sync("--from", archive.as_uri(), "--textfile", str(metrics))
    assert done.returncode == 0, done.stderr
    text = (metrics / "cmdscope_registry.prom").read_text()
    assert 'cmdscope_registry_info{cmdscope_registry_team_version="2026.12.1",' in text
    assert "cmdscope_registry_sync_ok 1.000" in text
    published = float(text.split("\ncmdscope_registry_published_timestamp_seconds ")[1].split()[0])
    assert published > 0
    files = sorted(p for p in (work / "redaction").iterdir())
    h = hashlib.sha256()
    for rel, path in [("registry.yaml", work / "registry.yaml"), *((f"redaction/{p.name}", p) for p in files)]:
        data = path.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode() + data)
    assert f'cmdscope_registry_digest="{h.hexdigest()}"' in text


def test_bad_usage_is_a_clear_one_line_error(tmp_path: Path) -> None:
    """No source: exit 2; an unreachable source: exit 1 with git's reason, nothing activated."""
    none = sync()
    assert none.returncode == 2 and "no source" in none.stderr and "Traceback" not in none.stderr
    missing = sync("--from", str(tmp_path / "nope.git"))
    assert missing.returncode == 1 and "cannot fetch" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_audit_checks_the_team_registry(team: tuple[Path, Path], tmp_path: Path) -> None:
    """`cmdscope audit --check registry_sync` passes on the latest and fails when a newer
    registry could not be activated for more than a day."""
    bare, work = team
    repo = tmp_path / "repo"
    git("init", "--quiet", str(repo), cwd=tmp_path)
    assert sync("--from", str(bare)).returncode == 0
    ok = cmdscope_cli("audit", "--checks", "registry_sync", "--format", "json", cwd=repo, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (work / "redaction" / "acme.yaml").write_text(REDACTION.replace("ACME-TK-0123", "ACME-XX-0123"))
    push(work, "broken example")
    assert sync().returncode == 1
    state_file = Path(os.environ["XDG_STATE_HOME"]) / "cmdscope" / "registry" / "sync.json"
    state = json.loads(state_file.read_text())
    state["latest"]["published"] -= 2 * 86400  # the team published it two days ago
    state_file.write_text(json.dumps(state))
    behind = cmdscope_cli("audit", "--checks", "registry_sync", "--format", "json", cwd=repo, capture_output=True, text=True)
    assert behind.returncode != 0
    assert "older than the team's" in behind.stdout
