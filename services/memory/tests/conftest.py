from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from memory.core.settings import MemorySettings
from memory.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar


@pytest.fixture
def fake_sidecar() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={"memory-state"})


@pytest.fixture
def app(fake_sidecar: FakeDaprSidecar) -> FastAPI:
    app = create_app(MemorySettings(max_memories_per_user=5))
    attach_fake_sidecar(app, fake_sidecar)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, "http://memory") as client:
        yield client
