"""At-least-once delivery under faults: `cmdscope ship --follow` vs the SDK's BatchSpanProcessor.

Scenario: P producer processes append N records each to one ledger while the OTLP receiver
(a test receiver decoding real protobuf) is stopped and restarted several times and the
shipper itself is SIGKILLed and restarted. Then every record id must have arrived at least
once; duplicates are counted. The same producers using only the OTel SDK (BatchSpanProcessor +
OTLP/HTTP exporter, no ledger) show what a plain SDK pipeline loses in the same storm.

    python bench/stress_ship.py --producers 8 --per-producer 125000     # 1,000,000 records
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from otlp_receiver import OtlpReceiver, free_port  # noqa: E402

from cmdscope._sinks.ledger import segments  # noqa: E402

PY = sys.executable

PRODUCER_LEDGER = textwrap.dedent("""
    import os, sys, time
    from cmdscope._sinks.ledger import LedgerWriter
    path, wid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    w = LedgerWriter(path, fsync="batch")
    t = time.time_ns()
    for i in range(n):
        rid = f"{wid:04x}{i:028x}"
        w.append({"schema": 1, "record_id": rid, "kind": "command", "time": "2026-01-01T00:00:00.000000Z",
                  "start_ns": t + i, "end_ns": t + i + 1000, "duration_s": 1e-6,
                  "trace_id": rid, "span_id": f"{wid:04x}{i:012x}", "parent_span_id": None, "name": "true",
                  "process.executable.name": "true", "process.command_line": "true", "process.exit.code": 0,
                  "cmdscope.actor": "stress", "cmdscope.outcome": "success", "cmdscope.command.hash": "0" * 16})
    w.close()
""")

PRODUCER_SDK = textwrap.dedent("""
    import sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    endpoint, wid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=1)))
    tracer = tp.get_tracer("stress")
    for i in range(n):
        with tracer.start_as_current_span("true") as span:
            span.set_attribute("cmdscope.record.id", f"{wid:04x}{i:028x}")
    tp.shutdown()
""")


def _storm(receiver: OtlpReceiver, stop: threading.Event, outages: int, period: float) -> int:
    """Stop the receiver for a while, then start it again on the same port, ``outages`` times."""
    done = 0
    while done < outages and not stop.wait(period):
        receiver.stop()
        time.sleep(period / 2)
        receiver.start()
        done += 1
    return done


def _shipper(ledger: str, endpoint: str) -> subprocess.Popen:
    env = dict(os.environ, OTEL_LOGS_EXPORTER="none")
    return subprocess.Popen([PY, "-m", "cmdscope", "ship", "--follow", "--ledger", ledger, "--endpoint", endpoint,
                             "--timeout", "1", "--max-backoff", "1"], env=env, stderr=subprocess.DEVNULL)


def run_ledger_scenario(producers: int, per_producer: int, outages: int = 3, shipper_kills: int = 2,
                        period: float = 1.5, deadline_s: float = 600,
                        rotate_bytes: int | None = None) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="cmdscope-stress-")
    ledger = f"{tmp}/ledger.jsonl"
    receiver = OtlpReceiver(free_port()).start()
    stop = threading.Event()
    storm = threading.Thread(target=_storm, args=(receiver, stop, outages, period), daemon=True)
    t0 = time.monotonic()
    env = dict(os.environ)
    if rotate_bytes is not None:  # small segments: rotation races with writers and the shipper
        env["CMDSCOPE_LEDGER_MAX_BYTES"] = str(rotate_bytes)
    procs = [subprocess.Popen([PY, "-c", PRODUCER_LEDGER, ledger, str(w), str(per_producer)], env=env)
             for w in range(producers)]
    shipper = _shipper(ledger, receiver.endpoint)
    storm.start()
    kills = 0
    while any(p.poll() is None for p in procs) or kills < shipper_kills:
        time.sleep(period)
        if kills < shipper_kills:
            shipper.send_signal(signal.SIGKILL)
            shipper.wait()
            kills += 1
            shipper = _shipper(ledger, receiver.endpoint)
    produced_s = time.monotonic() - t0
    stop.set()
    storm.join()
    expected = {f"{w:04x}{i:028x}" for w in range(producers) for i in range(per_producer)}
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with receiver.received.lock:
            got = {s.attributes.get("cmdscope.record.id") for s in receiver.received.spans}
        if expected <= got:
            break
        time.sleep(0.5)
    shipper.terminate()
    shipper.wait(timeout=30)
    with receiver.received.lock:
        ids = [s.attributes.get("cmdscope.record.id") for s in receiver.received.spans]
    receiver.stop()
    unique = set(ids)
    missing = sorted(expected - unique)
    return {
        "missing_sample": missing[:5],
        "records": len(expected),
        "delivered_unique": len(expected & unique),
        "lost": len(expected - unique),
        "duplicates": len(ids) - len(unique),
        "corrupt": len(unique - expected),
        "segments": len(segments(ledger)),
        "produce_seconds": round(produced_s, 1),
        "total_seconds": round(time.monotonic() - t0, 1),
    }


def run_sdk_scenario(producers: int, per_producer: int, outages: int = 3, period: float = 1.5) -> dict[str, float]:
    receiver = OtlpReceiver(free_port()).start()
    stop = threading.Event()
    storm = threading.Thread(target=_storm, args=(receiver, stop, outages, period), daemon=True)
    t0 = time.monotonic()
    procs = [subprocess.Popen([PY, "-c", PRODUCER_SDK, receiver.endpoint, str(w), str(per_producer)],
                              stderr=subprocess.DEVNULL) for w in range(producers)]
    storm.start()
    for p in procs:
        p.wait()
    stop.set()
    storm.join()
    time.sleep(1)
    with receiver.received.lock:
        ids = [s.attributes.get("cmdscope.record.id") for s in receiver.received.spans]
    receiver.stop()
    expected = producers * per_producer
    unique = len(set(ids))
    return {"records": expected, "delivered_unique": unique, "lost": expected - unique,
            "duplicates": len(ids) - unique, "total_seconds": round(time.monotonic() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--producers", type=int, default=8)
    ap.add_argument("--per-producer", type=int, default=125_000)
    ap.add_argument("--outages", type=int, default=5)
    ap.add_argument("--shipper-kills", type=int, default=3)
    ap.add_argument("--rotate-bytes", type=int, default=None, help="rotate the ledger at this size")
    ap.add_argument("--deadline", type=float, default=600, help="seconds to wait for delivery after producing")
    ap.add_argument("--skip-sdk", action="store_true", help="only the ledger + ship scenario")
    args = ap.parse_args()
    print(f"{args.producers} producers x {args.per_producer} records, {args.outages} receiver outages")
    ledger = run_ledger_scenario(args.producers, args.per_producer, args.outages, args.shipper_kills, period=3.0,
                                 deadline_s=args.deadline, rotate_bytes=args.rotate_bytes)
    print("cmdscope ledger + ship --follow:", ledger, flush=True)
    if args.skip_sdk:
        return
    sdk = run_sdk_scenario(args.producers, args.per_producer, args.outages, period=3.0)
    print("OTel SDK BatchSpanProcessor only:", sdk)
    if ledger["records"]:
        print(f"delivered: ledger+ship {ledger['delivered_unique'] / ledger['records']:.4f}, "
              f"SDK only {sdk['delivered_unique'] / sdk['records']:.4f} (ratio of records that arrived)")


if __name__ == "__main__":
    main()
