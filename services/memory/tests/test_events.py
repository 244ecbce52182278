from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memory.services.facts import Reading, canonical_fact
from sidecar.testing import FakeDaprSidecar

TurnEvent = Callable[..., dict[str, Any]]

STORE = "memory-state"


async def deliver(client: httpx.AsyncClient, event: object) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return await client.post(
        "/events/conversation-turns",
        content=body,
        headers={"content-type": "application/cloudevents+json"},
    )


async def test_a_turn_becomes_episodic_procedural_and_semantic_memories(
    client: httpx.AsyncClient,
    make_turn_event: TurnEvent,
) -> None:
    response = await deliver(client, make_turn_event())
    assert response.json() == {"status": "SUCCESS"}
    items = (await client.get("/memories/alice", params={"limit": 50})).json()["items"]
    by_kind: dict[str, list[str]] = {}
    for memory in items:
        by_kind.setdefault(memory["kind"], []).append(memory["content"])
        assert memory["source"] == {
            "type": "conversation",
            "session_id": "session-1",
            "turn_id": "turn-1",
        }
    # The episode keeps what the user said about themselves, not the greeting or the question.
    assert by_kind["episodic"] == ['The user said: "My name is Alice and I live in Lisbon."']
    assert "procedural" not in by_kind  # get_current_time only reads
    assert sorted(by_kind["semantic"]) == ["The user lives in Lisbon.", "The user's name is Alice."]


@pytest.mark.parametrize(
    "text",
    ["What do you know about me?", "Hi!", "thanks, that helped", "Write me a haiku", "lol ok"],
)
async def test_a_turn_that_says_nothing_about_the_user_leaves_no_memory(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, text: str
) -> None:
    response = await deliver(client, make_turn_event(user_text=text))
    assert response.json() == {"status": "SUCCESS"}
    assert (await client.get("/memories/alice")).json()["total"] == 0


@pytest.mark.parametrize("twice", [False, True])
async def test_facts_without_an_episode_are_kept_once_even_when_redelivered(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_turn_event: TurnEvent,
    fake_sidecar: FakeDaprSidecar,
    twice: bool,
) -> None:
    """A model may find a fact in a message it keeps no episode of; no episode marks the turn
    applied, the facts' own ids (or the memory they were counted in) do."""

    class Extractor:
        name = "scripted"

        async def read(self, user_text: str) -> Reading:
            return Reading((canonical_fact("The user lives in Oslo."),), None)

    app.state.memory_runtime.extractor = Extractor()
    if twice:  # the fact known already: the turn's fact is counted in it
        await deliver(client, make_turn_event(turn_id="turn-0", user_text="I live in Oslo."))
    event = make_turn_event(user_text="Oslo, what else is there to see?", tools_used=[])
    await deliver(client, event)
    state, events = dict(fake_sidecar.data[STORE]), list(fake_sidecar.published)
    facts = (await client.get("/memories/alice", params={"kind": "semantic"})).json()["items"]
    assert [(f["content"], f["mentions"]) for f in facts] == [
        ("The user lives in Oslo.", 2 if twice else 1)
    ]
    assert (await deliver(client, event)).json() == {"status": "SUCCESS"}
    assert fake_sidecar.data[STORE] == state
    assert fake_sidecar.published == events


