"""HTTP routes of the chat service (the public API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from chat.api import streams, web
from chat.api.deps import (
    RATE_LIMITED,
    AuthorizedUserId,
    CallerDep,
    ChatServiceDep,
    MemoryAccessDep,
    SessionIdPath,
    get_settings,
)
from chat.models.chat import ChatRequest, ChatResponse
from chat.models.memory import MemoryHistory, MemoryList, MemoryNote, MemoryView, SearchResults
from chat.models.sessions import SessionCreated, SessionDeleted, SessionHistory, SessionList
from chat.services.agent import AGENT_DESCRIPTION, AGENT_NAME, TOOLS
from chat.services.chat import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_SESSIONS_LIMIT,
    MAX_HISTORY_LIMIT,
    MAX_SESSIONS_LIMIT,
    HistoryOrder,
)
from chat.services.memories import memory_access
from sidecar.auth import Authenticator
from sidecar.contracts import MEMORY_OPERATION_HEADER
from sidecar.deps import IdempotencyKeyHeader, SearchHits, SearchText
from sidecar.errors import InvocationFailed
from sidecar.health import Readiness, health_router
from sidecar.strict_json import StrictJSONRoute


async def memory_reachable(request: Request, readiness: Readiness) -> None:
    """Memory is reported but not required: without it chat still answers, degraded."""
    memory = memory_access(
        request.app.state.sidecar.http,
        get_settings(request),
        breaker=request.app.state.memory_breaker,
    )
    try:
        await memory.reachable()
        readiness.record("memory", "ok", required=False)
    except InvocationFailed as exc:
        readiness.record("memory", "degraded", str(exc)[:300], required=False)


MemoryIdPath = Annotated[UUID, Path(description="The memory's id (a UUID).")]
NO_MEMORY: dict[int | str, dict[str, Any]] = {404: {"description": "No such memory for this user."}}


router = APIRouter(route_class=StrictJSONRoute)
router.include_router(health_router(memory_reachable))
router.include_router(streams.router)
router.include_router(web.router)


@router.get("/agents", tags=["agents"])
async def list_agents(request: Request) -> list[dict[str, Any]]:
    """The agents this service offers (one, for now) with their tools."""
    return [
        {
            "name": AGENT_NAME,
            "description": AGENT_DESCRIPTION,
            "model": request.app.state.chat_model_name,
            "tools": [{"name": t.name, "description": t.description} for t in TOOLS],
        }
    ]


@router.post("/users/{user_id}/sessions", status_code=status.HTTP_201_CREATED, tags=["sessions"])
async def create_session(*, user_id: AuthorizedUserId, service: ChatServiceDep) -> SessionCreated:
    return await service.create_session(user_id=user_id)


@router.get("/users/{user_id}/sessions", tags=["sessions"])
async def list_sessions(
    *,
    user_id: AuthorizedUserId,
    service: ChatServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_SESSIONS_LIMIT)] = DEFAULT_SESSIONS_LIMIT,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> SessionList:
    """The user's sessions, newest (most recently created) first, each with its last
    activity; pages continue with ``next_cursor``."""
    return await service.list_sessions(user_id=user_id, limit=limit, cursor=cursor)


@router.get("/users/{user_id}/sessions/{session_id}/history", tags=["sessions"])
async def session_history(
    *,
    user_id: AuthorizedUserId,
    session_id: SessionIdPath,
    service: ChatServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT,
    order: HistoryOrder = "oldest",
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> SessionHistory:
    """The session's messages, ``limit`` at a time, ``oldest`` first (the default) or
    ``newest`` first; pages continue with ``next_cursor``. Another user's session is a 404."""
    return await service.history(
        user_id=user_id, session_id=session_id, limit=limit, order=order, cursor=cursor
    )


@router.delete("/users/{user_id}/sessions/{session_id}", tags=["sessions"])
async def delete_session(
    *, user_id: AuthorizedUserId, session_id: SessionIdPath, service: ChatServiceDep
) -> SessionDeleted:
    return await service.delete_session(user_id=user_id, session_id=session_id)


