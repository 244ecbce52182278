"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated, Any

from agents import Model
from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from chat.core.auth import Authenticator
from chat.core.settings import ChatSettings
from chat.models.chat import SESSION_ID_PATTERN
from chat.services.chat import ChatService, TurnRegistry, session_actors
from chat.services.memories import MemoryAccess, memory_access, memory_client
from sidecar.actors import ActorClient
from sidecar.contracts import USER_ID_PATTERN
from sidecar.deps import SidecarDep, StateStoreDep


def get_settings(request: HTTPConnection) -> ChatSettings:
    settings: ChatSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ChatSettings, Depends(get_settings)]


def get_memory_access(sidecar: SidecarDep, settings: SettingsDep) -> MemoryAccess:
    return memory_access(sidecar.http, settings)


def get_chat_service(
    request: HTTPConnection, sidecar: SidecarDep, store: StateStoreDep, settings: SettingsDep
) -> ChatService:
    model: Model = request.app.state.chat_model
    registry: TurnRegistry = request.app.state.turns
    return ChatService(
        store=store,
        actors=session_actors(ActorClient(sidecar.http), settings),
        registry=registry,
        memory=memory_client(sidecar.http, settings),
        settings=settings,
        model=model,
        model_name=request.app.state.chat_model_name,
    )


MemoryAccessDep = Annotated[MemoryAccess, Depends(get_memory_access)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]
SessionIdPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="The session's id.")]


# Declared for the OpenAPI document; the check itself is Authenticator's (and a no-op when
# AUTH_MODE=open).
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="With AUTH_MODE=jwt: a JWT whose `sub` is the user id the request acts for.",
)


def get_caller(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str | None:
    """The user id the request's bearer token speaks for (None in open mode); 401 otherwise."""
    return Authenticator(settings).caller(credentials.credentials if credentials else None)


CallerDep = Annotated[str | None, Depends(get_caller)]


def authorized_user(user_id: UserIdPath, caller: CallerDep) -> str:
    """The path's user id, once the caller may act for it (403 otherwise)."""
    return Authenticator.authorize(caller, user_id)


AuthorizedUserId = Annotated[str, Depends(authorized_user)]

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
