"""``Guard``: the compiled registry and policies, loaded once per process, deciding per command."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs ~4 ms per CLI process
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping


from cmdscope import _cache_files as cache_files, _settings as settings
from cmdscope._guard.decision import Decision, Match, max_severity
from cmdscope._guard.errors import GuardModeError
from cmdscope._guard.prefilter import build_automaton, passes
from cmdscope._guard.sources import (MODE_ENV, MODES, POLICY_ENV, REGISTRY_ENV, discover, fingerprint,
                                     key_name)

if TYPE_CHECKING:
    from cmdscope._guard.compiled import CompiledRegistry
    from cmdscope._guard.policy import CompiledPolicy

CACHE_FORMAT = 3  # bump when the plain data's shape changes
_LOADED: dict[tuple[Any, ...], Guard] = {}
REVALIDATE = False  # long-lived processes (the hook daemon): re-check the files on every load
_DAMAGED = (LookupError, TypeError, ValueError, AttributeError)  # cache data of another shape


def cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """``<state dir>/guard-cache`` (cmdscope._paths.state_dir, without importing pathlib)."""
    base = (os.environ if environ is None else environ).get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "cmdscope", "guard-cache")


def _stored_key(key: str) -> str:
    return f"guard {CACHE_FORMAT}\n{key}"


def _read_cache(path: str, key: str) -> tuple[CompiledRegistry, CompiledPolicy] | None:
    """The compiled registry and policy from the cache's plain data, or None (missing, not
    private, another key, or damaged: the caller rebuilds from the files)."""
    data = cache_files.load(path, _stored_key(key))
    if data is None:
        return None
    from cmdscope._guard.compiled import CompiledRegistry
    from cmdscope._guard.policy import CompiledPolicy

    try:
        return CompiledRegistry.from_data(data["registry"]), CompiledPolicy.from_data(data["policy"])
    except _DAMAGED:
        return None


def _write_cache(path: str, key: str, registry: CompiledRegistry, policy: CompiledPolicy) -> None:
    """Two files: the whole compiled registry and policy as plain data, and beside it the
    *front* (registry version, prefilter keywords, whether any policy rule applies without a
    danger match, the problems), which is all a command that matches no keyword needs."""
    stored = _stored_key(key)
    cache_files.store(path, stored, {"registry": registry.to_data(), "policy": policy.to_data()})
    cache_files.store(_front_path(path), stored, {
        "version": registry.version, "keywords": registry.keyword_table,
        "context_rules": bool(policy.context_rules), "problems": list(policy.problems)})


def _front_path(path: str) -> str:
    return path[: -len(".json")] + ".front.json"


def _read_front(path: str, key: str) -> tuple[str, Any, bool, tuple[str, ...]] | None:
    data = cache_files.load(_front_path(path), _stored_key(key))
    if data is None:
        return None
    try:
        version, context_rules, problems = data["version"], data["context_rules"], tuple(data["problems"])
        if type(version) is not str or type(context_rules) is not bool or not all(type(p) is str for p in problems):
            return None
        return version, build_automaton(data["keywords"]), context_rules, problems
    except _DAMAGED:
        return None


def build(sources: Any) -> tuple[CompiledRegistry, CompiledPolicy]:
    """The registry and policy; a broken overlay or non-default policy file is left out and
    named in ``policy.problems`` (the shipped registry and default policy are the floor)."""
    from cmdscope._guard.loader import build_policy, build_registry

    keywords = build_policy(sources, None, []).executables  # words the prefilter must pass
    problems: list[str] = []
    registry, _ = build_registry(sources, extra_keywords=keywords, problems=problems)
    policy = build_policy(sources, [r.id for r in registry.rules], problems)
    return registry, policy


# CPython's encoded environment (a plain dict, kept in step with os.environ).
_REGISTRY_B, _POLICY_B, _MODE_B = (name.encode() for name in (REGISTRY_ENV, POLICY_ENV, MODE_ENV))


class Guard:
    """Decide allow / warn / deny for one command. Build with :meth:`load`.

    Loaded from the cache's front file, a guard holds only the prefilter; the compiled registry
    and policy are read from the cache the first time a command gets past the prefilter.
    """

    def __init__(self, registry: CompiledRegistry | None, policy: CompiledPolicy | None, mode: str,
                 *, front: tuple[str, Any, bool, tuple[str, ...]] | None = None,
                 cache: tuple[str, str, Any] | None = None) -> None:
        self._registry = registry
        self._policy = policy
        self.mode = mode
        self._front = front or (registry.version, registry.automaton, bool(policy.context_rules),  # type: ignore[union-attr]
                                policy.problems)  # type: ignore[union-attr]
        self.key = cache[1] if cache else None
        self._cache = cache  # (cache path, key, sources) to load the rest from

    def _load_rest(self) -> None:
        path, key, sources = self._cache  # type: ignore[misc]
        cached = _read_cache(path, key)
        if cached is None:
            cached = build(sources)
            _write_cache(path, key, *cached)
        self._registry, self._policy = cached

    @property
    def registry(self) -> CompiledRegistry:
        if self._registry is None:
            self._load_rest()
        return self._registry  # type: ignore[return-value]

    @property
    def policy(self) -> CompiledPolicy:
        if self._policy is None:
            self._load_rest()
        return self._policy  # type: ignore[return-value]

    @property
    def registry_version(self) -> str:
        return self._front[0]

    @property
    def problems(self) -> tuple[str, ...]:
        """Policy and registry files left out because they are broken (one line each)."""
        return self._front[3]

    @property
    def has_context_rules(self) -> bool:
        """Can a policy rule apply to a command that matches no dangerous-command rule (by
        actor, phase, branch...)? If not, such a command is allowed whatever its context."""
        return bool(self._front[2])

    @classmethod
    def load(cls, *, use_cache: bool = True, cwd: str | None = None, revalidate: bool = False,
             environ: Mapping[str, str] | None = None) -> Guard:
        """The guard for this process's environment and ``cwd`` (default: the current
        directory), cached per process and on disk.

        Honours CMDSCOPE_REGISTRY_PATH, CMDSCOPE_POLICY_PATH, the project's .cmdscope/policy.yaml
        (at the git worktree root) and CMDSCOPE_GUARD_MODE. Raises ``GuardModeError`` for an
        unknown mode and ``GuardConfigError`` when the shipped floor itself is broken; a broken
        overlay or policy file is left out and listed in :attr:`problems`. ``revalidate``
        (long-lived processes: the hook daemon) re-reads the files' fingerprint first, so an
        edited policy applies to the next call. ``environ``: where the variables are read
        (default os.environ; the hook daemon passes each client's).
        """
        # The per-process key, read from the encoded environment (no decoding: ~1 us, not ~8).
        if cwd:
            where = cwd
        else:
            try:
                where = os.getcwd()
            except OSError:  # the working directory was removed: no project policy can be read there
                where = ""
        if environ is None:
            env_key: tuple[Any, ...] = (os.environb.get(_REGISTRY_B), os.environb.get(_POLICY_B),
                                        os.environb.get(_MODE_B), where)
        else:
            env_key = (environ.get(REGISTRY_ENV), environ.get(POLICY_ENV), environ.get(MODE_ENV), where,
                       environ.get("XDG_STATE_HOME"), environ.get("HOME"))
        guard = _LOADED.get(env_key)
        if guard is not None and use_cache and not (revalidate or REVALIDATE):
            return guard
        env = os.environ if environ is None else environ
        mode = env.get(MODE_ENV) or "enforce"
        if mode not in MODES:
            raise GuardModeError(f"{MODE_ENV}={mode!r}: must be one of {', '.join(MODES)}")
        sources = discover(env, cwd=where)
        key = fingerprint(sources)
        if guard is not None and use_cache and guard.key == key:
            return guard
        path = os.path.join(cache_dir(env), f"{key_name(key)}.json")
        front = _read_front(path, key) if use_cache else None
        if front is not None:
            guard = cls(None, None, mode, front=front, cache=(path, key, sources))
        else:
            cached = _read_cache(path, key) if use_cache else None
            if cached is None:
                cached = build(sources)
            if use_cache:  # both files: the front was missing, damaged or not ours
                _write_cache(path, key, *cached)
            guard = cls(cached[0], cached[1], mode)
            guard.key = key
        _LOADED[env_key] = guard  # per process: the on-disk cache is for the next process
        return guard

    def check(self, command: str | list[str] | tuple[str, ...], *, shell: bool = True) -> list[Match]:
        return self.registry.check(command, shell)

    def decide(self, command: str | list[str] | tuple[str, ...], *, shell: bool,
               actor: str | None = None, phase: str | None = None, branch: str | None = None,
               worktree: str | None = None, git: Callable[[], Mapping[str, str]] | None = None,
               environ: Mapping[str, str] | None = None) -> Decision:
        """``git``, when given, supplies branch and worktree if they are unset and a policy rule
        needs them (read lazily: most commands never get past the prefilter)."""
        version, automaton, context_rules, problems = self._front
        text = str(command) if shell else " ".join(command)
        matches: list[Match] = []
        executables: set[str] = set()
        passed = passes(automaton, text)
        if not passed and not context_rules:
            # Nothing matched and no policy rule can apply without a match: allow, fast.
            return _noting(Decision("allow", self.mode, None, None, "", None, [], None, version), problems)
        registry = self.registry
        invs: list[Any] = []
        if passed:
            invs = registry.invocations(command, shell)
            matches = registry.match_invocations(invs)
            executables = {inv.exe for inv in invs}
        if git is not None and (branch is None or worktree is None):
            facts = git()
            branch, worktree = branch or facts.get("branch"), worktree or facts.get("worktree")
        found = settings.of(environ)
        context: dict[str, Any] = {"actor": actor or found["CMDSCOPE_ACTOR"],
                                   "phase": phase or found["CMDSCOPE_PHASE"],
                                   "branch": branch, "worktree": worktree}
        policy = self.policy
        if policy.push_rules:
            from cmdscope._guard.policy import push_targets

            context["push_target"] = push_targets(invs, branch)
        severity = max_severity(m.severity for m in matches)
        selected = policy.select(matches, executables, text, context)
        if selected is None:
            return _noting(Decision("allow", self.mode, None, None, "", matches[0].playbook if matches else None,
                                    matches, severity, registry.version), problems)
        from cmdscope._guard.playbooks import resolve

        rule, hit = selected.rule, selected.hit
        focus = hit or (matches[0] if matches else None)
        playbook = resolve(focus.playbook) if focus else None
        message = _message(rule.message, rule.id, focus, playbook)
        decision = Decision(rule.action, self.mode, rule.id, rule.source, message,
                            playbook, matches, severity, registry.version)
        if selected.ignored is not None:
            decision.ignored = f"{selected.ignored.id} ({selected.ignored.source})"
        return _noting(decision, problems)


def _noting(decision: Decision, problems: tuple[str, ...]) -> Decision:
    decision.problems = problems
    return decision


def _message(template: str, policy_rule: str, focus: Match | None, playbook: str | None = None) -> str:
    values = {"policy_rule": policy_rule, "rule_id": focus.rule_id if focus else "",
              "severity": focus.severity if focus else "", "title": focus.title if focus else "",
              "playbook": playbook or "", "category": focus.category if focus else ""}
    try:
        return template.format(**values) if template else (
            f"{focus.rule_id} ({focus.severity}): {focus.title}" if focus else policy_rule)
    except (KeyError, IndexError, ValueError):
        return template


def check(command_string: str) -> list[Match]:
    """The dangerous-command rules ``command_string`` (a bash string) matches, most severe first."""
    return Guard.load().check(command_string, shell=True)
