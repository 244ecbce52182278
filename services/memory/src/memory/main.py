"""The memory service's ASGI app: ``uvicorn memory.main:create_app --factory``."""

from __future__ import annotations

from typing import Literal

from dapr.actor import Actor
from fastapi import APIRouter, FastAPI

from memory.api import events, routes
from memory.core import errors
from memory.core.settings import MemorySettings
from memory.data.actors import MemoryUser, memory_actor_factory
from memory.services.consolidation import Consolidator
from memory.services.embedding import TextEmbedder
from memory.services.memories import MemoryRuntime, memory_repository
from sidecar.actors import ActorFactory
from sidecar.app import create_service_app
from sidecar.connection import Sidecar
from sidecar.security import every_path_but_health
from sidecar.state import StateStore


def create_app(
    settings: MemorySettings | None = None,
    *,
    embedder: TextEmbedder | Literal["default"] | None = "default",
) -> FastAPI:
    settings = settings or MemorySettings()
    resolved = settings
    runtime = MemoryRuntime.create(settings, embedder=embedder)

    def actors(sidecar: Sidecar) -> dict[type[Actor], ActorFactory]:
        store = StateStore(sidecar.http, resolved.state_store)
        repository = memory_repository(store, resolved)
        # In the actor, a user of an earlier layout is converted directly (calling the
        # actor from itself would wait for its own turn).
        reader = runtime.reader(repository, migrate=repository.migrate)
        consolidator = Consolidator(repository, reader, runtime.embedder)
        return {MemoryUser: memory_actor_factory(repository, consolidator.run)}

    router = APIRouter()
    router.include_router(routes.router)
    router.include_router(events.router)
    app = create_service_app(
        settings=settings,
        title="memory",
        summary="Per-user memories in the Dapr state store, reached through service invocation.",
        router=router,
        # Everything but the probes arrives through Dapr, so everything must carry the app token.
        guarded=every_path_but_health,
        install_errors=errors.install,
        actors=actors,
    )
    app.state.memory_runtime = runtime
    return app
