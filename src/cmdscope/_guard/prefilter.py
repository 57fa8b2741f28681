"""The keyword prefilter on its own: what every command pays before the registry is needed.

Kept apart from ``compiled`` so that a process whose command matches no keyword (most of them)
loads only this module and a small cached automaton, not the whole compiled registry.
"""

from __future__ import annotations

# Quotes and backslashes cannot hide a keyword from the prefilter: r''m, \rm, "rm" all read rm.
STRIP = {ord("'"): None, ord('"'): None, ord("\\"): None}


def is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def build_automaton(table: list[list[object]]) -> object:
    """The prefilter's Aho-Corasick automaton from ``cmdscope._guard.compiled.keyword_table`` rows (~0.2 ms for the
    shipped registry); TypeError for rows of the wrong shape (a damaged cache)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for word, left, right in table:
        if type(word) is not str or not word or type(left) is not bool or type(right) is not bool:
            raise TypeError("bad prefilter row")
        automaton.add_word(word, (len(word), left, right))
    automaton.make_automaton()
    return automaton


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
