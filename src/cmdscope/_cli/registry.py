"""``cmdscope registry list|lint|explain|sync``: inspect, validate and update the rule registries."""

from __future__ import annotations

import argparse
import os
import sys

from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    parser = Parser(prog="cmdscope registry",
                                     description="List, lint and explain dangerous-command rules.")
    sub = parser.add_subparsers(dest="action", required=True)
    lst = sub.add_parser("list", help="list the effective rules")
    lst.add_argument("--category", help="only this category")
    from cmdscope._cli.args import add_format

    add_format(lst, ("table", "json", "md"))
    lint = sub.add_parser("lint", help="validate registry and policy files and run every rule's examples")
    lint.add_argument("paths", nargs="*",
                      help="registry or policy files, or directories (default: the effective registry and policies)")
    explain = sub.add_parser("explain", help="show one rule")
    explain.add_argument("rule_id", help="the rule's id (see 'cmdscope registry list')")
    _add_sync_parser(sub)
    args = parser.parse_args(argv)
    if args.action == "sync":
        return _sync(args)
    from cmdscope._guard import GuardConfigError

    try:
        if args.action == "list":
            return _list(args.category, args.format)
        if args.action == "lint":
            redaction = [p for p in args.paths if _is_redaction_path(p)]
            danger = [p for p in args.paths if p not in redaction]
            if args.paths and not danger:
                return _lint_redaction(redaction)
            return max(_lint(danger), _lint_redaction(redaction or args.paths))
        return _explain(args.rule_id)
    except GuardConfigError as exc:
        sys.stderr.write(f"cmdscope registry: {exc}\n")
        return 2


def _list(category: str | None, fmt: str = "table") -> int:
    from cmdscope._guard import Guard

    guard = Guard.load()
    rules = [r for r in sorted(guard.registry.rules, key=lambda r: (r.category, r.id))
             if not category or r.category == category]
    if fmt == "json":
        import json

        print(json.dumps({"registry": guard.registry_version, "rules": [
            {"id": r.id, "severity": r.severity, "category": r.category, "title": r.title} for r in rules]}))
        return 0
    if fmt == "md":
        from cmdscope._reports.common import render_markdown

        print(render_markdown(["RULE", "SEVERITY", "CATEGORY", "TITLE"],
                              [[r.id, r.severity, r.category, r.title] for r in rules]))
        return 0
    print(f"registry {guard.registry_version}")
    for rule in rules:
        print(f"{rule.id:<32} {rule.severity:<8} {rule.category:<20} {rule.title}")
    return 0


def _lint(paths: list[str]) -> int:
    """Validate files; with no paths, the effective registry and policy layers. Then run
    examples and near misses, and check that every danger rule a policy names exists."""
    from cmdscope._guard.loader import (
        build_policy,
        build_registry,
        is_policy_file,
        load_registry_file,
    )
    from cmdscope._guard.sources import USER, discover

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
    from cmdscope._guard.loader import build_registry
    from cmdscope._guard.sources import discover

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


def _is_redaction_path(path: str) -> bool:
    """A redaction/ directory or a file inside one (the rest of the paths are danger files)."""
    norm = os.path.abspath(path)
    return os.path.basename(norm) == "redaction" or os.path.basename(os.path.dirname(norm)) == "redaction"


def _lint_redaction(paths: list[str]) -> int:
    """Redaction rules: validate, then run every example and near miss. With paths, files under
    a ``redaction/`` directory (or a directory's ``redaction/``) are linted as an overlay."""
    from cmdscope._redaction.lint import lint
    from cmdscope._redaction.ruleset import (
        RedactionRegistryError,
        _yaml_files,
        rule_files,
        shipped_dir,
    )

    shipped, overlay = rule_files()
    if paths:
        shipped, overlay = _yaml_files(shipped_dir()), []
        for path in paths:
            if os.path.isdir(os.path.join(path, "redaction")):
                overlay.extend(_yaml_files(os.path.join(path, "redaction")))
            elif os.path.basename(os.path.normpath(path)) == "redaction" and os.path.isdir(path):
                overlay.extend(_yaml_files(path))
            elif os.path.basename(os.path.dirname(os.path.abspath(path))) == "redaction":
                overlay.append(path)
        overlay = [p for p in overlay if os.path.realpath(p) not in {os.path.realpath(s) for s in shipped}]
    try:
        count, problems = lint(shipped, overlay)
    except RedactionRegistryError as exc:
        sys.stderr.write(f"cmdscope registry: {exc}\n")
        return 2
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"ok: {count} redaction rules")
    return 0


def _add_sync_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sync = sub.add_parser("sync", help="fetch, verify and activate the team's registry overlay")
    sync.add_argument("--from", dest="source", metavar="URL",
                      help="git repository (URL or path) or .tar.gz URL (https://, file://); "
                           "remembered for later syncs (default: $CMDSCOPE_REGISTRY_SYNC_URL)")
    sync.add_argument("--ref", help="git branch or tag (default: the remote's HEAD)")
    sync.add_argument("--sha256", help="pinned content digest the fetched registry must have "
                                       "(default: $CMDSCOPE_REGISTRY_SYNC_SHA256)")
    sync.add_argument("--textfile", metavar="DIR", help="also write node_exporter textfile metrics into DIR")
    sync.add_argument("--status", action="store_true", help="show the active registry and the last sync; fetch nothing")
    from cmdscope._cli.args import add_format

    add_format(sync)


def _sync(args: argparse.Namespace) -> int:
    import json

    from cmdscope import _registry_sync as registry_sync

    status = 0
    if not args.status and not (args.source or registry_sync.configured_source()):
        sys.stderr.write("cmdscope registry sync: no source: pass --from URL or set "
                         f"{registry_sync.SOURCE_ENV}\n")
        return 2
    if args.status:
        state = registry_sync.read_state()
    else:
        try:
            state = registry_sync.sync(args.source, sha256=args.sha256, ref=args.ref)
        except registry_sync.SyncError as exc:
            sys.stderr.write(f"cmdscope registry sync: {exc} (the last good registry stays active)\n")
            state, status = registry_sync.read_state(), 1
    if args.textfile:
        registry_sync.write_textfile(args.textfile)
    current = registry_sync.active()
    if args.json:
        print(json.dumps({"active": current, "state": state}, sort_keys=True))
    elif current:
        print(f"active: {current['version']} sha256:{current['digest'][:12]} from {current.get('source')}")
    elif status == 0:
        print("no team registry active")
    return status
