from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chat.core.settings import ChatSettings
from chat.main import create_app
from sidecar.testing import FakeDaprSidecar, attach_fake_sidecar


def memory_event(user: str, event_type: str = "memory.created") -> dict[str, Any]:
    """A memory-events delivery of a change committed just now (older ones are not pushed)."""
    return {
        "id": "outbox-1",
        "type": event_type,
        "source": "memory",
        "specversion": "1.0",
        "data": {"id": "m-9", "user_id": user, "kind": "semantic", "content": "Likes tea",
                 "tags": [], "version": 1, "updated_at": datetime.now(UTC).isoformat()},
    }  # fmt: skip


def receive_until(ws: Any, kind: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = ws.receive_json()
        messages.append(message)
        if message["type"] == kind:
            return messages


def test_websocket_turn_uses_the_fastagency_message_types(app: FastAPI) -> None:
    client = TestClient(app)  # not entered: no lifespan, the fake sidecar is already attached
    with client.websocket_connect("/ws?user_id=alice") as ws:
        ws.send_json({"type": "user_message", "content": "What time is it?"})
        messages = receive_until(ws, "workflow_completed")
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "workflow_started"
    assert "suggested_function_call" in kinds
    assert "function_call_execution" in kinds
    assert "text_message_delta" in kinds
    text = next(m for m in messages if m["type"] == "text_message")["content"]
    assert messages[-1]["reply"] == text
    assert messages[-1]["user_id"] == "alice"


def test_websocket_reports_bad_messages_and_keeps_going(app: FastAPI) -> None:
    client = TestClient(app)  # not entered: no lifespan, the fake sidecar is already attached
    with client.websocket_connect("/ws?user_id=alice") as ws:
        ws.send_json({"type": "user_message", "content": "   "})
        assert ws.receive_json() == {
            "type": "error",
            "code": "invalid_message",
            "message": "the message is empty: send some text in `message` (or `text`)",
        }
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "user_message", "content": "hi", "session_id": "no-such-session"})
        assert "not found" in receive_until(ws, "error")[-1]["message"]
        ws.send_json({"type": "user_message", "content": "hi"})
        assert receive_until(ws, "workflow_completed")[-1]["reply"]


def test_a_memory_event_reaches_the_users_open_socket_only(
    app: FastAPI, fake_sidecar: FakeDaprSidecar
) -> None:
    client = TestClient(app)
    with (
        client.websocket_connect("/ws?user_id=alice") as alice,
        client.websocket_connect("/ws?user_id=bob") as bob,
    ):
        event = memory_event("alice")
        delivered = client.post("/events/memory-events", json=event)
        assert delivered.json() == {"status": "SUCCESS"}
        note = alice.receive_json()
        assert note == {
            "type": "memory",
            "event": "memory.created",
            "memory": {"id": "m-9", "kind": "semantic", "content": "Likes tea", "tags": [],
                       "version": 1, "updated_at": event["data"]["updated_at"]},
        }  # fmt: skip
        bob.send_json({"type": "user_message", "content": "hi"})
        assert all(m["type"] != "memory" for m in receive_until(bob, "workflow_completed"))


async def test_memory_events_endpoint_acks_or_drops(client: httpx.AsyncClient) -> None:
    ok = await client.post("/events/memory-events", json=memory_event("nobody-listening"))
    assert ok.json() == {"status": "SUCCESS"}
    index = await client.post(
        "/events/memory-events", json=memory_event("x", "memory.index.updated")
    )
    assert index.json() == {"status": "SUCCESS"}  # bookkeeping: acknowledged, ignored
    for body in (b"not json", b"[]", b"{}"):
        dropped = await client.post("/events/memory-events", content=body)
        assert dropped.json() == {"status": "DROP"}


def bulk_envelope(*entries: tuple[str, Any]) -> dict[str, Any]:
    """daprd's bulk delivery of ``(entryId, event)`` pairs (bulksubscribe_events.go)."""
    return {
        "id": "bulk-1",
        "type": "com.dapr.event.sent.bulk",
        "topic": "memory-events",
        "pubsubname": "pubsub-broadcast",
        "metadata": {},
        "entries": [
            {"entryId": entry_id, "event": event, "contentType": "application/cloudevents+json",
             "metadata": {}}
            for entry_id, event in entries
        ],
    }  # fmt: skip


