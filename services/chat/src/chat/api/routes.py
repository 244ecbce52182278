"""HTTP routes of the chat service (the public API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from chat.api.deps import MemoryAccessDep, SidecarDep, StateStoreDep, UserIdPath
from chat.models.memory import MemoryList
from sidecar.errors import InvocationFailed
from sidecar.health import Readiness, check_sidecar, check_state_store

router = APIRouter()


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(
    *, sidecar: SidecarDep, store: StateStoreDep, memory: MemoryAccessDep
) -> JSONResponse:
    """Readiness: the sidecar answers and the state store completes a round trip. The memory
    service is reported but not required: without it chat still answers, degraded."""
    readiness = Readiness()
    await check_sidecar(sidecar.http, readiness)
    await check_state_store(store, readiness)
    try:
        await memory.reachable()
        readiness.record("memory", "ok", required=False)
    except InvocationFailed as exc:
        readiness.record("memory", "degraded", str(exc)[:300], required=False)
    return JSONResponse(readiness.as_dict(), status_code=200 if readiness.ready else 503)


@router.get("/users/{user_id}/memories", tags=["memories"])
async def list_user_memories(
    *,
    user_id: UserIdPath,
    memory: MemoryAccessDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemoryList:
    """What the agent remembers about the user, newest first (read through the memory service)."""
    return await memory.list_for_user(user_id=user_id, limit=limit)
