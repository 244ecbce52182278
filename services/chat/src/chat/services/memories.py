"""What chat does with the memory service: read a user's memories, check it is reachable."""

from __future__ import annotations

import httpx

from chat.core.settings import ChatSettings
from chat.data.clients.memory import MemoryClient
from chat.models.memory import MemoryList


class MemoryAccess:
    def __init__(self, client: MemoryClient) -> None:
        self._client = client

    async def list_for_user(self, *, user_id: str, limit: int) -> MemoryList:
        return await self._client.list_memories(user_id, limit=limit)

    async def reachable(self) -> bool:
        await self._client.ping()
        return True


def memory_client(
    http: httpx.AsyncClient, settings: ChatSettings, *, end_user_token: str | None = None
) -> MemoryClient:
    """The memory client for a request, over the process's sidecar HTTP client; it forwards
    the request's ``end_user_token`` (AUTH_MODE=jwt), which memory checks again."""
    return MemoryClient(
        http,
        app_id=settings.memory_app_id,
        timeout_seconds=settings.memory_timeout_seconds,
        end_user_token=end_user_token,
    )


def memory_access(
    http: httpx.AsyncClient, settings: ChatSettings, *, end_user_token: str | None = None
) -> MemoryAccess:
    return MemoryAccess(memory_client(http, settings, end_user_token=end_user_token))
