"""The dangerous-command registry: every rule's examples and near misses, validation, user layers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cmdscope._guard import GuardConfigError
from cmdscope._guard.loader import build_registry
from cmdscope._guard.schema import CATEGORIES
from cmdscope._guard.sources import REGISTRY_ENV, builtin_registry_root, discover
from cmdscope._paths import builtin_registry_dir

ROOT = Path(__file__).resolve().parent.parent
REGISTRY, SPECS = build_registry(discover({}))


@pytest.mark.parametrize("rule_id", sorted(SPECS))
def test_rule_examples_match_and_near_misses_do_not(rule_id: str) -> None:
    """Each rule matches all its examples and none of its near misses."""
    spec, _ = SPECS[rule_id]
    for example in spec.examples:
        assert rule_id in {m.rule_id for m in REGISTRY.check(example)}, example
    for near in spec.near_misses:
        assert rule_id not in {m.rule_id for m in REGISTRY.check(near)}, near


def test_every_category_is_covered_and_every_playbook_anchor_exists() -> None:
    """All DANGER_POLICY categories have rules; each playbook link points at a shipped section."""
    assert {s.category for s, _ in SPECS.values()} == set(CATEGORIES)
    for spec, _ in SPECS.values():
        doc, _, anchor = spec.playbook.partition("#")
        text = (ROOT / doc).read_text()
        assert f'<a id="{anchor}"></a>' in text, spec.playbook


def test_version_is_semver_and_changelog_mentions_it() -> None:
    """The registry version is semver and has an entry in registry/CHANGELOG.md."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", REGISTRY.version)
    assert f"### {REGISTRY.version}" in (ROOT / "registry" / "CHANGELOG.md").read_text()


def test_fast_registry_root_agrees_with_paths() -> None:
    """The pathlib-free registry root used on the hot path is cmdscope._paths' one."""
    assert os.path.realpath(builtin_registry_root()) == os.path.realpath(builtin_registry_dir())


def _bad(tmp_path: Path, body: str) -> str:
    (tmp_path / "bad.yaml").write_text(body)
    with pytest.raises(GuardConfigError) as info:
        build_registry(discover({REGISTRY_ENV: str(tmp_path)}))
    return str(info.value)


RULE = """rules:
  - id: my.rule
    title: My rule
    category: fs_destroy
    severity: {sev}
    rationale: Something bad happens here.
    playbook: https://wiki.example/my-rule
    match: {{executable: [shred], path_any: [{cls}]}}
    examples: [shred -u /etc/passwd]
    near_misses: [shred -u /tmp/x]
"""


def test_bad_field_names_file_rule_and_field(tmp_path: Path) -> None:
    """A wrong severity is one error naming the file, the rule id and the field."""
    msg = _bad(tmp_path, RULE.format(sev="huge", cls="system"))
    assert str(tmp_path / "bad.yaml") in msg and "rule my.rule" in msg and "field 'severity'" in msg
    msg = _bad(tmp_path, RULE.format(sev="high", cls="nowhere"))
    assert "field 'match.path_any'" in msg and "unknown path class" in msg
    msg = _bad(tmp_path, "rules: [\n  - id: x\n")
    assert "bad.yaml: line" in msg and "invalid YAML" in msg


def test_user_dirs_add_override_and_disable(tmp_path: Path) -> None:
    """User rule dirs add rules, override severities, disable ids, and change the version."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "mine.yaml").write_text(RULE.format(sev="high", cls="system"))
    (b / "tune.yaml").write_text("overrides:\n  git.push-force: {severity: critical}\ndisable: [cred.cat-env-file]\n")
    reg, _ = build_registry(discover({REGISTRY_ENV: f"{a}{os.pathsep}{b}"}))
    assert re.fullmatch(r"\d+\.\d+\.\d+\+user:[0-9a-f]{8}", reg.version)
    assert [m.rule_id for m in reg.check("shred -u /etc/passwd")] == ["my.rule"]
    assert reg.check("git push -f")[0].severity == "critical"
    assert reg.check("cat .env") == []
    (b / "tune.yaml").write_text("disable: [no.such-rule]\n")
    with pytest.raises(GuardConfigError, match="no.such-rule: field 'disable': no such rule"):
        build_registry(discover({REGISTRY_ENV: f"{a}{os.pathsep}{b}"}))
