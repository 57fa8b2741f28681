"""``cmdscope incidents serve``: the Alertmanager webhook receiver that files incident stubs."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

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
    parser = argparse.ArgumentParser(prog="cmdscope incidents", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    serve = sub.add_parser("serve", help="receive Alertmanager webhooks and file incident stubs")
    serve.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN}; port 0 picks one)")
    serve.add_argument("--dir", required=True, type=Path, help="directory for incident-*.json / .md")
    serve.add_argument("--ledger", type=Path, help="JSONL ledger to take matching records from")
    serve.add_argument("--records", type=int, default=20, help="matching ledger records per incident (default 20)")
    args = parser.parse_args(argv)

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

    from cmdscope.incidents import IncidentStore, make_server

    try:
        store = IncidentStore(args.dir, ledger=args.ledger, records=args.records)
        server = make_server(host, port, store)
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
