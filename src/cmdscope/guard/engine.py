"""``Guard``: the compiled registry and policies, loaded once per process, deciding per command."""

from __future__ import annotations

import os
import pickle
TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any

from cmdscope.guard.compiled import CompiledRegistry
from cmdscope.guard.decision import Decision, Match, max_severity
from cmdscope.guard.errors import GuardModeError
from cmdscope.guard.policy import CompiledPolicy
from cmdscope.guard.sources import (MODE_ENV, MODES, POLICY_ENV, REGISTRY_ENV, discover, fingerprint,
                                     key_name)

CACHE_FORMAT = 1
_LOADED: dict[tuple[Any, ...], Guard] = {}


def cache_dir() -> str:
    """``<state dir>/guard-cache`` (cmdscope.paths.state_dir, without importing pathlib)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "cmdscope", "guard-cache")


def _read_cache(path: str, key: str) -> tuple[CompiledRegistry, CompiledPolicy] | None:
    try:
        with open(path, "rb") as fh:
            fmt, stored_key, registry, policy = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            ImportError, IndexError):
        return None
    return (registry, policy) if fmt == CACHE_FORMAT and stored_key == key else None


def _write_cache(path: str, key: str, registry: CompiledRegistry, policy: CompiledPolicy) -> None:
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump((CACHE_FORMAT, key, registry, policy), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only state dir only costs the next process a rebuild


def build(sources: Any) -> tuple[CompiledRegistry, CompiledPolicy]:
    from cmdscope.guard.loader import build_policy, build_registry, validate_policy_references

    policy = build_policy(sources)
    registry, _ = build_registry(sources, extra_keywords=policy.executables)
    validate_policy_references(policy, registry)
    return registry, policy


class Guard:
    """Decide allow / warn / deny for one command. Build with :meth:`load`."""

    def __init__(self, registry: CompiledRegistry, policy: CompiledPolicy, mode: str) -> None:
        self.registry = registry
        self.policy = policy
        self.mode = mode

    @property
    def registry_version(self) -> str:
        return self.registry.version

    @classmethod
    def load(cls, *, use_cache: bool = True) -> Guard:
        """The guard for this process's environment (cached per process and on disk).

        Honours CMDSCOPE_REGISTRY_PATH, CMDSCOPE_POLICY_PATH, ./.cmdscope/policy.yaml and
        CMDSCOPE_GUARD_MODE. Raises ``GuardConfigError`` naming file, rule and field for a bad file.
        """
        env = os.environ
        mode = env.get(MODE_ENV) or "enforce"
        if mode not in MODES:
            raise GuardModeError(f"{MODE_ENV}={mode!r}: must be one of {', '.join(MODES)}")
        env_key = (env.get(REGISTRY_ENV), env.get(POLICY_ENV), mode, os.getcwd())
        guard = _LOADED.get(env_key)
        if guard is not None and use_cache:
            return guard
        sources = discover()
        key = fingerprint(sources)
        path = os.path.join(cache_dir(), f"{key_name(key)}.pickle")
        cached = _read_cache(path, key) if use_cache else None
        if cached is None:
            cached = build(sources)
            if use_cache:
                _write_cache(path, key, *cached)
        guard = cls(cached[0], cached[1], mode)
        _LOADED[env_key] = guard  # per process: the on-disk cache is for the next process
        return guard

    def check(self, command: str | list[str] | tuple[str, ...], *, shell: bool = True) -> list[Match]:
        return self.registry.check(command, shell)

    def decide(self, command: str | list[str] | tuple[str, ...], *, shell: bool,
               actor: str | None = None, phase: str | None = None, branch: str | None = None,
               worktree: str | None = None) -> Decision:
        registry = self.registry
        text = str(command) if shell else " ".join(command)
        matches: list[Match] = []
        executables: set[str] = set()
        passed = registry.prefilter(text)
        if not passed and not self.policy.context_rules:
            # Nothing matched and no policy rule can apply without a match: allow, fast.
            return Decision("allow", self.mode, None, None, "", None, [], None, registry.version)
        if passed:
            invs = registry.invocations(command, shell)
            matches = registry.match_invocations(invs)
            executables = {inv.exe for inv in invs}
        context = {"actor": actor or os.environ.get("CMDSCOPE_ACTOR"),
                   "phase": phase or os.environ.get("CMDSCOPE_PHASE"),
                   "branch": branch, "worktree": worktree}
        severity = max_severity(m.severity for m in matches)
        selected = self.policy.select(matches, executables, text, context)
        if selected is None:
            return Decision("allow", self.mode, None, None, "", matches[0].playbook if matches else None,
                            matches, severity, registry.version)
        rule, hit = selected
        focus = hit or (matches[0] if matches else None)
        message = _message(rule.message, rule.id, focus)
        return Decision(rule.action, self.mode, rule.id, rule.source, message,
                        focus.playbook if focus else None, matches, severity, registry.version)


def _message(template: str, policy_rule: str, focus: Match | None) -> str:
    values = {"policy_rule": policy_rule, "rule_id": focus.rule_id if focus else "",
              "severity": focus.severity if focus else "", "title": focus.title if focus else "",
              "playbook": focus.playbook if focus else "", "category": focus.category if focus else ""}
    try:
        return template.format(**values) if template else (
            f"{focus.rule_id} ({focus.severity}): {focus.title}" if focus else policy_rule)
    except (KeyError, IndexError, ValueError):
        return template


def check(command_string: str) -> list[Match]:
    """The dangerous-command rules ``command_string`` (a bash string) matches, most severe first."""
    return Guard.load().check(command_string, shell=True)
