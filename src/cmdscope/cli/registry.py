"""``cmdscope registry list|lint|explain``: inspect and validate dangerous-command rules."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cmdscope registry",
                                     description="List, lint and explain dangerous-command rules.")
    sub = parser.add_subparsers(dest="action", required=True)
    lst = sub.add_parser("list", help="list the effective rules")
    lst.add_argument("--category", help="only this category")
    lint = sub.add_parser("lint", help="validate registry and policy files and run every rule's examples")
    lint.add_argument("paths", nargs="*",
                      help="registry or policy files, or directories (default: the effective registry and policies)")
    explain = sub.add_parser("explain", help="show one rule")
    explain.add_argument("rule_id")
    args = parser.parse_args(argv)
    from cmdscope.guard import GuardConfigError

    try:
        if args.action == "list":
            return _list(args.category)
        if args.action == "lint":
            return _lint(args.paths)
        return _explain(args.rule_id)
    except GuardConfigError as exc:
        sys.stderr.write(f"cmdscope registry: {exc}\n")
        return 2


def _list(category: str | None) -> int:
    from cmdscope.guard import Guard

    guard = Guard.load()
    print(f"registry {guard.registry_version}")
    for rule in sorted(guard.registry.rules, key=lambda r: (r.category, r.id)):
        if category and rule.category != category:
            continue
        print(f"{rule.id:<32} {rule.severity:<8} {rule.category:<20} {rule.title}")
    return 0


def _lint(paths: list[str]) -> int:
    """Validate files; with no paths, the effective registry and policy layers. Then run
    examples and near misses, and check that every danger rule a policy names exists."""
    from cmdscope.guard.loader import build_policy, build_registry, is_policy_file, load_registry_file
    from cmdscope.guard.sources import USER, discover

    sources = discover()
    if paths:
        files: list[str] = []
        for path in paths:
            if os.path.isdir(path):
                files.extend(os.path.join(path, n) for n in sorted(os.listdir(path))
                             if n.endswith((".yaml", ".yml")))
            elif os.path.exists(path):
                files.append(path)
            else:
                sys.stderr.write(f"cmdscope registry: {path}: no such file or directory\n")
                return 2
        policies = [p for p in files if is_policy_file(p)]
        files = [p for p in files if p not in policies]
        for path in files:
            load_registry_file(path)
        builtin = set(sources.builtin)
        user = tuple(p for p in files if p not in builtin)
        sources = type(sources)(sources.builtin, sources.user + user,
                                sources.policies[:1] + tuple((p, USER) for p in policies))
    registry, specs = build_registry(sources)
    policy = build_policy(sources, [r.id for r in registry.rules])  # raises for the first bad file
    problems = 0
    for rule_id, (spec, path) in specs.items():
        rule = registry.rule(rule_id)
        if rule is None:
            continue  # disabled
        for example in spec.examples:
            if rule_id not in {m.rule_id for m in registry.check(example)}:
                problems += 1
                print(f"{path}: rule {rule_id}: field 'examples': does not match: {example!r}")
        for near in spec.near_misses:
            if rule_id in {m.rule_id for m in registry.check(near)}:
                problems += 1
                print(f"{path}: rule {rule_id}: field 'near_misses': matches: {near!r}")
    if problems:
        return 1
    print(f"ok: {len(registry.rules)} rules, registry {registry.version}; "
          f"{len(policy.rules)} policy rules in {len(policy.sources)} file(s)")
    return 0


def _explain(rule_id: str) -> int:
    from cmdscope.guard.loader import build_registry
    from cmdscope.guard.sources import discover

    registry, specs = build_registry(discover())
    entry = specs.get(rule_id)
    if entry is None:
        sys.stderr.write(f"cmdscope registry: no rule {rule_id!r} (see 'cmdscope registry list')\n")
        return 2
    spec, _path = entry
    rule = registry.rule(rule_id)
    status = "" if rule else "  (disabled)"
    severity = rule.severity if rule else spec.severity
    print(f"{spec.id}: {spec.title}{status}")
    print(f"  category:  {spec.category}\n  severity:  {severity}\n  source:    {rule.source if rule else _path}")
    print(f"  rationale: {spec.rationale}\n  playbook:  {spec.playbook}")
    print("  match:     " + ", ".join(f"{k}={v}" for k, v in spec.match.model_dump(exclude_none=True).items()))
    print("  examples (match):")
    for example in spec.examples:
        print(f"    {example}")
    print("  near misses (do not match):")
    for near in spec.near_misses:
        print(f"    {near}")
    return 0
