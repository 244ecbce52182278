from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from memory.core.settings import MemorySettings
from memory.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "memory-state"

pytestmark = pytest.mark.asyncio


async def create(client: httpx.AsyncClient, user: str, content: str, **extra: object) -> dict:
    body = {"kind": "semantic", "content": content, **extra}
    response = await client.post(f"/memories/{user}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def live_keys(fake: FakeDaprSidecar) -> set[str]:
    return set(fake.data.get(STORE, {}))


# -- create and read ----------------------------------------------------------------------------
async def test_unknown_user_has_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/memories/nobody")
    assert response.status_code == 200
    assert response.json() == {"user_id": "nobody", "items": [], "next_cursor": None, "total": 0}


async def test_create_returns_the_memory_and_get_finds_it(client: httpx.AsyncClient) -> None:
    created = await create(client, "alice", "  Likes green tea ", tags=["drinks", "drinks"])
    assert created["content"] == "Likes green tea"
    assert created["tags"] == ["drinks"]
    assert created["version"] == 1
    assert created["source"] == {"type": "api", "session_id": None, "turn_id": None}
    assert "embedding" not in created
    got = await client.get(f"/memories/alice/{created['id']}")
    assert got.status_code == 200
    assert got.json() == created


async def test_another_users_memory_is_404_like_a_missing_one(client: httpx.AsyncClient) -> None:
    created = await create(client, "alice", "secret")
    for path in (f"/memories/bob/{created['id']}", f"/memories/alice/{uuid.uuid4()}"):
        assert (await client.get(path)).status_code == 404
        assert (await client.patch(path, json={"content": "x"})).status_code == 404
        assert (await client.delete(path)).status_code == 404
    assert (await client.get(f"/memories/alice/{created['id']}")).json()["content"] == "secret"


async def test_memory_id_must_be_a_uuid(client: httpx.AsyncClient) -> None:
    response = await client.get("/memories/alice/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "memory_id"]


# -- list -----------------------------------------------------------------------------------------
async def test_list_is_newest_first_and_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await create(client, "alice", f"memory {i}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/memories/alice", params=params)).json()
        assert page["total"] == 7
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"memory {i}" for i in reversed(range(7))]


