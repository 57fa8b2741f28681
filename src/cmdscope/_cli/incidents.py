"""``cmdscope incidents serve|list|ack|resolve``: the Alertmanager webhook receiver that files
incident stubs, and their triage."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from pathlib import Path

from cmdscope._cli.args import Parser

DEFAULT_LISTEN = "127.0.0.1:9095"


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {value!r}: expected HOST:PORT such as {DEFAULT_LISTEN}")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str]) -> int:
    parser = Parser(prog="cmdscope incidents", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    serve = sub.add_parser("serve", help="receive Alertmanager webhooks and file incident stubs")
    serve.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN}; port 0 picks one)")
    serve.add_argument("--dir", required=True, type=Path, help="directory for incident-*.json / .md")
    serve.add_argument("--ledger", type=Path, help="JSONL ledger to take matching records from")
    serve.add_argument("--records", type=int, default=20, help="matching ledger records per incident (default 20)")
    serve.add_argument("--token-file", type=Path, help="file holding the bearer token that enables "
                       "POST /incidents/<ID>/ack|resolve (without it, triage is CLI-only)")
    listing = sub.add_parser("list", help="incident stubs with their alert and triage state")
    listing.add_argument("--dir", required=True, type=Path, help="the directory `serve` writes to")
    listing.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    for name, help_ in (("ack", "acknowledge an incident"), ("resolve", "resolve an incident (optionally as a false positive)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("id", help="incident id, e.g. INC-1a2b3c4d5e6f")
        p.add_argument("--dir", required=True, type=Path, help="the directory `serve` writes to")
        p.add_argument("--note", default="", help="a note kept in the stub (redacted)")
        p.add_argument("--by", default=os.environ.get("USER") or "unknown", help="who (default $USER)")
        if name == "resolve":
            p.add_argument("--false-positive", action="store_true", help="the alert should not have fired")
    args = parser.parse_args(argv)
    if args.action != "serve":
        return _triage(args)

    try:
        host, port = _parse_listen(args.listen)
    except ValueError as exc:
        sys.stderr.write(f"cmdscope incidents: {exc}\n")
        return 2
    if args.records < 0:
        sys.stderr.write("cmdscope incidents: --records must be 0 or more\n")
        return 2
    if args.ledger is not None and not args.ledger.exists():
        sys.stderr.write(f"cmdscope incidents: --ledger {args.ledger}: no such file (records will be added once it exists)\n")
    if not _is_loopback(host):
        sys.stderr.write(f"cmdscope incidents: warning: listening on {host}, not loopback; the receiver has no authentication\n")

    token = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            sys.stderr.write(f"cmdscope incidents: --token-file {args.token_file}: {getattr(exc, 'strerror', None) or exc}\n")
            return 2
        if len(token) < 16:
            sys.stderr.write(f"cmdscope incidents: --token-file {args.token_file}: the token must be at least 16 characters\n")
            return 2

    from cmdscope._incidents import IncidentStore, make_server

    try:
        store = IncidentStore(args.dir, ledger=args.ledger, records=args.records)
        server = make_server(host, port, store, token=token)
    except OSError as exc:
        sys.stderr.write(f"cmdscope incidents: cannot listen on {args.listen} or use --dir {args.dir}: {exc.strerror or exc}\n")
        return 2
    bound_host, bound_port = server.server_address[:2]
    if isinstance(bound_host, bytes):
        bound_host = bound_host.decode()
    print(f"cmdscope incidents: listening on http://{bound_host}:{bound_port}/ writing to {args.dir}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _triage(args: argparse.Namespace) -> int:
    from cmdscope._incidents import IncidentStore
    from cmdscope._incidents.triage import TriageError

    if not args.dir.is_dir():
        sys.stderr.write(f"cmdscope incidents: --dir {args.dir}: no such directory\n")
        return 2
    store = IncidentStore(args.dir)
    if args.action == "list":
        rows = store.all()
        if args.format == "json":
            print(json.dumps(rows, indent=2))
            return 0
        for inc in rows:
            triage = (inc.get("triage") or {}).get("state", "open")
            fp = " (false positive)" if (inc.get("triage") or {}).get("false_positive") else ""
            print(f"{inc['id']}  {inc['status']:<8}  {triage:<12}  {inc['first_seen']}  {inc['alertname']}{fp}")
        return 0
    try:
        incident = store.triage(args.id, args.action, by=args.by, note=args.note,
                                false_positive=getattr(args, "false_positive", False))
    except TriageError as exc:
        sys.stderr.write(f"cmdscope incidents: {exc}\n")
        return 2
    print(f"{incident['id']}: {incident['triage']['state']}"
          + (" (false positive)" if incident["triage"].get("false_positive") else ""))
    return 0
