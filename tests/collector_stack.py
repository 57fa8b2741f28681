"""The real Collector distribution (collector/, built by scripts/build-collector.sh) and Jaeger v2,
started by tests on free loopback ports with the SHIPPED configs: only addresses, state
directories and TLS are overridden, through the Collector's own `--set` flags. Every process is
stopped by the fixture that started it (by its own handle), never by name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = ROOT / "build" / "collector"
OTELCOL = BIN_DIR / "otelcol-cmdscope"
JAEGER = BIN_DIR / "jaeger"
CONFIG_DIR = ROOT / "collector-config"


def ensure_built() -> None:
    """Build the binaries when missing or stale: a no-op when scripts/test.sh built them, else a
    cold build (minutes; tests that call this carry a long timeout for that case). The build runs
    in its own process group, which is killed if the test is interrupted."""
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "build-collector.sh")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=3600)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    assert proc.returncode == 0, f"scripts/build-collector.sh failed:\n{out}"
    assert OTELCOL.exists() and JAEGER.exists()


# pytest-timeout for a test whose fixture may have to build the binaries from a cold Go cache
BUILD_TIMEOUT = 3600


@dataclass
class Proc:
    """A child process with a log file, that can be killed (SIGKILL) and started again with the
    same arguments."""

    name: str
    args: list[str]
    workdir: Path
    env: dict[str, str]
    ready: Callable[[], bool] | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> Proc:
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n--- start {self.starts} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env=self.env, start_new_session=True)
        if self.ready is not None:
            def check() -> bool:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                return bool(self.ready and self.ready())
            try:
                wait_until(check, timeout, interval=0.1, what=f"{self.name} ready")
            except BaseException:
                self.stop()
                raise
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flush (what a crash or an OOM kill does)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        """Resident memory of the running process (VmRSS), 0 when it is not running."""
        if not self.alive():
            return 0
        assert self.proc is not None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_seconds(self) -> float:
        """User+system CPU time of the running process so far."""
        if not self.alive():
            return 0.0
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra)
    return env


@dataclass
class Collector(Proc):
    """otelcol-cmdscope with a shipped config plus `--set` overrides."""

    health: str = ""
    ports: dict[str, int] = field(default_factory=dict)


def collector(name: str, config: Path | list[Path], workdir: Path, env: dict[str, str], sets: dict[str, Any],
              health_port: int) -> Collector:
    configs = config if isinstance(config, list) else [config]
    args = [str(OTELCOL), *(f"--config={c}" for c in configs)]
    for key, value in sets.items():
        args.append(f"--set={key}={json.dumps(value) if not isinstance(value, str) else value}")
    health = f"http://127.0.0.1:{health_port}/"
    return Collector(name=name, args=args, workdir=workdir, env=_base_env(env), ready=lambda: _http_ok(health),
                     health=health)


def agent_collector(workdir: Path, *, ledger: Path, gateway_endpoints: list[str], storage: Path,
                    name: str = "agent", extra_sets: dict[str, Any] | None = None,
                    overlays: tuple[str, ...] = (), extra_env: dict[str, str] | None = None) -> Collector:
    """The shipped agent.yaml on free ports, tailing ``ledger``, exporting to the gateway(s)
    without TLS (loopback). With several gateway endpoints the agent's loadbalancing exporter
    routes by trace id (gateway.yaml is then run as several instances). ``overlays`` are shipped
    overlay files laid over agent.yaml (``"agent-native.yaml"``)."""
    storage.mkdir(parents=True, exist_ok=True)
    ports = {"grpc": free_port(), "http": free_port(), "health": free_port()}
    sets: dict[str, Any] = {
        "extensions::health_check::endpoint": f"127.0.0.1:{ports['health']}",
        "receivers::otlp::protocols::grpc::endpoint": f"127.0.0.1:{ports['grpc']}",
        "receivers::otlp::protocols::http::endpoint": f"127.0.0.1:{ports['http']}",
        "exporters::otlp/gateway::tls::insecure": "true",
        "service::telemetry::metrics::level": "none",
    }
    sets.update(extra_sets or {})
    env = {"CMDSCOPE_LEDGER": str(ledger), "CMDSCOPE_OTELCOL_STORAGE": str(storage),
           "CMDSCOPE_GATEWAY_ENDPOINT": gateway_endpoints[0], **(extra_env or {})}
    proc = collector(name, [CONFIG_DIR / "agent.yaml", *(CONFIG_DIR / o for o in overlays)], workdir, env, sets,
                     ports["health"])
    proc.ports = ports
    return proc


def gateway_collector(workdir: Path, *, traces_endpoint: str, logs_endpoint: str, remote_write: str,
                      storage: Path, remote_ledger: Path, name: str = "gateway",
                      grpc_port: int | None = None) -> Collector:
    """The shipped gateway.yaml on free loopback ports (``grpc_port`` fixed, so a restarted
    gateway listens where the agent sends)."""
    storage.mkdir(parents=True, exist_ok=True)
    ports = {"grpc": grpc_port or free_port(), "http": free_port(), "health": free_port(), "prom": free_port()}
    sets: dict[str, Any] = {
        "extensions::health_check::endpoint": f"127.0.0.1:{ports['health']}",
        "receivers::otlp::protocols::grpc::endpoint": f"127.0.0.1:{ports['grpc']}",
        "receivers::otlp::protocols::http::endpoint": f"127.0.0.1:{ports['http']}",
        "exporters::otlp/traces::tls::insecure": "true",
        "exporters::prometheus::endpoint": f"127.0.0.1:{ports['prom']}",
        "service::telemetry::metrics::level": "none",
    }
    env = {"CMDSCOPE_OTELCOL_STORAGE": str(storage), "CMDSCOPE_TRACES_ENDPOINT": traces_endpoint,
           "CMDSCOPE_LOGS_ENDPOINT": logs_endpoint, "CMDSCOPE_REMOTE_WRITE_ENDPOINT": remote_write,
           "CMDSCOPE_REMOTE_LEDGER": str(remote_ledger)}
    proc = collector(name, CONFIG_DIR / "gateway.yaml", workdir, env, sets, ports["health"])
    proc.ports = ports
    return proc


JAEGER_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 200000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch: {{}}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass
class Jaeger(Proc):
    query_url: str = ""
    otlp_endpoint: str = ""

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans of one trace from the HTTP query API ([] while it is not there)."""
        try:
            with urllib.request.urlopen(f"{self.query_url}/api/traces/{trace_id}", timeout=5) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
        traces = data.get("data") or []
        return list(traces[0]["spans"]) if traces else []

    def services(self) -> list[str]:
        with urllib.request.urlopen(f"{self.query_url}/api/services", timeout=5) as resp:
            return list(json.loads(resp.read()).get("data") or [])


def jaeger(workdir: Path) -> Jaeger:
    """Jaeger v2 (in-memory store): OTLP/gRPC in, HTTP query API out, on free loopback ports."""
    ports = {"otlp": free_port(), "query": free_port(), "query_grpc": free_port()}
    cfg = workdir / "jaeger.yaml"
    cfg.write_text(JAEGER_CONFIG.format(**ports))
    query = f"http://127.0.0.1:{ports['query']}"
    return Jaeger(name="jaeger", args=[str(JAEGER), f"--config={cfg}"], workdir=workdir, env=_base_env({}),
                  ready=lambda: _http_ok(query + "/api/services"), query_url=query,
                  otlp_endpoint=f"127.0.0.1:{ports['otlp']}")


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    return wait_until(check, timeout, interval=interval, what=what)


def monotonic_ms() -> float:
    return time.monotonic() * 1000
