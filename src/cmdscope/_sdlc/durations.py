"""``90s``, ``10m``, ``1h``, ``7d``, ``2w`` <-> seconds, with errors that name the option."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """Seconds in ``text``; raises ValueError naming ``what`` when it is not a duration."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{what} {text!r}: must not be negative")
        return float(text)
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{what} {text!r}: expected a duration like 90s, 10m, 1h, 7d or 2w")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s:.1f}s"
    if s < 3600:
        return f"{sign}{s / 60:.1f}m"
    if s < 86400:
        return f"{sign}{s / 3600:.1f}h"
    return f"{sign}{s / 86400:.1f}d"
