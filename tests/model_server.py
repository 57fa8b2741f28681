"""A scripted model server on loopback for the real agent CLIs (Claude Code, OpenCode, Codex).

It speaks the three wire formats the agents use, streaming as the real APIs do:
- Anthropic Messages (``POST /v1/messages``, server-sent events ``message_start`` ...
  ``message_stop``), for Claude Code pointed at it with ``ANTHROPIC_BASE_URL``;
- OpenAI chat completions (``POST /v1/chat/completions``, ``data:`` chunks then ``[DONE]``),
  for OpenCode's ``@ai-sdk/openai-compatible`` provider;
- OpenAI Responses (``POST /v1/responses``, ``event: response.*`` server-sent events), for
  Codex with a custom ``model_providers`` entry (``wire_api = "responses"``).

The script is a list of steps; a step is one shell command (a string, or a dict of the tool's
arguments with ``command``), or a list of commands the model asks for together (parallel tool calls in one response). A request that offers the shell tool
is answered with the calls of the first step whose results the conversation does not hold yet
(counting tool results, so a multi-turn session continues where the last turn stopped), and
once every command has a result, with a final text. Requests without the shell tool (titles,
summaries) get a short text. Every request body and every tool result the agent sent back are
kept for the test to assert on.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHELL_TOOLS = ("Bash", "bash", "shell", "local_shell", "exec_command")
Command = str | dict[str, Any]  # a dict: {"command": ..., plus the tool's own arguments, e.g. "timeout"}
Step = Command | list[Command]


def shell_arguments(tool: str, command: Command) -> dict[str, Any]:
    """The tool call's arguments: Codex's ``exec_command`` takes ``cmd``; the others ``command``."""
    extra = dict(command) if isinstance(command, dict) else {"command": command}
    text = extra.pop("command")
    if tool == "exec_command":
        return {"cmd": text, **extra}
    return {"command": text, "description": "scripted command", **extra}


@dataclass
class ModelServer:
    commands: list[Step]
    final_text: str = "All done."
    # A subagent's own script (Claude Code's Task tool), by a marker in the prompt the main script
    # gives it; a call of another tool is a dict {"tool": name, "input": arguments}.
    subagents: dict[str, list[Step]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> ModelServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:  # model listings and health checks
                body = json.dumps({"data": [{"id": "scripted", "object": "model", "type": "model",
                                             "display_name": "scripted"}], "object": "list"}).encode()
                self._send(200, "application/json", body)

            def do_HEAD(self) -> None:
                self._send(200, "application/json", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, "application/json", b'{"error": "bad json"}')
                    return
                with owner._lock:
                    owner.requests.append({"path": self.path, "body": body})
                path = self.path.split("?", 1)[0]
                if path.endswith("/messages/count_tokens"):
                    self._send(200, "application/json", b'{"input_tokens": 10}')
                elif path.endswith("/messages"):
                    owner._anthropic(self, body)
                elif path.endswith("/chat/completions"):
                    owner._openai(self, body)
                elif path.endswith("/responses"):
                    owner._responses(self, body)
                else:
                    self._send(404, "application/json", b'{"error": "not scripted"}')

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ModelServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the script -----------------------------------------------------------------------------

    def _next_calls(self, tools: list[Any], results: list[str],
                    script: list[Step] | None = None) -> list[tuple[str, dict[str, Any]]] | None:
        """The (tool name, arguments) calls to ask for next, or None for the final answer."""
        names = [t.get("name") or (t.get("function") or {}).get("name") for t in tools or []]
        shell = next((n for n in names if n in SHELL_TOOLS), None)
        if shell is None:
            return None
        answered = 0
        for step in self.commands if script is None else script:
            batch = list(step) if isinstance(step, list) else [step]
            if answered >= len(results):
                return [(c["tool"], c["input"]) if isinstance(c, dict) and "tool" in c
                        else (shell, shell_arguments(shell, c)) for c in batch]
            answered += len(batch)
        return None

    def _subagent_script(self, messages: list[dict[str, Any]]) -> list[Step] | None:
        """The script of the subagent whose prompt (its first user message) holds a key of ``subagents``."""
        first = next((m for m in messages if m.get("role") == "user"), None)
        content = first.get("content") if first else None
        text = content if isinstance(content, str) else json.dumps(content)
        return next((script for marker, script in self.subagents.items() if marker in text), None)

    def _remember(self, results: list[str]) -> None:
        with self._lock:
            for text in results:
                if text not in self.tool_results:
                    self.tool_results.append(text)

    # -- Anthropic Messages ---------------------------------------------------------------------

    def _anthropic(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        results = _anthropic_tool_results(body.get("messages") or [])
        self._remember(results)
        sub = self._subagent_script(body.get("messages") or [])
        step = self._next_calls(body.get("tools") or [], results, sub)
        msg_id = f"msg_{len(self.requests):04d}"
        if step is None:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": self.final_text if body.get("tools") else "ok"}]
            stop = "end_turn"
        else:
            prefix = "toolu_sub" if sub is not None else "toolu_"
            blocks = [{"type": "tool_use", "id": _call_id(prefix, len(results) + i), "name": name, "input": args}
                      for i, (name, args) in enumerate(step)]
            stop = "tool_use"
        if not body.get("stream"):
            payload = {"id": msg_id, "type": "message", "role": "assistant", "model": body.get("model", "scripted"),
                       "content": blocks, "stop_reason": stop, "stop_sequence": None,
                       "usage": {"input_tokens": 10, "output_tokens": 10}}
            data = json.dumps(payload).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": body.get("model", "scripted"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}})]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {"type": "text", "text": ""}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": block["text"]}}))
            else:
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {**block, "input": {}}}))
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": {"output_tokens": 10}}))
        events.append(("message_stop", {"type": "message_stop"}))
        stream = b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)
        _send_stream(handler, stream)

    # -- OpenAI chat completions ----------------------------------------------------------------

    def _openai(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        results = [str(m.get("content")) for m in body.get("messages") or [] if m.get("role") == "tool"]
        self._remember(results)
        step = self._next_calls(body.get("tools") or [], results)
        base = {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "scripted")}
        if step is None:
            text = self.final_text if body.get("tools") else "Scripted title"
            deltas = [{"role": "assistant", "content": text}]
            finish = "stop"
            message: dict[str, Any] = {"role": "assistant", "content": text}
        else:
            calls = [{"index": i, "id": _call_id("call_", len(results) + i), "type": "function",
                      "function": {"name": name, "arguments": json.dumps(args)}}
                     for i, (name, args) in enumerate(step)]
            deltas = [{"role": "assistant", "content": None, "tool_calls": calls}]
            finish = "tool_calls"
            message = {"role": "assistant", "content": None,
                       "tool_calls": [{k: v for k, v in call.items() if k != "index"} for call in calls]}
        usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        if not body.get("stream"):
            payload = {**base, "object": "chat.completion",
                       "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
            data = json.dumps(payload).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage})
        stream = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
        _send_stream(handler, stream)

    # -- OpenAI Responses -----------------------------------------------------------------------

    def _responses(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        items = [i for i in body.get("input") or [] if isinstance(i, dict)]
        results = [_output_text(i.get("output")) for i in items if i.get("type") == "function_call_output"]
        self._remember(results)
        step = self._next_calls(body.get("tools") or [], results)
        response_id = f"resp_{len(self.requests):04d}"
        if step is None:
            text = self.final_text if body.get("tools") else "Scripted title"
            output: list[dict[str, Any]] = [{"type": "message", "id": f"msg_{len(self.requests):04d}", "role": "assistant",
                                             "status": "completed",
                                             "content": [{"type": "output_text", "text": text, "annotations": []}]}]
        else:
            output = [{"type": "function_call", "id": f"fc_{len(results) + i:04d}", "status": "completed",
                       "call_id": _call_id("call_", len(results) + i), "name": name,
                       "arguments": json.dumps(args)} for i, (name, args) in enumerate(step)]
        response = {"id": response_id, "object": "response", "created_at": int(time.time()), "status": "in_progress",
                    "model": body.get("model", "scripted"), "output": []}
        events: list[dict[str, Any]] = [{"type": "response.created", "response": response}]
        for index, item in enumerate(output):
            events.append({"type": "response.output_item.added", "output_index": index, "item": item})
            if item["type"] == "message":
                events.append({"type": "response.output_text.delta", "output_index": index, "item_id": item["id"],
                               "content_index": 0, "delta": item["content"][0]["text"]})
            events.append({"type": "response.output_item.done", "output_index": index, "item": item})
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 10,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 20}
        events.append({"type": "response.completed",
                       "response": {**response, "status": "completed", "output": output, "usage": usage}})
        stream = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
        _send_stream(handler, stream)


def _call_id(prefix: str, index: int) -> str:
    """A call id unique across the test run's servers, ordered by position in the script."""
    return f"{prefix}{int(time.time() * 1000) % 10**9:09d}{index:03d}"


def _output_text(output: Any) -> str:
    """A Responses ``function_call_output`` item's output: a string, or a list of content parts."""
    if isinstance(output, list):
        return "\n".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
    return str(output)


def _anthropic_tool_results(messages: list[dict[str, Any]]) -> list[str]:
    out = []
    for message in messages:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = "\n".join(str(part.get("text", "")) for part in inner if isinstance(part, dict))
                out.append(str(inner))
    return out


def _send_stream(handler: BaseHTTPRequestHandler, stream: bytes) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Content-Length", str(len(stream)))
    handler.end_headers()
    handler.wfile.write(stream)
    handler.wfile.flush()
