"""The guard's two-level cache: a fresh process loads only the prefilter front, and loads the
compiled registry only for a command that gets past it, with the same decisions either way."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from cmdscope._guard import Guard
g = Guard.load()
out = {"front_only": g._registry is None}
d = g.decide(["ls", "-la"], shell=False)
out["benign"] = [d.action, d.registry_version, "cmdscope._guard.compiled" in sys.modules]
d = g.decide("git push --force origin main", shell=True)
out["danger"] = [d.action, d.rule_id, [m.rule_id for m in d.matches]]
print(json.dumps(out))
"""


def probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_second_process_uses_the_front_and_decides_the_same() -> None:
    """First process builds both cache files; the next loads the front only, stays off the
    compiled registry for a benign command, and decides a dangerous one identically."""
    first, second = probe(), probe()
    assert first["front_only"] is False and second["front_only"] is True
    assert second["benign"][0] == "allow" and second["benign"][2] is False
    assert second["benign"][1] == first["benign"][1]
    assert second["danger"] == first["danger"] and second["danger"][0] == "deny"
