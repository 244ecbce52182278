from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from sidecar.testing import FakeDaprSidecar

MEMORY_PAGE = {
    "user_id": "alice",
    "items": [
        {
            "id": "6f1c2a52-4f43-4ac4-9a51-0f3c8d1b2e10",
            "user_id": "alice",
            "kind": "semantic",
            "content": "Alice likes tea",
            "tags": ["drinks"],
            "created_at": "2026-11-22T06:00:00Z",
            "updated_at": "2026-11-22T06:00:00Z",
        }
    ],
    "total": 1,
}


def memory_app(seen: list[httpx.Request]) -> object:
    def invoke(app_id: str, request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert app_id == "memory"
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if request.url.path == "/memories/alice":
            return httpx.Response(200, json=MEMORY_PAGE)
        return httpx.Response(404)

    return invoke


async def test_healthz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_user_memories_come_from_memory_through_dapr_invocation(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    seen: list[httpx.Request] = []
    fake_sidecar.invoke = memory_app(seen)  # type: ignore[assignment]
    response = await client.get("/users/alice/memories", params={"limit": 5})
    assert response.status_code == 200
    assert response.json()["items"][0]["content"] == "Alice likes tea"
    assert seen[0].headers["dapr-app-id"] == "memory"
    assert seen[0].url.params["limit"] == "5"


async def test_memory_down_is_503_with_retry_after(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.invoke = None  # daprd answers 500: the target is unreachable
    response = await client.get("/users/alice/memories")
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_invalid_user_id_is_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users/bad%20id/memories")).status_code == 422


async def test_readyz_ready_and_memory_ok(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.invoke = memory_app([])  # type: ignore[assignment]
    body = (await client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "sidecar": "ok",
        "components": "ok",
        "state:chat-state": "ok",
        "events": "ok",
        "memory": "ok",
    }


async def test_readyz_fails_while_memory_events_arrive_late_and_metrics_show_the_lag(
    app: FastAPI, client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.invoke = memory_app([])  # type: ignore[assignment]
    # Up for five minutes: a 90 s lag is the event plane's (not a backlog from before start).
    app.state.delivery_lag.started_at = datetime.now(UTC) - timedelta(minutes=5)
    committed = (datetime.now(UTC) - timedelta(seconds=90)).isoformat()
    event = {
        "id": "outbox-1",
        "type": "memory.created",
        "data": {"id": "m1", "user_id": "alice", "content": "x", "updated_at": committed},
    }
    delivered = await client.post("/events/memory-events", json=event)
    assert delivered.json() == {"status": "SUCCESS"}  # acknowledged, too old to push
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["events"] == "failed"
    assert "memory-events" in response.json()["details"]["events"]
    metrics = (await client.get("/metrics")).text
    assert 'event_delivery_lag_seconds_count{topic="memory-events"} 1.0' in metrics


async def test_readyz_still_ready_when_memory_is_down(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.invoke = None
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["memory"] == "degraded"


KNOWN_MEMORY = "00000000-0000-4000-8000-000000000001"


def consolidating_memory(seen: list[httpx.Request], *, full: bool = False) -> object:
    """memory's create, delete and search as chat reaches them: a fact it knows is a noop."""

    def invoke(app_id: str, request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/memories/alice":
            if full:
                return httpx.Response(409, json={"error": "memory_limit_reached"})
            body = json.loads(request.content)
            known = body["content"] == "I like green tea"
            memory = {"id": KNOWN_MEMORY if known else "m-2", "created_at": "2026-11-22T06:00:00Z",
                      **body}  # fmt: skip
            return httpx.Response(
                200 if known else 201,
                json=memory,
                headers={"Memory-Operation": "noop" if known else "add"},
            )
        if request.method == "DELETE":
            return httpx.Response(204 if path.endswith(KNOWN_MEMORY) else 404)
        if path == "/memories/alice/search":
            hit = {"memory": MEMORY_PAGE["items"][0], "score": 0.9}  # type: ignore[index]
            return httpx.Response(200, json={"hits": [hit]})
        return httpx.Response(404)

    return invoke


async def test_a_user_adds_a_memory_and_learns_what_memory_did_with_it(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    seen: list[httpx.Request] = []
    fake_sidecar.invoke = consolidating_memory(seen)  # type: ignore[assignment]
    added = await client.post("/users/alice/memories", json={"content": "  I like coffee "})
    assert added.status_code == 201
    assert added.headers["memory-operation"] == "add"
    assert added.json()["content"] == "I like coffee"
    assert json.loads(seen[-1].content) == {
        "kind": "semantic",
        "content": "I like coffee",
        "tags": [],
    }
    key = seen[-1].headers["idempotency-key"]
    known = await client.post(
        "/users/alice/memories",
        json={"content": "I like green tea"},
        headers={"Idempotency-Key": "cli-1"},
    )
    assert known.status_code == 200
    assert known.headers["memory-operation"] == "noop"
    assert seen[-1].headers["idempotency-key"] == "cli-1" != key  # a fresh key per request


async def test_adding_a_memory_refuses_bad_input_before_calling_memory(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    seen: list[httpx.Request] = []
    fake_sidecar.invoke = consolidating_memory(seen)  # type: ignore[assignment]
    for body in (
        {"content": "   "},
        {"content": "x" * 4001},
        {"content": "ok", "kind": "dream"},
        {"content": "ok", "tags": ["t"] * 17},
        {"content": "ok", "extra": 1},
        {"content": 5},
    ):
        response = await client.post("/users/alice/memories", json=body)
        assert response.status_code == 422, body
    bad_key = await client.post(
        "/users/alice/memories", json={"content": "ok"}, headers={"Idempotency-Key": "a b"}
    )
    assert bad_key.status_code == 422
    assert seen == []


async def test_a_full_memory_is_a_409_and_memory_down_a_503(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.invoke = consolidating_memory([], full=True)  # type: ignore[assignment]
    response = await client.post("/users/alice/memories", json={"content": "I like tea"})
    assert response.status_code == 409
    assert response.json()["error"] == "memory_limit_reached"
    fake_sidecar.invoke = None
    down = await client.post("/users/alice/memories", json={"content": "I like tea"})
    assert down.status_code == 503


async def test_a_user_forgets_one_memory_and_searches_the_rest(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    seen: list[httpx.Request] = []
    fake_sidecar.invoke = consolidating_memory(seen)  # type: ignore[assignment]
    gone = await client.delete(f"/users/alice/memories/{KNOWN_MEMORY}")
    assert gone.status_code == 204
    assert seen[-1].url.path == f"/memories/alice/{KNOWN_MEMORY}"
    missing = await client.delete("/users/alice/memories/00000000-0000-4000-8000-000000000002")
    assert missing.status_code == 404
    assert (await client.delete("/users/alice/memories/not-a-uuid")).status_code == 422
    found = await client.get("/users/alice/memories/search", params={"q": "tea", "k": 3})
    assert found.status_code == 200
    assert found.json()["hits"][0]["memory"]["content"] == "Alice likes tea"
    assert seen[-1].url.params["k"] == "3"
    calls = len(seen)
    for params in ({"q": " "}, {"q": "x" * 1001}, {"q": "tea", "k": 0}, {}):
        assert (await client.get("/users/alice/memories/search", params=params)).status_code == 422
    assert len(seen) == calls


async def test_memory_answering_an_unexpected_body_is_a_503_not_a_500(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.invoke = lambda _app, _request: httpx.Response(200, json={"odd": True})  # type: ignore[assignment]
    for response in (
        await client.post("/users/alice/memories", json={"content": "I like tea"}),
        await client.get("/users/alice/memories"),
        await client.get("/users/alice/memories/search", params={"q": "tea"}),
    ):
        assert response.status_code == 503, response.text
