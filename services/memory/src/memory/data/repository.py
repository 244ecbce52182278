"""Memories in the Dapr state store: one key per memory plus a per-user index.

Keys (daprd prefixes them with the app id): ``memory:<user>:<id>`` holds a StoredMemory,
``index:<user>`` the user's index (ids with the fields list filters need, newest first).

Every change is one state transaction on ``memory-state`` with ETags (first-write concurrency):
the memory documents it touches and the index. The writers of one user are serialized before
they get here (the user's ``MemoryUser`` actor, memory.data.actors), so the ETags are the safety
net, not the mechanism: a conflict means something outside the actor wrote, and is retried.

The transaction is also what publishes the change: the
component's outbox sends one CloudEvent per upsert to ``memory-events``, with the ``type`` taken
from the operation's metadata; the index upsert is projected to a small ``memory.index.updated``
payload. Deletions are upserts of a tombstone so that they are announced too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from memory.core.exceptions import MemoryLimitReached
from memory.models.events import EventType, IndexUpdated, UserForgotten
from memory.models.memory import MemoryPatch, StoredMemory
from sidecar.errors import ETagMismatch
from sidecar.state import StateOp, StateStore, retry_on_conflict

JSON = "application/json"
BULK_CHUNK = 250
BULK_PARALLEL = 4


def memory_key(user_id: str, memory_id: str) -> str:
    return f"memory:{user_id}:{memory_id}"


def index_key(user_id: str) -> str:
    return f"index:{user_id}"


class IndexEntry(BaseModel):
    id: str
    created_at: datetime
    kind: str
    tags: list[str] = Field(default_factory=list)
    version: int = 1  # the memory's version: lets caches reload only what changed


class UserIndex(BaseModel):
    """The per-user index: entries newest first (``created_at``, then ``id``, descending)."""

    user_id: str
    version: int = 0
    forgotten_at: datetime | None = None
    entries: list[IndexEntry] = Field(default_factory=list)

    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def with_entries(self, entries: Iterable[IndexEntry]) -> UserIndex:
        ordered = sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True)
        return self.model_copy(update={"entries": ordered, "version": self.version + 1})


def entry_for(memory: StoredMemory) -> IndexEntry:
    return IndexEntry(
        id=str(memory.id),
        created_at=memory.created_at,
        kind=memory.kind,
        tags=memory.tags,
        version=memory.version,
    )


class MemoryRepository:
    def __init__(
        self,
        store: StateStore,
        *,
        max_per_user: int,
        tombstone_ttl_seconds: int,
        outbox: bool = True,
    ) -> None:
        self._store = store
        self._max_per_user = max_per_user
        self._tombstone_ttl = str(tombstone_ttl_seconds)
        # Projections are only understood by a store with the outbox configured; without it
        # daprd would save them as ordinary upserts (over the index).
        self._outbox = outbox

    # -- reads -------------------------------------------------------------------------------
    async def read_index(self, user_id: str) -> tuple[UserIndex, str | None]:
        entry = await self._store.get(index_key(user_id))
        if entry.value is None:
            return UserIndex(user_id=user_id), None
        return UserIndex.model_validate(entry.value), entry.etag

    async def _index_for_write(self, user_id: str) -> tuple[UserIndex, str]:
        """The index and its ETag, creating an empty one first if the user has none.

        The creation is a plain first-write save: state.redis ignores first-write inside
        transactions, so two replicas creating a user's first index at once would otherwise both
        succeed. A plain save publishes nothing through the outbox.
        """
        index, etag = await self.read_index(user_id)
        if etag is None:
            await self._store.save(index_key(user_id), index.model_dump(mode="json"), etag=None)
            index, etag = await self.read_index(user_id)
            if etag is None:
                raise ETagMismatch(f"index of {user_id} vanished while being created")
        return index, etag

    async def get(self, user_id: str, memory_id: str) -> StoredMemory | None:
        """The live memory, or None if it does not exist, was deleted, or is another user's."""
        entry = await self._store.get(memory_key(user_id, memory_id))
        if entry.value is None:
            return None
        memory = StoredMemory.model_validate(entry.value)
        return None if memory.deleted_at is not None or memory.user_id != user_id else memory

    async def get_many(self, user_id: str, ids: Sequence[str]) -> list[StoredMemory]:
        """Live memories for ``ids``, in that order (missing ones left out). Large reads go as
        several bulk requests, a few at a time."""
        chunks = [ids[i : i + BULK_CHUNK] for i in range(0, len(ids), BULK_CHUNK)]
        limit = asyncio.Semaphore(BULK_PARALLEL)

        async def read(chunk: Sequence[str]) -> list[StoredMemory]:
            async with limit:
                entries = await self._store.get_many([memory_key(user_id, i) for i in chunk])
            found = (StoredMemory.model_validate(e.value) for e in entries if e.value is not None)
            return [m for m in found if m.deleted_at is None]

        return [m for part in await asyncio.gather(*(read(c) for c in chunks)) for m in part]

    # -- writes ------------------------------------------------------------------------------
    async def add(
        self,
        user_id: str,
        memories: Sequence[StoredMemory],
        *,
        not_after_forget_of: datetime | None = None,
    ) -> list[StoredMemory]:
        """Store new memories in one transaction; return those written.

        Ids that exist already (live or tombstoned) are skipped, which makes derived memories
        idempotent. With ``not_after_forget_of`` (a turn's time), nothing is written if the user
        was forgotten after it: a late redelivery cannot bring forgotten data back.
        """

        async def attempt() -> list[StoredMemory]:
            index, index_etag = await self._index_for_write(user_id)
            if (
                not_after_forget_of is not None
                and index.forgotten_at is not None
                and not_after_forget_of <= index.forgotten_at
            ):
                return []
            keys = [memory_key(user_id, str(m.id)) for m in memories]
            existing = {e.key for e in await self._store.get_many(keys) if e.exists}
            fresh = [m for m, k in zip(memories, keys, strict=True) if k not in existing]
            if not fresh:
                return []
            if len(index.entries) + len(fresh) > self._max_per_user:
                raise MemoryLimitReached(self._max_per_user)
            new_index = index.with_entries([*index.entries, *(entry_for(m) for m in fresh)])
            ops = [self._memory_op(m, EventType.memory_created) for m in fresh]
            await self._commit(ops, new_index, index_etag)
            return fresh

        return await retry_on_conflict(attempt)

    async def update(self, user_id: str, memory_id: str, patch: MemoryPatch) -> StoredMemory | None:
        """Apply ``patch`` to the live memory (None if there is none) and announce it."""

        async def attempt() -> StoredMemory | None:
            current = await self._store.get(memory_key(user_id, memory_id))
            if current.value is None:
                return None
            memory = StoredMemory.model_validate(current.value)
            if memory.deleted_at is not None:
                return None
            updated = patch.apply(memory)
            op = self._memory_op(updated, EventType.memory_updated, etag=current.etag)
            # The index is written even when its entry is unchanged: its version is what tells
            # every replica's search cache that the user's memories changed.
            index, index_etag = await self._index_for_write(user_id)
            others = [e for e in index.entries if e.id != memory_id]
            await self._commit([op], index.with_entries([*others, entry_for(updated)]), index_etag)
            return updated

        return await retry_on_conflict(attempt)

    async def delete(self, user_id: str, memory_id: str, *, now: datetime) -> bool:
        """Replace the memory by a tombstone and drop it from the index; False if absent."""

        async def attempt() -> bool:
            current = await self._store.get(memory_key(user_id, memory_id))
            if current.value is None:
                return False
            memory = StoredMemory.model_validate(current.value)
            if memory.deleted_at is not None:
                return False
            tombstone = memory.model_copy(
                update={
                    "content": "",
                    "tags": [],
                    "embedding": None,
                    "deleted_at": now,
                    "updated_at": now,
                    "version": memory.version + 1,
                }
            )
            op = self._memory_op(
                tombstone,
                EventType.memory_deleted,
                etag=current.etag,
                ttl_seconds=self._tombstone_ttl,
            )
            index, index_etag = await self._index_for_write(user_id)
            remaining = [e for e in index.entries if e.id != memory_id]
            await self._commit([op], index.with_entries(remaining), index_etag)
            return True

        return await retry_on_conflict(attempt)

    async def forget(self, user_id: str, *, now: datetime) -> int:
        """Delete every memory of the user and announce ``user.forgotten``; return how many."""

        async def attempt() -> int:
            index, index_etag = await self._index_for_write(user_id)
            ids = index.ids()
            emptied = index.model_copy(
                update={"entries": [], "forgotten_at": now, "version": index.version + 1}
            )
            ops = [StateOp(key=memory_key(user_id, i), operation="delete") for i in ids]
            projection = UserForgotten(
                user_id=user_id, forgotten_at=now, deleted=len(ids), version=emptied.version
            )
            ops += self._index_ops(emptied, index_etag, EventType.user_forgotten, projection)
            await self._store.transact(ops)
            return len(ids)

        return await retry_on_conflict(attempt)

    # -- helpers -----------------------------------------------------------------------------
    async def _commit(self, memory_ops: list[StateOp], index: UserIndex, etag: str | None) -> None:
        projection = IndexUpdated(
            user_id=index.user_id, count=len(index.entries), version=index.version
        )
        index_ops = self._index_ops(index, etag, EventType.index_updated, projection)
        await self._store.transact([*memory_ops, *index_ops])

    def _memory_op(
        self,
        memory: StoredMemory,
        event: EventType,
        *,
        etag: str | None = None,
        ttl_seconds: str | None = None,
    ) -> StateOp:
        metadata = {"type": event.value, "subject": str(memory.id)}
        if ttl_seconds is not None:
            metadata["ttlInSeconds"] = ttl_seconds
        return StateOp(
            key=memory_key(memory.user_id, str(memory.id)),
            value=memory.model_dump(mode="json"),
            etag=etag,
            metadata=metadata,
            content_type=JSON,
        )

    def _index_ops(
        self, index: UserIndex, etag: str | None, event: EventType, projection: BaseModel
    ) -> list[StateOp]:
        """The index upsert and, last (daprd handles one projection per transaction, and
        removes it from the list it iterates), the projection the outbox publishes instead."""
        key = index_key(index.user_id)
        upsert = StateOp(
            key=key,
            value=index.model_dump(mode="json"),
            etag=etag,
            metadata={"type": event.value, "subject": index.user_id},
            content_type=JSON,
        )
        if not self._outbox:
            return [upsert]
        published = StateOp(
            key=key,
            value=projection.model_dump(mode="json"),
            metadata={"outbox.projection": "true"},
            content_type=JSON,
        )
        return [upsert, published]
