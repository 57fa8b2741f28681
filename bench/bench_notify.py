"""Caller-side cost of Notifier.notify() against baselines measured in the same run.

    python bench/bench_notify.py [--n 20000]

The notifier's worker thread posts to a real local HTTP server while the caller is timed, so the
numbers include contention with the worker (GIL). Baselines: a bare ``queue.Queue.put_nowait`` and
``put_nowait`` of a dict copy. Target: notify() p99 well under 1 ms (the issue's budget), median
within a few times the bare put.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cmdscope._sinks.notify import Notifier, Webhook

RECORD: dict[str, Any] = {
    "schema": 1, "record_id": "a" * 32, "kind": "command", "cmdscope.actor": "claude-code",
    "cmdscope.packet": "PKT-1", "cmdscope.outcome": "success", "process.command_line": "rm -rf /tmp/x",
    "cmdscope.danger.rule": ["rm-rf"], "cmdscope.danger.severity": "critical", "cmdscope.policy.action": "allow",
    "process.exit.code": 0, "duration_s": 0.01,
}


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _time_calls(fn: Any, n: int) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        fn(RECORD)
        samples.append((clock() - start) / 1000.0)
    return samples


def _report(name: str, samples: list[float], base: float) -> None:
    samples.sort()
    med = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"{name:<34} median {med:7.2f} us   p99 {p99:8.2f} us   max {samples[-1]:9.1f} us   "
          f"x{med / base:5.2f} of baseline")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    q: queue.Queue[Any] = queue.Queue(maxsize=args.n + 10)
    bare = _time_calls(q.put_nowait, args.n)
    q2: queue.Queue[Any] = queue.Queue(maxsize=args.n + 10)
    copied = _time_calls(lambda r: q2.put_nowait(dict(r)), args.n)

    # queue smaller than n: once the worker falls behind, notify() takes the drop path too
    notifier = Notifier([Webhook(url)], queue_size=1000, retries=0, timeout=2)
    notifier.notify(RECORD)
    notifier.flush(5)  # warm: first redaction import and connection
    start = time.perf_counter()
    live = _time_calls(notifier.notify, args.n)
    wall = time.perf_counter() - start
    notifier.flush(30)

    base = statistics.median(bare)
    print(f"notify() caller cost, n={args.n}, worker posting to {url}")
    _report("baseline queue.put_nowait", bare, base)
    _report("baseline put_nowait(dict(record))", copied, base)
    _report("Notifier.notify", live, base)
    print(f"posted {notifier.sent}, dropped {notifier.dropped} (queue full), failed {notifier.failed}; "
          f"caller loop {wall * 1000:.1f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
