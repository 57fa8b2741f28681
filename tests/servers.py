"""Real servers for tests: a webhook capture server, Prometheus and Alertmanager on free loopback
ports with short intervals, plus small API helpers. Every server is stopped by the fixture that
started it (by its own process handle), never by name."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_BIN = shutil.which("prometheus")
ALERTMANAGER_BIN = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager (scripts/test.sh does it)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- webhook capture ----------------------------------------------------------------------------


@dataclass
class Post:
    path: str
    body: bytes
    headers: dict[str, str]
    received: float  # time.monotonic() when the request arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CaptureServer:
    """A real HTTP server on 127.0.0.1 that records every POST.

    ``responses`` is a list of status codes served in order (then 200); ``delay`` seconds are
    slept before answering; ``gate`` (an Event) when set blocks every answer until it is set.
    """

    responses: list[int] = field(default_factory=list)
    delay: float = 0.0
    gate: threading.Event | None = None
    posts: list[Post] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> CaptureServer:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if capture.gate is not None:
                    capture.gate.wait(30)
                if capture.delay:
                    time.sleep(capture.delay)
                with capture._cond:
                    status = capture.responses.pop(0) if capture.responses else 200
                    if status < 300:
                        capture.posts.append(Post(self.path, body, dict(self.headers), arrived))
                    capture._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def wait_for(self, count: int, timeout: float = 10.0, where: Callable[[Post], bool] | None = None) -> list[Post]:
        """Block until ``count`` accepted posts (matching ``where``) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [p for p in self.posts if where is None or where(p)]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._cond.wait(left)

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def capture_server(**kwargs: Any) -> Iterator[CaptureServer]:
    server = CaptureServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


# -- HTTP helpers -------------------------------------------------------------------------------


def http_json(url: str, data: Any = None, timeout: float = 5.0) -> Any:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="GET" if data is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def git_repo(path: Path) -> Path:
    """A work repo on main whose origin is a local bare repo (so a force push harms nothing)."""
    bare, work = path / "origin.git", path / "work"
    env = {**os.environ, "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
           "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.invalid"}
    for args in (["git", "init", "-q", "--bare", str(bare)], ["git", "init", "-q", "-b", "main", str(work)],
                 ["git", "-C", str(work), "commit", "-q", "--allow-empty", "-m", "init"],
                 ["git", "-C", str(work), "remote", "add", "origin", str(bare)],
                 ["git", "-C", str(work), "push", "-q", "origin", "main"]):
        subprocess.run(args, check=True, env=env, capture_output=True)
    return work


# -- Prometheus and Alertmanager ----------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _start(name: str, args: list[str], port: int, workdir: Path, timeout: float = 30.0) -> Server:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, f"http://127.0.0.1:{port}", proc, log)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
        with urllib.request.urlopen(server.url + "/-/ready", timeout=2) as resp:
            return resp.status == 200

    try:
        wait_until(ready, timeout, what=f"{name} ready")
    except BaseException:
        server.stop()
        raise
    return server


def start_prometheus(workdir: Path, *, scrape_targets: list[str], rule_files: list[Path],
                     alertmanager_url: str | None = None, interval: str = "1s",
                     remote_write_receiver: bool = False) -> Server:
    """Prometheus on a free loopback port scraping ``scrape_targets`` (host:port) every
    ``interval`` and evaluating ``rule_files`` at the same interval; with
    ``remote_write_receiver`` it also accepts remote write at ``/api/v1/write``."""
    assert PROMETHEUS_BIN, INSTALL_HINT
    port = free_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "cmdscope", "static_configs": [{"targets": scrape_targets}]}],
    }
    if alertmanager_url:
        host = urllib.parse.urlparse(alertmanager_url).netloc
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    (workdir / "prom-data").mkdir(exist_ok=True)
    return _start("prometheus", [
        PROMETHEUS_BIN, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        *(["--web.enable-remote-write-receiver"] if remote_write_receiver else []),
    ], port, workdir)


def start_alertmanager(workdir: Path, config_text: str) -> Server:
    """Alertmanager on a free loopback port with clustering off."""
    assert ALERTMANAGER_BIN, INSTALL_HINT
    port = free_port()
    cfg = workdir / "alertmanager.yml"
    cfg.write_text(config_text)
    (workdir / "am-data").mkdir(exist_ok=True)
    return _start("alertmanager", [
        ALERTMANAGER_BIN, f"--config.file={cfg}", f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn",
    ], port, workdir)


def shipped_alertmanager_config(workdir: Path, *, incidents_url: str, sink_url: str,
                                group_wait: str = "1s", group_interval: str = "2s") -> str:
    """alerting/alertmanager.yml with its routes untouched, but every endpoint pointed at local
    servers (the cmdscope incident receiver keeps its own webhook; chat, paging and email go to
    ``sink_url`` or a closed port) and short group timings so a test sees notifications in seconds."""
    config = yaml.safe_load((ROOT / "alerting" / "alertmanager.yml").read_text())
    secret = workdir / "chat-webhook-url"
    secret.write_text(sink_url + "/chat\n")
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{free_port()}"  # nobody listens: mail fails, routing does not
    config["global"]["smtp_require_tls"] = False

    def shorten(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route or route is config["route"]:
                route[key] = group_wait if key == "group_wait" else group_interval
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(secret)
        for hook in receiver.get("webhook_configs", []):
            if urllib.parse.urlparse(hook["url"]).hostname == "127.0.0.1":
                hook["url"] = incidents_url
            else:
                hook["url"] = f"{sink_url}/page/{receiver['name']}"
    return yaml.safe_dump(config, sort_keys=False)


def prom_query(prom_url: str, expr: str) -> list[dict[str, Any]]:
    """Instant query; returns the result vector (raises on an API error)."""
    data = http_json(f"{prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if data.get("status") != "success":
        raise ValueError(f"query {expr!r} failed: {data}")
    result = data["data"]["result"]
    return result if isinstance(result, list) else [result]


def prom_alerts(prom_url: str) -> list[dict[str, Any]]:
    return list(http_json(f"{prom_url}/api/v1/alerts")["data"]["alerts"])


def am_post_alerts(am_url: str, alerts: list[dict[str, Any]]) -> None:
    """Push alerts through Alertmanager's v2 API, as Prometheus does."""
    http_json(f"{am_url}/api/v2/alerts", alerts)


def am_alerts(am_url: str) -> list[dict[str, Any]]:
    return list(http_json(f"{am_url}/api/v2/alerts"))


def tools_available() -> bool:
    return bool(PROMETHEUS_BIN and ALERTMANAGER_BIN and os.access(PROMETHEUS_BIN, os.X_OK))
