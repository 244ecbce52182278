"""The chat service with the memory service, through real daprd, for both resource sets."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.stack import Stack, eventually

pytestmark = pytest.mark.integration


def new_user() -> str:
    return f"chat-{uuid.uuid4().hex[:10]}"


def chat(stack: Stack, user: str, message: str, **extra: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{stack.app_url(stack.ports.chat)}/chat",
        json={"user_id": user, "message": message, **extra},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def memories(stack: Stack, user: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.app_url(stack.ports.chat)}/users/{user}/memories", timeout=10)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_turn_is_saved_announced_and_remembered(stack: Stack) -> None:
    user = new_user()
    body = chat(stack, user, "Hi, my name is Robin and I live in Ghent.")
    assert body["reply"].startswith("[offline model]")
    assert body["metadata"]["degraded"] is False
    turn_id = body["metadata"]["turn_id"]
    history = httpx.get(
        f"{stack.app_url(stack.ports.chat)}/users/{user}/sessions/{body['session_id']}/history"
    ).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    # The history write published the turn (outbox), and memory derived memories from it.
    events = eventually(
        lambda: [
            e for e in stack.topic_events("conversation-turns")
            if isinstance(e.get("data"), dict) and e["data"].get("turn_id") == turn_id
        ],
        what="the turn's conversation.turn.completed event",
    )  # fmt: skip
    assert events[0]["type"] == "conversation.turn.completed"
    assert events[0]["source"] == "chat"
    derived = eventually(
        lambda: [m["content"] for m in memories(stack, user) if m["kind"] == "semantic"],
        what="semantic memories derived from the turn",
    )
    assert "The user's name is Robin." in derived
    assert "The user lives in Ghent." in derived


def test_the_next_turn_uses_what_memory_knows(stack: Stack) -> None:
    user = new_user()
    chat(stack, user, "Remember that I am vegetarian")
    eventually(lambda: memories(stack, user), what="the remembered fact")
    body = chat(stack, user, "Can you suggest a dinner for me?")
    used = [m["content"] for m in body["metadata"]["memories_used"]]
    assert "I am vegetarian" in used
    assert "I am vegetarian" in body["reply"]


def test_memory_down_gives_a_degraded_reply_within_the_timeout(stack: Stack) -> None:
    user = new_user()
    memory = stack.replicas("memory")  # every replica: one left up would still answer
    for replica in memory:
        stack.stop_app(replica)
    try:
        began = time.monotonic()
        body = chat(stack, user, "hello while memory is away")
        elapsed = time.monotonic() - began
    finally:
        for replica in memory:
            stack.start_app(replica)
    assert body["metadata"]["degraded"] is True
    assert body["reply"]
    assert elapsed < 5.0  # the 2 s memory budget plus the turn itself


def test_history_survives_a_restart_of_chat(stack: Stack) -> None:
    user = new_user()
    first = chat(stack, user, "first message")
    stack.stop_app(stack.ports.chat)
    stack.start_app(stack.ports.chat)
    second = chat(stack, user, "second message", session_id=first["session_id"])
    history = httpx.get(
        f"{stack.app_url(stack.ports.chat)}/users/{user}/sessions/{first['session_id']}/history"
    ).json()
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
        "first message",
        "second message",
    ]
    assert second["session_id"] == first["session_id"]


async def test_a_remembered_fact_reaches_the_open_websocket_live(stack: Stack) -> None:
    """remember → memory stores it → outbox → memory-events → daprd(chat) → the user's socket."""
    user = new_user()
    url = f"ws://127.0.0.1:{stack.ports.chat.app}/ws?user_id={user}"
    async with websockets.connect(url, open_timeout=10) as socket:
        await socket.send(
            json.dumps({"type": "user_message", "content": "Remember that I sail on weekends"})
        )
        seen: list[dict[str, Any]] = []

        def remembered() -> bool:
            return any(
                m["type"] == "memory"
                and (m.get("memory") or {}).get("content") == "I sail on weekends"
                for m in seen
            )

        # The turn's own derived memories (episode, facts) are announced too, in any order.
        async with asyncio.timeout(30):
            while not remembered():
                seen.append(json.loads(await socket.recv()))
    kinds = [m["type"] for m in seen]
    assert "workflow_completed" in kinds
    notes = [
        m["event"] for m in seen
        if m["type"] == "memory" and m["memory"]["content"] == "I sail on weekends"
    ]  # fmt: skip
    # Stored once by the `remember` tool; the turn's own fact is the same statement
    # (consolidation counts it once, no memory.updated).
    assert notes == ["memory.created"]
