from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from sidecar.testing import FakeDaprSidecar

STORE = "chat-state"


async def chat(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/chat", json={"user_id": "alice", **body})


def turn_events(fake: FakeDaprSidecar) -> list[dict[str, Any]]:
    return [e for e in fake.published if e["type"] == "conversation.turn.completed"]


async def test_a_message_without_a_session_starts_one_and_is_saved_with_its_event(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    response = await chat(client, message="Hello there")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response"] == body["reply"]
    assert body["reply"].startswith("[offline model]")
    assert body["user_id"] == "alice"
    assert body["metadata"]["model"] == "offline"
    assert body["metadata"]["degraded"] is False
    assert body["suggested_questions"]
    session_id = body["session_id"]
    history = (await client.get(f"/users/alice/sessions/{session_id}/history")).json()
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "Hello there"),
        ("assistant", body["reply"]),
    ]
    (event,) = turn_events(fake_sidecar)
    assert event["data"]["turn_id"] == body["metadata"]["turn_id"]
    assert (event["data"]["user_text"], event["data"]["reply"]) == ("Hello there", body["reply"])
    sessions = (await client.get("/users/alice/sessions")).json()
    assert sessions["sessions"][0]["session_id"] == session_id
    assert sessions["sessions"][0]["message_count"] == 2
    assert sessions["sessions"][0]["title"] == "Hello there"


async def test_both_seed_request_shapes_are_served(client: httpx.AsyncClient) -> None:
    created = await client.post("/users/alice/sessions")
    assert created.status_code == 201
    assert created.json()["message"] == "Session created successfully"
    session_id = created.json()["session_id"]
    atomic = await chat(client, session_id=session_id, message="first")
    daca = await client.post("/chat/", json={"user_id": "alice", "text": "second", "tags": ["t"]})
    assert atomic.json()["session_id"] == session_id
    assert daca.status_code == 200
    assert daca.json()["reply"]
    history = (await client.get(f"/users/alice/sessions/{session_id}/history")).json()
    assert len(history["messages"]) == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"message": ""}, "empty"),
        ({"message": "   \n "}, "empty"),
        ({"text": "x" * 8001}, "limit is 8000"),
        ({"message": "a", "text": "b"}, "once"),
        ({}, "empty"),
        ({"message": "hi", "session_id": "bad id!"}, "session_id"),
        ({"message": "hi", "user_id": "not valid"}, "user_id"),
        ({"message": "hi", "unknown": 1}, "unknown"),
    ],
)
async def test_bad_requests_are_422_with_a_clear_message_and_write_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, body: dict[str, Any], words: str
) -> None:
    response = await client.post("/chat", json={"user_id": "alice", **body})
    assert response.status_code == 422
    assert words in json.dumps(response.json())
    assert fake_sidecar.data.get(STORE, {}) == {}
    assert fake_sidecar.published == []


async def test_unknown_or_another_users_session_is_404_and_writes_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    bobs = (await client.post("/users/bob/sessions")).json()["session_id"]
    before = dict(fake_sidecar.data[STORE])
    for session_id in (bobs, "00000000-0000-0000-0000-000000000000"):
        response = await chat(client, session_id=session_id, message="hi")
        assert response.status_code == 404
        stream = await client.post(
            "/chat/stream", json={"user_id": "alice", "session_id": session_id, "message": "hi"}
        )
        assert stream.status_code == 404
        assert (await client.get(f"/users/alice/sessions/{session_id}/history")).status_code == 404
        assert (await client.delete(f"/users/alice/sessions/{session_id}")).status_code == 404
    assert fake_sidecar.data[STORE] == before
    assert fake_sidecar.published == []


async def test_memories_personalise_the_reply_and_are_reported(
    client: httpx.AsyncClient, memory: Any
) -> None:
    from .conftest import hit  # noqa: TID252

    memory.hits = [hit("m-1", "Alice likes green tea", 0.82)]
    body = (await chat(client, message="Any drink ideas?")).json()
    assert "Alice likes green tea" in body["reply"]
    assert body["metadata"]["memories_used"] == [
        {
            "id": "m-1",
            "score": 0.82,
            "content": "Alice likes green tea",
            "kind": "semantic",
            "created_at": "2026-11-22T06:00:00Z",
        }
    ]
    search = next(c for c in memory.calls if c.url.path.endswith("/search"))
    assert search.url.path == "/memories/alice/search"
    assert search.url.params["q"] == "Any drink ideas?"


async def test_memory_down_gives_a_degraded_reply_not_an_error(
    client: httpx.AsyncClient, memory: Any
) -> None:
    memory.down = True
    response = await chat(client, message="hello")
    assert response.status_code == 200
    assert response.json()["metadata"]["degraded"] is True
    assert response.json()["reply"]


async def test_tools_act_for_the_requests_user(client: httpx.AsyncClient, memory: Any) -> None:
    timed = (await chat(client, message="What time is it?")).json()
    assert [t["name"] for t in timed["metadata"]["tools_used"]] == ["get_current_time"]
    assert "current time is" in timed["reply"]
    remembered = (await chat(client, message="Remember that I play the cello")).json()
    assert [t["name"] for t in remembered["metadata"]["tools_used"]] == ["remember"]
    (created,) = memory.created
    assert created["path"] == "/memories/alice"
    assert created["content"] == "I play the cello"
    assert created["source"] == {
        "type": "conversation",
        "session_id": remembered["session_id"],
        "turn_id": remembered["metadata"]["turn_id"],
    }


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = "\n".join(line[5:].strip() for line in lines if line.startswith("data:"))
        if kind:
            events.append((kind, json.loads(data)))
    return events