async def test_a_command_that_changed_something_is_a_procedure_once_even_when_redelivered(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    """No episode marks the turn applied: its procedure's own id does."""
    used = [{"name": "remember", "arguments": '{"content": "x"}'}]
    event = make_turn_event(user_text="Write that down", tools_used=used)
    await deliver(client, event)
    state, events = dict(fake_sidecar.data[STORE]), list(fake_sidecar.published)
    items = (await client.get("/memories/alice")).json()["items"]
    assert [m["kind"] for m in items] == ["procedural"]
    assert (await deliver(client, event)).json() == {"status": "SUCCESS"}
    assert fake_sidecar.data[STORE] == state
    assert fake_sidecar.published == events


async def test_a_redelivered_turn_changes_nothing(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    await deliver(client, make_turn_event())
    state, events = dict(fake_sidecar.data[STORE]), list(fake_sidecar.published)
    again = await deliver(client, make_turn_event())
    assert again.json() == {"status": "SUCCESS"}
    assert fake_sidecar.data[STORE] == state
    assert fake_sidecar.published == events


async def test_a_deleted_derived_memory_is_not_brought_back_by_a_redelivery(
    client: httpx.AsyncClient,
    make_turn_event: TurnEvent,
) -> None:
    await deliver(client, make_turn_event())
    items = (await client.get("/memories/alice", params={"kind": "episodic"})).json()["items"]
    await client.delete(f"/memories/alice/{items[0]['id']}")
    await deliver(client, make_turn_event())
    assert (await client.get("/memories/alice", params={"kind": "episodic"})).json()["items"] == []


async def test_a_turn_from_before_the_user_was_forgotten_is_ignored(
    client: httpx.AsyncClient,
    make_turn_event: TurnEvent,
) -> None:
    await client.delete("/memories/alice")
    old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert (await deliver(client, make_turn_event(completed_at=old))).json() == {
        "status": "SUCCESS"
    }
    assert (await client.get("/memories/alice")).json()["total"] == 0
    new = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    await deliver(client, make_turn_event(turn_id="turn-2", completed_at=new))
    assert (await client.get("/memories/alice")).json()["total"] > 0


@pytest.mark.parametrize(
    "build",
    [
        lambda make: b"not json",
        lambda make: b"[]",
        lambda make: {"id": "x", "type": "conversation.turn.completed", "data": {"turn_id": "t"}},
        lambda make: {"id": "x", "type": "conversation.turn.completed", "data": "{broken"},
        lambda make: make(user_id="no spaces allowed"),
        lambda make: make(schema_version="9.9"),
        lambda make: {**make(), "type": "something.else"},
    ],
)
async def test_a_malformed_event_is_dropped_and_writes_nothing(
    client: httpx.AsyncClient,
    make_turn_event: TurnEvent,
    fake_sidecar: FakeDaprSidecar,
    build: Callable[[TurnEvent], object],
) -> None:
    response = await deliver(client, build(make_turn_event))
    assert response.status_code == 200
    assert response.json() == {"status": "DROP"}
    assert fake_sidecar.data.get(STORE, {}) == {}
    assert fake_sidecar.published == []


async def test_turn_data_sent_as_a_json_string_is_accepted(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    event = make_turn_event()
    event["data"] = json.dumps(event["data"])
    assert (await deliver(client, event)).json() == {"status": "SUCCESS"}


async def test_store_outage_answers_503_so_daprd_retries(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.fail_next_status = 500
    response = await deliver(client, make_turn_event())
    assert response.status_code == 503
    assert fake_sidecar.published == []


async def test_a_handler_failing_twice_then_succeeding_gives_one_result(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    """The first delivery fails midway (its first write committed, then the store fails), the
    second fails at once, the third completes (daprd retries on 503): the turn's memories
    exist once, each announced once."""
    writes = []

    def fail_after_the_first_write(store: str, keys: list[str]) -> None:
        writes.append(keys)
        if len(writes) == 1:
            fake_sidecar.fail_next_status = 500  # the request after this write

    fake_sidecar.before_write = fail_after_the_first_write
    first = await deliver(client, make_turn_event())
    fake_sidecar.before_write = None
    fake_sidecar.fail_next_status = 500
    second = await deliver(client, make_turn_event())
    third = await deliver(client, make_turn_event())
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert writes  # the first one got that far
    items = (await client.get("/memories/alice", params={"limit": 50})).json()["items"]
    contents = sorted(m["content"] for m in items)
    assert len(contents) == len(set(contents)) == 3  # episode, name, home
    created = [e for e in fake_sidecar.published if e["type"] == "memory.created"]
    assert sorted(e["data"]["content"] for e in created) == contents


async def test_a_session_deletion_is_acknowledged_and_keeps_the_users_memories(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    await deliver(client, make_turn_event())
    state, events = dict(fake_sidecar.data[STORE]), list(fake_sidecar.published)
    deleted = {
        "schema_version": "1.0", "user_id": "alice", "session_id": "session-1",
        "deleted_at": datetime.now(UTC).isoformat(), "message_count": 2,
    }  # fmt: skip
    event = {"id": "outbox-1", "type": "session.deleted", "source": "chat", "data": deleted}
    assert (await deliver(client, event)).json() == {"status": "SUCCESS"}
    assert fake_sidecar.data[STORE] == state
    assert fake_sidecar.published == events
    bad = event | {"data": deleted | {"message_count": -1}}
    assert (await deliver(client, bad)).json() == {"status": "DROP"}
