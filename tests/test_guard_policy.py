"""Policy engine: layering, precedence, modes, and that no deny lacks a rule id."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmdscope._guard import Decision, Guard, GuardConfigError, GuardInvariantError, GuardModeError
from cmdscope._guard.sources import trust


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    for var in ("CMDSCOPE_POLICY_PATH", "CMDSCOPE_REGISTRY_PATH", "CMDSCOPE_GUARD_MODE",
                "CMDSCOPE_ACTOR", "CMDSCOPE_PHASE"):
        monkeypatch.delenv(var, raising=False)


def _policy(path: Path, rules: str, name: str = "team") -> Path:
    path.write_text(f"name: {name}\nversion: 2.1.0\nrules:\n{rules}")
    return path


def test_default_denies_critical_warns_high_allows_rest() -> None:
    """The shipped policy: critical -> deny (enforced), high -> warn, medium -> allow with matches."""
    guard = Guard.load()
    d = guard.decide("git push --force origin main", shell=True)
    assert (d.action, d.denied, d.rule_id) == ("deny", True, "default.deny-critical")
    assert d.policy_source == "registry/policies/default.yaml#default@1.0.0"
    assert d.playbook.endswith("/git_remote.md#git-push-force-shared") and Path(d.playbook.split("#")[0]).is_file()
    assert "git.push-force-shared" in d.message
    d = guard.decide(["git", "reset", "--hard"], shell=False)
    assert (d.action, d.denied, d.severity) == ("warn", False, "high")
    d = guard.decide("git branch -D old", shell=True)
    assert (d.action, d.rule_id, d.severity) == ("allow", None, "medium")
    d = guard.decide("ls -la", shell=True)
    assert (d.action, d.matches, d.severity) == ("allow", [], None)


def test_attributes_use_the_telemetry_keys() -> None:
    """attributes() carries exactly the cmdscope.policy/danger/registry keys of docs/telemetry.md."""
    d = Guard.load().decide("rm -rf ~ && git reset --hard", shell=True)
    attrs = d.attributes()
    assert attrs["cmdscope.policy.rule"] == "default.deny-critical"
    assert attrs["cmdscope.policy.action"] == "deny" and attrs["cmdscope.policy.mode"] == "enforce"
    assert attrs["cmdscope.danger.rule"] == ["fs.rm-recursive-home", "git.reset-hard"]
    assert attrs["cmdscope.danger.severity"] == "critical"
    assert attrs["cmdscope.danger.category"] == ["fs_destroy", "git_worktree"]
    assert attrs["cmdscope.registry.version"] == "1.2.0"
    assert set(attrs) <= {"cmdscope.policy.rule", "cmdscope.policy.source", "cmdscope.policy.action",
                          "cmdscope.policy.mode", "cmdscope.danger.rule", "cmdscope.danger.severity",
                          "cmdscope.danger.category", "cmdscope.registry.version"}


def test_more_specific_rule_wins_and_deny_beats_warn_at_equal_specificity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule naming a danger id beats the severity rule; at equal specificity deny beats warn."""
    project = tmp_path / ".cmdscope"
    project.mkdir()
    _policy(project / "policy.yaml", """
  - id: allow-own-force
    match: {danger_rules: ["git.push-force*"], push_target: ["feature/*"]}
    action: allow
    message: force pushes are fine on feature work
  - id: warn-terraform
    match: {executable: [terraform]}
    action: warn
  - id: deny-terraform-in-review
    match: {executable: [terraform], phase: [review]}
    action: deny
  - id: warn-pushes
    match: {command: 'git push'}
    action: warn
  - id: deny-pushes
    match: {command: 'git\\s+push'}
    action: deny
""")
    trust(str(project / "policy.yaml"))  # it loosens the default: only a trusted file may
    guard = Guard.load()
    d = guard.decide("git push -f origin feature/x", shell=True, branch="main")
    assert (d.action, d.rule_id) == ("allow", "allow-own-force")
    assert d.policy_source.endswith("policy.yaml#team@2.1.0")
    # push_target is the ref pushed to, not the branch checked out
    d = guard.decide("git push -f origin main", shell=True, branch="feature/x")
    assert (d.action, d.rule_id) == ("deny", "deny-pushes")  # command pattern (8) > min_severity (2)
    d = guard.decide("rm -rf ~", shell=True, branch="feature/x")
    assert (d.action, d.rule_id) == ("deny", "default.deny-critical")
    d = guard.decide("git push origin feature/x", shell=True)
    assert (d.action, d.rule_id) == ("deny", "deny-pushes")  # equal specificity: deny wins
    assert guard.decide("terraform plan", shell=True).rule_id == "warn-terraform"
    d = guard.decide("terraform plan", shell=True, phase="review")
    assert (d.action, d.rule_id) == ("deny", "deny-terraform-in-review")


