"""Consolidation through the app (fake sidecar, the bundled embedding model): what a user's
memories become after turns that repeat, change and take back facts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sidecar.testing import FakeDaprSidecar

TurnEvent = Callable[..., dict[str, Any]]
STORE = "memory-state"


async def say(
    client: httpx.AsyncClient,
    make_turn_event: TurnEvent,
    text: str,
    turn: str,
    user: str = "dana",
    at: datetime | None = None,
) -> None:
    said = (at or datetime.now(UTC)).isoformat()
    event = make_turn_event(
        user_id=user, turn_id=turn, user_text=text, tools_used=[], completed_at=said
    )
    response = await client.post(
        "/events/conversation-turns",
        json=event,
        headers={"content-type": "application/cloudevents+json"},
    )
    assert response.json() == {"status": "SUCCESS"}


async def facts(client: httpx.AsyncClient, user: str = "dana") -> dict[str, dict[str, Any]]:
    page = await client.get(f"/memories/{user}", params={"kind": "semantic", "limit": 200})
    return {m["content"]: m for m in page.json()["items"]}


async def test_the_issue_s_conversation_keeps_one_current_fact_each(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    await say(client, make_turn_event, "Hi, my name is Dana and I live in Lisbon.", "t1")
    await say(client, make_turn_event, "My name is Dana.", "t2")
    await say(client, make_turn_event, "I moved to Porto last month, I live in Porto now.", "t3")
    known = await facts(client)
    assert sorted(known) == ["The user lives in Porto.", "The user's name is Dana."]
    assert known["The user's name is Dana."]["mentions"] == 2
    home = known["The user lives in Porto."]
    assert (home["attribute"], home["version"]) == ("home", 2)
    history = (await client.get(f"/memories/dana/{home['id']}/history")).json()["versions"]
    assert [(v["operation"], v["content"], v["source"]["turn_id"]) for v in history] == [
        ("add", "The user lives in Lisbon.", "t1"),
        ("update", "The user lives in Porto.", "t3"),
    ]
    episodes = await client.get("/memories/dana", params={"kind": "episodic"})
    assert len(episodes.json()["items"]) == 3  # an episode per turn, none consolidated


@pytest.mark.parametrize(
    ("retraction", "left"),
    [
        ("Please forget that I like tea.", ["The user lives in Lisbon."]),
        ("I don't live in Lisbon any more.", ["The user likes tea."]),
        ("I don't live in Madrid any more.", ["The user likes tea.", "The user lives in Lisbon."]),
    ],
)
async def test_a_retraction_deletes_the_fact_it_names(
    client: httpx.AsyncClient,
    make_turn_event: TurnEvent,
    fake_sidecar: FakeDaprSidecar,
    retraction: str,
    left: list[str],
) -> None:
    await say(client, make_turn_event, "I like tea and I live in Lisbon", "t1")
    assert len(await facts(client)) == 2
    published = len(fake_sidecar.published)
    await say(client, make_turn_event, retraction, "t2")
    assert sorted(await facts(client)) == left
    deleted = [
        e for e in fake_sidecar.published[published:]
        if e["type"] == "memory.deleted" and e["data"]["kind"] == "semantic"
    ]  # fmt: skip
    assert len(deleted) == 2 - len(left)  # announced through the outbox
    assert all(e["data"]["content"] == "" for e in deleted)  # a tombstone keeps nothing


async def test_a_retraction_by_text_deletes_the_most_similar_fact(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    await say(client, make_turn_event, "Remember that my sister visits on Sundays.", "t1")
    await say(client, make_turn_event, "I like jazz.", "t2")
    await say(client, make_turn_event, "Forget that my sister visits on Sundays", "t3")
    assert sorted(await facts(client)) == ["The user likes jazz."]


async def test_a_late_older_turn_does_not_undo_a_newer_one(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    """Turns can arrive out of order (a redelivery, two replicas): what was said last holds."""
    ten = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    await say(client, make_turn_event, "I moved to Porto.", "t2", at=ten + timedelta(minutes=5))
    await say(client, make_turn_event, "I live in Lisbon. I like tea.", "t1", at=ten)
    await say(client, make_turn_event, "I don't live in Porto", "t0", at=ten - timedelta(days=1))
    known = await facts(client)
    assert sorted(known) == ["The user likes tea.", "The user lives in Porto."]
    assert known["The user lives in Porto."]["version"] == 1
    await say(client, make_turn_event, "I live in Braga now.", "t3", at=ten + timedelta(hours=1))
    assert "The user lives in Braga." in await facts(client)


async def test_a_redelivered_turn_counts_once(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    await say(client, make_turn_event, "My name is Dana.", "t1")
    await say(client, make_turn_event, "My name is Dana, I live in Porto.", "t2")
    state = dict(fake_sidecar.data[STORE])
    await say(client, make_turn_event, "My name is Dana, I live in Porto.", "t2")
    assert fake_sidecar.data[STORE] == state
    assert (await facts(client))["The user's name is Dana."]["mentions"] == 2


async def test_concurrent_turns_with_one_fact_store_it_once(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    await asyncio.gather(
        *(say(client, make_turn_event, "I live in Porto.", f"t{i}") for i in range(6))
    )
    known = await facts(client)
    assert list(known) == ["The user lives in Porto."]
    assert known["The user lives in Porto."]["mentions"] == 6


async def test_a_created_fact_is_consolidated_and_says_how(client: httpx.AsyncClient) -> None:
    body = {"kind": "semantic", "content": "The user lives in Lisbon."}
    first = await client.post("/memories/dana", json=body)
    assert (first.status_code, first.headers["memory-operation"]) == (201, "add")
    same = await client.post("/memories/dana", json=body)
    assert (same.status_code, same.headers["memory-operation"]) == (200, "noop")
    assert (same.json()["id"], same.json()["mentions"]) == (first.json()["id"], 2)
    moved = await client.post(
        "/memories/dana",
        json={"kind": "semantic", "content": "The user lives in Porto."},
        headers={"Idempotency-Key": "move-1"},
    )
    assert (moved.status_code, moved.headers["memory-operation"]) == (200, "update")
    assert moved.json()["id"] == first.json()["id"]
    again = await client.post(
        "/memories/dana",
        json={"kind": "semantic", "content": "The user lives in Porto."},
        headers={"Idempotency-Key": "move-1"},
    )
    assert (again.status_code, again.json()["version"]) == (200, moved.json()["version"])
    assert sorted(await facts(client)) == ["The user lives in Porto."]


async def test_a_patch_is_kept_in_the_history(client: httpx.AsyncClient) -> None:
    created = (
        await client.post("/memories/dana", json={"kind": "semantic", "content": "Likes jazz."})
    ).json()
    await client.patch(f"/memories/dana/{created['id']}", json={"content": "Likes blues."})
    history = (await client.get(f"/memories/dana/{created['id']}/history")).json()
    assert [(v["operation"], v["content"], v["source"]["type"]) for v in history["versions"]] == [
        ("add", "Likes jazz.", "api"),
        ("update", "Likes blues.", "api"),
    ]
    await client.delete(f"/memories/dana/{created['id']}")
    gone = await client.get(f"/memories/dana/{created['id']}/history")
    assert gone.status_code == 404


async def test_an_expired_memory_vanishes_from_every_read_and_a_sweep_deletes_it(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    kept = await client.post("/memories/dana", json={"kind": "episodic", "content": "Kept"})
    brief = await client.post(
        "/memories/dana",
        json={"kind": "episodic", "content": "Parked on level 3", "expires_at": soon},
    )
    assert brief.status_code == 201
    memory_id = brief.json()["id"]
    assert brief.json()["expires_at"] is not None
    assert len((await client.get("/memories/dana")).json()["items"]) == 2
    await asyncio.sleep(1.2)
    listed = (await client.get("/memories/dana")).json()
    assert [m["id"] for m in listed["items"]] == [kept.json()["id"]]
    found = (await client.get("/memories/dana/search", params={"q": "parked level"})).json()
    assert memory_id not in [h["memory"]["id"] for h in found["hits"]]
    assert (await client.get(f"/memories/dana/{memory_id}")).status_code == 404
    assert (await client.get(f"/memories/dana/{memory_id}/history")).status_code == 404
    for _ in range(50):  # the read started the sweep, in the background
        stored = fake_sidecar.value(STORE, f"memory:dana:{memory_id}")
        if stored is not None and stored["deleted_at"] is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the expired memory was not swept")
    deleted = [e for e in fake_sidecar.published if e["type"] == "memory.deleted"]
    assert [e["data"]["id"] for e in deleted] == [memory_id]
    assert (await client.get("/memories/dana")).json()["total"] == 1


@pytest.mark.parametrize(
    "expires_at",
    ["2020-01-01T00:00:00+00:00", "2999-01-01T00:00:00", "soon"],
    ids=["past", "no-time-zone", "not-a-time"],
)
async def test_an_expiry_must_be_a_future_time_with_a_zone(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, expires_at: str
) -> None:
    body = {"kind": "episodic", "content": "x", "expires_at": expires_at}
    response = await client.post("/memories/dana", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "expires_at"
    assert STORE not in fake_sidecar.data or not fake_sidecar.data[STORE]


async def test_a_patch_sets_or_clears_the_expiry(client: httpx.AsyncClient) -> None:
    created = await client.post("/memories/dana", json={"kind": "episodic", "content": "x"})
    path = f"/memories/dana/{created.json()['id']}"
    later = "2999-01-01T00:00:00+00:00"
    assert (await client.patch(path, json={"expires_at": later})).json()["expires_at"] == (
        "2999-01-01T00:00:00Z"
    )
    cleared = await client.patch(path, json={"expires_at": None})
    assert (cleared.status_code, cleared.json()["expires_at"]) == (200, None)


async def test_a_fact_the_turn_remembered_already_is_counted_once(
    client: httpx.AsyncClient, make_turn_event: TurnEvent, fake_sidecar: FakeDaprSidecar
) -> None:
    """The agent's `remember` tool stores the fact during the turn; the turn's own fact is
    the same statement, not a second mention."""
    source = {"type": "conversation", "session_id": "session-1", "turn_id": "t1"}
    body = {"kind": "semantic", "content": "I sail on weekends", "source": source}
    stored = await client.post("/memories/dana", json=body)
    published = len(fake_sidecar.published)
    await say(client, make_turn_event, "Remember that I sail on weekends", "t1")
    (fact,) = (await facts(client)).values()
    assert (fact["id"], fact["mentions"], fact["version"]) == (stored.json()["id"], 1, 1)
    types = [e["type"] for e in fake_sidecar.published[published:]]
    assert "memory.updated" not in types


async def test_the_first_version_survives_changes_that_keep_the_content(
    client: httpx.AsyncClient,
) -> None:
    """A mention (noop) or an expiry-only patch bumps the version but keeps the history: the
    add stays the first version, with its own time and source."""
    body = {"kind": "semantic", "content": "The user lives in Oslo."}
    created = (await client.post("/memories/dana", json=body)).json()
    await client.post("/memories/dana", json=body)  # a noop
    path = f"/memories/dana/{created['id']}"
    await client.patch(path, json={"expires_at": "2999-01-01T00:00:00+00:00"})
    moved = {"kind": "semantic", "content": "The user lives in Rome."}
    updated = (await client.post("/memories/dana", json=moved)).json()
    assert (updated["version"], updated["mentions"]) == (4, 1)  # a new value, said once
    versions = (await client.get(f"{path}/history")).json()["versions"]
    assert [(v["version"], v["operation"], v["content"]) for v in versions] == [
        (1, "add", "The user lives in Oslo."),
        (4, "update", "The user lives in Rome."),
    ]
    assert versions[0]["at"] == created["created_at"]


@pytest.mark.parametrize(
    "expires_at",
    [253402300800, "9999-12-31T23:59:59-14:00", True],
    ids=["a-number", "past-year-9999-in-utc", "a-boolean"],
)
async def test_an_expiry_is_an_iso_string_within_range(
    client: httpx.AsyncClient, expires_at: object
) -> None:
    body = {"kind": "episodic", "content": "x", "expires_at": expires_at}
    response = await client.post("/memories/dana", json=body)
    assert response.status_code == 422, response.text


async def test_an_expiry_is_kept_in_utc(client: httpx.AsyncClient) -> None:
    body = {"kind": "episodic", "content": "x", "expires_at": "2999-01-01T02:00:00+02:00"}
    created = await client.post("/memories/dana", json=body)
    assert created.json()["expires_at"] == "2999-01-01T00:00:00Z"


async def test_forgetting_a_fact_deletes_the_episodes_that_said_it(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    """ "Forget that ..." is about the user's words too; "I don't ... any more" is a change, and
    the episodes that said the old value stay (they are dated as the past in recall)."""
    await say(client, make_turn_event, "I like tea and I live in Lisbon.", "t1")
    await say(client, make_turn_event, "Tea again, please: earl grey.", "t2")
    await say(client, make_turn_event, "Please forget that I like tea.", "t3")
    episodes = await client.get("/memories/dana", params={"kind": "episodic"})
    left = sorted(m["content"] for m in episodes.json()["items"])
    assert left == ['The user said: "Please forget that I like tea."']
    found = (await client.get("/memories/dana/search", params={"q": "Do I like tea"})).json()
    assert "I like tea and" not in str(found)
    await say(client, make_turn_event, "I don't live in Lisbon any more.", "t4")
    assert sorted(await facts(client)) == []
    episodes = await client.get("/memories/dana", params={"kind": "episodic"})
    assert len(episodes.json()["items"]) == 2  # the change kept its evidence


async def test_an_imported_fact_keeps_its_attribute_and_is_updated(
    client: httpx.AsyncClient, make_turn_event: TurnEvent
) -> None:
    batch = {"items": [{"kind": "semantic", "content": "The user lives in Oslo."}]}
    (item,) = (await client.post("/memories/dana:batch", json=batch)).json()["items"]
    assert item["memory"]["attribute"] == "home"
    await say(client, make_turn_event, "I moved to Bergen.", "t1")
    assert sorted(await facts(client)) == ["The user lives in Bergen."]
