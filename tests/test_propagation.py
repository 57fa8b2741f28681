"""Trace-context and baggage helpers: W3C formats, and hand-written quoting equal to the stdlib's."""

from __future__ import annotations

import shlex
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from cmdscope._context import Context
from cmdscope._pipeline import join, quote
from cmdscope._propagation import child_env, format_baggage, parse_baggage, parse_traceparent, quote as pct_quote, unquote


class TestTraceparent:
    def test_valid(self) -> None:
        """A version-00 traceparent parses into its three fields."""
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        assert parse_traceparent(tp) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")

    def test_invalid(self) -> None:
        """All-zero ids, wrong lengths, non-hex and version ff are rejected."""
        for bad in ("", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "00-abc-def-01",
                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"):
            assert parse_traceparent(bad) is None


class TestChildEnv:
    def test_adds_only_propagation_variables(self) -> None:
        """The child's environment is the parent's plus TRACEPARENT, BAGGAGE and CMDSCOPE_*."""
        base = {"PATH": "/bin", "BAGGAGE": "team=core"}
        env = child_env(base, Context(actor="a b", packet="P,1"), "1" * 32, "2" * 16)
        assert env["PATH"] == "/bin"
        assert env["TRACEPARENT"] == f"00-{'1' * 32}-{'2' * 16}-01"
        assert parse_baggage(env["BAGGAGE"]) == {"team": "core", "cmdscope.actor": "a b", "cmdscope.packet": "P,1"}
        assert set(env) - set(base) == {"TRACEPARENT", "CMDSCOPE_ACTOR", "CMDSCOPE_PACKET"}


@given(st.text())
def test_quote_equals_shlex(word: str) -> None:
    """The hot-path shell quoting is exactly shlex.quote."""
    assert quote(word) == shlex.quote(word)


@given(st.lists(st.text(), max_size=5))
def test_join_equals_shlex(argv: list[str]) -> None:
    assert join(argv) == shlex.join(argv)


@given(st.text())
def test_percent_quote_equals_urllib(text: str) -> None:
    """Baggage encoding equals urllib.parse.quote(safe='') and round-trips."""
    try:
        expected = urllib.parse.quote(text, safe="")
    except UnicodeEncodeError:  # lone surrogates: never produced by clean_text
        return
    assert pct_quote(text) == expected
    assert unquote(pct_quote(text)) == text


_text = st.text(st.characters(blacklist_categories=("Cs",)))


@given(st.dictionaries(_text.filter(lambda k: k.strip() == k and k), _text.filter(lambda v: v.strip() == v)))
def test_baggage_round_trip(entries: dict[str, str]) -> None:
    """Any keys and values survive format_baggage -> parse_baggage unchanged."""
    assert parse_baggage(format_baggage(entries)) == entries


class TestInheritedEnvironment:
    """What ``cmdscope.run`` hands its real children: the environment kept between commands is
    never stale, and threads never see each other's ``TRACEPARENT``."""

    PROBE = ["sh", "-c", 'echo "$TRACEPARENT ${SPAWN_PROBE-unset} $CMDSCOPE_ACTOR"']

    def test_environment_changes_reach_the_next_child(self, monkeypatch) -> None:
        import cmdscope

        seen = []
        for change in (lambda: monkeypatch.setenv("SPAWN_PROBE", "one"), lambda: None,
                       lambda: monkeypatch.setenv("SPAWN_PROBE", "two"), lambda: monkeypatch.delenv("SPAWN_PROBE")):
            change()
            result = cmdscope.run(self.PROBE, capture_output=True, text=True, actor="probe")
            traceparent, probe, actor = result.stdout.split()
            rec = result.record
            assert traceparent == f"00-{rec['trace_id']}-{rec['span_id']}-01" and actor == "probe"
            seen.append(probe)
        assert seen == ["one", "one", "two", "unset"]

    def test_threads_each_give_their_children_their_own_ids(self) -> None:
        import threading

        import cmdscope

        mismatches: list[str] = []

        def work(n: int) -> None:
            for _ in range(8):
                result = cmdscope.run(self.PROBE, capture_output=True, text=True, actor=f"t{n}")
                traceparent, _, actor = result.stdout.split()
                rec = result.record
                if traceparent != f"00-{rec['trace_id']}-{rec['span_id']}-01" or actor != f"t{n}":
                    mismatches.append(result.stdout)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert mismatches == []
