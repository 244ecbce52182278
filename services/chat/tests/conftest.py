from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.main import create_app
from sidecar.connection import Sidecar
from sidecar.testing import FakeDaprSidecar


@pytest.fixture
def fake_sidecar() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={"chat-state"})


@pytest.fixture
def app(fake_sidecar: FakeDaprSidecar) -> FastAPI:
    settings = ChatSettings()
    app = create_app(settings)
    app.state.sidecar = Sidecar(settings=settings, http=fake_sidecar.client(), dapr=None)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chat") as client:
        yield client
