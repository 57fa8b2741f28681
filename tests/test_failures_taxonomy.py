"""Taxonomy loading: validation, precedence, overlays, the pickle cache."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cmdscope._failures import Classifier
from cmdscope._failures.taxonomy import TaxonomyError, builtin_taxonomy_path, load_taxonomy

REQUIRED = ["test_failure", "build_error", "lint_failure", "typecheck_failure", "dependency_error", "import_error",
            "command_not_found", "file_not_found", "permission_denied", "auth_failure", "network_error",
            "rate_limited", "timeout", "interrupted", "killed", "disk_full", "merge_conflict", "push_rejected",
            "git_state", "syntax_error", "config_error", "script_assertion", "unknown",
            # issue 22: things that exist already, databases, bad input data, ports, empty runs, answers
            "already_exists", "database_error", "invalid_input", "address_in_use", "no_tests", "negative_answer"]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CMDSCOPE_TAXONOMY_PATH", raising=False)


def _classify(clf: Classifier, ex: dict) -> str:
    argv = shlex.split(ex["argv"]) if isinstance(ex["argv"], str) else (ex["argv"] or [ex["executable"]])
    return clf.classify(exit_code=ex["exit_code"], signal=ex["signal"], executable=ex["executable"], argv=argv,
                        phase=ex["phase"], outcome=ex["outcome"], stderr_tail=ex["stderr"].encode(),
                        stdout_tail=ex["stdout"].encode()).error_type


def test_every_required_class_exists_with_hint() -> None:
    """The shipped taxonomy has every class the issue lists, each with a remediation hint."""
    tax = load_taxonomy(use_cache=False)
    for cid in REQUIRED:
        assert cid in tax.classes and tax.classes[cid].remediation


def test_every_example_classifies_to_its_class() -> None:
    """Each class's `examples` classify to that class."""
    clf = Classifier(load_taxonomy(use_cache=False))
    wrong = [(cid, ex, _classify(clf, ex)) for cid, info in clf.taxonomy.classes.items() for ex in info.examples
             if _classify(clf, ex) != cid]
    assert not wrong


def test_outcome_beats_text_and_text_beats_context() -> None:
    """A timeout stays a timeout whatever it printed; a pattern beats the tool's default class."""
    clf = Classifier(load_taxonomy(use_cache=False))
    r = clf.classify(exit_code=124, signal=None, executable="pytest", argv=["pytest"], phase=None,
                     outcome="timeout", stderr_tail=b"ModuleNotFoundError: No module named 'x'\n")
    assert r.error_type == "timeout"
    r = clf.classify(exit_code=1, signal=None, executable="pytest", argv=["pytest"], phase=None, outcome="failure",
                     stderr_tail=b"", stdout_tail=b"E   ModuleNotFoundError: No module named 'x'\nImportError while importing test module\n")
    assert r.error_type == "import_error" and r.pattern_id and r.excerpt
    r = clf.classify(exit_code=1, signal=None, executable="pytest", argv=["pytest"], phase=None, outcome="failure",
                     stderr_tail=b"", stdout_tail=b"")
    assert (r.error_type, r.phase) == ("test_failure", "test")
    assert clf.classify(exit_code=1, signal=None, executable="x", argv=None, phase=None, outcome="failure",
                        stderr_tail=b"").error_type == "unknown"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_bad_file_error_names_file_class_and_field(tmp_path: Path) -> None:
    """An invalid regex is one clear error naming the file, the matcher and the field."""
    text = builtin_taxonomy_path().read_text().replace("pattern: '^CONFLICT \\(", "pattern: '^CONFLICT \\((", 1)
    bad = _write(tmp_path / "t.yaml", text)
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(base=bad, overlays=[], use_cache=False)
    msg = str(err.value)
    assert str(bad) in msg and "merge_conflict" in msg and "pattern" in msg and "\n" not in msg
    broken = _write(tmp_path / "y.yaml", "version: 1.0.0\nclasses: [\n")
    with pytest.raises(TaxonomyError, match=r"y\.yaml: invalid YAML at line"):
        load_taxonomy(base=broken, overlays=[], use_cache=False)


