"""The memory service against real daprd, for both resource sets: CRUD through service
invocation, pages, search quality, concurrency, the outbox, and the conversation-turns
subscription (duplicates and poison events)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.stack import Stack, eventually

pytestmark = pytest.mark.integration

MEMORY = {"dapr-app-id": "memory"}


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def via_chat(stack: Stack) -> httpx.Client:
    """A client that calls memory the way chat does: through chat's sidecar."""
    return httpx.Client(
        base_url=stack.sidecar(stack.ports.chat), headers={**MEMORY, **stack.auth}, timeout=30
    )


def memory_events(stack: Stack, **match: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.topic_events("memory-events")
        if all(e.get(k) == v for k, v in match.items())
    ]


def test_crud_through_service_invocation(stack: Stack) -> None:
    user = new_user()
    with via_chat(stack) as memory:
        created = memory.post(
            f"/memories/{user}", json={"kind": "semantic", "content": "Likes tea"}
        )
        assert created.status_code == 201, created.text
        memory_id = created.json()["id"]
        assert memory.get(f"/memories/{user}/{memory_id}").json()["content"] == "Likes tea"
        assert memory.get(f"/memories/someone-else/{memory_id}").status_code == 404
        patched = memory.patch(f"/memories/{user}/{memory_id}", json={"content": "Likes coffee"})
        assert patched.json()["version"] == 2
        assert memory.delete(f"/memories/{user}/{memory_id}").status_code == 204
        assert memory.get(f"/memories/{user}/{memory_id}").status_code == 404
        assert memory.get(f"/memories/{user}").json()["total"] == 0


def test_wrong_requests_open_no_breaker(stack: Stack) -> None:
    """A 4xx says the request was wrong, not that memory is down: however many in a row, the
    same user's next valid calls on the same path answer 2xx (daprd counted every 4xx against
    its per-endpoint breaker and refused them with 500 for 15 s; docs/dapr-runtime.md)."""
    user = new_user()
    with via_chat(stack) as memory:
        tea = {"kind": "semantic", "content": "Likes tea"}
        assert memory.post(f"/memories/{user}", json=tea).status_code == 201
        for _ in range(10):  # twice the breaker's old threshold of 5
            refused = memory.post(f"/memories/{user}", json={"kind": "semantic", "content": ""})
            assert refused.status_code == 422, refused.text
        walks = {"kind": "semantic", "content": "Likes long walks"}
        created = memory.post(f"/memories/{user}", json=walks)
        assert created.status_code == 201, created.text
        listed = memory.get(f"/memories/{user}")
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == 2


def test_pages_walk_every_memory_once(stack: Stack) -> None:
    user = new_user()
    with via_chat(stack) as memory:
        for i in range(12):
            memory.post(f"/memories/{user}", json={"kind": "episodic", "content": f"event {i}"})
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
            page = memory.get(f"/memories/{user}", params=params).json()
            seen += [m["content"] for m in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert seen == [f"event {i}" for i in reversed(range(12))]


CORPUS = [
    "Alice is allergic to peanuts",
    "Alice's daughter plays the violin in the school orchestra",
    "Alice prefers window seats when she travels by train",
    "Alice works as a nurse on night shifts",
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("which nuts can make her sick?", 0),
        ("does her kid have a musical hobby", 1),
        ("where does she like to sit on the railway", 2),
        ("what is her job at the hospital", 3),
    ],
)
def test_search_ranks_the_right_memory_first_for_a_paraphrase(
    stack: Stack, query: str, expected: int
) -> None:
    user = f"search-{stack.resource_set}"
    with via_chat(stack) as memory:
        if memory.get(f"/memories/{user}").json()["total"] == 0:
            for content in CORPUS:
                memory.post(f"/memories/{user}", json={"kind": "semantic", "content": content})
        result = memory.get(f"/memories/{user}/search", params={"q": query, "k": 3}).json()
    assert result["mode"] == "semantic+keyword"
    assert result["hits"][0]["memory"]["content"] == CORPUS[expected]


async def test_fifty_concurrent_creates_leave_exactly_fifty(stack: Stack) -> None:
    user = new_user()
    async with httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.chat), headers={**MEMORY, **stack.auth}, timeout=60
    ) as memory:
        # With an Idempotency-Key, as chat sends: chat's sidecar retries a create that timed
        # out (docs/architecture.md), and the key makes the retry store nothing twice.
        responses = await asyncio.gather(
            *(
                memory.post(
                    f"/memories/{user}",
                    json={"kind": "episodic", "content": f"e{i}"},
                    headers={"Idempotency-Key": f"create-{i}"},
                )
                for i in range(50)
            )
        )
        listed = (await memory.get(f"/memories/{user}", params={"limit": 200})).json()
    assert {r.status_code for r in responses} <= {200, 201}  # 200: a retry's replay
    assert listed["total"] == 50
    assert len({m["id"] for m in listed["items"]}) == 50


