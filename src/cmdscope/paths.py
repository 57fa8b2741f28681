"""Where cmdscope's shipped data and local state live."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_registry_dir() -> Path:
    """The shipped registry: ``registry/`` of the checkout, or its copy inside the wheel."""
    return PACKAGE_DIR / "_registry"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "cmdscope"


def default_ledger_path() -> Path:
    explicit = os.environ.get("CMDSCOPE_LEDGER")
    return Path(explicit) if explicit else state_dir() / "ledger.jsonl"
