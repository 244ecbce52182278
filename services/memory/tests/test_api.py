from __future__ import annotations

import httpx
import pytest

from memory.core.settings import MemorySettings
from memory.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "memory-state"


async def test_unknown_user_has_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/memories/nobody")
    assert response.status_code == 200
    assert response.json() == {"user_id": "nobody", "items": [], "total": 0}


async def test_created_memories_list_newest_first(client: httpx.AsyncClient) -> None:
    for text in ["first", "second", "third"]:
        response = await client.post("/memories/alice", json={"kind": "semantic", "content": text})
        assert response.status_code == 201
        assert response.json()["user_id"] == "alice"
    page = (await client.get("/memories/alice", params={"limit": 2})).json()
    assert [m["content"] for m in page["items"]] == ["third", "second"]
    assert page["total"] == 3


async def test_users_do_not_see_each_other(client: httpx.AsyncClient) -> None:
    await client.post("/memories/alice", json={"kind": "semantic", "content": "alice's"})
    assert (await client.get("/memories/bob")).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/memories/alice", {"kind": "semantic", "content": "   "}, "content"),
        ("/memories/alice", {"kind": "semantic", "content": "x" * 4001}, "content"),
        ("/memories/alice", {"kind": "gossip", "content": "x"}, "kind"),
        ("/memories/alice", {"kind": "semantic", "content": "x", "tags": ["t"] * 17}, "tags"),
        ("/memories/alice", {"kind": "semantic", "content": "x", "tags": ["t" * 65]}, "tags"),
        ("/memories/alice", {"kind": "semantic", "content": "x", "extra": 1}, "extra"),
        ("/memories/-alice", {"kind": "semantic", "content": "x"}, "user_id"),
        ("/memories/al%20ice", {"kind": "semantic", "content": "x"}, "user_id"),
    ],
)
async def test_invalid_input_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, path: str, body: object, field: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422
    assert field in {str(part) for err in response.json()["detail"] for part in err["loc"]}
    assert fake_sidecar.data.get(STORE, {}) == {}


@pytest.mark.parametrize("limit", [0, 201, -1])
async def test_list_limit_is_bounded(client: httpx.AsyncClient, limit: int) -> None:
    assert (await client.get("/memories/alice", params={"limit": limit})).status_code == 422


async def test_per_user_cap_refuses_more_and_writes_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    for i in range(5):
        ok = await client.post("/memories/alice", json={"kind": "episodic", "content": f"m{i}"})
        assert ok.status_code == 201
    keys_before = set(fake_sidecar.data[STORE])
    refused = await client.post("/memories/alice", json={"kind": "episodic", "content": "m5"})
    assert refused.status_code == 409
    assert "at most 5" in refused.json()["message"]
    assert set(fake_sidecar.data[STORE]) == keys_before


async def test_store_down_is_503_with_retry_after(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.fail_next_status = 500
    response = await client.post("/memories/alice", json={"kind": "semantic", "content": "x"})
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert fake_sidecar.data.get(STORE, {}) == {}


async def test_readyz_reports_the_state_store_round_trip(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"sidecar": "ok", "state:memory-state": "ok"}


async def test_readyz_is_503_when_the_store_fails(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.stores.clear()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["state:memory-state"] == "failed"


async def test_app_token_is_required_when_configured() -> None:
    app = create_app(MemorySettings(app_api_token="app-token-for-tests"))
    attach_fake_sidecar(app, FakeDaprSidecar(stores={STORE}))
    async with asgi_client(app) as client:
        assert (await client.get("/memories/alice")).status_code == 401
        authorized = {"dapr-api-token": "app-token-for-tests"}
        assert (await client.get("/memories/alice", headers=authorized)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
