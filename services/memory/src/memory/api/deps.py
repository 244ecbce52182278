"""Dependencies as Annotated aliases; tests replace them through app.dependency_overrides."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request

from memory.core.settings import MemorySettings
from memory.services.memories import MemoryRuntime, MemoryService
from sidecar.actors import ActorClient
from sidecar.deps import AuthorizedUserId, SidecarDep, StateStoreDep


def get_settings(request: Request) -> MemorySettings:
    settings: MemorySettings = request.app.state.settings
    return settings


def get_runtime(request: Request) -> MemoryRuntime:
    runtime: MemoryRuntime = request.app.state.memory_runtime
    return runtime


SettingsDep = Annotated[MemorySettings, Depends(get_settings)]
RuntimeDep = Annotated[MemoryRuntime, Depends(get_runtime)]


def get_memory_service(
    sidecar: SidecarDep, store: StateStoreDep, settings: SettingsDep, runtime: RuntimeDep
) -> MemoryService:
    return MemoryService(
        store=store, settings=settings, runtime=runtime, actors=ActorClient(sidecar.http)
    )


MemoryServiceDep = Annotated[MemoryService, Depends(get_memory_service)]
MemoryIdPath = Annotated[UUID, Path(description="The memory's id (a UUID).")]

__all__ = ["AuthorizedUserId"]  # re-exported for the routes
