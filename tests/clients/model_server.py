"""A model the clients' tests script: an OpenAI-compatible ``POST /v1/chat/completions`` that
answers each call with the next reply the test queued (``script``), or ``DEFAULT_REPLY``.

A streamed reply comes a word at a time, whitespace and newlines kept (Markdown survives), and
stops at ``HOLD`` until the test calls ``release``: a test can then act while the reply is
certainly still running, however slow the machine, and check that nothing after the mark is
ever shown. A turn cancelled meanwhile closes the connection; the rest is never sent.

tests/faults/model_server.py scripts failures (500s, hangs) with one fixed reply; this one
scripts the replies. 127.0.0.1 only."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.faults.model_server import serving

DEFAULT_REPLY = "Hello from the scripted model."
#: Where a scripted reply stops until ``release``.
HOLD = "\x00HOLD\x00"
_WORDS = re.compile(r"\s*\S+\s*|\s+")


@dataclass
class ScriptedModel:
    port: int
    word_delay_seconds: float = 0.01
    hold_timeout_seconds: float = 60.0
    calls: int = 0
    _replies: queue.Queue[str] = field(default_factory=queue.Queue)
    _released: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: str) -> None:
        """Answer the next calls with ``replies``, in order (a HOLD in one waits for release)."""
        self._released.clear()
        for reply in replies:
            self._replies.put(reply)

    def reset(self) -> None:
        """Nothing queued, nothing held."""
        self.release()
        while not self._replies.empty():
            self._replies.get_nowait()

    def release(self) -> None:
        """Let a reply held at HOLD go on."""
        self._released.set()

    def next_reply(self) -> str:
        try:
            return self._replies.get_nowait()
        except queue.Empty:
            return DEFAULT_REPLY

    def hold(self) -> None:
        self._released.wait(self.hold_timeout_seconds)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-clients",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            model.calls += 1
            reply = model.next_reply()
            if not body.get("stream"):
                self._whole(reply.replace(HOLD, ""))
                return
            # HTTP/1.0 without a length: the stream ends when the connection closes.
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            try:
                self._write(_chunk({"role": "assistant", "content": ""}))
                before, held, after = reply.partition(HOLD)
                self._words(before)
                if held:
                    model.hold()
                    self._words(after)
                self._write(_chunk({}, "stop") + b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the turn was cancelled: chat closed the stream

        def _words(self, text: str) -> None:
            for word in _WORDS.findall(text):
                time.sleep(model.word_delay_seconds)
                self._write(_chunk({"content": word}))

        def _write(self, data: bytes) -> None:
            self.wfile.write(data)
            self.wfile.flush()

        def _whole(self, text: str) -> None:
            completion = {
                "id": "chatcmpl-clients",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "scripted",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            payload = json.dumps(completion).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def scripted_model(port: int) -> Iterator[ScriptedModel]:
    """Serve on 127.0.0.1:``port`` in a thread until the block ends (a held reply is let go)."""
    model = ScriptedModel(port=port)
    with serving(port, _handler(model), "clients-model"):
        try:
            yield model
        finally:
            model.release()
