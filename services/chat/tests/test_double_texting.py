"""Concurrent turns on one session: the session's actor serializes them (with the fake sidecar's
turn-based actor calls), per the message's double-texting strategy; deletes are final; a turn
whose client goes away is saved at once. The same cases run against real daprd with two
replicas in tests/integration/test_concurrency.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.data.actors import TurnLease
from chat.main import create_app
from chat.models.chat import ChatRequest
from chat.services.chat import ChatService
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

ServiceOf = Callable[[FastAPI], ChatService]
STORE = "chat-state"


# -- the lease, as pure logic --------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_lease_grants_one_turn_and_queues_the_rest_in_order() -> None:
    lease = TurnLease(clock=Clock())
    assert lease.acquire("a", "enqueue", 10) == ("granted", 0)
    assert lease.acquire("b", "enqueue", 10) == ("queued", 1)
    assert lease.acquire("c", "enqueue", 10) == ("queued", 2)
    assert lease.acquire("c", "enqueue", 10) == ("queued", 2)  # polling keeps the place
    lease.release("a")
    assert lease.acquire("c", "enqueue", 10) == ("queued", 2)  # b is next, not c
    assert lease.acquire("b", "enqueue", 10) == ("granted", 0)


def test_reject_is_busy_while_a_turn_runs_or_waits_and_leaves_no_trace() -> None:
    lease = TurnLease(clock=Clock())
    lease.acquire("a", "enqueue", 10)
    assert lease.acquire("r", "reject", 10) == ("busy", 0)
    assert [w.turn_id for w in lease.waiters] == []
    lease.acquire("b", "enqueue", 10)
    lease.release("a")
    assert lease.acquire("r", "reject", 10) == ("busy", 0)  # b waits: still busy


def test_interrupt_flags_the_running_turn_and_goes_first() -> None:
    lease = TurnLease(clock=Clock())
    lease.acquire("a", "enqueue", 10)
    lease.acquire("b", "enqueue", 10)
    assert lease.acquire("i", "interrupt", 10) == ("queued", 1)
    assert lease.renew("a", 10) == "interrupted"
    lease.release("a")
    assert lease.acquire("i", "interrupt", 10) == ("granted", 0)
    assert lease.acquire("b", "enqueue", 10) == ("queued", 1)


def test_an_expired_holder_and_silent_waiters_are_dropped() -> None:
    clock = Clock()
    lease = TurnLease(clock=clock, waiter_ttl=5)
    lease.acquire("a", "enqueue", 10)
    lease.acquire("gone", "enqueue", 10)
    lease.acquire("b", "enqueue", 10)
    clock.now += 6  # "gone" stopped polling; "a" still holds
    assert lease.acquire("b", "enqueue", 10) == ("queued", 1)
    clock.now += 5  # a's replica died: its lease ran out
    assert lease.acquire("b", "enqueue", 10) == ("granted", 0)
    assert lease.renew("a", 10) == "lost"  # b holds it now


def test_a_running_turn_takes_a_forgotten_lease_back_but_an_ended_one_never() -> None:
    lease = TurnLease(clock=Clock())  # as after Dapr moved the actor: nobody holds it
    assert lease.renew("running", 10) == "held"
    assert lease.acquire("next", "enqueue", 10) == ("queued", 1)
    lease.release("running")
    # A renewal sent before the save and delivered after it must not take the lease again.
    assert lease.renew("running", 10) == "lost"
    assert lease.acquire("running", "enqueue", 10) == ("busy", 0)
    assert lease.acquire("next", "enqueue", 10) == ("granted", 0)


def test_an_interrupt_whose_message_gave_up_is_withdrawn() -> None:
    lease = TurnLease(clock=Clock())
    lease.acquire("a", "enqueue", 10)
    lease.acquire("i", "interrupt", 10)
    lease.release("i")  # its client went away while waiting
    assert lease.renew("a", 10) == "held"


def test_a_deleted_session_tells_its_running_turn() -> None:
    lease = TurnLease(clock=Clock())
    lease.acquire("a", "enqueue", 10)
    lease.mark_deleted()
    assert lease.renew("a", 10) == "deleted"


# -- through the API and the service --------------------------------------------------------------
@pytest.fixture
def settings() -> ChatSettings:
    # A paced offline model, so that a turn is still running when the next message arrives.
    return ChatSettings(offline_token_delay_seconds=0.01, turn_lease_renew_seconds=0.05)


async def chat(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/chat", json={"user_id": "alice", **body})


async def history(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/users/alice/sessions/{session_id}/history")
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def new_session(client: httpx.AsyncClient) -> str:
    session_id: str = (await client.post("/users/alice/sessions")).json()["session_id"]
    return session_id


async def test_enqueue_runs_twelve_messages_one_after_another(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    session_id = await new_session(client)
    fake_sidecar.requests.clear()
    texts = [f"message {i}" for i in range(12)]
    responses = await asyncio.gather(
        *(chat(client, session_id=session_id, message=t) for t in texts)
    )
    assert [r.status_code for r in responses] == [200] * 12
    messages = await history(client, session_id)
    assert len(messages) == 24
    for user, reply in zip(messages[::2], messages[1::2], strict=True):
        assert (user["role"], reply["role"]) == ("user", "assistant")
        assert user["turn_id"] == reply["turn_id"]  # each pair adjacent
        assert not user["interrupted"]
    assert sorted(m["content"] for m in messages[::2]) == sorted(texts)
    # Each turn saw the ones before it: the history it was given grew turn by turn.
    (summary,) = (await client.get("/users/alice/sessions")).json()["sessions"]
    assert summary["message_count"] == 24
    # Serialized before the store: not one write of these turns hit an ETag conflict.
    transactions = [r for r in fake_sidecar.requests if r.url.path.endswith("/transaction")]
    assert len(transactions) == 12


async def test_reject_answers_409_and_writes_nothing_of_the_refused_message(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    session_id = await new_session(client)
    first = await long_turn(client, session_id, fake_sidecar)
    refused = await chat(
        client, session_id=session_id, message="refuse me", multitask_strategy="reject"
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "session_busy"
    assert (await first).status_code == 200
    assert "refuse me" not in [m["content"] for m in await history(client, session_id)]
    assert all(e["data"]["user_text"] != "refuse me" for e in fake_sidecar.published)


async def test_interrupt_saves_the_running_turn_as_interrupted_and_runs_next(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    session_id = await new_session(client)
    first = await long_turn(client, session_id, fake_sidecar)
    second = await chat(
        client, session_id=session_id, message="stop, this instead", multitask_strategy="interrupt"
    )
    cut = await first
    assert cut.status_code == 200
    assert cut.json()["metadata"]["interrupted"] is True
    assert second.status_code == 200
    assert second.json()["metadata"]["interrupted"] is False
    messages = await history(client, session_id)
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        "a long one",
        "stop, this instead",
    ]
    assert messages[0]["interrupted"] is True
    assert messages[-1]["interrupted"] is False


async def test_a_session_deleted_while_its_turn_runs_stays_deleted(
    app: FastAPI, client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, service_of: ServiceOf
) -> None:
    # (httpx's ASGI transport buffers a whole response, so the stream is read from the service.)
    service = service_of(app)
    session_id = await new_session(client)
    run = await service.start_turn(
        ChatRequest(user_id="alice", session_id=session_id, message="hi")
    )
    events = run.events()
    async for event in events:
        if event.type == "delta":
            break
    deleted = await client.delete(f"/users/alice/sessions/{session_id}")
    assert deleted.status_code == 200
    rest = [event async for event in events]
    assert rest[-1].type == "error"
    assert rest[-1].data["code"] == "session_deleted"
    assert (await client.get(f"/users/alice/sessions/{session_id}/history")).status_code == 404
    assert (await client.get("/users/alice/sessions")).json()["sessions"] == []
    assert not [e for e in fake_sidecar.published if e["type"] == "conversation.turn.completed"]


async def test_a_turn_cut_before_its_first_delta_saves_the_users_message_at_once(
    fake_sidecar: FakeDaprSidecar, service_of: ServiceOf
) -> None:
    app = create_app(ChatSettings(offline_token_delay_seconds=0.5))
    attach_fake_sidecar(app, fake_sidecar)
    service = service_of(app)
    run = await service.start_turn(ChatRequest(user_id="dave", message="are you there?"))
    events = run.events()
    first = await anext(events)
    assert first.type == "session"
    started = time.monotonic()
    await events.aclose()  # the client went away before any word of the reply
    await run.wait()
    assert time.monotonic() - started < 1.0
    saved = await service.history(user_id="dave", session_id=run.turn.session_id)
    assert [(m.role, m.content, m.interrupted) for m in saved.messages] == [
        ("user", "are you there?", True)
    ]


async def test_a_cut_turn_is_saved_before_the_next_turn_of_its_session(
    fake_sidecar: FakeDaprSidecar, service_of: ServiceOf
) -> None:
    app = create_app(ChatSettings(offline_token_delay_seconds=0.02))
    attach_fake_sidecar(app, fake_sidecar)
    service = service_of(app)
    first = await service.start_turn(ChatRequest(user_id="dave", message="first, long"))
    session_id = first.turn.session_id
    events = first.events()
    async for event in events:
        if event.type == "delta":
            break
    next_turn = asyncio.create_task(
        service.chat(ChatRequest(user_id="dave", session_id=session_id, message="second"))
    )
    await asyncio.sleep(0.05)  # the second message waits for the session's turn
    await events.aclose()
    await next_turn
    saved = await service.history(user_id="dave", session_id=session_id)
    assert [(m.role, m.content) for m in saved.messages if m.role == "user"] == [
        ("user", "first, long"),
        ("user", "second"),
    ]
    assert saved.messages[0].interrupted
    assert saved.messages[1].interrupted


async def test_twenty_five_first_messages_make_twenty_five_sessions(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(*(chat(client, message=f"hello {i}") for i in range(25)))
    assert [r.status_code for r in responses] == [200] * 25
    sessions = (await client.get("/users/alice/sessions")).json()["sessions"]
    assert len(sessions) == 25
    assert {s["message_count"] for s in sessions} == {2}
    assert {s["session_id"] for s in sessions} == {r.json()["session_id"] for r in responses}


async def test_shutdown_saves_the_running_turns(
    fake_sidecar: FakeDaprSidecar, service_of: ServiceOf
) -> None:
    app = create_app(ChatSettings(offline_token_delay_seconds=0.05))
    attach_fake_sidecar(app, fake_sidecar)
    service = service_of(app)
    run = await service.start_turn(ChatRequest(user_id="erin", message="a long answer please"))
    async for event in run.events():
        if event.type == "delta":
            break
    await app.state.turns.drain(grace_seconds=5)
    saved = await service.history(user_id="erin", session_id=run.turn.session_id)
    assert saved.messages[-1].interrupted is True


async def long_turn(
    client: httpx.AsyncClient, session_id: str, fake: FakeDaprSidecar
) -> asyncio.Task[httpx.Response]:
    """Start a turn and return once it holds its session's lease (its actor granted it)."""
    first = asyncio.create_task(chat(client, session_id=session_id, message="a long one"))
    for _ in range(200):
        if any(
            r.url.path.endswith("/method/acquire") and session_id in r.url.path
            for r in fake.requests
        ):
            await asyncio.sleep(0.05)
            return first
        await asyncio.sleep(0.01)
    raise AssertionError("no turn started")


@pytest.fixture
async def client(app: FastAPI) -> Any:
    async with asgi_client(app, "http://chat") as client:
        yield client


async def test_the_registry_keeps_no_wake_up_for_a_session_nobody_waits_on() -> None:
    from chat.services.chat import TurnRegistry

    registry = TurnRegistry()
    await registry.released("alice:s1", within_seconds=0.01)  # timed out: the turn ran elsewhere
    waiting = asyncio.create_task(registry.released("alice:s2", within_seconds=5))
    await asyncio.sleep(0)
    registry.wake("alice:s2")
    await waiting
    assert not registry._released
    assert not registry._waiters
