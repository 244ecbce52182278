"""Storage that scales, against real daprd on both resource sets: a user's memories in a head
and bounded pages (memory.data.layout), bulk import, writers on both replicas at once, and
erasure of every key."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.stack import Stack, eventually, outbox_backlog, turns_backlog

pytestmark = pytest.mark.integration

MEMORY = {"dapr-app-id": "memory"}


@pytest.fixture(autouse=True)
def _quiet_stack(stack: Stack) -> None:
    """Each test starts once memory has worked off earlier tests' turns and the outboxes have
    read everything: an import of hundreds queued behind minutes of backlog on 2 cores
    outlasts the 30 s per-attempt timeout of memory calls (and its retry doubles the work)."""
    eventually(
        lambda: turns_backlog(stack) == 0 and outbox_backlog(stack, pending=False) == 0,
        timeout=240,
        what="memory and the outboxes to work off earlier tests",
    )


PAGE = 128  # memory.data.layout.PAGE_MAX_ENTRIES


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def through_chat(stack: Stack) -> httpx.AsyncClient:
    """Calls to memory the way chat makes them: through chat's sidecar (any memory replica)."""
    return httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.chat), headers={**MEMORY, **stack.auth}, timeout=60
    )


def items(start: int, count: int) -> list[dict[str, Any]]:
    topics = ["tea", "trains", "violins", "chess", "sailing", "pottery", "jazz"]
    return [
        {"kind": "semantic", "content": f"note {i}: likes {topics[i % 7]}", "tags": [f"t{i % 3}"]}
        for i in range(start, start + count)
    ]


async def import_items(client: httpx.AsyncClient, user: str, batch: list[dict[str, Any]]) -> Any:
    response = await client.post(f"/memories/{user}:batch", json={"items": batch})
    assert response.status_code == 200, response.text
    return response.json()


