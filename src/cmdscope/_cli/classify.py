"""`cmdscope classify`: the failure class of output that did not run under cmdscope (a CI log).

    cmdscope classify [--exit-code N] [--command CMD] [--stdout FILE] [--stderr FILE] [--json] [LOG]

Same engine and taxonomy as `cmdscope run`. With no --stdout/--stderr, the log is read from the
LOG file or stdin and stands for the combined output. Only the last TAIL_BYTES of each input
are kept (bounded memory for any log size). CI line prefixes (ISO timestamps, GitHub's
`##[error]`) are removed before matching; the exit code is read from the runner's closing line
("Process completed with exit code N", "Job failed: exit code N") when --exit-code is not given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from typing import IO, Any

from cmdscope._cli.args import Parser

TAIL_BYTES = 65536
_CI_PREFIX = re.compile(rb"^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z? )?(?:##\[(?:error|warning|group|endgroup)\])?",
                        re.MULTILINE)
_CI_EXIT = re.compile(rb"Process completed with exit code (\d+)|Job failed: exit code (\d+)")


def _parser() -> argparse.ArgumentParser:
    from cmdscope._cli import args as args_

    p = Parser(prog="cmdscope classify",
                                description="Print the failure class, the matched pattern and the evidence line "
                                            "for saved output (a CI job log, a captured run).")
    p.add_argument("log", nargs="?", metavar="LOG", help="combined output file (default: stdin)")
    p.add_argument("--exit-code", type=int, metavar="N", help="the command's exit code")
    p.add_argument("--signal", type=int, metavar="N", help="the signal that ended the command")
    p.add_argument("--command", metavar="CMD", help="the command line that failed (tool and phase come from it)")
    p.add_argument("--phase", metavar="PHASE", help="SDLC phase (default: inferred from --command)")
    p.add_argument("--outcome", default="failure",
                   choices=("failure", "timeout", "interrupted", "error", "denied"), help="default: failure")
    p.add_argument("--stdout", metavar="FILE", help="the command's stdout ('-' for stdin)")
    p.add_argument("--stderr", metavar="FILE", help="the command's stderr ('-' for stdin)")
    args_.add_format(p)
    return p


def _tail_of(stream: IO[bytes]) -> bytes:
    """The last TAIL_BYTES of a stream, in bounded memory."""
    try:
        size = os.fstat(stream.fileno()).st_size
        if size > TAIL_BYTES and stream.seekable():
            stream.seek(size - TAIL_BYTES)
    except (OSError, ValueError, AttributeError):
        pass
    tail = bytearray()
    while chunk := stream.read(TAIL_BYTES):
        tail += chunk
        if len(tail) > 2 * TAIL_BYTES:
            del tail[:-TAIL_BYTES]
    return bytes(tail[-TAIL_BYTES:])


def _read(name: str, stdin_used: list[bool]) -> bytes:
    if name == "-":
        if stdin_used[0]:
            raise ValueError("stdin ('-') can be read only once")
        stdin_used[0] = True
        return _tail_of(sys.stdin.buffer)
    try:
        with open(name, "rb") as fh:
            return _tail_of(fh)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read ({exc.strerror})") from None


def main(argv: list[str]) -> int:
    from cmdscope._cli import CliError

    args = _parser().parse_args(argv)
    if args.log and (args.stdout or args.stderr):
        raise CliError("give either LOG or --stdout/--stderr, not both")
    stdin_used = [False]
    try:
        if args.stdout or args.stderr:
            out = _read(args.stdout, stdin_used) if args.stdout else b""
            err = _read(args.stderr, stdin_used) if args.stderr else b""
        else:
            out, err = b"", _read(args.log or "-", stdin_used)
        argv_ = shlex.split(args.command) if args.command else []
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out, err = _CI_PREFIX.sub(b"", out), _CI_PREFIX.sub(b"", err)
    exit_code = args.exit_code
    if exit_code is None:
        found = _CI_EXIT.findall(err + b"\n" + out)
        if found:
            exit_code = int(next(g for g in found[-1] if g))

    from cmdscope._failures import default_classifier
    from cmdscope._failures.taxonomy import TaxonomyError

    try:
        clf = default_classifier()
    except TaxonomyError as exc:
        raise CliError(str(exc)) from None
    result = clf.classify(exit_code=exit_code, signal=args.signal,
                          executable=os.path.basename(argv_[0]) if argv_ else "", argv=argv_ or None,
                          phase=args.phase, outcome=args.outcome, stderr_tail=err, stdout_tail=out)
    info = clf.taxonomy.classes.get(result.error_type)
    doc: dict[str, Any] = {
        "error.type": result.error_type, "title": info.title if info else result.error_type,
        "pattern": result.pattern_id, "excerpt": result.excerpt, "phase": result.phase,
        "exit_code": exit_code, "taxonomy_version": result.taxonomy_version,
        "remediation": info.remediation if info else None,
    }
    if args.json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return 0
    lines = [f"class:       {doc['error.type']} ({doc['title']})",
             f"pattern:     {doc['pattern'] or '-'}",
             f"evidence:    {_printable(doc['excerpt'] or '-')}"]
    if doc["phase"]:
        lines.append(f"phase:       {doc['phase']}")
    if doc["remediation"]:
        lines.append(f"remediation: {doc['remediation']}")
    lines.append(f"taxonomy:    {doc['taxonomy_version']}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _printable(text: str) -> str:
    """Control characters escaped: a log line must not drive the reader's terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
