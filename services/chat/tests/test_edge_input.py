"""Bad input at chat's edge: a clear 4xx (or a WebSocket close code) before any side effect."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chat.models.chat import (
    MAX_MESSAGE_CHARS,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_TEXT_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    ChatRequest,
)
from sidecar.contracts import MAX_ID_CHARS
from sidecar.testing import FakeDaprSidecar

STORE = "chat-state"  # chat's state store (conftest)

#: JSON bodies Python's json module takes and RFC 8259 does not (or that break it).
LONE_SURROGATE = b'{"user_id": "alice", "message": "x\\ud83d"}'
NON_FINITE = b'{"user_id": "alice", "message": "hi", "metadata": {"x": NaN}}'
NON_FINITE_AND_INVALID = b'{"user_id": "bad user", "message": "", "metadata": {"x": NaN}}'
HUGE_NUMBER = b'{"user_id": "alice", "message": "hi", "metadata": {"x": 1e999}}'
# 5,000 levels (10 KB: 50,000 would be a 413 here, over the body limit).
DEEP = b'{"user_id": "alice", "message": "hi", "metadata": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
INVALID_UTF8 = b'{"user_id": "alice", "message": "caf\xe9"}'
POISON = [LONE_SURROGATE, NON_FINITE, NON_FINITE_AND_INVALID, HUGE_NUMBER, DEEP, INVALID_UTF8]


def written(fake: FakeDaprSidecar) -> list[str]:
    """Keys chat wrote to its state store (sessions, histories, leases live there)."""
    return sorted(fake.data.get(STORE, {}))


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
@pytest.mark.parametrize("body", POISON, ids=lambda b: b[:40].decode(errors="replace"))
async def test_json_outside_rfc_8259_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]  # rendered, whatever the input held
    assert written(fake_sidecar) == []
    assert fake_sidecar.published == []


async def test_a_422_renders_whatever_the_rejected_input_was(client: httpx.AsyncClient) -> None:
    # Query values reach validation as text; a float field would take "nan": none may 500.
    for query in ("limit=nan", "limit=1e999", "limit=%ff%fe", "cursor=%ed%a0%bd"):
        response = await client.get(f"/users/alice/sessions?{query}")
        assert response.status_code == 422, (query, response.text)


async def test_bodies_over_the_limit_get_413_with_or_without_content_length(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, app: FastAPI
) -> None:
    limit = app.state.max_request_bytes
    body = b'{"user_id": "alice", "message": "' + b"a" * limit + b'"}'
    declared = await client.post(
        "/chat", content=body, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # streamed: no Content-Length
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    streamed = await client.post(
        "/chat", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    for answer in (declared, streamed):  # the API's error shape, both ways
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {
            "error": "too_large",
            "message": f"the request body is over the limit of {limit} bytes",
            "limit_bytes": limit,
        }
    assert written(fake_sidecar) == []


def escaped(body: dict[str, Any], *, indent: int | None = None) -> bytes:
    """``body`` as Python's json module writes it by default: every non-ASCII character
    escaped, a character outside the BMP as two ``\\uXXXX`` (12 bytes)."""
    return json.dumps(body, ensure_ascii=True, indent=indent).encode()


WAVE = "\U0001f30a"  # one character, 4 bytes of UTF-8, 12 bytes escaped


@pytest.mark.parametrize("indent", [None, 4])
async def test_the_longest_legal_message_is_accepted_in_any_encoding(
    client: httpx.AsyncClient, indent: int | None
) -> None:
    text = WAVE * MAX_MESSAGE_CHARS
    for body in (
        {"user_id": "alice", "message": text},
        {"user_id": "alice", "message": text, "text": text},  # both forms, the same text
    ):
        encoded = escaped(body, indent=indent)
        assert len(encoded) > 96_000  # 8,000 x 12 bytes: over the old 64 KiB limit
        answer = await client.post(
            "/chat", content=encoded, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200, answer.text[:200]


async def test_one_character_over_is_a_422_in_any_encoding(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    encoded = escaped({"user_id": "alice", "message": WAVE * (MAX_MESSAGE_CHARS + 1)})
    answer = await client.post(
        "/chat", content=encoded, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text[:200]
    assert "the limit is 8000" in answer.text
    assert written(fake_sidecar) == []


async def test_the_widest_legal_request_fits_the_body_limit(app: FastAPI) -> None:
    """Every field at its limit, every character escaped to 12 bytes, pretty-printed."""
    widest = {
        "user_id": "u" * MAX_ID_CHARS,
        "session_id": "s" * MAX_ID_CHARS,
        "message": WAVE * MAX_MESSAGE_CHARS,
        "text": WAVE * MAX_MESSAGE_CHARS,
        "tags": [WAVE * MAX_TAG_CHARS] * MAX_TAGS,
        "metadata": {
            f"{i:02d}" + WAVE * (MAX_METADATA_KEY_CHARS - 2): WAVE * MAX_METADATA_TEXT_CHARS
            for i in range(MAX_METADATA_ENTRIES)
        },
        "multitask_strategy": "interrupt",
    }
    ChatRequest.model_validate(widest)  # legal
    assert len(escaped(widest, indent=8)) <= app.state.max_request_bytes


async def test_pubsub_deliveries_it_cannot_parse_are_dropped_not_retried(
    client: httpx.AsyncClient,
) -> None:
    for body in [*POISON, b"[" * 100_000]:
        answer = await client.post("/events/memory-events", content=body)
        assert answer.status_code == 200
        assert answer.json() == {"status": "DROP"}


async def test_daprd_callbacks_take_bodies_over_the_public_limit(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    # A bulk delivery of memory events may be far over the public limit; it is daprd's to bound.
    limit = app.state.max_request_bytes
    event = {"type": "memory.index.updated", "data": {"user_id": "x", "pad": "p" * 2000}}
    entries = [{"entryId": f"e{i}", "event": event} for i in range(2 * limit // 2000)]
    answer = await client.post("/events/memory-events", json={"entries": entries})
    assert answer.status_code == 200
    assert len(answer.json()["statuses"]) == len(entries)


def closed_with(ws: Any) -> tuple[dict[str, Any], int]:
    """The error message a refused socket got, and its close code."""
    error = ws.receive_json()
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return error, closed.value.code


@pytest.mark.parametrize(
    ("frame", "code", "error"),
    [
        ({"bytes": b"\x00\x01"}, 1003, "unsupported_data"),
        ({"text": "not json"}, 1007, "invalid_json"),
        ({"text": '{"type": "user_message", "content": NaN}'}, 1007, "invalid_json"),
        ({"text": "[" * 5000 + "]" * 5000}, 1007, "invalid_json"),
        ({"text": "too large"}, 1009, "too_large"),  # padded past the app's limit below
    ],
)
def test_a_frame_the_socket_cannot_take_closes_it_with_a_code(
    app: FastAPI, fake_sidecar: FakeDaprSidecar, frame: dict[str, Any], code: int, error: str
) -> None:
    if code == 1009:
        frame = {"text": '{"content": "' + "a" * app.state.max_request_bytes + '"}'}
    with TestClient(app).websocket_connect("/ws?user_id=alice") as ws:
        if "bytes" in frame:
            ws.send_bytes(frame["bytes"])
        else:
            ws.send_text(frame["text"])
        message, closed = closed_with(ws)
    assert (message["type"], message["code"], closed) == ("error", error, code)
    assert written(fake_sidecar) == []


def test_a_json_message_of_the_wrong_shape_is_answered_and_the_socket_stays(
    app: FastAPI,
) -> None:
    with TestClient(app).websocket_connect("/ws?user_id=alice") as ws:
        ws.send_json(["not", "an", "object"])
        assert ws.receive_json() == {"type": "error", "code": "invalid_message", "message": ANY}
        ws.send_json({"type": "user_message", "content": ""})
        assert ws.receive_json() == {"type": "error", "code": "invalid_message", "message": ANY}
        ws.send_json({"type": "user_message", "content": "hi"})
        while ws.receive_json()["type"] != "workflow_completed":
            pass


@pytest.mark.parametrize("query", ["user_id=bad%20user", "", "user_id=" + "a" * 200])
def test_a_refused_socket_is_accepted_then_closed_with_1008(app: FastAPI, query: str) -> None:
    with TestClient(app).websocket_connect(f"/ws?{query}") as ws:
        message, closed = closed_with(ws)
    assert (message["code"], closed) == ("invalid_user_id", 1008)