async def list_all(client: httpx.AsyncClient, user: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/memories/{user}", params=params)).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def head(stack: Stack, user: str) -> dict[str, Any]:
    url = f"{stack.sidecar(stack.ports.memory)}/v1.0/state/memory-state/head:{user}"
    return dict(httpx.get(url, headers=stack.auth, timeout=10).json())


def created_events(stack: Stack, user: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.topic_events("memory-events")
        if e.get("type") == "memory.created" and (e.get("data") or {}).get("user_id") == user
    ]


async def test_an_import_is_paged_and_each_item_announced_once(stack: Stack) -> None:
    user = new_user()
    batch = items(0, 2 * PAGE + 44)
    async with through_chat(stack) as memory:
        first = await import_items(memory, user, batch)
        assert first["created"] == len(batch)
        again = await import_items(memory, user, batch)  # sent twice: stored once
        assert {r["status"] for r in again["items"]} == {"existing"}
        listed = await list_all(memory, user)
    assert [m["id"] for m in listed] == [r["memory"]["id"] for r in reversed(first["items"])]
    stored = head(stack, user)
    assert [p["count"] for p in stored["pages"]] == [PAGE, PAGE]
    assert len(stored["tail"]) == 44
    assert stack.state_keys("memory-state", f"page:{user}:") == [
        f"page:{user}:0:1",
        f"page:{user}:1:1",
    ]
    eventually(
        lambda: len(created_events(stack, user)) >= len(batch),
        timeout=60,
        what="one memory.created per imported item",
    )
    events = created_events(stack, user)
    assert sorted(e["data"]["id"] for e in events) == sorted(
        r["memory"]["id"] for r in first["items"]
    )


async def test_writers_on_both_replicas_keep_the_pages_whole(stack: Stack) -> None:
    """Creates, patches and deletes of sealed and unsealed memories at once, spread over both
    memory replicas: every change lands, the head counts what is there, and no page key is
    left that the head does not name."""
    user = new_user()
    async with through_chat(stack) as memory:
        seeded = [
            r["memory"] for r in (await import_items(memory, user, items(0, 2 * PAGE)))["items"]
        ]
        rng = random.Random(7)
        doomed = rng.sample(seeded, 60)
        patched = rng.sample([m for m in seeded if m not in doomed], 30)

        async def create(i: int) -> str:
            body = {"kind": "episodic", "content": f"new {i}"}
            response = await memory.post(f"/memories/{user}", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        async def delete(m: dict[str, Any]) -> None:
            response = await memory.delete(f"/memories/{user}/{m['id']}")
            assert response.status_code == 204, response.text

        async def patch(m: dict[str, Any]) -> None:
            response = await memory.patch(f"/memories/{user}/{m['id']}", json={"tags": ["patched"]})
            assert response.status_code == 200, response.text

        work = [create(i) for i in range(40)] + [delete(m) for m in doomed]
        work += [patch(m) for m in patched]
        rng.shuffle(work)
        results = await asyncio.gather(*work)
        new_ids = {r for r in results if isinstance(r, str)}
        listed = await list_all(memory, user)
        tagged = (
            await memory.get(f"/memories/{user}", params={"tag": "patched", "limit": 200})
        ).json()
    expected = ({m["id"] for m in seeded} - {m["id"] for m in doomed}) | new_ids
    assert len(listed) == len(expected)
    assert {m["id"] for m in listed} == expected
    assert {m["id"] for m in tagged["items"]} == {m["id"] for m in patched}
    stored = head(stack, user)
    assert stored["count"] == len(expected)
    named = {f"page:{user}:{p['no']}:{p['gen']}" for p in stored["pages"]}
    assert set(stack.state_keys("memory-state", f"page:{user}:")) == named


async def test_search_finds_a_memory_sealed_in_an_older_page(stack: Stack) -> None:
    user = new_user()
    needle = {"kind": "semantic", "content": "The user keeps three beehives on the roof"}
    async with through_chat(stack) as memory:
        await import_items(memory, user, items(0, 50))
        await import_items(memory, user, [needle])
        await import_items(memory, user, items(50, PAGE + 10))  # seals the needle into a page
        response = await memory.get(
            f"/memories/{user}/search", params={"q": "does she keep any bees?", "k": 3}
        )
    assert response.status_code == 200
    assert response.json()["hits"][0]["memory"]["content"] == needle["content"]
    assert any(p["count"] == PAGE for p in head(stack, user)["pages"])


async def test_forget_erases_every_page_and_memory_of_the_user(stack: Stack) -> None:
    user, other = new_user(), new_user()
    async with through_chat(stack) as memory:
        await import_items(memory, user, items(0, 2 * PAGE + 5))
        await import_items(memory, other, items(0, 3))
        response = await memory.delete(f"/memories/{user}")
        assert response.json() == {"user_id": user, "deleted": 2 * PAGE + 5}
        assert (await memory.get(f"/memories/{other}")).json()["total"] == 3
    assert stack.state_keys("memory-state", f"memory:{user}:") == []
    assert stack.state_keys("memory-state", f"page:{user}:") == []
    forgotten = eventually(
        lambda: [
            e for e in stack.topic_events("memory-events")
            if e.get("type") == "user.forgotten" and e.get("subject") == user
        ],
        what="user.forgotten",
    )  # fmt: skip
    assert forgotten[0]["data"]["deleted"] == 2 * PAGE + 5
    assert json.dumps(head(stack, user)["tail"]) == "[]"


# -- sessions ---------------------------------------------------------------------------------
HISTORY_PAGE = 64  # chat.data.sessions.HISTORY_PAGE_MESSAGES
LIST_PAGE = 128  # chat.data.sessions.SESSION_PAGES.max_entries


def list_head(stack: Stack, user: str) -> dict[str, Any]:
    url = f"{stack.sidecar(stack.ports.chat)}/v1.0/state/chat-state/sessions:{user}"
    return dict(httpx.get(url, headers=stack.auth, timeout=10).json())


def session_deleted(stack: Stack, topic: str, session_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.topic_events(topic)
        if e.get("type") == "session.deleted" and e.get("subject") == session_id
    ]


def chat_client(stack: Stack, replica: int = 0) -> httpx.AsyncClient:
    app = stack.replicas("chat")[replica]
    return httpx.AsyncClient(base_url=stack.app_url(app), timeout=60)


async def test_a_long_session_is_paged_and_reads_back_whole(stack: Stack) -> None:
    """33 turns (66 messages) alternating between the two chat replicas: the first 64
    messages are sealed into a page, the history reads back whole in both orders, and deleting
    the session erases the head and the page and is announced once."""
    user = new_user()
    clients = [chat_client(stack, 0), chat_client(stack, 1)]
    try:
        sid = (await clients[0].post(f"/users/{user}/sessions")).json()["session_id"]
        for i in range(HISTORY_PAGE // 2 + 1):
            body = {"user_id": user, "session_id": sid, "message": f"note {i}"}
            response = await clients[i % 2].post("/chat", json=body)
            assert response.status_code == 200, response.text
        history = f"/users/{user}/sessions/{sid}/history"
        oldest = (await clients[1].get(history, params={"limit": 500})).json()
        assert oldest["total"] == HISTORY_PAGE + 2
        users = [m["content"] for m in oldest["messages"] if m["role"] == "user"]
        assert users == [f"note {i}" for i in range(HISTORY_PAGE // 2 + 1)]
        newest = (await clients[0].get(history, params={"limit": 5, "order": "newest"})).json()
        assert newest["messages"] == oldest["messages"][::-1][:5]
        assert stack.state_keys("chat-state", f"history:{user}:{sid}:") == [
            f"history:{user}:{sid}:0"
        ]
        assert (await clients[0].delete(f"/users/{user}/sessions/{sid}")).status_code == 200
        assert stack.state_keys("chat-state", f"history:{user}:{sid}:") == []
        assert stack.state_keys("chat-state", f"session:{user}:{sid}") == []
        # Announced by chat's outbox with the erasure, and memory takes it (no dead letter).
        eventually(
            lambda: session_deleted(stack, "conversation-turns", sid),
            timeout=60,
            what="session.deleted on conversation-turns",
        )
        [announced] = session_deleted(stack, "conversation-turns", sid)
        assert announced["subject"] == sid
        assert announced["data"]["message_count"] == HISTORY_PAGE + 2
        eventually(lambda: turns_backlog(stack) == 0, timeout=60, what="memory to take the event")
        assert session_deleted(stack, "conversation-turns-dlq", sid) == []
    finally:
        for client in clients:
            await client.aclose()


async def test_a_long_session_list_is_paged_and_stays_whole_under_concurrency(
    stack: Stack,
) -> None:
    """140 sessions created 20 at a time on both replicas (one list per user, written by the
    user's actor): all listed once, newest first, across a sealed page and the tail; a turn and
    a delete in the sealed page update it, and no page key is left that the head does not
    name."""
    user = new_user()
    clients = [chat_client(stack, 0), chat_client(stack, 1)]
    try:
        created: list[str] = []
        for start in range(0, LIST_PAGE + 12, 20):
            replies = await asyncio.gather(
                *(clients[i % 2].post(f"/users/{user}/sessions") for i in range(start, start + 20))
            )
            created += [r.json()["session_id"] for r in replies]
        listed: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 50} | ({"cursor": cursor} if cursor else {})
            page = (await clients[1].get(f"/users/{user}/sessions", params=params)).json()
            listed += page["sessions"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(s["session_id"] for s in listed) == sorted(created)
        stamps = [s["created_at"] for s in listed]
        assert stamps == sorted(stamps, reverse=True)
        old, doomed = listed[-1]["session_id"], listed[-2]["session_id"]  # in the sealed page
        body = {"user_id": user, "session_id": old, "message": "hello"}
        assert (await clients[0].post("/chat", json=body)).status_code == 200
        assert (await clients[1].delete(f"/users/{user}/sessions/{doomed}")).status_code == 200
        after = (await clients[0].get(f"/users/{user}/sessions", params={"limit": 200})).json()
        entry = next(s for s in after["sessions"] if s["session_id"] == old)
        assert entry["message_count"] == 2
        assert doomed not in {s["session_id"] for s in after["sessions"]}
        assert after["total"] == len(created) - 1
    finally:
        for client in clients:
            await client.aclose()
    named = {f"sessions-page:{user}:{p['no']}:{p['gen']}" for p in list_head(stack, user)["pages"]}
    assert set(stack.state_keys("chat-state", f"sessions-page:{user}:")) == named
