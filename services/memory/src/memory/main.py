"""The memory service's ASGI app: ``uvicorn memory.main:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sidecar.connection import open_sidecar
from sidecar.logs import configure_logging
from sidecar.security import AppTokenGuard, every_path_but_health

from memory.api.routes import router
from memory.core import errors
from memory.core.settings import MemorySettings


def create_app(settings: MemorySettings | None = None) -> FastAPI:
    settings = settings or MemorySettings()
    configure_logging(settings.log_level, app_id=settings.app_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_sidecar(settings) as sidecar:
            app.state.sidecar = sidecar
            yield

    app = FastAPI(
        title="memory",
        summary="Per-user memories in the Dapr state store, reached through Dapr service invocation.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(router)
    errors.install(app)
    if settings.app_api_token is not None:
        app.add_middleware(
            AppTokenGuard,
            token=settings.app_api_token.get_secret_value(),
            guarded=every_path_but_health,
        )
    return app
