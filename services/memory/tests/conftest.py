from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memory.core.settings import MemorySettings
from memory.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "memory-state"
TOPIC = "memory-events"


@pytest.fixture
def fake_sidecar() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={STORE}, outbox={STORE: TOPIC})


@pytest.fixture
def settings() -> MemorySettings:
    return MemorySettings(max_memories_per_user=60)


@pytest.fixture
def app(settings: MemorySettings, fake_sidecar: FakeDaprSidecar) -> FastAPI:
    app = create_app(settings)  # the bundled embedding model: semantic search
    attach_fake_sidecar(app, fake_sidecar)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, "http://memory") as client:
        yield client


@pytest.fixture
def make_turn_event() -> Callable[..., dict[str, Any]]:
    return turn_event


def turn_event(**overrides: Any) -> dict[str, Any]:
    """A conversation.turn.completed CloudEvent as daprd delivers it."""
    data = {
        "schema_version": "1.0",
        "turn_id": "turn-1",
        "session_id": "session-1",
        "user_id": "alice",
        "user_text": "Hi! My name is Alice and I live in Lisbon. What time is it?",
        "reply": "Hello Alice, it is 10:00 UTC.",
        "tools_used": [{"name": "get_current_time", "arguments": "{}", "output": "10:00"}],
        "model": "offline",
        "completed_at": datetime(2026, 11, 22, 10, 0, tzinfo=UTC).isoformat(),
    }
    data.update(overrides)
    return {
        "id": "outbox-7f0c",
        "specversion": "1.0",
        "source": "chat",
        "type": "conversation.turn.completed",
        "datacontenttype": "application/json",
        "topic": "conversation-turns",
        "pubsubname": "pubsub",
        "data": data,
    }