async def test_cursor_is_stable_when_new_memories_arrive(client: httpx.AsyncClient) -> None:
    for i in range(4):
        await create(client, "alice", f"old {i}")
    first = (await client.get("/memories/alice", params={"limit": 2})).json()
    await create(client, "alice", "newer than the cursor")
    second = (
        await client.get("/memories/alice", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [m["content"] for m in second["items"]] == ["old 1", "old 0"]


async def test_list_filters_by_kind_and_every_tag(client: httpx.AsyncClient) -> None:
    await create(client, "alice", "tea", tags=["drinks", "morning"])
    await create(client, "alice", "coffee", tags=["drinks"])
    await client.post(
        "/memories/alice", json={"kind": "episodic", "content": "trip", "tags": ["drinks"]}
    )
    by_tags = (
        await client.get("/memories/alice", params=[("tag", "drinks"), ("tag", "morning")])
    ).json()
    assert [m["content"] for m in by_tags["items"]] == ["tea"]
    by_kind = (await client.get("/memories/alice", params={"kind": "episodic"})).json()
    assert [m["content"] for m in by_kind["items"]] == ["trip"]
    assert by_kind["total"] == 3


@pytest.mark.parametrize("cursor", ["garbage", "eyJ0IjogMX0", "%%%"])
async def test_invalid_cursor_is_422_naming_it(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/memories/alice", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"kind": "gossip"}])
async def test_list_parameters_are_bounded(client: httpx.AsyncClient, params: dict) -> None:
    assert (await client.get("/memories/alice", params=params)).status_code == 422


# -- update and delete ----------------------------------------------------------------------------
async def test_patch_changes_only_given_fields_and_bumps_the_version(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, "alice", "likes tea", tags=["drinks"])
    response = await client.patch(
        f"/memories/alice/{created['id']}", json={"content": "likes coffee"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["content"], body["tags"], body["kind"]) == ("likes coffee", ["drinks"], "semantic")
    assert body["version"] == 2
    assert body["updated_at"] > created["updated_at"]
    retagged = await client.patch(f"/memories/alice/{created['id']}", json={"tags": ["coffee"]})
    assert retagged.json()["version"] == 3
    listed = (await client.get("/memories/alice", params={"tag": "coffee"})).json()
    assert [m["id"] for m in listed["items"]] == [created["id"]]


@pytest.mark.parametrize(
    "body", [{}, {"content": ""}, {"kind": None}, {"id": "x"}, {"tags": ["t"] * 17}]
)
async def test_patch_refuses_empty_or_invalid_changes(
    client: httpx.AsyncClient, body: dict
) -> None:
    created = await create(client, "alice", "likes tea")
    response = await client.patch(f"/memories/alice/{created['id']}", json=body)
    assert response.status_code == 422
    assert (await client.get(f"/memories/alice/{created['id']}")).json()["version"] == 1


async def test_delete_removes_the_memory_everywhere(client: httpx.AsyncClient) -> None:
    kept = await create(client, "alice", "keep me")
    gone = await create(client, "alice", "delete me")
    assert (await client.delete(f"/memories/alice/{gone['id']}")).status_code == 204
    assert (await client.get(f"/memories/alice/{gone['id']}")).status_code == 404
    listed = (await client.get("/memories/alice")).json()
    assert [m["id"] for m in listed["items"]] == [kept["id"]]
    assert listed["total"] == 1
    assert (await client.delete(f"/memories/alice/{gone['id']}")).status_code == 404


async def test_forget_deletes_every_memory_of_the_user_only(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    for i in range(3):
        await create(client, "alice", f"a{i}")
    await create(client, "bob", "b")
    response = await client.delete("/memories/alice")
    assert response.json() == {"user_id": "alice", "deleted": 3}
    assert (await client.get("/memories/alice")).json()["items"] == []
    assert (await client.get("/memories/bob")).json()["total"] == 1
    assert not [k for k in live_keys(fake_sidecar) if k.startswith("memory:alice:")]


# -- events ---------------------------------------------------------------------------------------
async def test_every_change_is_announced_with_its_type(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    created = await create(client, "alice", "likes tea")
    await client.patch(f"/memories/alice/{created['id']}", json={"content": "likes coffee"})
    await client.delete(f"/memories/alice/{created['id']}")
    await client.delete("/memories/alice")
    memory_events = [e for e in fake_sidecar.published if e["type"] != "memory.index.updated"]
    assert [(e["type"], e["subject"]) for e in memory_events] == [
        ("memory.created", created["id"]),
        ("memory.updated", created["id"]),
        ("memory.deleted", created["id"]),
        ("user.forgotten", "alice"),
    ]
    created_event, updated_event, deleted_event, forgotten = (e["data"] for e in memory_events)
    assert (created_event["content"], created_event["version"]) == ("likes tea", 1)
    assert (updated_event["content"], updated_event["version"]) == ("likes coffee", 2)
    assert deleted_event["deleted_at"]
    assert deleted_event["version"] == 3
    assert (forgotten["user_id"], forgotten["deleted"]) == ("alice", 0)
    index_events = [e for e in fake_sidecar.published if e["type"] == "memory.index.updated"]
    # The index write publishes a small projection, not the index itself.
    assert all(
        set(e["data"]) == {"schema_version", "user_id", "count", "version"} for e in index_events
    )


async def test_a_refused_write_announces_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.fail_next_status = 500
    response = await client.post("/memories/alice", json={"kind": "semantic", "content": "x"})
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert fake_sidecar.published == []
    assert live_keys(fake_sidecar) == set()


# -- limits and concurrency -----------------------------------------------------------------------
async def test_per_user_cap_refuses_more_and_writes_nothing(fake_sidecar: FakeDaprSidecar) -> None:
    app = create_app(MemorySettings(max_memories_per_user=3), embedder=None)
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app) as client:
        for i in range(3):
            await create(client, "alice", f"m{i}")
        keys, events = live_keys(fake_sidecar), len(fake_sidecar.published)
        refused = await client.post("/memories/alice", json={"kind": "episodic", "content": "m3"})
        assert refused.status_code == 409
        assert refused.json()["error"] == "memory_limit_reached"
        assert "maximum of 3 memories" in refused.json()["message"]
        assert live_keys(fake_sidecar) == keys
        assert len(fake_sidecar.published) == events


async def test_fifty_concurrent_creates_leave_exactly_fifty(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    results = await asyncio.gather(
        *(
            client.post("/memories/alice", json={"kind": "episodic", "content": f"e{i}"})
            for i in range(50)
        )
    )
    assert [r.status_code for r in results] == [201] * 50
    listed = (await client.get("/memories/alice", params={"limit": 200})).json()
    assert listed["total"] == 50
    assert sorted(m["content"] for m in listed["items"]) == sorted(f"e{i}" for i in range(50))
    # Creates that arrive together travel together: a few actor turns and transactions, not 50.
    adds = [r for r in fake_sidecar.requests if r.url.path.endswith("/method/add")]
    assert len(adds) < 10
    memory_events = [e for e in fake_sidecar.published if e["type"] == "memory.created"]
    assert len(memory_events) == 50  # still one event per memory


async def test_one_idempotency_key_sent_at_once_stores_one_memory(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    body = {"kind": "semantic", "content": "Likes oolong"}
    answers = await asyncio.gather(
        *(
            client.post("/memories/dora", json=body, headers={"Idempotency-Key": "k1"})
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert (await client.get("/memories/dora")).json()["total"] == 1
    assert len([e for e in fake_sidecar.published if e["type"] == "memory.created"]) == 1


async def test_a_batch_over_the_limit_stores_what_fits_and_refuses_the_rest(
    client: httpx.AsyncClient,
) -> None:
    # The limit is 60 (conftest): 58 stored first, then 5 at once: 2 fit, 3 are refused.
    for i in range(58):
        created = await client.post("/memories/bob", json={"kind": "semantic", "content": f"f{i}"})
        assert created.status_code == 201
    burst = await asyncio.gather(
        *(
            client.post("/memories/bob", json={"kind": "semantic", "content": f"g{i}"})
            for i in range(5)
        )
    )
    assert sorted(r.status_code for r in burst) == [201, 201, 409, 409, 409]
    assert {r.json()["error"] for r in burst if r.status_code == 409} == {"memory_limit_reached"}
    assert (await client.get("/memories/bob")).json()["total"] == 60


async def test_a_writer_on_another_replica_is_not_overwritten(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    await create(client, "alice", "first")
    sneaked: list[bool] = []

    def other_replica_writes_first(store: str, keys: list[str]) -> None:
        # Another replica (outside this process's per-user lock) commits to the head between
        # our read and our write: our ETag is stale now.
        if not sneaked and "head:alice" in keys:
            sneaked.append(True)
            head, _ = fake_sidecar.data[STORE]["head:alice"]
            fake_sidecar.put(STORE, "head:alice", {**head, "version": head["version"] + 1})

    fake_sidecar.before_write = other_replica_writes_first
    await create(client, "alice", "second")  # collides once, re-reads, succeeds
    assert sneaked
    listed = (await client.get("/memories/alice")).json()
    assert [m["content"] for m in listed["items"]] == ["second", "first"]


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/memories/alice", {"kind": "semantic", "content": "   "}, "content"),
        ("/memories/alice", {"kind": "semantic", "content": "x" * 4001}, "content"),
        ("/memories/alice", {"kind": "gossip", "content": "x"}, "kind"),
        ("/memories/alice", {"kind": "semantic", "content": "x", "tags": ["t"] * 17}, "tags"),
        ("/memories/alice", {"kind": "semantic", "content": "x", "tags": ["t" * 65]}, "tags"),
        ("/memories/alice", {"kind": "semantic", "content": "x", "extra": 1}, "extra"),
        (
            "/memories/alice",
            {"kind": "semantic", "content": "x", "source": {"type": "conversation"}},
            "source",
        ),
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
    assert live_keys(fake_sidecar) == set()
    assert fake_sidecar.published == []


# -- health and tokens ----------------------------------------------------------------------------
async def test_readyz_reports_store_and_embeddings(client: httpx.AsyncClient) -> None:
    body = (await client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "sidecar": "ok",
        "components": "ok",
        "state:memory-state": "ok",
        "events": "ok",
        "embeddings": "ok",
    }
    assert body["details"]["embeddings"] == "all-MiniLM-L6-v2"


async def test_readyz_says_when_search_is_keyword_only(fake_sidecar: FakeDaprSidecar) -> None:
    app = create_app(MemorySettings(), embedder=None)
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200  # degraded, still ready
    assert response.json()["checks"]["embeddings"] == "degraded"
    assert "keyword-only" in response.json()["details"]["embeddings"]


async def test_readyz_names_a_component_the_sidecar_did_not_load(
    app: object, client: httpx.AsyncClient
) -> None:
    app.state.sidecar.dapr.components.remove("pubsub")  # type: ignore[attr-defined]
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["details"]["components"] == "not loaded: pubsub"


async def test_readyz_is_503_when_the_store_fails(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    fake_sidecar.stores.clear()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["state:memory-state"] == "failed"


async def test_app_token_is_required_when_configured() -> None:
    app = create_app(MemorySettings(app_api_token="app-token-for-tests"), embedder=None)
    attach_fake_sidecar(app, FakeDaprSidecar(stores={STORE}))
    async with asgi_client(app) as client:
        assert (await client.get("/memories/alice")).status_code == 401
        assert (await client.post("/events/conversation-turns", json={})).status_code == 401
        authorized = {"dapr-api-token": "app-token-for-tests"}
        assert (await client.get("/memories/alice", headers=authorized)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


# -- idempotent create ------------------------------------------------------------------------
async def test_a_retried_create_with_the_same_key_stores_one_memory(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    body = {"kind": "semantic", "content": "Plays the cello"}
    headers = {"Idempotency-Key": "turn-1:call-1"}
    first = await client.post("/memories/alice", json=body, headers=headers)
    again = await asyncio.gather(
        *(client.post("/memories/alice", json=body, headers=headers) for _ in range(3))
    )
    assert first.status_code == 201
    assert [r.status_code for r in again] == [200, 200, 200]
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    listed = (await client.get("/memories/alice")).json()
    assert listed["total"] == 1
    created = [e for e in fake_sidecar.published if e["type"] == "memory.created"]
    assert len(created) == 1
    # The key belongs to the user: another user's same key is another memory.
    other = await client.post("/memories/bob", json=body, headers=headers)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


async def test_a_reused_key_with_another_body_or_after_delete_is_refused(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    headers = {"Idempotency-Key": "k1"}
    first = await client.post(
        "/memories/alice", json={"kind": "semantic", "content": "a"}, headers=headers
    )
    assert first.status_code == 201
    keys = live_keys(fake_sidecar)
    changed = await client.post(
        "/memories/alice", json={"kind": "semantic", "content": "b"}, headers=headers
    )
    assert changed.status_code == 409
    assert changed.json()["error"] == "idempotency_key_reused"
    assert live_keys(fake_sidecar) == keys
    assert (await client.delete(f"/memories/alice/{first.json()['id']}")).status_code == 204
    replay = await client.post(
        "/memories/alice", json={"kind": "semantic", "content": "a"}, headers=headers
    )
    assert replay.status_code == 409
    assert (await client.get("/memories/alice")).json()["total"] == 0


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "semi;colon"])
async def test_a_malformed_idempotency_key_is_422(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post(
        "/memories/alice",
        json={"kind": "semantic", "content": "a"},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert (await client.get("/memories/alice")).json()["total"] == 0
