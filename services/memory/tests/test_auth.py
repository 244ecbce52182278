"""memory in jwt mode acts only for the user of the end user's token, which chat forwards: a
call for another user is 403 and a call without a valid token 401, before anything is read or
written (sidecar.auth; docs/security.md#end-user-identity-at-memory)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from memory.core.settings import MemorySettings
from sidecar.testing import FakeDaprSidecar

KEY = "m" * 8 + "0d6e1f2a3b4c5d6e7f8091a2b3c4d5e6"
MEMORY_ID = "7f0c2a9e-1111-4222-8333-944455556666"


def auth(sub: str, **claims: Any) -> dict[str, str]:
    payload = {"sub": sub, "exp": int(time.time()) + 300, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, KEY, algorithm='HS256')}"}


@pytest.fixture
def settings() -> MemorySettings:
    """conftest's app and client, in jwt mode."""
    return MemorySettings(auth_mode="jwt", auth_jwt_key=KEY)


CALLS = [
    ("GET", "/memories/alice", None),
    ("POST", "/memories/alice", {"kind": "semantic", "content": "Likes tea"}),
    ("POST", "/memories/alice:batch", {"items": [{"kind": "semantic", "content": "Likes tea"}]}),
    ("GET", "/memories/alice/search?q=tea", None),
    ("GET", f"/memories/alice/{MEMORY_ID}", None),
    ("PATCH", f"/memories/alice/{MEMORY_ID}", {"content": "Likes coffee"}),
    ("DELETE", f"/memories/alice/{MEMORY_ID}", None),
    ("DELETE", "/memories/alice", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (auth("alice", exp=int(time.time()) - 3600), 401),
        ({"Authorization": "Bearer " + jwt.encode({"sub": "alice"}, "x" * 40)}, 401),
        (auth("bob"), 403),
    ],
    ids=["none", "expired", "wrong-key", "another-user"],
)
async def test_memory_refuses_a_call_not_made_for_the_tokens_user(
    client: httpx.AsyncClient,
    fake_sidecar: FakeDaprSidecar,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
) -> None:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == ("forbidden" if status == 403 else "unauthenticated")
    assert fake_sidecar.data.get("memory-state", {}) == {}
    assert fake_sidecar.published == []


async def test_the_users_own_token_reaches_their_memories(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/memories/alice", json={"kind": "semantic", "content": "Likes tea"}, headers=auth("alice")
    )
    assert created.status_code == 201, created.text
    listed = await client.get("/memories/alice", headers=auth("alice"))
    assert [m["content"] for m in listed.json()["items"]] == ["Likes tea"]
    assert (await client.get("/healthz")).status_code == 200  # probes need no token
