"""Read, validate and compile registry and policy files (YAML + pydantic, off the hot path)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cmdscope._guard.compiled import CompiledRegistry
from cmdscope._guard.errors import GuardConfigError
from cmdscope._guard.options import ToolSpec
from cmdscope._guard.policy import CompiledPolicy, PolicyRule
from cmdscope._guard.rules import Rule
from cmdscope._guard.schema import PolicyFile, RegistryFile, RuleSpec
from cmdscope._guard.sources import DEFAULT, Sources
from cmdscope._paths import builtin_registry_dir


def display_path(path: str) -> str:
    """``registry/danger/git.yaml`` for shipped files, the path as given otherwise."""
    root = str(builtin_registry_dir())
    if path.startswith(root + os.sep):
        return "registry/" + os.path.relpath(path, root).replace(os.sep, "/")
    return path


def read_yaml(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise GuardConfigError(f"{display_path(path)}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        raise GuardConfigError(f"{display_path(path)}: line {line}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise GuardConfigError(f"{display_path(path)}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GuardConfigError(f"{display_path(path)}: {where}invalid YAML: {problem}") from None


def _explain(path: str, raw: Any, exc: ValidationError, list_key: str, noun: str) -> GuardConfigError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == list_key and isinstance(loc[1], int):
        items = raw.get(list_key) if isinstance(raw, dict) else None
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"{noun} {ident}: " if ident else f"{noun} #{loc[1] + 1}: "
        loc = loc[2:]
    field = ".".join(str(p) for p in loc) or "(file)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    # One line, whatever the file holds: names and messages with control characters are escaped.
    one_line = lambda text: text.encode("unicode_escape").decode("ascii")  # noqa: E731
    return GuardConfigError(f"{display_path(path)}: {one_line(where)}field '{one_line(field)}': {one_line(msg)}")


def load_registry_file(path: str) -> RegistryFile:
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise GuardConfigError(f"{display_path(path)}: field '(file)': expected a mapping at top level")
    try:
        return RegistryFile.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, raw, exc, "rules", "rule") from None


def is_policy_file(path: str) -> bool:
    """Does ``path`` hold a policy (name + version + rules with actions) rather than registry rules?"""
    raw = read_yaml(path)
    return isinstance(raw, dict) and "name" in raw and "tools" not in raw and "overrides" not in raw


def load_policy_file(path: str) -> PolicyFile:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise GuardConfigError(f"{display_path(path)}: field '(file)': expected a mapping at top level")
    try:
        return PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, raw, exc, "rules", "policy rule") from None


def _tool_spec(model: Any) -> ToolSpec:
    return ToolSpec(
        long=frozenset(model.long), value_short=frozenset(model.value_short),
        value_long=frozenset(model.value_long), aliases=dict(model.aliases),
        bundling=model.bundling, options=model.options,
        payload_opts=frozenset(model.payload_opts), payload_positionals=model.payload_positionals,
    )


def rule_keywords(spec: RuleSpec) -> list[str]:
    """Words one of which must appear in a command for the rule to be able to match."""
    if spec.keywords:
        return list(spec.keywords)
    if spec.match.subcommand:
        return sorted({s.split()[0] for s in spec.match.subcommand})
    return list(spec.match.executable)


def build_registry(sources: Sources, extra_keywords: frozenset[str] = frozenset(),
                   problems: list[str] | None = None) -> tuple[CompiledRegistry, dict[str, tuple[RuleSpec, str]]]:
    """Merge shipped and user registry files into one compiled registry.

    A broken shipped file raises. A broken user overlay raises too when ``problems`` is None
    (``registry lint``); otherwise it is left out and its error appended to ``problems``.
    """
    version: str | None = None
    tools: dict[str, ToolSpec] = {}
    specs: dict[str, tuple[RuleSpec, str]] = {}
    overrides: dict[str, tuple[str, str]] = {}
    disabled: dict[str, str] = {}
    for path in sources.builtin:
        data = load_registry_file(path)
        if data.version:
            if version and version != data.version:
                raise GuardConfigError(f"{display_path(path)}: field 'version': {data.version} "
                                       f"differs from {version} declared by another shipped file")
            version = data.version
        _merge(path, data, tools, specs, overrides, disabled, user=False)
    if version is None:
        raise GuardConfigError(f"{display_path(str(builtin_registry_dir() / 'danger'))}: "
                               "field 'version': no shipped registry file declares the version")
    user_hash = hashlib.sha256()
    user_files: list[str] = []
    for path in sources.user:
        # Each overlay is merged into copies and kept only if it is whole: a broken one is a
        # problem the caller reports (or raises, with problems=None), never a guard switched off.
        trial = (dict(tools), dict(specs), dict(overrides), dict(disabled))
        try:
            data = load_registry_file(path)
            _merge(path, data, *trial, user=True)
            _check_references(path, *trial)
        except GuardConfigError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            continue
        tools, specs, overrides, disabled = trial
        user_hash.update(Path(path).read_bytes())
        user_files.append(path)
    effective = version + (f"+user:{user_hash.hexdigest()[:8]}" if user_files else "")
    rules: list[Rule] = []
    keywords: set[str] = set(extra_keywords)
    for rule_id, (spec, path) in specs.items():
        if rule_id in disabled:
            continue
        fields: dict[str, Any] = spec.model_dump()
        fields["source"] = display_path(path)
        if rule_id in overrides:
            fields["severity"] = overrides[rule_id][0]
        rules.append(Rule(fields, tools))
        keywords.update(rule_keywords(spec))
    compiled = CompiledRegistry(effective, rules, tools, keywords,
                                [display_path(p) for p in (*sources.builtin, *user_files)])
    return compiled, specs


def _check_references(path: str, tools: dict[str, ToolSpec], specs: dict[str, tuple[RuleSpec, str]],
                      overrides: dict[str, tuple[str, str]], disabled: dict[str, str]) -> None:
    for rule_id, (_sev, where) in overrides.items():
        if where == path and rule_id not in specs:
            raise GuardConfigError(f"{display_path(path)}: rule {rule_id}: field 'overrides': no such rule")
    for rule_id, where in disabled.items():
        if where == path and rule_id not in specs:
            raise GuardConfigError(f"{display_path(path)}: rule {rule_id}: field 'disable': no such rule")


def _merge(path: str, data: RegistryFile, tools: dict[str, ToolSpec],
           specs: dict[str, tuple[RuleSpec, str]], overrides: dict[str, tuple[str, str]],
           disabled: dict[str, str], *, user: bool) -> None:
    if user and data.version:
        raise GuardConfigError(f"{display_path(path)}: field 'version': only the shipped registry "
                               "declares a version (user files change it to +user:<hash>)")
    for name, model in data.tools.items():
        tools[name] = _tool_spec(model)
    for spec in data.rules:
        if spec.id in specs:
            raise GuardConfigError(
                f"{display_path(path)}: rule {spec.id}: field 'id': already defined in "
                f"{display_path(specs[spec.id][1])} (use 'overrides' or 'disable')")
        specs[spec.id] = (spec, path)
    for rule_id, override in data.overrides.items():
        overrides[rule_id] = (override.severity, path)
    for rule_id in data.disable:
        disabled[rule_id] = path


def build_policy(sources: Sources, ids: list[str] | None = None,
                 problems: list[str] | None = None) -> CompiledPolicy:
    """Compile the policy layers. ``ids``: the registry's rule ids, to check the danger rules a
    policy names. A broken shipped default raises; any other broken file raises when
    ``problems`` is None, else is left out whole (a half-read policy is not the one written)
    and its error appended to ``problems``: the trusted layers still apply."""
    rules: list[PolicyRule] = []
    labels: list[str] = []
    order = 0
    for path, layer in sources.policies:
        try:
            data = load_policy_file(path)
            source = f"{display_path(path)}#{data.name}@{data.version}"
            trusted = sources.loosening_allowed(path, layer)
            seen: set[str] = set()
            compiled: list[PolicyRule] = []
            for spec in data.rules:
                if spec.id in seen:
                    raise GuardConfigError(f"{display_path(path)}: policy rule {spec.id}: field 'id': duplicate")
                seen.add(spec.id)
                compiled.append(PolicyRule(spec.model_dump(), source, layer, order + len(compiled), trusted))
            if ids is not None:
                _check_danger_rules(compiled, ids, display_path(path))
        except GuardConfigError as exc:
            if problems is None or layer == DEFAULT:
                raise
            problems.append(f"{exc} (policy file skipped)")
            continue
        labels.append(source)
        rules.extend(compiled)
        order += len(compiled)
    return CompiledPolicy(rules, labels, problems or [])


def _check_danger_rules(rules: list[PolicyRule], ids: list[str], path: str) -> None:
    """A policy naming a danger rule that does not exist is a typo that would silently not apply."""
    from fnmatch import fnmatchcase

    for rule in rules:
        for pattern in rule.danger_rules:
            if not any(fnmatchcase(i, pattern) for i in ids):
                raise GuardConfigError(f"{path}: policy rule {rule.id}: field 'match.danger_rules': "
                                       f"{pattern!r} names no dangerous-command rule")


def validate_policy_references(policy: CompiledPolicy, registry: CompiledRegistry) -> None:
    """Raise for the first policy rule naming a danger rule the registry does not have."""
    ids = [r.id for r in registry.rules]
    for rule in policy.rules:
        _check_danger_rules([rule], ids, rule.source.split("#", 1)[0])
