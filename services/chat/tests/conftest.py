from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.main import create_app
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar


@pytest.fixture
def fake_sidecar() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={"chat-state"})


@pytest.fixture
def app(fake_sidecar: FakeDaprSidecar) -> FastAPI:
    app = create_app(ChatSettings())
    attach_fake_sidecar(app, fake_sidecar)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app, "http://chat") as client:
        yield client