async def test_stream_sends_typed_events_then_the_whole_reply(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    response = await client.post(
        "/chat/stream", json={"user_id": "alice", "message": "What time is it?"}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "session"
    assert events[0][1]["degraded"] is False
    assert "tool_call" in kinds
    assert "tool_result" in kinds
    assert kinds.count("delta") > 3  # token by token
    assert kinds[-1] == "done"
    done = events[-1][1]
    deltas = [d for k, d in events if k == "delta"]
    assert "".join(d["text"] for d in deltas) == done["reply"]
    # Each delta also carries the reply so far (for clients that render `response`).
    assert [d["response"] for d in deltas] == [
        "".join(d["text"] for d in deltas[: i + 1]) for i in range(len(deltas))
    ]
    assert deltas[-1]["response"] == done["response"]
    assert done["session_id"] == events[0][1]["session_id"]
    assert len(turn_events(fake_sidecar)) == 1


async def test_two_messages_at_once_to_one_session_both_land_in_order(
    client: httpx.AsyncClient,
) -> None:
    session_id = (await client.post("/users/alice/sessions")).json()["session_id"]
    first, second = await asyncio.gather(
        chat(client, session_id=session_id, message="one"),
        chat(client, session_id=session_id, message="two"),
    )
    assert first.status_code == second.status_code == 200
    messages = (await client.get(f"/users/alice/sessions/{session_id}/history")).json()["messages"]
    assert sorted(m["content"] for m in messages if m["role"] == "user") == ["one", "two"]
    assert len(messages) == 4
    # Each turn's two messages stay together (user, then its reply).
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["turn_id"] == messages[1]["turn_id"]


async def test_sessions_list_and_delete(client: httpx.AsyncClient) -> None:
    ids = [(await client.post("/users/alice/sessions")).json()["session_id"] for _ in range(2)]
    listed = (await client.get("/users/alice/sessions")).json()
    assert listed["user_id"] == "alice"
    assert {s["session_id"] for s in listed["sessions"]} == set(ids)
    deleted = await client.delete(f"/users/alice/sessions/{ids[0]}")
    assert deleted.json() == {"message": f"Session {ids[0]} deleted"}
    assert [
        s["session_id"] for s in (await client.get("/users/alice/sessions")).json()["sessions"]
    ] == [ids[1]]
    assert (await client.get("/users/bob/sessions")).json() == {
        "user_id": "bob", "sessions": [], "next_cursor": None, "total": 0,
    }  # fmt: skip


async def test_agents_are_discoverable(client: httpx.AsyncClient) -> None:
    (agent,) = (await client.get("/agents")).json()
    assert agent["name"] == "assistant"
    assert agent["model"] == "offline"
    assert {t["name"] for t in agent["tools"]} == {
        "get_current_time",
        "recall_memories",
        "remember",
    }


def test_recalled_episodes_come_after_the_current_facts_dated_as_the_past() -> None:
    from datetime import UTC, datetime

    from chat.models.chat import MemoryUsed
    from chat.services.agent import EARLIER_SECTION, instructions_with

    said = datetime(2026, 3, 1, tzinfo=UTC)
    memories = [
        MemoryUsed(id="e", score=0.9, content='The user said: "I live in Lisbon"',
                   kind="episodic", created_at=said),
        MemoryUsed(id="f", score=0.6, content="The user lives in Porto.", kind="semantic"),
    ]  # fmt: skip
    lines = instructions_with(memories).splitlines()
    assert lines[-3:] == [
        "- The user lives in Porto.",
        EARLIER_SECTION,
        '- (2026-03-01) The user said: "I live in Lisbon"',
    ]


async def test_a_memory_s_history_is_read_through_memory(
    client: httpx.AsyncClient, memory: Any
) -> None:
    known = "00000000-0000-4000-8000-000000000001"
    response = await client.get(f"/users/alice/memories/{known}/history")
    assert response.status_code == 200
    assert [v["content"] for v in response.json()["versions"]] == ["The user lives in Lisbon."]
    assert memory.calls[-1].url.path == f"/memories/alice/{known}/history"
    missing = await client.get("/users/alice/memories/00000000-0000-4000-8000-000000000002/history")
    assert missing.status_code == 404
    assert (await client.get("/users/alice/memories/not-a-uuid/history")).status_code == 422


async def test_the_memories_route_passes_the_kind_on(
    client: httpx.AsyncClient, memory: Any
) -> None:
    assert (await client.get("/users/alice/memories", params={"kind": "semantic"})).is_success
    assert memory.calls[-1].url.params["kind"] == "semantic"
    assert (await client.get("/users/alice/memories")).is_success
    assert "kind" not in memory.calls[-1].url.params
    assert (await client.get("/users/alice/memories", params={"kind": "x"})).status_code == 422