def test_overlay_adds_class_extends_and_disables(tmp_path: Path) -> None:
    """A user overlay adds a class, extends one, disables a matcher; the version records it."""
    overlay = _write(tmp_path / "team.yaml", """
overlay: team
version: 0.2.0
classes:
  - id: flaky_infra
    title: Flaky infrastructure
    description: Our runner pool drops jobs.
    remediation: Re-run the job.
    priority: 990
    matchers:
      - {id: flaky_infra.runner-lost, pattern: 'runner lost contact'}
    examples:
      - {executable: make, exit_code: 2, stderr: "runner lost contact with agent\\n"}
extend:
  - class: auth_failure
    matchers:
      - {id: auth_failure.vault, pattern: 'vault: permission denied', priority: 990}
disable: [test_failure.test-phase]
""")
    tax = load_taxonomy(overlays=[overlay], use_cache=False)
    clf = Classifier(tax)
    assert tax.version == "1.1.0+team-0.2.0"
    assert clf.classify(exit_code=2, signal=None, executable="make", argv=["make"], phase=None, outcome="failure",
                        stderr_tail=b"runner lost contact with agent\n").error_type == "flaky_infra"
    assert clf.classify(exit_code=1, signal=None, executable="x", argv=None, phase=None, outcome="failure",
                        stderr_tail=b"vault: permission denied\n").pattern_id == "auth_failure.vault"
    assert clf.classify(exit_code=1, signal=None, executable="x", argv=None, phase="test", outcome="failure",
                        stderr_tail=b"").error_type == "unknown"
    dup = _write(tmp_path / "dup.yaml", "overlay: d\nversion: 1.0.0\ndisable: [no_such_thing]\n")
    with pytest.raises(TaxonomyError, match=r"dup\.yaml: disable: no class or matcher 'no_such_thing'"):
        load_taxonomy(overlays=[dup], use_cache=False)


def test_cached_load_imports_neither_yaml_nor_pydantic(tmp_path: Path) -> None:
    """With a valid cache, a fresh process classifies without importing yaml or pydantic."""
    code = ("import sys; from cmdscope._failures import classify; "
            "c = classify(exit_code=1, signal=None, executable='git', argv=['git','push'], phase=None, "
            "outcome='failure', stderr_tail=b' ! [rejected] main -> main (fetch first)\\n'); "
            "print(c.error_type, 'yaml' in sys.modules, 'pydantic' in sys.modules)")
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split()[0] == "push_rejected"
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert second.stdout.split() == ["push_rejected", "False", "False"]


def test_fallback_and_decisive_are_validated(tmp_path: Path) -> None:
    """`fallback` needs a pattern, `decisive` needs tools and exit codes; errors name the matcher."""
    for matcher, words in (("{id: x.m, exit_codes: [1], fallback: true}", "fallback"),
                           ("{id: x.m, exit_codes: [1], decisive: true}", "decisive")):
        bad = tmp_path / "o.yaml"
        bad.write_text("overlay: t\nversion: 1.0.0\nclasses:\n  - id: x\n    title: X\n    description: d\n"
                       f"    remediation: r\n    priority: 1\n    matchers: [{matcher}]\n"
                       "    examples: [{executable: x, exit_code: 1}]\n")
        with pytest.raises(TaxonomyError, match=rf"o\.yaml: class x matcher x\.m.*{words}"):
            load_taxonomy(overlays=[bad], use_cache=False)


def test_a_fallback_ranks_after_every_specific_matcher_whatever_its_priority(tmp_path: Path) -> None:
    overlay = tmp_path / "o.yaml"
    overlay.write_text("""overlay: t
version: 1.0.0
classes:
  - id: ci_summary
    title: CI summary
    description: a generic closing line
    remediation: read above
    priority: 999
    matchers:
      - {id: ci_summary.line, pattern: 'Process completed with exit code', fallback: true}
    examples:
      - {executable: sh, exit_code: 1, stderr: "Process completed with exit code 1\\n"}
""")
    clf = Classifier(load_taxonomy(overlays=[overlay], use_cache=False))
    both = clf.classify(exit_code=1, signal=None, executable="sh", argv=None, phase=None, outcome="failure",
                        stderr_tail=b"Traceback (most recent call last):\nValueError: x\nProcess completed with exit code 1\n")
    assert both.error_type == "runtime_exception"  # priority 200, but specific
    alone = clf.classify(exit_code=1, signal=None, executable="sh", argv=None, phase=None, outcome="failure",
                         stderr_tail=b"Process completed with exit code 1\n")
    assert alone.error_type == "ci_summary"


def test_checkouts_used_side_by_side_keep_their_caches(tmp_path: Path) -> None:
    """Two taxonomies (base, base + overlay) loaded in turn both stay cached: no recompiles."""
    overlay = tmp_path / "o.yaml"
    overlay.write_text("overlay: t\nversion: 1.0.0\ndisable: [test_failure.test-phase]\n")
    load_taxonomy(overlays=[])
    load_taxonomy(overlays=[overlay])
    cached = sorted((tmp_path / "cache" / "cmdscope").glob("failure-taxonomy-*.json"))
    assert len(cached) == 2
    load_taxonomy(overlays=[])
    assert sorted((tmp_path / "cache" / "cmdscope").glob("failure-taxonomy-*.json")) == cached
