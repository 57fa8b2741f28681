"""Immediate notifier: posts critical records (a critical dangerous hit, a denial) to webhooks.

The caller's cost is one bounded ``put_nowait`` (about a microsecond): payloads are built,
redacted again and posted by a daemon thread, with a timeout and retries with exponential backoff.
When the queue is full the record is dropped and counted (``Notifier.dropped``), never waited for.

Usage::

    from cmdscope._sinks.notify import Notifier, Webhook, is_notifiable

    notifier = Notifier([Webhook("https://hooks.slack.com/services/T/B/X", format="slack"),
                         Webhook("http://127.0.0.1:8080/cmdscope")])
    if is_notifiable(record):
        notifier.notify(record)
    notifier.flush(2.0)          # before exit, or in tests

``Notifier.from_env()`` reads ``CMDSCOPE_NOTIFY_WEBHOOKS``: comma-separated URLs, a
``slack+https://...`` prefix selects the Slack-compatible payload.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ENV_WEBHOOKS = "CMDSCOPE_NOTIFY_WEBHOOKS"
Format = Literal["json", "slack"]
# Status codes worth retrying: the receiver may accept the same post a moment later.
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Webhook:
    """One destination: ``format="json"`` posts the generic payload, ``"slack"`` a Slack-compatible one."""

    url: str
    format: Format = "json"

    def __post_init__(self) -> None:
        if self.format not in ("json", "slack"):
            raise ValueError(f"webhook {self.url}: format must be 'json' or 'slack', not {self.format!r}")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook {self.url!r}: URL must start with http:// or https://")


def parse_webhooks(spec: str) -> list[Webhook]:
    """Parse ``CMDSCOPE_NOTIFY_WEBHOOKS``: ``url[,slack+url...]``; raises ValueError naming the entry."""
    hooks: list[Webhook] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry.startswith("slack+"):
            hooks.append(Webhook(entry[len("slack+"):], format="slack"))
        else:
            hooks.append(Webhook(entry))
    return hooks


def is_notifiable(record: Mapping[str, Any]) -> bool:
    """True for what must reach a human at once: a denial or a critical dangerous hit."""
    return record.get("kind") == "denial" or record.get("cmdscope.danger.severity") == "critical"


def _load_redactor() -> Callable[[str], str]:
    try:
        from cmdscope.redact import redact
    except ImportError:  # the redaction module is optional here: records arrive redacted already
        return lambda text: text
    return redact


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_value(v, redact) for v in value]
    return value


def _summary(record: Mapping[str, Any]) -> str:
    actor = record.get("cmdscope.actor", "unknown actor")
    rules = record.get("cmdscope.danger.rule") or record.get("cmdscope.policy.rule") or "?"
    if isinstance(rules, list):
        rules = ", ".join(map(str, rules))
    if record.get("kind") == "denial" or record.get("cmdscope.outcome") == "denied":
        return f"cmdscope: command denied for {actor} by rule {rules}"
    severity = record.get("cmdscope.danger.severity", "")
    return f"cmdscope: {severity} dangerous command ran for {actor} (rule {rules})".replace("  ", " ")


def build_payload(record: Mapping[str, Any], fmt: Format) -> dict[str, Any]:
    """The body posted for ``record`` (already redacted) in the webhook's format."""
    title = _summary(record)
    command = str(record.get("process.command_line", ""))
    if fmt == "slack":
        details = [f"*{k}*: `{v}`" for k, v in record.items()
                   if k in ("cmdscope.actor", "cmdscope.packet", "cmdscope.policy.action",
                            "cmdscope.danger.category", "process.working_directory", "record_id")]
        text = title + (f"\n```{command}```" if command else "")
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(details) or "-"}]},
            ],
        }
    return {
        "source": "cmdscope",
        "title": title,
        "severity": "critical",
        "kind": record.get("kind"),
        "record": dict(record),
    }


class Notifier:
    """Posts records to webhooks from a daemon thread; ``notify`` never blocks on the network."""

    def __init__(
        self,
        webhooks: Iterable[Webhook],
        *,
        queue_size: int = 1000,
        retries: int = 3,
        timeout: float = 2.0,
        backoff: float = 0.2,
    ) -> None:
        self.webhooks = list(webhooks)
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.dropped = 0  # queue full: the caller was not made to wait
        self.sent = 0  # posts accepted (2xx)
        self.failed = 0  # posts given up after retries
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self._redact: Callable[[str], str] | None = None
        self._thread = threading.Thread(target=self._run, name="cmdscope-notifier", daemon=True)
        self._thread.start()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> Notifier | None:
        """A notifier for ``CMDSCOPE_NOTIFY_WEBHOOKS``, or None when it is unset or empty. From
        this process's environment the entries that parsed (cmdscope._settings: a bad entry was
        reported before the command ran); from an ``env`` given, a bad entry raises ValueError."""
        if env is None:
            from cmdscope import _settings as settings

            spec = ",".join(settings.get(ENV_WEBHOOKS))
        else:
            spec = env.get(ENV_WEBHOOKS, "")
        try:
            hooks = parse_webhooks(spec)
        except ValueError as exc:
            raise ValueError(f"{ENV_WEBHOOKS}: {exc}") from None
        return cls(hooks, **kwargs) if hooks else None

    def notify(self, record: Mapping[str, Any]) -> None:
        """Queue ``record`` for posting; drops (and counts) it when the queue is full."""
        try:
            self._queue.put_nowait(dict(record))
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued record was posted or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, then stop the worker thread."""
        done = self.flush(timeout)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            return False
        self._thread.join(max(0.0, timeout))
        return done

    # -- worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            try:
                if record is None:
                    return
                self._deliver(record)
            except Exception:  # a notifier bug must never kill the thread or the host program
                self.failed += 1
            finally:
                self._queue.task_done()

    def _deliver(self, record: dict[str, Any]) -> None:
        if self._redact is None:
            self._redact = _load_redactor()
        clean = {k: _redact_value(v, self._redact) for k, v in record.items()}
        for hook in self.webhooks:
            body = json.dumps(build_payload(clean, hook.format), default=str).encode()
            if self._post(hook.url, body):
                self.sent += 1
            else:
                self.failed += 1

    def _post(self, url: str, body: bytes) -> bool:
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(
                url, data=body, method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "cmdscope-notifier"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                    return True
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUS:
                    return False
            except (urllib.error.URLError, OSError, TimeoutError):
                pass
        return False
