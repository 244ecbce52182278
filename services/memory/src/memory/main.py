"""The memory service's ASGI app: ``uvicorn memory.main:create_app --factory``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, FastAPI

from memory.api import events, routes
from memory.core import errors
from memory.core.settings import MemorySettings
from memory.services.embedding import TextEmbedder
from memory.services.memories import MemoryRuntime
from sidecar.app import create_service_app
from sidecar.security import every_path_but_health


def create_app(
    settings: MemorySettings | None = None,
    *,
    embedder: TextEmbedder | Literal["default"] | None = "default",
) -> FastAPI:
    settings = settings or MemorySettings()
    router = APIRouter()
    router.include_router(routes.router)
    router.include_router(events.router)
    app = create_service_app(
        settings=settings,
        title="memory",
        summary="Per-user memories in the Dapr state store, reached through service invocation.",
        router=router,
        # Everything but the probes arrives through Dapr, so everything must carry the app token.
        guarded=every_path_but_health,
        install_errors=errors.install,
    )
    app.state.memory_runtime = MemoryRuntime.create(settings, embedder=embedder)
    return app
