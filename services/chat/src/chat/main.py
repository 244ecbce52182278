"""The chat service's ASGI app: ``uvicorn chat.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from chat.api.routes import router
from chat.core import errors
from chat.core.settings import ChatSettings
from sidecar.app import create_service_app
from sidecar.security import dapr_callback_paths


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or ChatSettings(),
        title="chat",
        summary="The public chat API: an agent that remembers, over Dapr.",
        router=router,
        # Public routes come straight from clients; only daprd's callbacks carry the app token.
        guarded=dapr_callback_paths,
        install_errors=errors.install,
    )
