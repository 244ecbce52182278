"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from chat.core.settings import ChatSettings
from chat.models.memory import USER_ID_PATTERN
from chat.services.memories import MemoryAccess, memory_access
from sidecar.deps import SidecarDep


def get_settings(request: Request) -> ChatSettings:
    settings: ChatSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ChatSettings, Depends(get_settings)]


def get_memory_access(sidecar: SidecarDep, settings: SettingsDep) -> MemoryAccess:
    return memory_access(sidecar.http, settings)


MemoryAccessDep = Annotated[MemoryAccess, Depends(get_memory_access)]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]
