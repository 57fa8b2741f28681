"""The in-process notifier (cmdscope._sinks.notify) posting to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from servers import capture_server

from cmdscope._sinks.notify import ENV_WEBHOOKS, Notifier, Webhook, build_payload, is_notifiable, parse_webhooks

SECRET = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


def _hit(**extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema": 1,
        "record_id": "0" * 32,
        "kind": "command",
        "cmdscope.actor": "claude-code",
        "cmdscope.packet": "PKT-1",
        "cmdscope.outcome": "success",
        "process.command_line": "rm -rf /",
        "cmdscope.danger.rule": ["rm-rf-root"],
        "cmdscope.danger.severity": "critical",
        "cmdscope.policy.action": "allow",
    }
    record.update(extra)
    return record


class TestDelivery:
    def test_generic_json_payload_is_posted(self) -> None:
        """A json webhook receives source, title, severity and the whole record."""
        with capture_server() as srv:
            notifier = Notifier([Webhook(srv.url + "/hook")])
            notifier.notify(_hit())
            assert notifier.flush(5)
            (post,) = srv.posts
            body = post.json()
            assert post.path == "/hook" and post.headers["Content-Type"] == "application/json"
            assert body["source"] == "cmdscope" and body["severity"] == "critical"
            assert body["title"] == "cmdscope: critical dangerous command ran for claude-code (rule rm-rf-root)"
            assert body["record"] == _hit()
            assert (notifier.sent, notifier.failed, notifier.dropped) == (1, 0, 0)

    def test_slack_payload_has_text_and_blocks(self) -> None:
        """A slack webhook receives a Slack-compatible body: `text` plus mrkdwn `blocks`."""
        with capture_server() as srv:
            notifier = Notifier([Webhook(srv.url, format="slack")])
            notifier.notify(_hit(kind="denial", **{"cmdscope.outcome": "denied", "cmdscope.policy.action": "deny"}))
            assert notifier.flush(5)
            body = srv.posts[0].json()
            assert body["text"].startswith("cmdscope: command denied for claude-code by rule rm-rf-root")
            assert "```rm -rf /```" in body["text"]
            assert body["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": body["text"]}}
            assert "*cmdscope.packet*: `PKT-1`" in body["blocks"][1]["elements"][0]["text"]

    def test_every_webhook_gets_the_record(self) -> None:
        """Two webhooks of different formats both receive one post per record."""
        with capture_server() as a, capture_server() as b:
            notifier = Notifier([Webhook(a.url), Webhook(b.url, format="slack")])
            for _ in range(3):
                notifier.notify(_hit())
            assert notifier.flush(5)
            assert len(a.posts) == 3 and len(b.posts) == 3
            assert notifier.sent == 6

    def test_secrets_are_redacted_again_before_posting(self) -> None:
        """Defence in depth: a secret left in a text field (or a list of text) is redacted by
        cmdscope.redact before it leaves the process."""
        with capture_server() as srv:
            notifier = Notifier([Webhook(srv.url), Webhook(srv.url, format="slack")])
            notifier.notify(_hit(**{"process.command_line": f"git push https://x:{SECRET}@github.com/o/r",
                                    "cmdscope.danger.category": [f"token {SECRET}"]}))
            assert notifier.flush(5)
            assert len(srv.posts) == 2
            for post in srv.posts:
                assert SECRET not in post.body.decode()
                assert "[REDACTED:" in post.body.decode()

    def test_caller_mutating_the_record_later_does_not_change_the_post(self) -> None:
        """notify() keeps its own copy of the record."""
        gate = threading.Event()
        with capture_server(gate=gate) as srv:
            notifier = Notifier([Webhook(srv.url)])
            record = _hit()
            notifier.notify(record)
            record["cmdscope.actor"] = "someone-else"
            gate.set()
            assert notifier.flush(5)
            assert srv.posts[0].json()["record"]["cmdscope.actor"] == "claude-code"


class TestFailures:
    def test_retries_with_backoff_until_accepted(self) -> None:
        """503 and 429 answers are retried with growing pauses; the third attempt succeeds."""
        with capture_server(responses=[503, 429]) as srv:
            notifier = Notifier([Webhook(srv.url)], retries=3, backoff=0.05)
            start = time.monotonic()
            notifier.notify(_hit())
            assert notifier.flush(5)
            assert len(srv.posts) == 1 and notifier.sent == 1 and notifier.failed == 0
            assert time.monotonic() - start >= 0.05 + 0.1  # two backoff pauses: 0.05 then 0.1

    def test_gives_up_after_retries_and_does_not_retry_client_errors(self) -> None:
        """A 400 is not retried; persistent 500s are given up after `retries`; both count as failed."""
        with capture_server(responses=[400, 500, 500, 500, 500]) as srv:
            notifier = Notifier([Webhook(srv.url)], retries=2, backoff=0.01)
            notifier.notify(_hit())
            notifier.notify(_hit())
            assert notifier.flush(5)
            assert srv.posts == [] and notifier.failed == 2 and srv.responses == [500]

    def test_unreachable_webhook_times_out_without_blocking_the_caller(self) -> None:
        """A receiver that does not answer costs the worker its timeout, never the caller."""
        gate = threading.Event()
        with capture_server(gate=gate) as srv:
            notifier = Notifier([Webhook(srv.url)], retries=0, timeout=0.3)
            start = time.perf_counter()
            notifier.notify(_hit())
            assert time.perf_counter() - start < 0.005
            assert notifier.flush(5)
            assert notifier.failed == 1
            gate.set()

    def test_full_queue_drops_and_counts_instead_of_blocking(self) -> None:
        """With the worker stuck on a slow receiver, records beyond the queue size are dropped and
        counted, and each notify() still returns at once."""
        gate = threading.Event()
        with capture_server(gate=gate) as srv:
            notifier = Notifier([Webhook(srv.url)], queue_size=5, retries=0, timeout=10)
            notifier.notify(_hit())
            srv.wait_for(0, timeout=0.2)  # let the worker take the first record
            time.sleep(0.1)
            worst = 0.0
            for _ in range(20):
                start = time.perf_counter()
                notifier.notify(_hit())
                worst = max(worst, time.perf_counter() - start)
            assert worst < 0.002
            assert notifier.dropped == 15
            gate.set()
            assert notifier.flush(10)
            assert len(srv.posts) == 6 and notifier.sent == 6

    def test_flush_reports_timeout(self) -> None:
        """flush() returns False when the queue cannot drain in time."""
        gate = threading.Event()
        with capture_server(gate=gate) as srv:
            notifier = Notifier([Webhook(srv.url)], timeout=10)
            notifier.notify(_hit())
            assert notifier.flush(0.2) is False
            gate.set()
            assert notifier.close(5) is True


class TestConfiguration:
    def test_from_env_parses_formats(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """CMDSCOPE_NOTIFY_WEBHOOKS: comma-separated, `slack+` prefix selects the Slack format."""
        monkeypatch.setenv(ENV_WEBHOOKS, "http://127.0.0.1:1/a, slack+https://hooks.example/T/B ,")
        notifier = Notifier.from_env()
        assert notifier is not None
        assert notifier.webhooks == [Webhook("http://127.0.0.1:1/a"), Webhook("https://hooks.example/T/B", "slack")]

    def test_from_env_unset_is_none(self) -> None:
        """No variable, no notifier (and no thread)."""
        assert Notifier.from_env({}) is None
        assert Notifier.from_env({ENV_WEBHOOKS: " , "}) is None

    def test_bad_url_names_the_variable_and_entry(self) -> None:
        """A malformed entry is one clear error naming the variable and the entry."""
        with pytest.raises(ValueError, match=r"CMDSCOPE_NOTIFY_WEBHOOKS: webhook 'ftp://x'"):
            Notifier.from_env({ENV_WEBHOOKS: "http://ok.example,ftp://x"})
        with pytest.raises(ValueError, match="format must be"):
            Webhook("http://x", format="xml")  # type: ignore[arg-type]
        assert parse_webhooks("") == []

    def test_is_notifiable_selects_denials_and_critical_hits(self) -> None:
        """Only denials and critical dangerous hits are for the immediate notifier."""
        assert is_notifiable({"kind": "denial"})
        assert is_notifiable(_hit())
        assert not is_notifiable(_hit(**{"cmdscope.danger.severity": "high"}))
        assert not is_notifiable({"kind": "command", "cmdscope.outcome": "failure"})

    def test_payload_builder_is_pure(self) -> None:
        """build_payload does not alter the record it is given."""
        record = _hit()
        build_payload(record, "slack")
        build_payload(record, "json")
        assert record == _hit()
