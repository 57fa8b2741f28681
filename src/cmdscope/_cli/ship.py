"""``cmdscope ship``: export ledger records over OTLP from a persisted checkpoint."""

from __future__ import annotations

import signal
import sys

from cmdscope._cli.args import Parser


def main(argv: list[str]) -> int:
    parser = Parser(prog="cmdscope ship", description=__doc__)
    parser.add_argument("--ledger", help="ledger path (default: $CMDSCOPE_LEDGER or the state dir)")
    parser.add_argument("--endpoint", help="OTLP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT)")
    parser.add_argument("--protocol", choices=("grpc", "http", "http/protobuf"), help="OTLP protocol")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--follow", action="store_true", help="keep shipping new records; back off while the endpoint is down")
    mode.add_argument("--once", action="store_true", help="ship what is there and exit (the default)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-export timeout in seconds")
    parser.add_argument("--max-backoff", type=float, default=30.0,
                        help="longest wait between attempts while the endpoint is down (seconds)")
    parser.add_argument("--status", action="store_true", help="print how many records wait to be shipped")
    args = parser.parse_args(argv)

    from cmdscope import _settings as settings, _shipping as shipping

    settings.announce(prefix="cmdscope ship")  # a bad OTEL_* value: one line, and its default
    ledger = shipping._ledger(args.ledger)
    if args.status:
        print(f"{shipping.checkpoint_lag(ledger)} record(s) waiting in {ledger}")
        return 0
    protocol = "http/protobuf" if args.protocol == "http" else args.protocol
    # The parsed base endpoint (a bad one was said above and is not used); a traces endpoint of
    # its own is left to the SDK, which prefers it for spans.
    endpoint = args.endpoint or (None if settings.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                                 else settings.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    exporter = shipping.default_exporter(endpoint, protocol, args.timeout)
    log_exporter = shipping.default_log_exporter(endpoint, protocol, args.timeout)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stats = shipping.run_shipper(ledger, exporter, log_exporter=log_exporter, follow=args.follow,
                                 max_backoff_s=args.max_backoff, should_stop=lambda: stopping)
    exporter.shutdown()
    if log_exporter is not None:
        log_exporter.shutdown()
    if not args.once or sys.stderr.isatty():
        sys.stderr.write(
            f"cmdscope ship: {stats.shipped} record(s) shipped in {stats.batches} batch(es), "
            f"{stats.failures} failed export(s), {stats.bad_lines} unreadable line(s) skipped, "
            f"{stats.already_exported} span(s) not re-sent (exported in-process)\n"
        )
    return 0 if stats.failures == 0 else 1
