"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from memory.core.settings import MemorySettings
from memory.models.memory import USER_ID_PATTERN
from memory.services.memories import MemoryService
from sidecar.deps import StateStoreDep


def get_settings(request: Request) -> MemorySettings:
    settings: MemorySettings = request.app.state.settings
    return settings


SettingsDep = Annotated[MemorySettings, Depends(get_settings)]


def get_memory_service(store: StateStoreDep, settings: SettingsDep) -> MemoryService:
    return MemoryService(store=store, max_per_user=settings.max_memories_per_user)


MemoryServiceDep = Annotated[MemoryService, Depends(get_memory_service)]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]
