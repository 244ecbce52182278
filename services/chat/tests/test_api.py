from __future__ import annotations

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
