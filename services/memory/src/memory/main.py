"""The memory service's ASGI app: ``uvicorn memory.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from memory.api.routes import router
from memory.core import errors
from memory.core.settings import MemorySettings
from sidecar.app import create_service_app
from sidecar.security import every_path_but_health


def create_app(settings: MemorySettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or MemorySettings(),
        title="memory",
        summary="Per-user memories in the Dapr state store, reached through service invocation.",
        router=router,
        # Everything but the probes arrives through Dapr, so everything must carry the app token.
        guarded=every_path_but_health,
        install_errors=errors.install,
    )
