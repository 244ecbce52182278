"""Memory domain logic: creating and listing a user's memories."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from memory.data.repository import MemoryRepository
from memory.models.memory import Memory, MemoryCreate, MemoryPage
from sidecar.state import StateStore


class MemoryService:
    def __init__(self, *, store: StateStore, max_per_user: int) -> None:
        self._repository = MemoryRepository(store, max_per_user=max_per_user)

    async def create(self, *, user_id: str, data: MemoryCreate) -> Memory:
        now = datetime.now(UTC)
        memory = Memory(
            id=uuid.uuid4(), user_id=user_id, created_at=now, updated_at=now, **data.model_dump()
        )
        return await self._repository.add(memory)

    async def list(self, *, user_id: str, limit: int) -> MemoryPage:
        items, total = await self._repository.list_newest_first(user_id, limit=limit)
        return MemoryPage(user_id=user_id, items=items, total=total)
