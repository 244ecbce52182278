"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from agents import Model
from fastapi import Depends, Path
from starlette.requests import HTTPConnection

from chat.core.settings import ChatSettings
from chat.models.chat import SESSION_ID_PATTERN
from chat.services.chat import ChatService
from chat.services.memories import MemoryAccess, memory_access, memory_client
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
    return ChatService(
        store=store,
        memory=memory_client(sidecar.http, settings),
        settings=settings,
        model=model,
        model_name=request.app.state.chat_model_name,
    )


MemoryAccessDep = Annotated[MemoryAccess, Depends(get_memory_access)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]
SessionIdPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="The session's id.")]
