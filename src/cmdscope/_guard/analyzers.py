"""Facts about a parsed command that flags alone do not give (git push refspecs)."""

from __future__ import annotations

import re
from collections.abc import Callable

from cmdscope._guard.options import ParsedArgs

# DANGER_POLICY reference context: these branches are shared.
_SHARED = re.compile(r"^(?:refs/heads/)?(?:main|master|trunk|develop|release/.*|releases?/.*|prod.*|production|stable)$")
_TAG = re.compile(r"^(?:refs/tags/.*|v?\d+(?:\.\d+)+.*)$")


def git_push(parsed: ParsedArgs) -> frozenset[str]:
    """``force``, ``mirror``, ``delete``, ``dry_run`` and the kind of target ref."""
    flags = parsed.flags
    facts: set[str] = set()
    if flags & {"--dry-run"}:
        facts.add("dry_run")
    if "--force" in flags:
        facts.add("force")
    if "--mirror" in flags:
        facts.update({"mirror", "target_shared"})
    if "--all" in flags or "--branches" in flags:
        facts.add("target_shared")
    deleting = "--delete" in flags
    if deleting:
        facts.add("delete")
    refspecs = list(parsed.positionals[2:])  # positionals: push, remote, refspec...
    if not refspecs and not flags & {"--all", "--branches", "--mirror", "--tags"}:
        facts.add("target_none")
    for spec in refspecs:
        if spec.startswith("+"):
            facts.add("force")
            spec = spec[1:]
        src, colon, dst = spec.partition(":")
        if colon and not src:
            facts.add("delete")
        target = dst if colon else src
        if target in ("HEAD", "@", ""):
            facts.add("target_none")
        elif _SHARED.match(target):
            facts.add("target_shared")
        elif _TAG.match(target):
            facts.add("target_tag")
        else:
            facts.add("target_feature")
    return frozenset(facts)


ANALYZERS: dict[str, Callable[[ParsedArgs], frozenset[str]]] = {"git_push": git_push}
