"""The public edge in jwt mode: every request carries a bearer token whose subject is the user
it acts for; anything else is 401/403 and writes nothing."""

from __future__ import annotations

import time
from typing import Any
from unittest.mock import ANY

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from chat.core.settings import ChatSettings
from chat.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

KEY = "k" * 8 + "3f9c2a7d51e84b06a1c4e2d9b7f0a6c8"
AUDIENCE, ISSUER = "agent-chat", "https://id.example.test"
JWT = {"auth_mode": "jwt", "auth_jwt_key": KEY, "auth_jwt_audience": AUDIENCE,
       "auth_jwt_issuer": ISSUER}  # fmt: skip


def token(sub: str, *, key: str = KEY, alg: str = "HS256", **claims: Any) -> str:
    payload = {"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, key, algorithm=alg)


def auth(sub: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **claims)}"}


@pytest.fixture
def settings() -> ChatSettings:
    return ChatSettings(**JWT)


CALLS = [
    ("POST", "/users/alice/sessions", None),
    ("GET", "/users/alice/sessions", None),
    ("GET", "/users/alice/sessions/s-1/history", None),
    ("DELETE", "/users/alice/sessions/s-1", None),
    ("GET", "/users/alice/memories", None),
    ("POST", "/chat", {"user_id": "alice", "message": "hi"}),
    ("POST", "/chat/", {"user_id": "alice", "message": "hi"}),
    ("POST", "/chat/stream", {"user_id": "alice", "message": "hi"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": f"Bearer {token('alice', key='another-key-' + 'x' * 32)}"},
        {"Authorization": f"Bearer {token('alice', exp=int(time.time()) - 3600)}"},
        {"Authorization": f"Bearer {token('alice', aud='someone-else')}"},
        {"Authorization": f"Bearer {token('alice', iss='https://evil.test')}"},
        {"Authorization": "Bearer " + jwt.encode({"sub": "alice"}, key=None, algorithm="none")},
        {"Authorization": f"Bearer {token('bad user')}"},
    ],
    ids=["none", "basic", "bad-signature", "expired", "audience", "issuer", "alg-none", "bad-sub"],
)
async def test_no_valid_token_is_401_and_writes_nothing(
    client: httpx.AsyncClient,
    fake_sidecar: FakeDaprSidecar,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> None:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert fake_sidecar.data.get("chat-state", {}) == {}
    assert fake_sidecar.published == []


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
async def test_a_token_for_another_user_is_403_and_writes_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, method: str, path: str, body: Any
) -> None:
    response = await client.request(method, path, json=body, headers=auth("bob"))
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden"
    assert fake_sidecar.data.get("chat-state", {}) == {}


async def test_the_users_own_token_works_and_health_needs_none(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post("/chat", json={"user_id": "alice", "message": "hi"},
                              headers=auth("alice"))  # fmt: skip
    assert reply.status_code == 200, reply.text
    session = reply.json()["session_id"]
    history = await client.get(f"/users/alice/sessions/{session}/history", headers=auth("alice"))
    assert history.status_code == 200
    assert len(history.json()["messages"]) == 2
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/agents")).status_code == 200


def test_a_socket_needs_the_users_token(app: FastAPI) -> None:
    client = TestClient(app)
    refusals = {"/ws?user_id=alice": "unauthenticated",
                f"/ws?user_id=alice&access_token={token('bob')}": "forbidden"}  # fmt: skip
    for url, code in refusals.items():
        # Accepted, told why, then closed with 1008 (a close before the handshake would reach
        # a browser as a bare HTTP 403).
        with client.websocket_connect(url) as ws:
            assert ws.receive_json() == {"type": "error", "code": code, "message": ANY}
            with pytest.raises(WebSocketDisconnect) as refused:
                ws.receive_json()
        assert refused.value.code == 1008
    with client.websocket_connect(f"/ws?user_id=alice&access_token={token('alice')}") as ws:
        ws.send_json({"type": "user_message", "content": "hello"})
        while (message := ws.receive_json())["type"] != "workflow_completed":
            pass
        assert message["user_id"] == "alice"
    with client.websocket_connect("/ws?user_id=alice", headers=auth("alice")) as ws:
        ws.send_json({"type": "cancel"})


async def test_an_issuers_public_key_verifies_asymmetric_tokens(
    fake_sidecar: FakeDaprSidecar,
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = ChatSettings(**{**JWT, "auth_jwt_key": public, "auth_jwt_algorithm": "ES256"})
    app = create_app(settings)
    attach_fake_sidecar(app, fake_sidecar)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    signed = token("alice", key=pem, alg="ES256")
    async with asgi_client(app, "http://chat") as client:
        ok = await client.get(
            "/users/alice/sessions", headers={"Authorization": f"Bearer {signed}"}
        )
        assert ok.status_code == 200, ok.text
        # Only the configured algorithm is accepted: a shared-secret (HS256) token is refused.
        other = token("alice", key="x" * 40, alg="HS256")
        denied = await client.get(
            "/users/alice/sessions", headers={"Authorization": f"Bearer {other}"}
        )
        assert denied.status_code == 401


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth_mode": "jwt"}, "needs AUTH_JWT_KEY"),
        ({"auth_mode": "jwt", "auth_jwt_key": "short-secret-123"}, "at least 32"),
        ({"auth_mode": "jwt", "auth_jwt_key": "<your-signing-key>"}, "placeholder"),
        ({"auth_mode": "jwt", "auth_jwt_key": KEY, "auth_jwt_algorithm": "RS256"}, "PEM"),
        ({"auth_mode": "jwt", "auth_jwt_key": KEY, "auth_jwt_algorithm": "none"}, "pattern"),
        ({"auth_mode": "basic"}, "auth_mode"),
    ],
)
def test_jwt_mode_refuses_to_start_without_a_usable_key(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ChatSettings(**settings)  # type: ignore[arg-type]


async def test_the_users_token_is_forwarded_to_memory_unchanged(
    client: httpx.AsyncClient, memory: Any
) -> None:
    """memory checks the same token against the user of each call (sidecar.auth), so every
    call chat makes for the user carries it: recall, the agent's tools, the memories route."""
    headers = auth("alice")
    reply = await client.post(
        "/chat", json={"user_id": "alice", "message": "remember that I like tea"}, headers=headers
    )
    assert reply.status_code == 200, reply.text
    assert (await client.get("/users/alice/memories", headers=headers)).status_code == 200
    user_calls = [c for c in memory.calls if c.url.path.startswith("/memories/alice")]
    assert {c.method for c in user_calls} >= {"GET", "POST"}  # search, the tool's create, list
    assert {c.headers.get("authorization") for c in user_calls} == {headers["Authorization"]}


def test_a_socket_is_closed_at_its_first_message_after_the_token_expired(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sidecar.auth.LEEWAY_SECONDS", 0)
    client = TestClient(app)
    short = token("alice", exp=int(time.time()) + 2)
    with client.websocket_connect(f"/ws?user_id=alice&access_token={short}") as ws:
        ws.send_json({"type": "user_message", "content": "hello"})
        while ws.receive_json()["type"] != "workflow_completed":
            pass
        time.sleep(max(0.0, jwt.decode(short, options={"verify_signature": False})["exp"]
                       - time.time() + 1.1))  # fmt: skip
        ws.send_json({"type": "user_message", "content": "hello again"})
        assert ws.receive_json() == {"type": "error", "code": "unauthenticated", "message": ANY}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
