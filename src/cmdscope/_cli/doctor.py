"""``cmdscope doctor``: is the guard armed here? Mode, policy layers and their trust, broken files.

Exit 0 when everything loads, 1 when a layer is broken (and left out), 2 when the mode is invalid
or the shipped floor itself cannot load.
"""

from __future__ import annotations

import json
import os
import sys

from cmdscope._cli.args import Parser, add_format

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def guard_report(cwd: str | None = None) -> dict[str, Any]:
    """The guard's effective configuration for commands run in ``cwd``."""
    from cmdscope import _settings as settings
    from cmdscope._guard.engine import build
    from cmdscope._guard.loader import display_path
    from cmdscope._guard.sources import LAYER_NAMES, MODE_ENV, PROJECT, discover, project_root

    where = cwd or os.getcwd()
    found = settings.current()
    mode = found[MODE_ENV] or "enforce"
    report: dict[str, Any] = {"cwd": where, "project_root": project_root(where), "mode": mode,
                              "guard": "on" if found["CMDSCOPE_GUARD"] else "off",
                              "layers": [], "overlays": [], "problems": []}
    for problem in found.problems:  # every bad setting, as `cmdscope run` would say it
        report["problems"].append(str(problem) + (" (cmdscope run refuses to run)" if problem.refuses else ""))
        if problem.refuses:
            report["fatal"] = True
    sources = discover(cwd=where)
    try:
        registry, policy = build(sources)
    except Exception as exc:  # noqa: BLE001 - the floor itself is broken: say so, never a traceback
        report["problems"].append(f"the shipped registry or default policy cannot load: {exc}")
        report["fatal"] = True
        return report
    loaded = {s.split("#", 1)[0] for s in policy.sources}
    for path, layer in sources.policies:
        shown = display_path(path)
        loosening = [r.id for r in policy.rules if r.source.split("#", 1)[0] == shown and r.action != "deny"]
        entry = {"path": shown, "layer": LAYER_NAMES[layer], "loaded": shown in loaded,
                 "trusted": sources.loosening_allowed(path, layer)}
        if layer == PROJECT and not entry["trusted"] and loosening:
            entry["note"] = (f"untrusted: may only tighten; rules {', '.join(loosening)} cannot loosen "
                             "(cmdscope policy trust)")
        report["layers"].append(entry)
    report["overlays"] = [display_path(p) for p in sources.user]
    report["registry_version"] = registry.version
    report["problems"].extend(policy.problems)
    return report


def print_report(report: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(report, indent=2))
        return
    print(f"guard:    {report['guard']}, mode {report['mode']}")
    print(f"project:  {report['project_root'] or '(not in a git repository: ' + report['cwd'] + ')'}")
    if "registry_version" in report:
        overlays = ", ".join(report["overlays"]) or "none"
        print(f"registry: {report['registry_version']} (overlays: {overlays})")
    for layer in report["layers"]:
        state = ("loaded" if layer["loaded"] else "BROKEN, left out") + (", trusted" if layer["trusted"] else ", untrusted")
        print(f"policy:   {layer['layer']:<21} {layer['path']}  [{state}]")
        if layer.get("note"):
            print(f"          {layer['note']}")
    for problem in report["problems"]:
        print(f"error:    {problem}")
    if not report["problems"]:
        print("ok: every layer loads")


def main(argv: list[str]) -> int:
    parser = Parser(prog="cmdscope doctor",
                                     description="Report the guard's effective mode, policy layers (and their trust), "
                                                 "registry overlays and any broken file, for commands run here.")
    add_format(parser)
    args = parser.parse_args(argv)
    report = guard_report()
    print_report(report, args.format)
    if report.get("fatal") or any(p.startswith("CMDSCOPE_GUARD_MODE=") for p in report["problems"]):
        return 2
    return 1 if report["problems"] else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
