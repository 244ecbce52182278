"""Chat → daprd → daprd → memory invocation, and state with ETags, through real daprd."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from sidecar.errors import ETagMismatch
from sidecar.state import StateOp, StateStore
from tests.integration.stack import Stack, eventually

pytestmark = pytest.mark.integration


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def test_both_apps_are_ready(stack: Stack) -> None:
    # Ready within a minute: this runs right after the concurrency tests' bursts, and on 2
    # cores one of their memory events can reach chat ~30 s late (redelivered after
    # processingTimeout), which readiness reports as a stall until newer events come in time.
    for app in (stack.ports.chat, stack.ports.memory):
        url = f"{stack.app_url(app)}/readyz"
        eventually(
            lambda url=url: httpx.get(url, timeout=10).status_code == 200,  # type: ignore[misc]
            timeout=90,
            what=f"{app.app_id} ready",
        )
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["checks"][f"state:{app.app_id}-state"] == "ok"
    chat_ready = httpx.get(f"{stack.app_url(stack.ports.chat)}/readyz", timeout=10).json()
    assert chat_ready["checks"]["memory"] == "ok"


def test_chat_reads_memories_through_both_sidecars(stack: Stack) -> None:
    user = new_user()
    # Create through chat's sidecar: daprd(chat) → daprd(memory) → memory.
    created = httpx.post(
        f"{stack.sidecar(stack.ports.chat)}/memories/{user}",
        headers={"dapr-app-id": "memory", **stack.auth},
        json={"kind": "semantic", "content": "Likes green tea", "tags": ["drinks"]},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    # Read through chat's public API, which invokes memory through Dapr.
    listed = httpx.get(f"{stack.app_url(stack.ports.chat)}/users/{user}/memories", timeout=10)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1
    assert body["items"][0]["id"] == created.json()["id"]
    assert body["items"][0]["content"] == "Likes green tea"


def test_memory_refuses_bad_input_through_dapr(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.sidecar(stack.ports.chat)}/memories/{new_user()}",
        headers={"dapr-app-id": "memory", **stack.auth},
        json={"kind": "semantic", "content": ""},
        timeout=10,
    )
    assert response.status_code == 422  # the app's status passes through both sidecars


def test_state_save_with_stale_etag_is_409_through_daprd(stack: Stack) -> None:
    base = f"{stack.sidecar(stack.ports.chat)}/v1.0/state/chat-state"
    key = f"etag-{uuid.uuid4().hex}"
    first_write = {"concurrency": "first-write", "consistency": "strong"}
    assert (
        httpx.post(
            base, headers=stack.auth, json=[{"key": key, "value": {"v": 1}, "options": first_write}]
        ).status_code
        == 204
    )
    got = httpx.get(f"{base}/{key}", headers=stack.auth)
    assert got.json() == {"v": 1}
    etag = got.headers["etag"]
    ok = httpx.post(
        base,
        headers=stack.auth,
        json=[{"key": key, "value": {"v": 2}, "etag": etag, "options": first_write}],
    )
    assert ok.status_code == 204
    stale = httpx.post(
        base,
        headers=stack.auth,
        json=[{"key": key, "value": {"v": 3}, "etag": etag, "options": first_write}],
    )
    assert stale.status_code == 409
    assert stale.json()["errorCode"] == "ERR_STATE_SAVE"
    assert httpx.get(f"{base}/{key}", headers=stack.auth).json() == {"v": 2}


async def test_state_store_maps_real_conflicts(stack: Stack) -> None:
    async with httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.chat), headers=stack.auth, timeout=10
    ) as http:
        store = StateStore(http, "chat-state")
        key, other = f"k-{uuid.uuid4().hex}", f"o-{uuid.uuid4().hex}"
        await store.save(key, {"n": 1}, etag=None)
        with pytest.raises(ETagMismatch):
            await store.save(key, {"n": 2}, etag=None)  # first-write: the key exists
        current = await store.get(key)
        await store.save(key, {"n": 2}, etag=current.etag)
        # A transaction with a stale ETag fails whole: the other key is not written either.
        with pytest.raises(ETagMismatch):
            await store.transact(
                [StateOp(key=other, value=1), StateOp(key=key, value={"n": 3}, etag=current.etag)]
            )
        assert (await store.get(key)).value == {"n": 2}
        # state.sqlite rolls the whole transaction back; state.redis does not: it keeps the
        # operations that passed (docs/dapr-runtime.md). This pins the difference.
        assert (await store.get(other)).exists == (stack.resource_set == "redis")


async def test_concurrent_creates_for_one_user_lose_nothing(stack: Stack) -> None:
    user = new_user()
    async with httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.memory), headers=stack.auth, timeout=30
    ) as http:

        async def create(i: int) -> int:
            response = await http.post(
                f"/memories/{user}",
                headers={"dapr-app-id": "memory", **stack.auth},
                json={"kind": "episodic", "content": f"event {i}"},
            )
            return response.status_code

        statuses = await asyncio.gather(*(create(i) for i in range(10)))
        listed = (
            await http.get(f"/memories/{user}", headers={"dapr-app-id": "memory", **stack.auth})
        ).json()
    assert statuses == [201] * 10
    assert listed["total"] == 10
    assert sorted(m["content"] for m in listed["items"]) == sorted(f"event {i}" for i in range(10))


def test_each_app_sees_only_its_own_state_store(stack: Stack) -> None:
    response = httpx.get(
        f"{stack.sidecar(stack.ports.chat)}/v1.0/state/memory-state/anything", headers=stack.auth
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"
