from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.main import create_app
from chat.services.chat import ChatService, session_actors
from chat.services.memories import memory_client
from sidecar.actors import ActorClient
from sidecar.state import StateStore
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "chat-state"


@dataclass
class FakeMemory:
    """The memory service as chat sees it through Dapr invocation."""

    hits: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    calls: list[httpx.Request] = field(default_factory=list)
    down: bool = False

    def __call__(self, app_id: str, request: httpx.Request) -> httpx.Response:
        assert app_id == "memory"
        self.calls.append(request)
        if self.down:
            return httpx.Response(500, json={"errorCode": "ERR_DIRECT_INVOKE", "message": "down"})
        path = request.url.path
        if path.endswith("/search"):
            return httpx.Response(
                200, json={"user_id": "", "query": "", "mode": "keyword", "hits": self.hits}
            )
        if request.method == "POST" and path.startswith("/memories/"):
            body = json.loads(request.content)
            key = request.headers.get("idempotency-key")
            self.created.append({"path": path, "idempotency_key": key, **body})
            memory = {"id": "m-new", "created_at": "2026-11-22T06:00:00Z", **body}
            return httpx.Response(201, json=memory, headers={"Memory-Operation": "add"})
        if path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if path.endswith("/history"):
            user_id, memory_id = path.split("/")[2:4]
            if memory_id != "00000000-0000-4000-8000-000000000001":
                return httpx.Response(404, json={"detail": "not found"})
            version = {
                "version": 1,
                "operation": "add",
                "content": "The user lives in Lisbon.",
                "at": "2026-11-22T06:00:00Z",
                "source": {"type": "api", "session_id": None, "turn_id": None},
            }
            return httpx.Response(
                200, json={"user_id": user_id, "memory_id": memory_id, "versions": [version]}
            )
        return httpx.Response(200, json={"user_id": "", "items": [], "total": 0})


def hit(memory_id: str, content: str, score: float) -> dict[str, Any]:
    memory = {
        "id": memory_id,
        "kind": "semantic",
        "content": content,
        "tags": [],
        "created_at": "2026-11-22T06:00:00Z",
    }
    return {"memory": memory, "score": score, "semantic": score, "keyword": 0.0}


@pytest.fixture
def memory() -> FakeMemory:
    return FakeMemory()


@pytest.fixture
def fake_sidecar(memory: FakeMemory) -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={STORE}, outbox={STORE: "conversation-turns"}, invoke=memory)


@pytest.fixture
def settings() -> ChatSettings:
    # Tests here run many turns for one user in a second; the limit has its own tests
    # (test_rate_limits.py).
    return ChatSettings(turn_rate_limit="")


@pytest.fixture
def app(fake_sidecar: FakeDaprSidecar, settings: ChatSettings) -> FastAPI:
    app = create_app(settings)
    attach_fake_sidecar(app, fake_sidecar)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, "http://chat") as client:
        yield client


@pytest.fixture
def service_of() -> Callable[[FastAPI], ChatService]:
    """The chat service as a request of ``app`` gets it (app state, the app's fake sidecar)."""

    def build(app: FastAPI) -> ChatService:
        http = app.state.sidecar.http
        settings: ChatSettings = app.state.settings
        return ChatService(
            store=StateStore(http, settings.state_store),
            actors=session_actors(ActorClient(http), settings),
            memory=memory_client(http, settings),
            settings=settings,
            model=app.state.chat_model,
            model_name=app.state.chat_model_name,
            registry=app.state.turns,
        )

    return build