def test_every_committed_write_is_announced_through_the_outbox(stack: Stack) -> None:
    user = new_user()
    with via_chat(stack) as memory:
        memory_id = memory.post(
            f"/memories/{user}", json={"kind": "semantic", "content": "Likes tea"}
        ).json()["id"]
        memory.patch(f"/memories/{user}/{memory_id}", json={"tags": ["drinks"]})
        memory.delete(f"/memories/{user}/{memory_id}")
        memory.delete(f"/memories/{user}")
    types = ["memory.created", "memory.updated", "memory.deleted"]
    events = eventually(
        lambda: (
            len(memory_events(stack, subject=memory_id)) >= 3
            and memory_events(stack, subject=memory_id)
        ),
        what="the memory's three events",
    )
    assert sorted(e["type"] for e in events) == sorted(types)
    for event in events:
        assert event["id"].startswith("outbox-")
        assert event["source"] == "memory"
        assert event["data"]["id"] == memory_id
        assert event["datacontenttype"] == "application/json"
    forgotten = eventually(
        lambda: memory_events(stack, type="user.forgotten", subject=user), what="user.forgotten"
    )
    assert forgotten[0]["data"]["user_id"] == user


def test_a_failed_write_is_not_announced_on_sqlite(stack: Stack) -> None:
    """The outbox publishes only what commits (state.sqlite rolls back a failed transaction);
    state.redis does not roll back, and its phantom event is pinned here too."""
    state = f"{stack.sidecar(stack.ports.memory)}/v1.0/state/memory-state"
    failed, committed = f"failed-{uuid.uuid4().hex}", f"committed-{uuid.uuid4().hex}"
    meta = {"type": "memory.created"}

    def upsert(key: str, etag: str | None) -> httpx.Response:
        request: dict[str, Any] = {
            "key": key,
            "value": {"k": key},
            "metadata": meta | {"subject": key},
            "contentType": "application/json",
        }
        if etag:
            request["etag"] = etag
        request["options"] = {"concurrency": "first-write"}
        return httpx.post(
            f"{state}/transaction",
            json={"operations": [{"operation": "upsert", "request": request}]},
            headers=stack.auth,
            timeout=30,
        )

    assert upsert(failed, etag=None).status_code == 204
    stale = httpx.get(f"{state}/{failed}", headers=stack.auth).headers["etag"]
    # first-write without an ETag on a key that exists: refused by state.sqlite; state.redis
    # ignores first-write inside transactions and overwrites (pinned here, handled by the
    # repository's first-write plain save of a new index).
    assert upsert(failed, etag=None).status_code == (
        500 if stack.resource_set == "embedded" else 204
    )
    assert stale
    assert upsert(failed, etag="999999").status_code == 500  # a stale ETag
    assert upsert(committed, etag=None).status_code == 204
    eventually(lambda: memory_events(stack, subject=committed), what="the committed write's event")
    time.sleep(12)  # past the outbox's wait for a marker that never commits (~10 s)
    announced = memory_events(stack, subject=failed)
    if stack.resource_set == "embedded":
        assert len(announced) == 1  # only the first, committed upsert
    else:
        assert len(announced) > 1  # state.redis: failed ETag checks still publish


def turn_event(user: str, turn_id: str, text: str) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "turn_id": turn_id,
        "session_id": "s-1",
        "user_id": user,
        "user_text": text,
        "reply": "Noted.",
        # A tool that changed something: it leaves a procedural memory (read-only ones do not).
        "tools_used": [{"name": "remember", "arguments": '{"content": "Likes tea"}'}],
        "model": "offline",
        "completed_at": datetime.now(UTC).isoformat(),
    }


def publish_turn(
    stack: Stack, data: object, *, event_type: str = "conversation.turn.completed"
) -> None:
    """Publish as chat does: through chat's sidecar, our own CloudEvent type."""
    response = httpx.post(
        f"{stack.sidecar(stack.ports.chat)}/v1.0/publish/pubsub/conversation-turns",
        params={"metadata.cloudevent.type": event_type},
        headers=stack.auth,
        json=data,
        timeout=10,
    )
    assert response.status_code == 204, response.text


def test_a_turn_becomes_memories_once_even_when_delivered_twice(stack: Stack) -> None:
    user, turn_id = new_user(), f"turn-{uuid.uuid4().hex[:8]}"
    data = turn_event(user, turn_id, "My name is Dana and I live in Oslo.")
    publish_turn(stack, data)
    publish_turn(stack, data)  # at-least-once delivery: the same turn again
    with via_chat(stack) as memory:
        items = eventually(
            lambda: (
                (page := memory.get(f"/memories/{user}").json())["total"] >= 4 and page["items"]
            ),
            what="memories derived from the turn",
        )
        time.sleep(3)  # let the second delivery land
        final = memory.get(f"/memories/{user}").json()
    contents = sorted(m["content"] for m in final["items"])
    assert final["total"] == 4, contents
    assert "The user lives in Oslo." in contents
    assert "The user's name is Dana." in contents
    assert {m["source"]["turn_id"] for m in items} == {turn_id}
    created = [
        e for e in memory_events(stack, type="memory.created") if e["data"].get("user_id") == user
    ]
    assert len(created) == len({e["data"]["id"] for e in created}) == 4  # announced once each


