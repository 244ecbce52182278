"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from chat.core.settings import ChatSettings
from chat.models.memory import USER_ID_PATTERN
from chat.services.memories import MemoryAccess, memory_access
from sidecar.connection import Sidecar
from sidecar.state import StateStore


def get_settings(request: Request) -> ChatSettings:
    settings: ChatSettings = request.app.state.settings
    return settings


def get_sidecar(request: Request) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar


SettingsDep = Annotated[ChatSettings, Depends(get_settings)]
SidecarDep = Annotated[Sidecar, Depends(get_sidecar)]


def get_state_store(sidecar: SidecarDep, settings: SettingsDep) -> StateStore:
    return StateStore(sidecar.http, settings.state_store)


def get_memory_access(sidecar: SidecarDep, settings: SettingsDep) -> MemoryAccess:
    return memory_access(sidecar.http, settings)


StateStoreDep = Annotated[StateStore, Depends(get_state_store)]
MemoryAccessDep = Annotated[MemoryAccess, Depends(get_memory_access)]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]
