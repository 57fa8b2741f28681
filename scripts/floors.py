"""Print a pip constraints file pinning every runtime dependency of pyproject.toml to its floor.

``name>=X`` becomes ``name==X``: the CI run at the floors (scripts/test.sh) installs exactly the
lowest versions cmdscope declares, so a floor that does not install or does not work fails CI.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

pyproject = Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
for dep in deps:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,;\s]+)\s*", dep)
    if not match:
        sys.exit(f"{pyproject}: dependency {dep!r} has no plain '>=' floor")
    name = match.group(1).split("[")[0]
    print(f"{name}=={match.group(2)}")
