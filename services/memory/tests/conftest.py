from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from memory.core.settings import MemorySettings
from memory.main import create_app
from sidecar.connection import Sidecar
from sidecar.testing import FakeDaprSidecar


@pytest.fixture
def fake_sidecar() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={"memory-state"})


@pytest.fixture
def settings() -> MemorySettings:
    return MemorySettings(max_memories_per_user=5)


@pytest.fixture
def app(settings: MemorySettings, fake_sidecar: FakeDaprSidecar) -> FastAPI:
    app = create_app(settings)
    app.state.sidecar = Sidecar(settings=settings, http=fake_sidecar.client(), dapr=None)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://memory") as client:
        yield client