def test_env_policy_layer_and_bad_policy_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CMDSCOPE_POLICY_PATH adds a layer; a bad policy file is one error naming file, rule, field,
    and is left out (the default still denies critical) rather than switching the guard off."""
    good = _policy(tmp_path / "p.yaml", """
  - id: silence-env
    match: {danger_rules: [cred.cat-env-file], actor: [alice]}
    action: allow
""")
    monkeypatch.setenv("CMDSCOPE_POLICY_PATH", str(good))
    d = Guard.load().decide("cat .env", shell=True, actor="alice")
    assert d.rule_id == "silence-env" and [m.rule_id for m in d.matches] == ["cred.cat-env-file"]
    bad = _policy(tmp_path / "bad.yaml", "  - id: r1\n    action: explode\n")
    monkeypatch.setenv("CMDSCOPE_POLICY_PATH", str(bad))
    guard = Guard.load()
    assert len(guard.problems) == 1 and "bad.yaml: policy rule r1: field 'action'" in guard.problems[0]
    assert guard.decide("git push --force origin main", shell=True).denied
    typo = _policy(tmp_path / "typo.yaml", """
  - id: r2
    match: {danger_rules: [git.nope]}
    action: deny
  - id: r3
    match: {danger_rules: ["*"]}
    action: allow
""")
    monkeypatch.setenv("CMDSCOPE_POLICY_PATH", str(typo))
    guard = Guard.load()
    assert "git.nope' names no dangerous-command rule" in guard.problems[0]
    d = guard.decide("git push --force origin main", shell=True)
    assert d.denied and d.rule_id == "default.deny-critical"  # r3 went with its broken file
    assert "guard configuration error" in d.notices()[0]
    assert d.attributes()["cmdscope.guard.errors"] == list(guard.problems)
    from cmdscope._guard.loader import build_policy
    from cmdscope._guard.sources import discover

    with pytest.raises(GuardConfigError, match="git.nope"):  # strict, for `registry lint`
        build_policy(discover(), [r.id for r in guard.registry.rules])


@pytest.mark.parametrize("mode,denied", [("observe", False), ("warn", False), ("enforce", True)])
def test_modes(mode: str, denied: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """observe and warn never block; enforce blocks a deny."""
    monkeypatch.setenv("CMDSCOPE_GUARD_MODE", mode)
    d = Guard.load().decide("rm -rf /", shell=True)
    assert (d.action, d.mode, d.denied) == ("deny", mode, denied)


def test_bad_mode_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown CMDSCOPE_GUARD_MODE is refused with a clear message."""
    monkeypatch.setenv("CMDSCOPE_GUARD_MODE", "yolo")
    with pytest.raises(GuardModeError, match="must be one of observe, warn, enforce"):
        Guard.load()


def test_no_deny_without_a_rule_id() -> None:
    """Every deny path names its policy rule: the Decision constructor refuses otherwise, and every
    deny the shipped policy gives over the corpus carries a rule id and a source."""
    with pytest.raises(GuardInvariantError):
        Decision("deny", "enforce", None, None, "", None)
    import json

    guard = Guard.load()
    corpus = Path(__file__).parent / "data" / "danger_corpus.jsonl"
    denies = 0
    for line in corpus.read_text().splitlines():
        for shell in (True, False):
            cmd = json.loads(line)["command"]
            d = guard.decide(cmd if shell else cmd.split(), shell=shell)
            if d.action == "deny":
                denies += 1
                assert d.rule_id and d.policy_source and d.matches
    assert denies > 100
    for rule in guard.policy.rules:
        assert rule.id and rule.source
