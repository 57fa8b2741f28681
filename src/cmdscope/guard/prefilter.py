"""The keyword prefilter on its own: what every command pays before the registry is needed.

Kept apart from ``compiled`` so that a process whose command matches no keyword (most of them)
loads only this module and a small cached automaton, not the whole compiled registry.
"""

from __future__ import annotations

# Quotes and backslashes cannot hide a keyword from the prefilter: r''m, \rm, "rm" all read rm.
STRIP = {ord("'"): None, ord('"'): None, ord("\\"): None}


def is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def passes(automaton: object, text: str) -> bool:
    """False when no rule could possibly match ``text``.

    The automaton maps each keyword to (length, must-start-a-word, must-end-a-word).
    """
    if "$'" in text or ("$" in text and "=" in text):
        return True  # ANSI-C quoting or variables built in the line: only a parse can tell
    norm = text.lower().translate(STRIP)
    last = len(norm) - 1
    for end, (length, left, right) in automaton.iter(norm):  # type: ignore[attr-defined]
        start = end - length + 1
        if left and start > 0 and is_word_char(norm[start - 1]):
            continue
        if right and end < last and is_word_char(norm[end + 1]):
            continue
        return True
    return False
