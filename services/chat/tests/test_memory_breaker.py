"""chat's breaker for the memory service: after MEMORY_BREAKER_FAILURES calls in a row that
found memory down, turns are degraded without calling it, until one call after
MEMORY_BREAKER_RECOVERY_SECONDS succeeds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.data.clients.memory import memory_down
from chat.main import create_app
from sidecar.errors import InvocationFailed
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

RECOVERY = 0.5


@pytest.fixture
async def breaking(fake_sidecar: FakeDaprSidecar) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(
        ChatSettings(
            turn_rate_limit="", memory_breaker_failures=3, memory_breaker_recovery_seconds=RECOVERY
        )
    )
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app, "http://chat") as client:
        yield client


async def turn(client: httpx.AsyncClient) -> dict[str, Any]:
    reply = await client.post("/chat", json={"user_id": "alice", "message": "hello"})
    assert reply.status_code == 200, reply.text
    metadata: dict[str, Any] = reply.json()["metadata"]
    return metadata


async def test_memory_down_opens_the_breaker_and_a_success_closes_it(
    breaking: httpx.AsyncClient, memory: Any
) -> None:
    memory.down = True
    for _ in range(3):
        assert (await turn(breaking))["degraded"] is True
    calls = len(memory.calls)
    for _ in range(2):  # open: degraded without a call
        assert (await turn(breaking))["degraded"] is True
    assert len(memory.calls) == calls
    ready = (await breaking.get("/readyz")).json()
    assert "circuit open" in str(ready)
    memory.down = False
    await asyncio.sleep(RECOVERY + 0.2)
    assert (await turn(breaking))["degraded"] is False  # one call let through, and it worked
    assert len(memory.calls) > calls
    assert (await turn(breaking))["degraded"] is False


def test_only_no_answer_or_a_5xx_counts_against_memory() -> None:
    def counts(exc: BaseException) -> bool:
        return memory_down(type(exc), exc)

    assert counts(InvocationFailed("unreachable"))
    assert counts(InvocationFailed("answered 503", status_code=503))
    assert not counts(InvocationFailed("answered 403", status_code=403))
    assert not counts(InvocationFailed("answered 404", status_code=404))
    assert not counts(ValueError("not a call"))