def test_a_bulk_delivery_is_answered_per_entry_and_reaches_the_sockets(app: FastAPI) -> None:
    client = TestClient(app)
    with client.websocket_connect("/ws?user_id=alice") as alice:
        stale = memory_event("alice")
        stale["data"]["updated_at"] = "2020-01-01T00:00:00+00:00"
        envelope = bulk_envelope(
            ("e1", memory_event("alice")),
            ("e2", "not a cloudevent"),
            ("e3", memory_event("alice", "memory.index.updated")),
            ("e4", stale),
            ("e5", memory_event("bob", "memory.deleted")),
        )
        envelope["entries"].append({"event": memory_event("alice")})  # no entryId: unanswerable
        answered = client.post("/events/memory-events", json=envelope)
        assert answered.status_code == 200
        assert answered.json() == {
            "statuses": [
                {"entryId": "e1", "status": "SUCCESS"},
                {"entryId": "e2", "status": "DROP"},
                {"entryId": "e3", "status": "SUCCESS"},
                {"entryId": "e4", "status": "SUCCESS"},
                {"entryId": "e5", "status": "SUCCESS"},
            ]
        }
        # One push for alice: the live memory.created; bookkeeping, the stale event and bob's
        # are not hers to see. A sentinel after them shows nothing else was queued.
        client.post("/events/memory-events", json=memory_event("alice", "memory.deleted"))
        assert alice.receive_json()["event"] == "memory.created"
        assert alice.receive_json()["event"] == "memory.deleted"


async def test_an_empty_or_malformed_bulk_delivery_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    empty = await client.post("/events/memory-events", json=bulk_envelope())
    assert empty.json() == {"statuses": []}
    odd = bulk_envelope(("e1", memory_event("x")))
    odd["entries"] += [None, 7, {"entryId": 7, "event": {}}, {"entryId": "e2"}]
    answered = await client.post("/events/memory-events", json=odd)
    assert answered.json() == {
        "statuses": [{"entryId": "e1", "status": "SUCCESS"}, {"entryId": "e2", "status": "DROP"}]
    }
    # "entries" that is not a list is not a bulk envelope: an event without a type, dropped.
    not_bulk = await client.post("/events/memory-events", json={"entries": {"e1": {}}})
    assert not_bulk.json() == {"status": "DROP"}


def test_a_turn_that_recalls_memories_streams_them_on_both_transports(
    app: FastAPI, memory: Any
) -> None:
    """The ``session`` event carries the memories used, dated: as JSON on the socket and in
    the SSE stream (a datetime left in it once broke both, found by the CLI's terminal test)."""
    from .conftest import hit  # noqa: TID252

    memory.hits = [hit("m-1", "The user lives in Lisbon.", 0.9)]
    client = TestClient(app)  # not entered: no lifespan, the fake sidecar is already attached
    with client.websocket_connect("/ws?user_id=alice") as ws:
        ws.send_json({"type": "user_message", "content": "Where do I live?"})
        messages = receive_until(ws, "workflow_completed")
    (used,) = messages[0]["memories_used"]
    assert used["created_at"] == "2026-11-22T06:00:00Z"
    stream = client.post("/chat/stream", json={"user_id": "alice", "message": "Where?"})
    assert stream.status_code == 200
    first = stream.text.split("\n\n")[0]
    assert "event: session" in first
    assert '"created_at": "2026-11-22T06:00:00Z"' in first
    assert "event: done" in stream.text


def test_a_socket_turn_that_fails_in_our_code_tells_the_client(
    app: FastAPI, monkeypatch: Any
) -> None:
    from chat.api import streams

    monkeypatch.setattr(streams, "WS_TYPES", {"session": "workflow_started"})  # no "delta"
    client = TestClient(app)  # not entered: no lifespan, the fake sidecar is already attached
    with client.websocket_connect("/ws?user_id=alice") as ws:
        ws.send_json({"type": "user_message", "content": "Hello"})
        messages = receive_until(ws, "error")
        assert messages[-1] == {"type": "error", "code": "internal", "message": "internal error"}
        ws.send_json({"type": "user_message", "content": "still there?"})  # the socket stays
        assert ws.receive_json()["type"] == "workflow_started"


def test_a_message_cancelled_while_it_waits_for_its_session_is_told_so(
    fake_sidecar: FakeDaprSidecar,
) -> None:
    """A WebSocket message queued behind another turn of its session (enqueue), then cancelled
    before its turn begins: nothing of it runs, and the client is told (`cancelled`) instead
    of being left waiting for events that never come."""
    app = create_app(ChatSettings(turn_rate_limit="", offline_token_delay_seconds=0.2))
    attach_fake_sidecar(app, fake_sidecar)
    client = TestClient(app)
    with (
        client.websocket_connect("/ws?user_id=alice") as first,
        client.websocket_connect("/ws?user_id=alice") as second,
    ):
        first.send_json({"type": "user_message", "content": "a long story, please"})
        started = first.receive_json()
        assert started["type"] == "workflow_started"
        session = started["session_id"]
        second.send_json({"type": "user_message", "content": "and me", "session_id": session})
        second.send_json({"type": "cancel"})
        assert second.receive_json() == {
            "type": "error",
            "code": "cancelled",
            "message": "stopped before its turn began: nothing saved",
        }
        while first.receive_json()["type"] != "workflow_completed":
            pass
    history = client.get(f"/users/alice/sessions/{session}/history").json()
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
        "a long story, please"
    ]
