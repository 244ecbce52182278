"""A scripted OpenAI-compatible model server for the fault tests: ``POST /v1/chat/completions``
(plain and streamed, as the Agents SDK's ``OpenAIChatCompletionsModel`` calls it) answers a fixed
reply, fails with a 500, or hangs, as the test sets ``mode``. A structured call (memory's fact
extraction and consolidation, with ``response_format``) is answered by ``structured``: the JSON
it returns as the completion's content, or a 500 when it returns None. No network: 127.0.0.1
only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "fail", "hang"]
REPLY = "Hello from the scripted model."


@dataclass
class ScriptedModelServer:
    port: int
    mode: Mode = "ok"
    hang_seconds: float = 30.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    structured: Callable[[dict[str, Any]], object | None] = lambda body: None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _chunk(delta: dict[str, Any], finish: str | None) -> bytes:
    body = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            server.requests.append(body)
            if server.mode == "hang":
                time.sleep(server.hang_seconds)
                return
            if server.mode == "fail":
                error = {"error": {"message": "provider secret detail", "type": "server_error"}}
                self._send(500, "application/json", json.dumps(error).encode())
                return
            content = REPLY
            if "response_format" in body:
                answer = server.structured(body)
                if answer is None:
                    self._send(500, "application/json", b'{"error": {"message": "unscripted"}}')
                    return
                content = json.dumps(answer)
            if not body.get("stream"):
                message = {"role": "assistant", "content": content}
                completion = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": "scripted",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, "application/json", json.dumps(completion).encode())
                return
            chunks = [_chunk({"role": "assistant", "content": ""}, None)]
            chunks += [_chunk({"content": word + " "}, None) for word in REPLY.split()]
            chunks += [_chunk({}, "stop"), b"data: [DONE]\n\n"]
            self._send(200, "text/event-stream", b"".join(chunks))

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def serving(port: int, handler: type[BaseHTTPRequestHandler], name: str) -> Iterator[None]:
    """Serve ``handler`` on 127.0.0.1:``port`` in a thread until the block ends (a scripted
    model of the tests: this one, tests/clients/model_server.py)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def scripted_model_server(port: int) -> Iterator[ScriptedModelServer]:
    """Serve on 127.0.0.1:``port`` in a thread until the block ends."""
    state = ScriptedModelServer(port=port)
    with serving(port, _handler(state), "scripted-model"):
        yield state
