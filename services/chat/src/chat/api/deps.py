"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated, Any

from agents import Model
from circuitbreaker import CircuitBreaker
from fastapi import Depends, Path
from starlette.requests import HTTPConnection

from chat.core.settings import ChatSettings
from chat.models.chat import SESSION_ID_PATTERN
from chat.services.chat import ChatService, TurnRegistry, session_actors
from chat.services.memories import MemoryAccess, memory_access, memory_client
from sidecar.actors import ActorClient
from sidecar.auth import bearer
from sidecar.deps import AuthorizedUserId, CallerDep, SidecarDep, StateStoreDep, UserIdPath


def get_settings(request: HTTPConnection) -> ChatSettings:
    settings: ChatSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ChatSettings, Depends(get_settings)]


def get_end_user_token(connection: HTTPConnection, settings: SettingsDep) -> str | None:
    """The client's bearer token as it came (``Authorization: Bearer``, or a WebSocket's
    ``?access_token=``), to forward to memory, which checks it again (sidecar.auth); None in
    open mode. Whether it is valid is get_caller's and socket_refusal's to say."""
    if settings.auth_mode != "jwt":
        return None
    token = bearer(connection.headers.get("authorization"))
    if token is None and connection.scope["type"] == "websocket":
        token = connection.query_params.get("access_token")
    return token


EndUserTokenDep = Annotated[str | None, Depends(get_end_user_token)]


def get_memory_breaker(connection: HTTPConnection) -> CircuitBreaker:
    breaker: CircuitBreaker = connection.app.state.memory_breaker
    return breaker


MemoryBreakerDep = Annotated[CircuitBreaker, Depends(get_memory_breaker)]


def get_memory_access(
    sidecar: SidecarDep,
    settings: SettingsDep,
    end_user_token: EndUserTokenDep,
    breaker: MemoryBreakerDep,
) -> MemoryAccess:
    return memory_access(sidecar.http, settings, end_user_token=end_user_token, breaker=breaker)


def get_chat_service(
    request: HTTPConnection,
    sidecar: SidecarDep,
    store: StateStoreDep,
    settings: SettingsDep,
    end_user_token: EndUserTokenDep,
    breaker: MemoryBreakerDep,
) -> ChatService:
    model: Model = request.app.state.chat_model
    registry: TurnRegistry = request.app.state.turns
    return ChatService(
        store=store,
        actors=session_actors(ActorClient(sidecar.http), settings),
        registry=registry,
        memory=memory_client(
            sidecar.http, settings, end_user_token=end_user_token, breaker=breaker
        ),
        settings=settings,
        model=model,
        model_name=request.app.state.chat_model_name,
    )


MemoryAccessDep = Annotated[MemoryAccess, Depends(get_memory_access)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
SessionIdPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="The session's id.")]


#: The OpenAPI description of a turn route's refusal for the user's rate limit.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "The user's TURN_RATE_LIMIT is spent (`rate_limited`); nothing written.",
        "headers": {
            "Retry-After": {
                "description": "Whole seconds until one more turn is allowed.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}

__all__ = ["AuthorizedUserId", "CallerDep", "UserIdPath"]  # re-exported for the routes
