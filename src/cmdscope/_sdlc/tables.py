"""Plain-text and Markdown tables for the SDLC reports (cells shown with control characters
escaped: cmdscope._safe_text)."""

from __future__ import annotations

from cmdscope._safe_text import printable


def table(headers: list[str], rows: list[list[str]]) -> str:
    rows = [[printable(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return printable(c).replace("|", "\\|")

    out = ["| " + " | ".join(map(esc, headers)) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(out)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"
