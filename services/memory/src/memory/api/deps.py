"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from memory.core.settings import MemorySettings
from memory.models.memory import USER_ID_PATTERN
from memory.services.memories import MemoryService
from sidecar.connection import Sidecar
from sidecar.state import StateStore


def get_settings(request: Request) -> MemorySettings:
    settings: MemorySettings = request.app.state.settings
    return settings


def get_sidecar(request: Request) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar


SettingsDep = Annotated[MemorySettings, Depends(get_settings)]
SidecarDep = Annotated[Sidecar, Depends(get_sidecar)]


def get_state_store(sidecar: SidecarDep, settings: SettingsDep) -> StateStore:
    return StateStore(sidecar.http, settings.state_store)


StateStoreDep = Annotated[StateStore, Depends(get_state_store)]


def get_memory_service(store: StateStoreDep, settings: SettingsDep) -> MemoryService:
    return MemoryService(store=store, max_per_user=settings.max_memories_per_user)


MemoryServiceDep = Annotated[MemoryService, Depends(get_memory_service)]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]
