"""``cmdscope hook <agent>``: the handlers agents call.

    cmdscope hook claude-code      one Claude Code hook event on stdin, the answer on stdout
    cmdscope hook codex            one Codex hook event on stdin, the answer on stdout
    cmdscope hook opencode-bridge  long-lived helper for the OpenCode plugin (JSON lines on stdio)
    cmdscope hook daemon           warm helper behind the installed Claude Code / Codex hook client
    cmdscope hook git-pre-push REMOTE URL   policy check of a push (refs on stdin, as git gives them)
    cmdscope hook git-post-commit  record the commit just made

This runs before every tool call the agent makes, so it parses its arguments by hand and imports
only what the event needs. Whatever goes wrong, it answers: unreadable input is recorded as an
integration error and answered with allow plus a warning (or a block with
``CMDSCOPE_GUARD_FAIL=closed``), never a traceback that would leave the agent guessing.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # typing costs ~4 ms per hook process
if TYPE_CHECKING:
    from collections.abc import Mapping

USAGE = ("usage: cmdscope hook claude-code|codex      (hook event JSON on stdin)\n"
         "       cmdscope hook opencode-bridge | daemon [--socket PATH]\n"
         "       cmdscope hook git-pre-push REMOTE URL | git-post-commit\n")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    target, rest = argv[0], argv[1:]
    if "-h" in rest or "--help" in rest:  # help only: no daemon, no record, no stdin read
        sys.stdout.write(USAGE)
        return 0
    from cmdscope import _settings as settings

    found = settings.current()  # parsed once, never raises: a bad value is a line of the answer
    if found["CMDSCOPE_DISABLED"] and target in ("claude-code", "codex"):
        return 0
    if target in ("claude-code", "codex"):
        try:
            return _agent_event(target)
        except BaseException as exc:  # noqa: BLE001 - exit 1 would read as "allow": answer on purpose
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or found["CMDSCOPE_RAISE_INTERNAL"]:
                raise
            return _internal_error(exc)
    if target == "daemon":
        from cmdscope._integrations.hookclient import socket_path
        from cmdscope._integrations.hookd import serve as serve_daemon

        path = rest[1] if len(rest) > 1 and rest[0] == "--socket" else socket_path()
        return serve_daemon(path)
    if target == "opencode-bridge":
        from cmdscope._integrations.opencode import serve

        return serve(sys.stdin.buffer, sys.stdout.buffer)
    if target == "git-pre-push":
        from cmdscope._integrations.git_hooks import pre_push

        if len(rest) < 1:
            sys.stderr.write("cmdscope hook: git-pre-push needs the remote name (git passes it)\n")
            return 2
        return pre_push(rest[0], rest[1] if len(rest) > 1 else "", sys.stdin.read())
    if target == "git-post-commit":
        from cmdscope._integrations.git_hooks import post_commit

        return post_commit(os.getcwd())
    sys.stderr.write(f"cmdscope hook: unknown hook target {target!r}\n{USAGE}")
    return 2


def _agent_event(target: str) -> int:
    out, err, code = run_agent_event(target, sys.stdin.buffer.read())
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


def run_agent_event(target: str, raw: bytes, *, environ: Mapping[str, str] | None = None,
                    cwd: str | None = None) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) of one Claude Code or Codex hook event; used in-process by
    the per-event command and by ``cmdscope hook daemon``, which passes the hook process's
    ``environ`` and ``cwd`` (default: this process's; nothing here reads the daemon's own).
    A bad setting is one line of every answer's stderr (a refusing one also denies the tool
    call: the pipeline's guard step records that denial, so the agent sees why)."""
    from cmdscope import _settings as settings

    found = settings.of(environ)
    if environ is None:
        settings.announce(found, write=lambda _line: None)  # said here, in the answer, not again by the pipeline
    notes = "".join(settings.announce(found, write=lambda _line: None, prefix="cmdscope hook", once=False))
    out, err, code = _agent_answer(target, raw, environ, cwd)
    return out, notes + err, code


def _agent_answer(target: str, raw: bytes, environ: Mapping[str, str] | None,
                  cwd: str | None) -> tuple[str, str, int]:
    from cmdscope import _settings as settings

    from cmdscope._integrations import claude_code
    from cmdscope._integrations.pending import FileStore

    found = settings.of(environ)
    actor = claude_code.ACTOR if target == "claude-code" else "codex"
    try:
        data = claude_code.parse(raw)
    except claude_code.BadInput as exc:
        return _malformed(actor, str(exc), None, environ)
    store = FileStore(environ=environ)
    try:
        if target == "claude-code":
            answer = claude_code.handle(data, store, environ=environ, cwd=cwd)
        else:
            from cmdscope._integrations import codex

            answer = codex.handle(data, store, environ=environ, cwd=cwd)
    except Exception as exc:  # a bug or an unexpected shape must not block the agent by accident
        if found["CMDSCOPE_RAISE_INTERNAL"]:
            raise
        session = data.get("session_id") if isinstance(data.get("session_id"), str) else None
        return _malformed(actor, f"{type(exc).__name__}: {exc}", session, environ)
    finally:
        _flush(environ)
    return (json.dumps(answer) + "\n" if answer is not None else ""), "", 0


def _internal_error(exc: BaseException) -> int:
    """Last resort for the hook path: block (exit 2) with CMDSCOPE_GUARD_FAIL=closed, else
    allow with a message the user sees. Never a traceback and exit 1."""
    problem = f"{type(exc).__name__}: {exc}"[:300]
    try:
        from cmdscope import _settings as settings

        refusal = settings.refusal()
        why = f"{refusal}" if refusal is not None else "CMDSCOPE_GUARD_FAIL=closed"
        closed = refusal is not None or settings.get("CMDSCOPE_GUARD_FAIL") == "closed"
    except Exception:  # noqa: BLE001 - the last resort reads the raw variable
        why = "CMDSCOPE_GUARD_FAIL=closed"
        closed = os.environ.get("CMDSCOPE_GUARD_FAIL", "").strip().lower() == "closed"
    if closed:
        sys.stderr.write(f"cmdscope.hook-error: the hook failed ({problem}); blocked because {why}\n")
        return 2
    sys.stdout.write(json.dumps({"systemMessage": f"cmdscope: the hook failed ({problem}); the tool call was allowed"}) + "\n")
    return 0


def _malformed(actor: str, problem: str, session: str | None,
               environ: Mapping[str, str] | None = None) -> tuple[str, str, int]:
    from cmdscope._integrations import agent, claude_code

    err = ""
    try:
        agent.integration_error(actor, problem, session, environ)
    except Exception as exc:  # noqa: BLE001 - the ledger itself is broken: still answer the agent
        err = f"cmdscope hook: could not record the integration error ({exc})\n"
    _flush(environ)
    answer, text, code = claude_code.malformed_answer(problem, environ)
    return (json.dumps(answer) + "\n" if answer is not None else ""), err + text, code


def _flush(environ: Mapping[str, str] | None = None) -> None:
    from cmdscope import _pipeline as pipeline
    from cmdscope._cli.run import _maybe_ship

    pipeline.close_ledgers()
    if environ is None:
        _maybe_ship(None)
    else:
        from cmdscope._paths import ledger_path_in

        _maybe_ship(ledger_path_in(environ), environ)
