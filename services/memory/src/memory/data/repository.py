"""Memories in the Dapr state store: one key per memory plus a per-user index of ids.

Every change that touches several keys is one state transaction whose index write carries
the ETag read before it (first-write concurrency), retried a bounded number of times.
"""

from __future__ import annotations

from sidecar.state import StateOp, StateStore, retry_on_conflict

from memory.core.exceptions import MemoryLimitReached
from memory.models.memory import Memory


def memory_key(user_id: str, memory_id: str) -> str:
    return f"memory:{user_id}:{memory_id}"


def index_key(user_id: str) -> str:
    return f"index:{user_id}"


class MemoryRepository:
    def __init__(self, store: StateStore, *, max_per_user: int) -> None:
        self._store = store
        self._max_per_user = max_per_user

    async def add(self, memory: Memory) -> Memory:
        """Store a new memory and put it at the head of the user's index, atomically."""
        user_id, memory_id = memory.user_id, str(memory.id)

        async def attempt() -> Memory:
            index, previous = await self._store.get_many(
                [index_key(user_id), memory_key(user_id, memory_id)]
            )
            ids: list[str] = list(index.value["ids"]) if index.value else []
            if memory_id in ids:
                return memory
            if len(ids) >= self._max_per_user:
                raise MemoryLimitReached(self._max_per_user)
            # ``previous`` exists only if an earlier attempt failed on a store without rollback
            # (state.redis writes the other operations of a failed transaction): overwrite it.
            await self._store.transact(
                [
                    StateOp(
                        key=memory_key(user_id, memory_id),
                        value=memory.model_dump(mode="json"),
                        etag=previous.etag,
                    ),
                    StateOp(key=index_key(user_id), value={"ids": [memory_id, *ids]}, etag=index.etag),
                ]
            )
            return memory

        return await retry_on_conflict(attempt)

    async def list_newest_first(self, user_id: str, *, limit: int) -> tuple[list[Memory], int]:
        """The user's newest ``limit`` memories and how many they have in all."""
        index = await self._store.get(index_key(user_id))
        ids: list[str] = list(index.value["ids"]) if index.value else []
        entries = await self._store.get_many([memory_key(user_id, i) for i in ids[:limit]])
        memories = [Memory.model_validate(e.value) for e in entries if e.value is not None]
        return memories, len(ids)
