"""Sessions that scale (chat.data.sessions): history in sealed pages behind a small head, paged
history reads, the agent's window read from the tail, a paged session list, and the limits."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chat.core.settings import ChatSettings
from chat.data.sessions import HISTORY_PAGE_MESSAGES, SESSION_PAGES
from chat.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "chat-state"
P = HISTORY_PAGE_MESSAGES


async def turn(client: httpx.AsyncClient, session_id: str, text: str, user: str = "alice") -> Any:
    body = {"user_id": user, "session_id": session_id, "message": text}
    response = await client.post("/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def new_session(client: httpx.AsyncClient, user: str = "alice") -> str:
    return str((await client.post(f"/users/{user}/sessions")).json()["session_id"])


def stored(fake: FakeDaprSidecar, key: str) -> Any:
    value, _ = fake.data[STORE][key]
    return value


def keys(fake: FakeDaprSidecar, prefix: str) -> list[str]:
    return sorted(k for k in fake.data.get(STORE, {}) if k.startswith(prefix))


async def all_history(client: httpx.AsyncClient, sid: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 37, **params} | ({"cursor": cursor} if cursor else {})
        page = await client.get(f"/users/alice/sessions/{sid}/history", params=query)
        assert page.status_code == 200, page.text
        found += page.json()["messages"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def test_history_is_sealed_into_pages_and_read_back_in_order(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    sid = await new_session(client)
    for i in range(P):  # two messages per turn: 2P messages
        await turn(client, sid, f"message {i}")
    head = stored(fake_sidecar, f"session:alice:{sid}")
    assert head["message_count"] == 2 * P
    assert head["page_counts"] == [P, P]
    assert head["tail"] == []
    assert keys(fake_sidecar, f"history:alice:{sid}:") == [
        f"history:alice:{sid}:0",
        f"history:alice:{sid}:1",
    ]
    await turn(client, sid, "the last one")
    oldest = await all_history(client, sid)
    assert [m["content"] for m in oldest if m["role"] == "user"] == [
        *(f"message {i}" for i in range(P)),
        "the last one",
    ]
    newest = await all_history(client, sid, order="newest")
    assert newest == oldest[::-1]
    first = (await client.get(f"/users/alice/sessions/{sid}/history")).json()
    assert first["total"] == 2 * P + 2
    assert len(first["messages"]) == 100  # the default limit


async def test_a_turn_reads_only_its_window_and_writes_the_same_at_any_length(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    sid = await new_session(client)
    written: list[int] = []
    for i in range(3 * P // 2 + 5):
        fake_sidecar.requests.clear()
        await turn(client, sid, f"message {i} " + "x" * 200)
        writes = [r for r in fake_sidecar.requests if r.url.path.endswith("/transaction")]
        written.append(sum(len(r.content) for r in writes))
        pages_read = [
            k
            for r in fake_sidecar.requests
            if r.url.path.endswith("/bulk")
            for k in json.loads(r.content)["keys"]
            if k.startswith("history:")
        ]
        assert len(pages_read) <= 1  # the window is the tail, or the tail and the last page
    # The turn's transaction writes the head, which never holds more than a page of messages.
    assert max(written) < 3 * max(written[:10])


async def test_a_session_of_the_one_document_layout_reads_and_continues(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    sid = await new_session(client)
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"old {i}",
         "timestamp": "2026-11-01T10:00:00Z", "turn_id": f"t{i // 2}"}
        for i in range(P + 10)
    ]  # fmt: skip
    fake_sidecar.put(
        STORE,
        f"session:alice:{sid}",
        {"session_id": sid, "user_id": "alice", "created_at": "2026-11-01T10:00:00Z",
         "messages": messages},
    )  # fmt: skip
    assert [m["content"] for m in await all_history(client, sid)] == [
        m["content"] for m in messages
    ]
    await turn(client, sid, "new")
    head = stored(fake_sidecar, f"session:alice:{sid}")
    assert head["schema_version"] == "2"
    assert sum(head["page_counts"]) + len(head["tail"]) == P + 12
    history = await all_history(client, sid)
    assert [m["content"] for m in history][: P + 10] == [m["content"] for m in messages]
    assert history[-2]["content"] == "new"


async def test_deleting_a_session_erases_its_head_and_every_page(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    sid = await new_session(client)
    for i in range(P + 3):
        await turn(client, sid, f"m{i}")
    assert keys(fake_sidecar, f"history:alice:{sid}:")
    assert (await client.delete(f"/users/alice/sessions/{sid}")).status_code == 200
    assert keys(fake_sidecar, f"history:alice:{sid}:") == []
    assert keys(fake_sidecar, f"session:alice:{sid}") == []
    response = await client.get(f"/users/alice/sessions/{sid}/history")
    assert response.status_code == 404
    # Announced once, by the outbox, with the erasure: the deletion record is the event.
    deleted = [e for e in fake_sidecar.published if e["type"] == "session.deleted"]
    assert [(e["topic"], e["subject"]) for e in deleted] == [("conversation-turns", sid)]
    assert deleted[0]["data"] | {"deleted_at": None} == {
        "schema_version": "1.0", "user_id": "alice", "session_id": sid,
        "deleted_at": None, "message_count": 2 * (P + 3),
    }  # fmt: skip
    assert stored(fake_sidecar, f"deleted:alice:{sid}") == deleted[0]["data"]
    assert (await client.delete(f"/users/alice/sessions/{sid}")).status_code == 404
    assert len([e for e in fake_sidecar.published if e["type"] == "session.deleted"]) == 1


async def test_a_delete_cut_short_is_finished_by_the_next(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    """A delete that stopped after erasing some pages (a crash) left the head, which still
    names every page: deleting again erases the rest and announces the deletion once."""
    sid = await new_session(client)
    for i in range(P + 3):
        await turn(client, sid, f"m{i}")
    fake_sidecar.data[STORE].pop(f"history:alice:{sid}:1")  # the newest page went first
    assert (await client.delete(f"/users/alice/sessions/{sid}")).status_code == 200
    assert keys(fake_sidecar, f"history:alice:{sid}:") == []
    assert keys(fake_sidecar, f"session:alice:{sid}") == []
    assert [e["subject"] for e in fake_sidecar.published if e["type"] == "session.deleted"] == [sid]


async def test_a_full_session_refuses_the_turn_before_the_model_runs(
    fake_sidecar: FakeDaprSidecar,
) -> None:
    app = create_app(ChatSettings(max_messages_per_session=4))
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app, "http://chat") as client:
        sid = await new_session(client)
        await turn(client, sid, "one")
        await turn(client, sid, "two")
        before = dict(fake_sidecar.data[STORE])
        events = len(fake_sidecar.published)
        body = {"user_id": "alice", "session_id": sid, "message": "three"}
        refused = await client.post("/chat", json=body)
        assert refused.status_code == 409
        assert refused.json()["error"] == "session_full"
        assert "start a new session" in refused.json()["message"]
        assert fake_sidecar.data[STORE] == before
        assert len(fake_sidecar.published) == events


async def test_the_session_list_is_paged_newest_first(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    n = 2 * SESSION_PAGES.max_entries + 20
    ids = [await new_session(client) for _ in range(n)]
    head = stored(fake_sidecar, "sessions:alice")
    assert [p["count"] for p in head["pages"]] == [SESSION_PAGES.max_entries] * 2
    assert len(head["tail"]) == 20
    listed, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 45} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/users/alice/sessions", params=params)).json()
        assert page["total"] == n
        listed += [s["session_id"] for s in page["sessions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert listed == ids[::-1]


async def test_turns_and_deletes_update_sessions_in_sealed_pages(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    ids = [await new_session(client) for _ in range(SESSION_PAGES.max_entries + 5)]
    old = ids[3]  # in the sealed page
    await turn(client, old, "hello there")
    page = (await client.get("/users/alice/sessions", params={"limit": 200})).json()
    entry = next(s for s in page["sessions"] if s["session_id"] == old)
    assert (entry["title"], entry["message_count"]) == ("hello there", 2)
    assert (await client.delete(f"/users/alice/sessions/{ids[4]}")).status_code == 200
    listed = (await client.get("/users/alice/sessions", params={"limit": 200})).json()
    assert ids[4] not in {s["session_id"] for s in listed["sessions"]}
    assert listed["total"] == len(ids) - 1
    head = stored(fake_sidecar, "sessions:alice")
    named = {SESSION_PAGES.ref_key("alice", _ref(p)) for p in head["pages"]}
    assert set(keys(fake_sidecar, "sessions-page:alice:")) == named


def _ref(value: dict[str, Any]) -> Any:
    from sidecar.paging import PageRef

    return PageRef.model_validate(value)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/users/alice/sessions", {"cursor": "not-a-cursor"}),
        ("/users/alice/sessions", {"limit": 0}),
        ("/users/alice/sessions", {"limit": 201}),
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    assert (await client.get(path, params=params)).status_code == 422


async def test_bad_history_parameters_are_422(client: httpx.AsyncClient) -> None:
    sid = await new_session(client)
    await turn(client, sid, "hi")
    base = f"/users/alice/sessions/{sid}/history"
    newest = (await client.get(base, params={"limit": 1, "order": "newest"})).json()
    for params in (
        {"cursor": "nope"},
        {"cursor": newest["next_cursor"], "order": "oldest"},  # a cursor of the other order
        {"order": "sideways"},
        {"limit": 501},
    ):
        response = await client.get(base, params=params)
        assert response.status_code == 422, params


async def test_a_user_at_the_session_limit_gets_409_and_nothing_is_written(
    fake_sidecar: FakeDaprSidecar,
) -> None:
    app = create_app(ChatSettings(max_sessions_per_user=2))
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app, "http://chat") as client:
        first = await new_session(client)
        await new_session(client)
        before = dict(fake_sidecar.data[STORE])
        refused = await client.post("/users/alice/sessions")
        assert refused.status_code == 409
        assert refused.json()["error"] == "session_limit_reached"
        implicit = await client.post("/chat", json={"user_id": "alice", "message": "hi"})
        assert implicit.status_code == 409
        assert fake_sidecar.data[STORE] == before
        assert (await client.delete(f"/users/alice/sessions/{first}")).status_code == 200
        assert (await client.post("/users/alice/sessions")).status_code == 201
