"""HTTP routes of the memory service (reached only through Dapr service invocation)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from memory.api.deps import AuthorizedUserId, MemoryIdPath, MemoryServiceDep, get_runtime
from memory.models.memory import (
    ForgetResult,
    Memory,
    MemoryBatch,
    MemoryBatchResult,
    MemoryCreate,
    MemoryHistory,
    MemoryKind,
    MemoryOperation,
    MemoryPage,
    MemoryUpdate,
    SearchResults,
)
from sidecar.contracts import MEMORY_OPERATION_HEADER
from sidecar.deps import IdempotencyKeyHeader, SearchHits, SearchText
from sidecar.health import Readiness, health_router
from sidecar.strict_json import StrictJSONRoute

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such memory for this user (another user's id included)."}
}


async def embeddings_available(request: Request, readiness: Readiness) -> None:
    """Semantic search is optional: without the embedding model, search is keyword-only."""
    embedder = get_runtime(request).embedder
    if embedder is None:
        detail = "memory[embeddings] not installed: search is keyword-only"
        readiness.record("embeddings", "degraded", detail, required=False)
    else:
        readiness.record("embeddings", "ok", embedder.model_name, required=False)


router = APIRouter(route_class=StrictJSONRoute, tags=["memories"])
router.include_router(health_router(embeddings_available))


def _not_found(memory_id: object) -> HTTPException:
    return HTTPException(status_code=404, detail=f"memory {memory_id} not found")


@router.get("/memories/{user_id}")
async def list_memories(
    *,
    user_id: AuthorizedUserId,
    service: MemoryServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    kind: MemoryKind | None = None,
    tag: Annotated[list[str], Query(max_length=16)] = [],  # noqa: B006 (FastAPI copies it)
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MemoryPage:
    """The user's memories, newest first; ``kind`` and every ``tag`` given must match. Pages
    continue with ``next_cursor``. An unknown user has an empty list."""
    return await service.list_page(user_id=user_id, limit=limit, kind=kind, tags=tag, cursor=cursor)


@router.post("/memories/{user_id}:batch")
async def import_memories(
    *, user_id: AuthorizedUserId, body: MemoryBatch, service: MemoryServiceDep
) -> MemoryBatchResult:
    """Store up to 500 memories at once, in order (bulk import). Each item is stored at most
    once however often the batch is sent (by its ``idempotency_key``, else by its content) and
    is announced as its own ``memory.created``; past the user's cap, what fits is stored and
    the rest is refused item by item."""
    return await service.import_batch(user_id=user_id, batch=body)


IdempotencyKey = IdempotencyKeyHeader


MEMORY_OPERATION = MEMORY_OPERATION_HEADER


@router.post(
    "/memories/{user_id}",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": Memory,
            "description": "Nothing new was stored: the fact was known already (`noop`) or "
            "replaces an older value (`update`; both: the memory it went into), or a retry "
            "(the memory this Idempotency-Key stored).",
            "headers": {MEMORY_OPERATION: {"schema": {"type": "string"}}},
        },
        201: {
            "description": "Stored as a new memory.",
            "headers": {MEMORY_OPERATION: {"schema": {"type": "string"}}},
        },
        409: {"description": "Memory limit reached, or the Idempotency-Key was used for "
              "another memory (or one since deleted)."},
    },
)  # fmt: skip
async def create_memory(
    *,
    user_id: AuthorizedUserId,
    body: MemoryCreate,
    service: MemoryServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Memory:
    """Store a new memory for the user. A fact (`semantic`) is consolidated first
    (docs/memory.md#consolidation): stored (`add`, 201, ``memory.created``), counted on the
    memory that says it already (`noop`, 200), or made the new value of the memory holding
    the same attribute (`update`, 200, ``memory.updated``, the old value in its history). The
    ``Memory-Operation`` header says which."""
    memory, operation, now = await service.create(
        user_id=user_id, data=body, idempotency_key=idempotency_key
    )
    if not now or operation is not MemoryOperation.add:
        response.status_code = status.HTTP_200_OK
    response.headers[MEMORY_OPERATION] = operation.value
    return memory


@router.get("/memories/{user_id}/search")
async def search_memories(
    *,
    user_id: AuthorizedUserId,
    service: MemoryServiceDep,
    q: SearchText,
    k: SearchHits = 5,
) -> SearchResults:
    """The memories most relevant to ``q``, best first, with their scores."""
    return await service.search(user_id=user_id, query=q, k=k)


@router.delete("/memories/{user_id}")
async def forget_user(*, user_id: AuthorizedUserId, service: MemoryServiceDep) -> ForgetResult:
    """Delete every memory of the user (announced as ``user.forgotten``)."""
    return await service.forget(user_id=user_id)


@router.get("/memories/{user_id}/{memory_id}", responses=NOT_FOUND)
async def get_memory(
    *, user_id: AuthorizedUserId, memory_id: MemoryIdPath, service: MemoryServiceDep
) -> Memory:
    memory = await service.get(user_id=user_id, memory_id=memory_id)
    if memory is None:
        raise _not_found(memory_id)
    return memory


@router.get("/memories/{user_id}/{memory_id}/history", responses=NOT_FOUND)
async def memory_history(
    *, user_id: AuthorizedUserId, memory_id: MemoryIdPath, service: MemoryServiceDep
) -> MemoryHistory:
    """The versions of a memory's content, oldest first, each with the operation that made
    it (`add`, `update`), its time and its source (the turn, or the API). Kept for the last
    20 versions; a deleted memory has none (404)."""
    history = await service.history(user_id=user_id, memory_id=memory_id)
    if history is None:
        raise _not_found(memory_id)
    return history


@router.patch("/memories/{user_id}/{memory_id}", responses=NOT_FOUND)
async def update_memory(
    *,
    user_id: AuthorizedUserId,
    memory_id: MemoryIdPath,
    body: MemoryUpdate,
    service: MemoryServiceDep,
) -> Memory:
    """Change kind, content or tags (announced as ``memory.updated``)."""
    memory = await service.update(user_id=user_id, memory_id=memory_id, data=body)
    if memory is None:
        raise _not_found(memory_id)
    return memory


@router.delete(
    "/memories/{user_id}/{memory_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def delete_memory(
    *, user_id: AuthorizedUserId, memory_id: MemoryIdPath, service: MemoryServiceDep
) -> None:
    """Delete one memory (announced as ``memory.deleted``)."""
    if not await service.delete(user_id=user_id, memory_id=memory_id):
        raise _not_found(memory_id)
