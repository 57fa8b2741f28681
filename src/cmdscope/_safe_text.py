"""Untrusted text made safe to print in a terminal or a plain-text table.

A command line is written by whoever ran it (an agent, a cloned repository's script): raw
escape sequences in it could clear a reviewer's screen, retitle the terminal or hide lines
(``ESC]0;``, ``ESC[2J``, ``\\r``), and Unicode bidi marks could reorder what is shown. Every
human-readable output passes such text through printable(); JSON output is escaped by JSON.
"""

from __future__ import annotations

# C0 and C1 controls, DEL, and the Unicode marks that reorder or hide text (bidi overrides,
# isolates, zero-width and line/paragraph separators): a command line carrying them could
# redraw or hide lines in a reviewer's terminal.
_HIDING = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028,
           0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]
_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_PRINTABLE = {c: _ESCAPES.get(c, f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _HIDING}


def printable(text: str) -> str:
    """`text` with control and text-hiding characters shown as escapes (``\\x1b``, ``\\r``)."""
    return text.translate(_PRINTABLE)
