"""Playbook links that resolve wherever cmdscope is installed.

Rules name playbooks as ``docs/playbooks/<category>.md#<anchor>`` (their place in the source
tree). The playbooks ship inside the package (``cmdscope/_playbooks``, a symlink to
docs/playbooks in a checkout), so a link shown to a user or an agent is the absolute path of a
file that exists, plus the anchor.
"""

from __future__ import annotations

import os

PREFIX = "docs/playbooks/"
_SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_playbooks")
_resolved: dict[str, str] = {}


def resolve(link: str | None) -> str | None:
    if not link or not link.startswith(PREFIX):
        return link
    hit = _resolved.get(link)
    if hit is None:
        rel, sep, anchor = link.partition("#")
        path = os.path.realpath(os.path.join(_SHIPPED, rel[len(PREFIX):]))
        hit = f"{path}{sep}{anchor}" if os.path.isfile(path) else link
        _resolved[link] = hit
    return hit
