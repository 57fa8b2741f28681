"""`cmdscope redact`: copy stdin to stdout with every secret masked.

Streams line by line in bounded memory; invalid UTF-8 and binary bytes pass through unchanged;
a PEM private key spanning lines becomes one marker.
"""

from __future__ import annotations

import argparse
import os
import sys

from cmdscope._cli.args import Parser


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cmdscope redact",
        description="Read text on stdin, write it with secrets replaced by [REDACTED:<rule>].",
    )
    parser.add_argument(
        "--patterns",
        action="append",
        default=[],
        metavar="FILE",
        help="extra patterns file ('name regex' per line); repeatable; "
        "adds to $CMDSCOPE_REDACT_PATTERNS",
    )
    parser.add_argument("--list", action="store_true", help="print the rule names and exit")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from cmdscope import redact as api
    from cmdscope._redaction.stream import redact_stream

    try:
        names = api.rule_names()  # loads $CMDSCOPE_REDACT_PATTERNS now, to fail before reading
        for path in args.patterns:
            api._default.load_patterns_file(path)
    except api.RedactionConfigError as exc:
        sys.stderr.write(f"cmdscope redact: {exc}\n")
        return 2
    if args.list:
        sys.stdout.write("\n".join(api.rule_names() if args.patterns else names) + "\n")
        return 0
    src = sys.stdin.buffer
    # Interactive or piped input: flush each line so output follows input as it arrives.
    try:
        flush = not os.path.isfile(f"/proc/self/fd/{src.fileno()}") and not src.seekable()
    except (OSError, ValueError):
        flush = True
    redact_stream(src, sys.stdout.buffer, api.redact, flush_lines=flush)
    return 0
