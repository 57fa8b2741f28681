"""Streaming redaction: bytes in, redacted bytes out, line by line, in bounded memory.

Bytes are decoded with `surrogateescape`, so invalid UTF-8 and binary data pass through
byte for byte wherever no secret is found. A PEM private key spans lines: from its BEGIN line
on, lines are dropped (not buffered) until the END line, and one marker stands for the block;
a block that never ends masks everything to the end of the input. A line longer than the read
limit is processed in pieces cut at whitespace, so a token is never split between pieces
unless it is itself longer than the carry limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from cmdscope._redaction.engine import MARK_PREFIX

READ_LIMIT = 64 * 1024
CARRY_LIMIT = 8 * 1024
_BEGIN = r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
_END = r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
PEM_MARK = f"{MARK_PREFIX}private-key]"


def redact_stream(
    src: BinaryIO,
    dst: BinaryIO,
    redact_text: Callable[[str], str],
    *,
    flush_lines: bool = False,
) -> int:
    """Copy `src` to `dst` redacted; return the number of bytes read."""
    import re

    begin = re.compile(_BEGIN)
    end = re.compile(_END)
    in_pem = False
    carry = ""
    total = 0

    def emit(text: str) -> None:
        dst.write(text.encode("utf-8", "surrogateescape"))

    def process(text: str) -> None:
        nonlocal in_pem
        while text:
            if in_pem:
                m = end.search(text)
                if m is None:
                    return  # key material: dropped, never kept
                in_pem = False
                text = text[m.end():]
                continue
            m = begin.search(text)
            if m is None or end.search(text, m.end()):
                # No block here, or one that closes on this line: the text rules handle it.
                emit(redact_text(text))
                return
            emit(redact_text(text[: m.start()]) + PEM_MARK)
            in_pem = True
            text = text[m.end():]

    while True:
        raw = src.readline(READ_LIMIT)
        total += len(raw)
        if not raw:
            break
        text = carry + raw.decode("utf-8", "surrogateescape")
        carry = ""
        if not text.endswith("\n") and len(raw) == READ_LIMIT:
            # A piece of a long line: keep the last word for the next piece.
            cut = max(text.rfind(" "), text.rfind("\t"))
            if cut >= 0 and len(text) - cut <= CARRY_LIMIT:
                text, carry = text[: cut + 1], text[cut + 1:]
        process(text)
        if flush_lines:
            dst.flush()
    process(carry)
    if in_pem:
        emit("\n")
    dst.flush()
    return total
