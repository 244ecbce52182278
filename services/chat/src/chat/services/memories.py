"""What chat does with the memory service: read a user's memories, check it is reachable."""

from __future__ import annotations

import httpx
from circuitbreaker import CircuitBreaker

from chat.core.exceptions import MemoryLimitReached
from chat.core.settings import ChatSettings
from chat.data.clients.memory import MemoryClient, memory_breaker
from chat.models.memory import MemoryAdded, MemoryHistory, MemoryList, MemoryNote, SearchResults
from sidecar.errors import InvocationFailed


class MemoryAccess:
    def __init__(self, client: MemoryClient) -> None:
        self._client = client

    async def list_for_user(
        self, *, user_id: str, limit: int, kind: str | None = None
    ) -> MemoryList:
        return await self._client.list_memories(user_id, limit=limit, kind=kind)

    async def history(self, *, user_id: str, memory_id: str) -> MemoryHistory | None:
        return await self._client.memory_history(user_id, memory_id)

    async def search(self, *, user_id: str, query: str, k: int) -> SearchResults:
        return SearchResults(hits=await self._client.search(user_id, query, k=k))

    async def add(self, *, user_id: str, note: MemoryNote, idempotency_key: str) -> MemoryAdded:
        """Raises MemoryLimitReached, InvocationFailed."""
        try:
            return await self._client.add_memory(
                user_id,
                kind=note.kind,
                content=note.content,
                tags=note.tags,
                idempotency_key=idempotency_key,
            )
        except InvocationFailed as exc:
            if exc.status_code == 409:
                raise MemoryLimitReached(str(exc)) from exc
            raise

    async def forget(self, *, user_id: str, memory_id: str) -> bool:
        return await self._client.delete_memory(user_id, memory_id)

    async def reachable(self) -> bool:
        await self._client.ping()
        return True


def memory_client(
    http: httpx.AsyncClient,
    settings: ChatSettings,
    *,
    end_user_token: str | None = None,
    breaker: CircuitBreaker | None = None,
) -> MemoryClient:
    """The memory client for a request, over the process's sidecar HTTP client and its
    breaker for memory (``new_memory_breaker``); it forwards the request's
    ``end_user_token`` (AUTH_MODE=jwt), which memory checks again."""
    return MemoryClient(
        http,
        app_id=settings.memory_app_id,
        timeout_seconds=settings.memory_timeout_seconds,
        end_user_token=end_user_token,
        breaker=breaker,
    )


def new_memory_breaker(settings: ChatSettings) -> CircuitBreaker:
    """The process's breaker for memory, from MEMORY_BREAKER_FAILURES and
    MEMORY_BREAKER_RECOVERY_SECONDS."""
    return memory_breaker(
        failures=settings.memory_breaker_failures,
        recovery_seconds=settings.memory_breaker_recovery_seconds,
    )


def memory_access(
    http: httpx.AsyncClient,
    settings: ChatSettings,
    *,
    end_user_token: str | None = None,
    breaker: CircuitBreaker | None = None,
) -> MemoryAccess:
    return MemoryAccess(
        memory_client(http, settings, end_user_token=end_user_token, breaker=breaker)
    )