def test_a_poison_event_goes_to_the_dead_letter_topic_and_changes_nothing(stack: Stack) -> None:
    user = new_user()
    marker = f"poison-{uuid.uuid4().hex}"
    publish_turn(stack, {"schema_version": "1.0", "user_id": user, "garbage": marker})
    dead = eventually(
        lambda: [e for e in stack.topic_events("conversation-turns-dlq") if marker in str(e)],
        what="the poison event on conversation-turns-dlq",
    )
    assert len(dead) == 1
    with via_chat(stack) as memory:
        assert memory.get(f"/memories/{user}").json()["total"] == 0


def facts_of(memory: httpx.Client, user: str) -> dict[str, dict[str, Any]]:
    page = memory.get(f"/memories/{user}", params={"kind": "semantic", "limit": 200}).json()
    return {m["content"]: m for m in page["items"]}


def test_facts_stay_true_across_turns_on_both_replicas(stack: Stack) -> None:
    """Consolidation through the real subscription and the user's actor (on whichever memory
    replica holds it): a move updates the home, keeping the old value in its history (read
    through chat as well), a retraction deletes, and each change is announced."""
    user = new_user()
    said = datetime.now(UTC)
    steps = [
        ("My name is Dana and I live in Lisbon.",
         {"The user's name is Dana.", "The user lives in Lisbon."}),
        ("I moved to Porto.", {"The user's name is Dana.", "The user lives in Porto."}),
        ("Please forget that my name is Dana.", {"The user lives in Porto."}),
    ]  # fmt: skip
    with via_chat(stack) as memory:
        for i, (text, expected) in enumerate(steps):
            data = {**turn_event(user, f"turn-{uuid.uuid4().hex[:8]}", text),
                    "completed_at": (said + timedelta(seconds=i)).isoformat()}  # fmt: skip
            publish_turn(stack, data)
            eventually(lambda e=expected: set(facts_of(memory, user)) == e, what=text)  # type: ignore[misc]
        home = facts_of(memory, user)["The user lives in Porto."]
    history = httpx.get(
        f"{stack.app_url(stack.ports.chat)}/users/{user}/memories/{home['id']}/history",
        timeout=10,
    ).json()
    assert [(v["operation"], v["content"]) for v in history["versions"]] == [
        ("add", "The user lives in Lisbon."),
        ("update", "The user lives in Porto."),
    ]

    def announced() -> list[tuple[str, int]] | None:
        events = [
            e for e in stack.topic_events("memory-events")
            if isinstance(e.get("data"), dict) and e["data"].get("user_id") == user
        ]  # fmt: skip
        if not any(e["type"] == "memory.deleted" for e in events):
            return None
        mine = [e for e in events if e["data"].get("id") == home["id"]]
        return sorted((e["type"], e["data"]["version"]) for e in mine)

    assert eventually(announced, what="the changes announced") == [
        ("memory.created", 1),
        ("memory.updated", 2),
    ]


def test_one_fact_from_concurrent_turns_is_stored_once(stack: Stack) -> None:
    """Six turns saying the same thing at once, delivered to both memory replicas: one fact,
    six mentions (the user's actor serializes the consolidations)."""
    user = new_user()
    for _ in range(6):
        publish_turn(stack, turn_event(user, f"turn-{uuid.uuid4().hex[:8]}", "I live in Porto."))
    with via_chat(stack) as memory:
        fact = eventually(
            lambda: (
                (f := facts_of(memory, user).get("The user lives in Porto."))
                and f["mentions"] == 6
                and f
            ),
            what="six mentions of one fact",
        )
        assert list(facts_of(memory, user)) == ["The user lives in Porto."]
        episodes = memory.get(f"/memories/{user}", params={"kind": "episodic"}).json()
    assert fact["version"] == 6
    assert len(episodes["items"]) == 6


def test_an_expired_memory_is_swept_through_the_actor(stack: Stack) -> None:
    user = new_user()
    expires = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    with via_chat(stack) as memory:
        created = memory.post(
            f"/memories/{user}",
            json={"kind": "episodic", "content": "Parked on level 3", "expires_at": expires},
        )
        assert created.status_code == 201, created.text
        memory_id = created.json()["id"]
        time.sleep(2.5)
        assert memory.get(f"/memories/{user}").json()["items"] == []  # and starts the sweep
        assert memory.get(f"/memories/{user}/{memory_id}").status_code == 404
        eventually(
            lambda: memory_events(stack, type="memory.deleted", subject=memory_id),
            what="the sweep's memory.deleted",
        )
        assert memory.get(f"/memories/{user}").json()["total"] == 0
