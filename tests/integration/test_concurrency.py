"""Concurrency through real daprd, two replicas of each app, for both resource sets: writers
serialized by Dapr actors across replicas, the double-texting strategies, deletes that stay
deleted, cut turns saved at once and in order, and an event plane that keeps flowing (and
broadcasts memory events to every chat replica) right after the bursts."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.stack import AppPorts, Stack, eventually, outbox_backlog, turns_backlog

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _memory_caught_up(stack: Stack) -> Iterator[None]:
    """The bursts here leave memory minutes of turns to derive memories from on 2 cores; the
    next test (of any module) starts once memory has worked them off."""
    yield
    eventually(lambda: turns_backlog(stack) == 0, timeout=180, what="memory to work off the turns")


def new_user(prefix: str = "conc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def chat_replicas(stack: Stack) -> tuple[AppPorts, ...]:
    replicas = stack.replicas("chat")
    assert len(replicas) == 2, "these tests need two chat replicas"
    return replicas


def url(stack: Stack, app: AppPorts) -> str:
    return stack.app_url(app)


async def turn(
    client: httpx.AsyncClient, base: str, user: str, message: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"{base}/chat", json={"user_id": user, "message": message, **extra}, timeout=120
    )


async def fetch(address: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(address)


async def long_turn(
    client: httpx.AsyncClient, base: str, user: str, session_id: str
) -> asyncio.Task[httpx.Response]:
    """Start a turn with a long reply (~0.75 s with the paced offline model) and return once it
    holds its session."""
    running = asyncio.create_task(turn(client, base, user, "long " * 40, session_id=session_id))
    await asyncio.sleep(0.3)
    return running


def history(stack: Stack, user: str, session_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url(stack, stack.ports.chat)}/users/{user}/sessions/{session_id}/history", timeout=10
    )
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def new_session(stack: Stack, user: str) -> str:
    response = httpx.post(f"{url(stack, stack.ports.chat)}/users/{user}/sessions", timeout=10)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def test_enqueue_twelve_turns_on_one_session_across_replicas(stack: Stack) -> None:
    user = new_user()
    session_id = new_session(stack, user)
    replicas = chat_replicas(stack)
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(
            *(
                turn(
                    client, url(stack, replicas[i % 2]), user, f"message {i}", session_id=session_id
                )
                for i in range(12)
            )
        )
    assert [r.status_code for r in responses] == [200] * 12, [r.text for r in responses]
    messages = history(stack, user, session_id)
    assert len(messages) == 24
    for asked, answered in zip(messages[::2], messages[1::2], strict=True):
        assert (asked["role"], answered["role"]) == ("user", "assistant")
        assert asked["turn_id"] == answered["turn_id"]  # each pair adjacent
    assert sorted(m["content"] for m in messages[::2]) == sorted(f"message {i}" for i in range(12))
    # In commit order: each reply was produced after the one before it was saved.
    stamps = [m["timestamp"] for m in messages[1::2]]
    assert stamps == sorted(stamps)
    listed = (await fetch(f"{url(stack, replicas[1])}/users/{user}/sessions")).json()
    assert listed["sessions"][0]["message_count"] == 24


async def test_reject_refuses_the_extras_and_writes_nothing_of_them(stack: Stack) -> None:
    user = new_user()
    session_id = new_session(stack, user)
    replicas = chat_replicas(stack)
    async with httpx.AsyncClient() as client:
        running = await long_turn(client, url(stack, replicas[0]), user, session_id)
        refused = await asyncio.gather(
            *(
                turn(
                    client,
                    url(stack, replicas[i % 2]),
                    user,
                    f"extra {i}",
                    session_id=session_id,
                    multitask_strategy="reject",
                )
                for i in range(11)
            )
        )
        assert (await running).status_code == 200
    assert {r.status_code for r in refused} == {409}
    assert {r.json()["error"] for r in refused} == {"session_busy"}
    messages = history(stack, user, session_id)
    assert len(messages) == 2
    assert not any(m["content"].startswith("extra") for m in messages)


async def test_interrupt_cuts_the_running_turn_on_the_other_replica(stack: Stack) -> None:
    user = new_user()
    session_id = new_session(stack, user)
    replicas = chat_replicas(stack)
    async with httpx.AsyncClient() as client:
        running = await long_turn(client, url(stack, replicas[0]), user, session_id)
        newer = await turn(
            client,
            url(stack, replicas[1]),
            user,
            "never mind, this",
            session_id=session_id,
            multitask_strategy="interrupt",
        )
        cut = await running
    assert newer.status_code == 200, newer.text
    assert cut.status_code == 200, cut.text
    assert cut.json()["metadata"]["interrupted"] is True
    messages = history(stack, user, session_id)
    asked = [m for m in messages if m["role"] == "user"]
    assert [m["content"] for m in asked] == [("long " * 40).strip(), "never mind, this"]
    assert asked[0]["interrupted"] is True
    assert messages[-1]["interrupted"] is False


async def test_twenty_five_first_messages_make_twenty_five_sessions(stack: Stack) -> None:
    user = new_user()
    replicas = chat_replicas(stack)
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(
            *(turn(client, url(stack, replicas[i % 2]), user, f"hello {i}") for i in range(25))
        )
    assert [r.status_code for r in responses] == [200] * 25, [r.text for r in responses]
    listed = (await fetch(f"{url(stack, replicas[0])}/users/{user}/sessions")).json()
    assert len(listed["sessions"]) == 25
    assert {s["message_count"] for s in listed["sessions"]} == {2}
    assert {s["session_id"] for s in listed["sessions"]} == {
        r.json()["session_id"] for r in responses
    }


async def test_fifty_creates_for_one_user_across_memory_replicas(stack: Stack) -> None:
    user = new_user()
    replicas = stack.replicas("memory")
    assert len(replicas) == 2
    async with httpx.AsyncClient(headers=stack.app_auth, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{url(stack, replicas[i % 2])}/memories/{user}",
                    json={"kind": "semantic", "content": f"fact number {i}"},
                )
                for i in range(50)
            )
        )
        assert [r.status_code for r in responses] == [201] * 50
        page = await client.get(f"{url(stack, replicas[0])}/memories/{user}?limit=200")
    assert page.json()["total"] == 50
    assert len({m["id"] for m in page.json()["items"]}) == 50


async def test_after_the_bursts_the_event_plane_still_flows(stack: Stack) -> None:
    # Bursts first: double texting on one session and first messages for one user.
    user = new_user()
    session_id = new_session(stack, user)
    replicas = chat_replicas(stack)
    async with httpx.AsyncClient() as client:
        await asyncio.gather(
            *(
                turn(client, url(stack, replicas[i % 2]), user, f"m {i}", session_id=session_id)
                for i in range(12)
            ),
            *(turn(client, url(stack, replicas[i % 2]), user, f"first {i}") for i in range(10)),
        )

    # A new user's turn becomes a derived memory within 5 s.
    fresh = new_user("teodora")
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        response = await turn(
            client, url(stack, replicas[0]), fresh, "Hi, my name is Teodora and I live in Tromso."
        )
    assert response.status_code == 200

    def derived() -> list[dict[str, Any]]:
        found = httpx.get(f"{url(stack, replicas[1])}/users/{fresh}/memories", timeout=10)
        items: list[dict[str, Any]] = found.json()["items"]
        return [m for m in items if "Tromso" in m["content"]]

    eventually(derived, timeout=5, what="the new user's turn to become a memory")
    assert time.monotonic() - started < 5

    # A memory event reaches an open stream held by the *other* chat replica.
    listener = new_user("listener")
    ws_url = f"ws://127.0.0.1:{replicas[1].app}/ws?user_id={listener}"
    async with websockets.connect(ws_url) as socket:
        async with httpx.AsyncClient() as client:
            said = await turn(
                client, url(stack, replicas[0]), listener, "Remember that I like green tea."
            )
        assert said.status_code == 200
        stored_at = time.monotonic()
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            if message["type"] == "memory" and "green tea" in str(message["memory"]):
                break
        notified_after = time.monotonic() - stored_at
    # Dapr's outbox handler sleeps 1 s before it publishes any committed event (its floor,
    # docs/dapr-runtime.md); past that floor the broadcast must take well under a second.
    assert notified_after < 2.5, f"notification after {notified_after:.2f} s"

    # The outbox's internal backlog drains.
    eventually(lambda: outbox_backlog(stack) == 0, timeout=30, what="the outbox backlog to drain")


async def test_a_session_deleted_during_a_streamed_turn_stays_deleted(stack: Stack) -> None:
    user = new_user()
    session_id = new_session(stack, user)
    replicas = chat_replicas(stack)
    events: list[tuple[str, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream(
            "POST",
            f"{url(stack, replicas[0])}/chat/stream",
            json={"user_id": user, "session_id": session_id, "message": "long " * 40},
        ) as stream,
    ):
        kind = ""
        async for line in stream.aiter_lines():
            line = line.strip()
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind:
                events.append((kind, json.loads(line.split(":", 1)[1])))
                if kind == "delta" and sum(k == "delta" for k, _ in events) == 2:
                    deleted = await client.delete(
                        f"{url(stack, replicas[1])}/users/{user}/sessions/{session_id}"
                    )
                    assert deleted.status_code == 200
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == "session_deleted"
    await asyncio.sleep(1.5)  # anything late would have landed by now
    gone = await fetch(f"{url(stack, replicas[1])}/users/{user}/sessions/{session_id}/history")
    assert gone.status_code == 404
    listed = (await fetch(f"{url(stack, replicas[0])}/users/{user}/sessions")).json()
    assert session_id not in {s["session_id"] for s in listed["sessions"]}


async def _cut_stream(base: str, body: dict[str, Any], *, after_deltas: int) -> None:
    """Open a streamed turn and hang up after ``after_deltas`` deltas (0: after the first
    event, before any delta)."""
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream("POST", f"{base}/chat/stream", json=body) as stream,
    ):
        deltas = 0
        async for line in stream.aiter_lines():
            if line.startswith("event: session") and after_deltas == 0:
                return
            if line.startswith("event: delta"):
                deltas += 1
                if deltas >= after_deltas > 0:
                    return


async def test_a_stream_cut_before_the_first_delta_saves_the_message_within_a_second(
    stack: Stack,
) -> None:
    user = new_user()
    session_id = new_session(stack, user)
    base = url(stack, chat_replicas(stack)[1])
    await _cut_stream(
        base, {"user_id": user, "session_id": session_id, "message": "hello?"}, after_deltas=0
    )
    hung_up = time.monotonic()
    saved = eventually(
        lambda: history(stack, user, session_id), timeout=5, what="the cut turn to be saved"
    )
    assert time.monotonic() - hung_up < 1.0
    assert saved[0]["content"] == "hello?"
    assert saved[0]["interrupted"] is True


async def test_a_stream_cut_mid_reply_is_saved_before_the_next_turn(stack: Stack) -> None:
    user = new_user()
    session_id = new_session(stack, user)
    replicas = chat_replicas(stack)
    await _cut_stream(
        url(stack, replicas[0]),
        {"user_id": user, "session_id": session_id, "message": "long " * 40},
        after_deltas=3,
    )
    async with httpx.AsyncClient() as client:  # at once, on the other replica
        follow_up = await turn(
            client, url(stack, replicas[1]), user, "and then?", session_id=session_id
        )
    assert follow_up.status_code == 200
    messages = history(stack, user, session_id)
    asked = [m for m in messages if m["role"] == "user"]
    assert [m["content"] for m in asked][-1] == "and then?"
    assert asked[0]["interrupted"] is True
    assert messages[1]["role"] == "assistant"
    assert messages[1]["interrupted"] is True
    assert messages[1]["turn_id"] == asked[0]["turn_id"]
