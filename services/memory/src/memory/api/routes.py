"""HTTP routes of the memory service (reached only through Dapr service invocation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from memory.api.deps import MemoryServiceDep, UserIdPath
from memory.models.memory import Memory, MemoryCreate, MemoryPage
from sidecar.health import health_router

router = APIRouter()
router.include_router(health_router())


@router.get("/memories/{user_id}", tags=["memories"])
async def list_memories(
    *,
    user_id: UserIdPath,
    service: MemoryServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemoryPage:
    """The user's memories, newest first. An unknown user has an empty list."""
    return await service.list(user_id=user_id, limit=limit)


@router.post("/memories/{user_id}", status_code=status.HTTP_201_CREATED, tags=["memories"])
async def create_memory(
    *, user_id: UserIdPath, body: MemoryCreate, service: MemoryServiceDep
) -> Memory:
    """Store a new memory for the user."""
    return await service.create(user_id=user_id, data=body)
