"""HTTP routes of the chat service (the public API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from chat.api.deps import MemoryAccessDep, UserIdPath, get_memory_access, get_settings
from chat.models.memory import MemoryList
from sidecar.errors import InvocationFailed
from sidecar.health import Readiness, health_router


async def memory_reachable(request: Request, readiness: Readiness) -> None:
    """Memory is reported but not required: without it chat still answers, degraded."""
    memory = get_memory_access(request.app.state.sidecar, get_settings(request))
    try:
        await memory.reachable()
        readiness.record("memory", "ok", required=False)
    except InvocationFailed as exc:
        readiness.record("memory", "degraded", str(exc)[:300], required=False)


router = APIRouter()
router.include_router(health_router(memory_reachable))


@router.get("/users/{user_id}/memories", tags=["memories"])
async def list_user_memories(
    *,
    user_id: UserIdPath,
    memory: MemoryAccessDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemoryList:
    """What the agent remembers about the user, newest first (read through the memory service)."""
    return await memory.list_for_user(user_id=user_id, limit=limit)
