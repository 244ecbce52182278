"""The chat service's ASGI app: ``uvicorn chat.main:create_app --factory``."""

from __future__ import annotations

from agents import Model
from dapr.actor import Actor
from fastapi import FastAPI

from chat.api.routes import router
from chat.core import errors
from chat.core.settings import ChatSettings
from chat.data.actors import chat_actor_factories
from chat.data.rate_limits import TurnRateLimiter
from chat.data.sessions import SessionRepository
from chat.services.agent import build_model
from chat.services.chat import TurnRegistry
from chat.services.memories import new_memory_breaker
from chat.services.notifications import NotificationHub
from sidecar.actors import ActorFactory
from sidecar.app import create_service_app
from sidecar.connection import Sidecar
from sidecar.security import dapr_callback_paths
from sidecar.state import StateStore


def create_app(settings: ChatSettings | None = None, *, model: Model | None = None) -> FastAPI:
    """``model`` replaces the configured one (tests pass the SDK's scripted model)."""
    settings = settings or ChatSettings()
    resolved = settings

    def actors(sidecar: Sidecar) -> dict[type[Actor], ActorFactory]:
        store = StateStore(sidecar.http, resolved.state_store)
        return chat_actor_factories(
            SessionRepository(
                store,
                outbox=resolved.outbox_enabled,
                max_messages=resolved.max_messages_per_session,
                max_sessions=resolved.max_sessions_per_user,
            ),
            TurnRateLimiter(resolved.turn_rate_limits),
        )

    async def drain_turns(app: FastAPI) -> None:
        turns: TurnRegistry = app.state.turns
        await turns.drain(grace_seconds=10.0)

    app = create_service_app(
        settings=settings,
        title="chat",
        summary="The public chat API: an agent that remembers, over Dapr.",
        router=router,
        # Public routes come straight from clients; only daprd's callbacks carry the app token.
        guarded=dapr_callback_paths,
        install_errors=errors.install,
        actors=actors,
        on_shutdown=drain_turns,
    )
    app.state.notifications = NotificationHub()
    app.state.turns = TurnRegistry()
    app.state.memory_breaker = new_memory_breaker(settings)
    configured, name = build_model(settings)
    app.state.chat_model = model or configured
    app.state.chat_model_name = name if model is None else getattr(model, "name", "custom")
    return app