@router.post("/chat", tags=["chat"], responses=RATE_LIMITED)
@router.post("/chat/", tags=["chat"], include_in_schema=False)
async def chat(*, body: ChatRequest, service: ChatServiceDep, caller: CallerDep) -> ChatResponse:
    """One turn, whole reply. Without a session id a new session starts."""
    Authenticator.authorize(caller, body.user_id)
    return await service.chat(body)


@router.get("/users/{user_id}/memories", tags=["memories"])
async def list_user_memories(
    *,
    user_id: AuthorizedUserId,
    memory: MemoryAccessDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    kind: Annotated[
        Literal["semantic", "episodic", "procedural"] | None,
        Query(description="Only facts (`semantic`), episodes or procedures."),
    ] = None,
) -> MemoryList:
    """What the agent remembers about the user, newest first (read through the memory service)."""
    return await memory.list_for_user(user_id=user_id, limit=limit, kind=kind)


@router.get(
    "/users/{user_id}/memories/{memory_id}/history",
    tags=["memories"],
    responses=NO_MEMORY,
)
async def user_memory_history(
    *,
    user_id: AuthorizedUserId,
    memory_id: MemoryIdPath,
    memory: MemoryAccessDep,
) -> MemoryHistory:
    """The versions of one memory's content, oldest first, each with the operation that made
    it, its time and its source (read through the memory service)."""
    history = await memory.history(user_id=user_id, memory_id=str(memory_id))
    if history is None:
        raise HTTPException(status_code=404, detail=f"memory {memory_id} not found")
    return history


@router.get("/users/{user_id}/memories/search", tags=["memories"])
async def search_user_memories(
    *,
    user_id: AuthorizedUserId,
    memory: MemoryAccessDep,
    q: SearchText,
    k: SearchHits = 10,
) -> SearchResults:
    """The user's memories most relevant to ``q``, best first, with their scores (memory's
    search: current facts rank before the episodes they came from)."""
    return await memory.search(user_id=user_id, query=q, k=k)


@router.post(
    "/users/{user_id}/memories",
    status_code=status.HTTP_201_CREATED,
    tags=["memories"],
    responses={
        200: {
            "model": MemoryView,
            "description": "Nothing new was stored: known already (`noop`) or the new value of "
            "a memory holding the same attribute (`update`; both: that memory).",
            "headers": {MEMORY_OPERATION_HEADER: {"schema": {"type": "string"}}},
        },
        201: {
            "description": "Stored as a new memory (`add`).",
            "headers": {MEMORY_OPERATION_HEADER: {"schema": {"type": "string"}}},
        },
        409: {"description": "The user's memory limit is reached (`memory_limit_reached`)."},
    },
)
async def add_user_memory(
    *,
    user_id: AuthorizedUserId,
    body: MemoryNote,
    memory: MemoryAccessDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> MemoryView:
    """Remember something for the user, as the agent's ``remember`` tool does. A fact is
    consolidated with what memory knows (docs/memory.md#consolidation); the
    ``Memory-Operation`` header says what happened, and ``memory`` events tell the user's
    open streams."""
    added = await memory.add(
        user_id=user_id, note=body, idempotency_key=idempotency_key or uuid4().hex
    )
    if added.operation != "add":
        response.status_code = status.HTTP_200_OK
    response.headers[MEMORY_OPERATION_HEADER] = added.operation
    return added.memory


@router.delete(
    "/users/{user_id}/memories/{memory_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["memories"],
    responses=NO_MEMORY,
)
async def forget_user_memory(
    *, user_id: AuthorizedUserId, memory_id: MemoryIdPath, memory: MemoryAccessDep
) -> None:
    """Forget one memory (memory keeps a tombstone and announces ``memory.deleted``)."""
    if not await memory.forget(user_id=user_id, memory_id=str(memory_id)):
        raise HTTPException(status_code=404, detail=f"memory {memory_id} not found")
