"""The chat service's ASGI app: ``uvicorn chat.main:create_app --factory``."""

from __future__ import annotations

from agents import Model
from fastapi import FastAPI

from chat.api.routes import router
from chat.core import errors
from chat.core.settings import ChatSettings
from chat.services.agent import build_model
from chat.services.notifications import NotificationHub
from sidecar.app import create_service_app
from sidecar.security import dapr_callback_paths


def create_app(settings: ChatSettings | None = None, *, model: Model | None = None) -> FastAPI:
    """``model`` replaces the configured one (tests pass the SDK's scripted model)."""
    settings = settings or ChatSettings()
    app = create_service_app(
        settings=settings,
        title="chat",
        summary="The public chat API: an agent that remembers, over Dapr.",
        router=router,
        # Public routes come straight from clients; only daprd's callbacks carry the app token.
        guarded=dapr_callback_paths,
        install_errors=errors.install,
    )
    app.state.notifications = NotificationHub()
    configured, name = build_model(settings)
    app.state.chat_model = model or configured
    app.state.chat_model_name = name if model is None else getattr(model, "name", "custom")
    return app
