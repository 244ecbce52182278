"""Memories in the Dapr state store (``memory-state``), laid out as a head and bounded pages
(memory.data.layout has the keys and sizes).

Every change is one state transaction with ETags (first-write concurrency): the memory
documents it touches, the head, and deletes of page generations it replaces. New page
generations are written just before, under keys no head names yet. The writers of one user are
serialized before they get here (the user's ``MemoryUser`` actor, memory.data.actors), so the
ETags are the safety net, not the mechanism: a conflict means something outside the actor
wrote, and is retried.

The transaction is also what publishes the change: the component's outbox sends one
CloudEvent per upsert to ``memory-events``, with the ``type`` taken from the operation's
metadata; the head upsert is projected to a small ``memory.index.updated`` payload (the one
projection a transaction can carry). Deletions are upserts of a tombstone so that they are
announced too; deletes of keys publish nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from memory.core.exceptions import MemoryLimitReached
from memory.data.layout import (
    MEMORY_PAGES,
    IndexEntry,
    MemoryHead,
    entry_for,
    head_key,
    memory_key,
    page_item,
    position_of,
    raw_position,
    stamp,
)
from memory.models.events import EventType, IndexUpdated, UserForgotten
from memory.models.memory import MemoryPatch, StoredMemory
from sidecar.errors import ETagMismatch
from sidecar.paging import Json, PageChange, PageRef, page_of
from sidecar.state import StateEntry, StateOp, StateStore, retry_on_conflict

logger = logging.getLogger(__name__)

JSON = "application/json"
BULK_CHUNK = 250
BULK_PARALLEL = 4
#: Pages per bulk read (each up to 1 MiB).
PAGES_PER_READ = 4
#: Memory documents erased per transaction when a user is forgotten (keeps each transaction's
#: request far below daprd's 4 MiB body limit).
FORGET_CHUNK = 2_000
#: Where earlier versions kept a user's whole index in one document (read once, to migrate).
LEGACY_INDEX = "index:{user}"


@dataclass(frozen=True)
class Change:
    """An existing memory changed by a consolidation: ``before`` as read (with its
    document's ``etag``), ``after`` as it is to be stored (a tombstone for a deletion)."""

    before: StoredMemory
    after: StoredMemory
    etag: str | None


class PageMissing(Exception):
    """A page the head named is gone: a writer replaced it after the head was read."""


class LegacyLayout(Exception):
    """The user's memories are still in the one-document index of earlier versions."""


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
        # daprd would save them as ordinary upserts (over the head).
        self._outbox = outbox

    # -- reads -------------------------------------------------------------------------------
    async def read_head(self, user_id: str) -> tuple[MemoryHead, str | None]:
        """The user's head and its ETag (an empty head and None for a user with no memories).

        Raises LegacyLayout when the user's memories are still in the layout of earlier
        versions (``migrate`` converts them)."""
        entry = await self._store.get(head_key(user_id))
        if entry.value is None:
            if (await self._store.get(LEGACY_INDEX.format(user=user_id))).value is not None:
                raise LegacyLayout(user_id)
            return MemoryHead(user_id=user_id), None
        return MemoryHead.model_validate(entry.value), entry.etag

    async def read_pages(self, user_id: str, refs: Sequence[PageRef]) -> list[Json]:
        """The page documents ``refs`` name, in that order (sidecar.paging.PagedLayout.page).
        Raises PageMissing if one was replaced since its head was read (read the head
        again)."""
        keys = [MEMORY_PAGES.ref_key(user_id, r) for r in refs]
        entries = await self._read_many(keys, chunk=PAGES_PER_READ)
        missing = [e.key for e in entries if e.value is None]
        if missing:
            raise PageMissing(missing[0])
        return [dict(e.value) for e in entries if e.value is not None]

    async def get(self, user_id: str, memory_id: str) -> StoredMemory | None:
        """The live memory, or None if it does not exist, was deleted, or is another user's."""
        entry = await self._store.get(memory_key(user_id, memory_id))
        if entry.value is None:
            return None
        memory = StoredMemory.model_validate(entry.value)
        return None if memory.deleted_at is not None or memory.user_id != user_id else memory

    async def get_many(self, user_id: str, ids: Sequence[str]) -> list[StoredMemory]:
        """Live memories for ``ids``, in that order (missing ones left out)."""
        return [StoredMemory.model_validate(v) for v in await self.get_many_values(user_id, ids)]

    async def get_many_values(self, user_id: str, ids: Sequence[str]) -> list[Json]:
        """Like ``get_many``, as the stored JSON (no validation: callers that only read a few
        fields, or build the public model, skip validating the embeddings)."""
        entries = await self._read_many([memory_key(user_id, i) for i in ids])
        return [
            e.value for e in entries
            if isinstance(e.value, dict) and e.value.get("deleted_at") is None
            and e.value.get("user_id") == user_id
        ]  # fmt: skip

    async def _read_many(self, keys: Sequence[str], *, chunk: int = BULK_CHUNK) -> list[StateEntry]:
        """Bulk reads, as several requests a few at a time when there are many keys."""
        chunks = [keys[i : i + chunk] for i in range(0, len(keys), chunk)]
        limit = asyncio.Semaphore(BULK_PARALLEL)

        async def read(chunk: Sequence[str]) -> list[StateEntry]:
            async with limit:
                return await self._store.get_many(chunk)

        return [e for part in await asyncio.gather(*(read(c) for c in chunks)) for e in part]

    # -- writes (the user's actor) -------------------------------------------------------------
    async def _head_for_write(self, user_id: str) -> tuple[MemoryHead, str]:
        """The head and its ETag, creating an empty one first if the user has none.

        The creation is a plain first-write save: state.redis ignores first-write inside
        transactions, so two replicas creating a user's first head at once would otherwise both
        succeed. A plain save publishes nothing through the outbox.
        """
        head, etag = await self.read_head(user_id)
        if etag is None:
            await self._store.save(head_key(user_id), head.model_dump(mode="json"), etag=None)
            head, etag = await self.read_head(user_id)
            if etag is None:
                raise ETagMismatch(f"head of {user_id} vanished while being created")
        return head, etag

    async def add(
        self,
        user_id: str,
        memories: Sequence[StoredMemory],
        *,
        not_after_forget_of: datetime | None = None,
    ) -> list[StoredMemory]:
        """Store new memories in one transaction; return those written, as stored (their
        ``created_at`` made to follow the user's newest memory).

        Ids that exist already (live or tombstoned) are skipped, which makes derived memories
        and imports idempotent. With ``not_after_forget_of`` (a turn's time), nothing is
        written if the user was forgotten after it: a late redelivery cannot bring forgotten
        data back. Raises MemoryLimitReached when they would not all fit.
        """

        keys = [memory_key(user_id, str(m.id)) for m in memories]

        async def attempt() -> list[StoredMemory]:
            # The head and the ids' documents are read at once (two sidecar calls, one wait).
            (head, etag), found = await asyncio.gather(
                self._head_for_write(user_id), self._read_many(keys)
            )
            if (
                not_after_forget_of is not None
                and head.forgotten_at is not None
                and not_after_forget_of <= head.forgotten_at
            ):
                return []
            existing = {e.key for e in found if e.exists}
            unique = [m for m, k in zip(memories, keys, strict=True) if k not in existing]
            if not unique:
                return []
            return await self._write(head, etag, adds=unique, changes=[])

        return await retry_on_conflict(attempt)

    async def update(self, user_id: str, memory_id: str, patch: MemoryPatch) -> StoredMemory | None:
        """Apply ``patch`` to the live memory (None if there is none) and announce it."""

        async def attempt() -> StoredMemory | None:
            # The memory and the head at once; the head is not created for a memory that is
            # not there (a 404 writes nothing).
            current, (head, etag) = await asyncio.gather(
                self._store.get(memory_key(user_id, memory_id)), self.read_head(user_id)
            )
            memory = self._live(user_id, current)
            if memory is None:
                return None
            updated = patch.apply(memory)
            await self._write_change(head, etag, Change(memory, updated, current.etag))
            return updated

        return await retry_on_conflict(attempt)

    async def delete(self, user_id: str, memory_id: str, *, now: datetime) -> bool:
        """Replace the memory by a tombstone and take it out of the index; False if absent."""

        async def attempt() -> bool:
            # The memory and the head at once; the head is not created for a memory that is
            # not there (a 404 writes nothing).
            current, (head, etag) = await asyncio.gather(
                self._store.get(memory_key(user_id, memory_id)), self.read_head(user_id)
            )
            memory = self._live(user_id, current)
            if memory is None:
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
            await self._write_change(head, etag, Change(memory, tombstone, current.etag))
            return True

        return await retry_on_conflict(attempt)

    async def forget(self, user_id: str, *, now: datetime) -> int:
        """Delete every memory of the user and announce ``user.forgotten``; return how many.

        A large user is erased a few thousand memories per transaction, oldest pages first
        (each step announced as ``memory.index.updated``), the tail and the announcement last;
        an interrupted erasure leaves a consistent, smaller user that a retry finishes."""
        while True:
            total = await retry_on_conflict(lambda: self._forget_step(user_id, now))
            if total is not None:
                return total

    async def _forget_step(self, user_id: str, now: datetime) -> int | None:
        """One erasure transaction: some sealed pages (None: more to do), or the tail and the
        announcement (the number of memories erased in all: earlier steps count in the head's
        ``erasing``)."""
        head, etag = await self._head_for_write(user_id)
        if head.pages:
            chunk: list[PageRef] = []
            for ref in head.pages:
                if chunk and sum(r.count for r in chunk) + ref.count > FORGET_CHUNK:
                    break
                chunk.append(ref)
            pages = await self.read_pages(user_id, chunk)
            ops = [
                StateOp(key=memory_key(user_id, str(m["id"])), operation="delete")
                for page in pages
                for m in page["items"]
            ]
            ops += [
                StateOp(key=MEMORY_PAGES.key(user_id, r.no, gen), operation="delete")
                for r in chunk
                for gen in (r.gen, r.gen + 1)  # and a crashed write's next generation
            ]
            erased = sum(r.count for r in chunk)
            rest = head.model_copy(
                update={
                    "pages": head.pages[len(chunk) :],
                    "count": head.count - erased,
                    "version": head.version + 1,
                    "erasing": head.erasing + erased,
                }
            )
            await self._commit(ops, rest, etag, None)
            return None
        ids = [e.id for e in head.tail]
        emptied = MemoryHead(
            user_id=user_id,
            version=head.version + 1,
            forgotten_at=now,
            next_page=head.next_page,
        )
        ops = [StateOp(key=memory_key(user_id, i), operation="delete") for i in ids]
        orphans = MEMORY_PAGES.orphan_keys(user_id, head.pages, head.next_page)
        ops += [StateOp(key=k, operation="delete") for k in orphans]
        total = head.erasing + len(ids)
        projection = UserForgotten(
            user_id=user_id, forgotten_at=now, deleted=total, version=emptied.version
        )
        ops += self._head_ops(emptied, etag, EventType.user_forgotten, projection)
        await self._store.transact(ops)
        return total

    async def migrate(self, user_id: str) -> bool:
        """Convert a user's memories from the one-document index of earlier versions into
        pages (one transaction, announced as ``memory.index.updated``); False if there was
        nothing to convert."""

        async def attempt() -> bool:
            legacy = await self._store.get(LEGACY_INDEX.format(user=user_id))
            if legacy.value is None:
                return False
            head_entry = await self._store.get(head_key(user_id))
            ids = [str(e["id"]) for e in reversed(legacy.value.get("entries", []))]
            memories = sorted(await self.get_many_values(user_id, ids), key=raw_position)
            items = [page_item(m) for m in memories]
            sealed = list(MEMORY_PAGES.paginate(user_id, items, first_no=0))
            head = MemoryHead(
                user_id=user_id,
                version=int(legacy.value.get("version", 0)) + 1,
                count=len(memories),
                next_page=len(sealed),
                pages=[MEMORY_PAGES.ref(p) for p in sealed],
            )
            if head_entry.value is not None:  # a head from a crashed migration: replace it
                head = head.model_copy(
                    update={"version": MemoryHead.model_validate(head_entry.value).version + 1}
                )
            await self._save_pages(sealed)
            drop = StateOp(
                key=LEGACY_INDEX.format(user=user_id), operation="delete", etag=legacy.etag
            )
            await self._commit([drop], head, head_entry.etag, None)
            logger.info("migrated %d memories of %s to pages", len(memories), user_id)
            return True

        return await retry_on_conflict(attempt)

    async def apply(
        self,
        user_id: str,
        *,
        adds: Sequence[StoredMemory],
        changes: Sequence[Change],
        expected_version: int,
        not_after_forget_of: datetime | None = None,
        next_expiry: datetime | None = None,
        swept: bool = False,
    ) -> list[StoredMemory] | None:
        """Commit a consolidation in one transaction: the new memories ``adds`` (stamped to
        follow the user's newest, as ``add`` does) and the ``changes`` of existing ones
        (updates, or deletions when ``after`` is a tombstone), with the head. Returns the
        memories added, as stored; None when the user was forgotten after
        ``not_after_forget_of`` (nothing written).

        One attempt, no retry: raises ETagMismatch when the head is no longer at
        ``expected_version`` (the version the decision was made on) or a changed memory's
        document moved on; the caller decides again. Raises MemoryLimitReached.

        ``swept``: the caller deleted every expired memory and ``next_expiry`` is the earliest
        expiry of those left (else the head's is kept, or made earlier by these writes)."""
        head, etag = await self._head_for_write(user_id)
        if head.version != expected_version:
            raise ETagMismatch(f"memories of {user_id} changed since they were read")
        if (
            not_after_forget_of is not None
            and head.forgotten_at is not None
            and not_after_forget_of <= head.forgotten_at
        ):
            return None
        return await self._write(
            head, etag, adds=adds, changes=changes, next_expiry=next_expiry, swept=swept
        )

    async def _write(
        self,
        head: MemoryHead,
        etag: str,
        *,
        adds: Sequence[StoredMemory],
        changes: Sequence[Change],
        next_expiry: datetime | None = None,
        swept: bool = False,
    ) -> list[StoredMemory]:
        """The one write of memories: ``adds`` stamped to follow the user's newest and stored,
        ``changes`` applied where their memories are indexed (an update in place, a tombstone
        taken out), the pages rewritten or sealed as needed, and the head at ``etag`` moved on,
        all in one transaction whose operations the outbox announces. Returns the memories
        added, as stored. Raises MemoryLimitReached, ETagMismatch (through the store)."""
        user_id = head.user_id
        tail = list(head.tail)
        pages, next_page = list(head.pages), head.next_page
        saves: dict[str, Json] = {}
        deletes: list[str] = []
        removed = 0

        async def read(ref: PageRef) -> Json:  # pages written by this change first
            pending = saves.get(MEMORY_PAGES.ref_key(user_id, ref))
            if pending is not None:
                return pending
            (page,) = await self.read_pages(user_id, [ref])
            return page

        for change in changes:
            memory_id, after = str(change.before.id), change.after
            gone = after.deleted_at is not None
            at_tail = next((i for i, e in enumerate(tail) if e.id == memory_id), None)
            if at_tail is not None:
                tail[at_tail : at_tail + 1] = [] if gone else [entry_for(after)]
                removed += gone
                continue
            at = page_of(pages, position_of(change.before))
            if at is None:  # not indexed (a write cut short long ago): the document only
                logger.warning("memory %s of %s is in no page of its head", memory_id, user_id)
                continue
            removed += gone
            items = [page_item(m) for m in (await read(pages[at]))["items"] if m["id"] != memory_id]
            if not gone:
                items.append(page_item(after.model_dump(mode="json")))
                items.sort(key=raw_position)
            step = await MEMORY_PAGES.rewrite(user_id, pages, next_page, at, items, read)
            for key in step.deletes:
                if saves.pop(key, None) is None:  # a page this change wrote is never stored
                    deletes.append(key)
            saves.update((MEMORY_PAGES.save_key(p), p) for p in step.saves)
            pages, next_page = step.pages, step.next_page
        count = head.count - removed
        if count + len(adds) > self._max_per_user and adds:
            raise MemoryLimitReached(self._max_per_user)
        fresh = stamp(list(adds), head.latest())
        tail += [entry_for(m) for m in fresh]
        if len(tail) >= MEMORY_PAGES.max_entries:  # seal the tail into pages
            changed = {str(c.after.id): c.after.model_dump(mode="json") for c in changes}
            stored = {
                str(v["id"]): v
                for v in await self.get_many_values(
                    user_id, [e.id for e in tail if e.id not in changed]
                )
            }
            stored.update(changed)
            stored.update((str(m.id), m.model_dump(mode="json")) for m in fresh)
            sealed, left = MEMORY_PAGES.seal(
                user_id,
                [page_item(stored[e.id]) for e in tail if e.id in stored],
                pages=pages,
                next_page=next_page,
            )
            saves.update((MEMORY_PAGES.save_key(p), p) for p in sealed.saves)
            pages, next_page = sealed.pages, sealed.next_page
            remainder = {m["id"] for m in left}
            tail = [e for e in tail if e.id in remainder]
        written = [*fresh, *(c.after for c in changes if c.after.deleted_at is None)]
        new_head = head.model_copy(
            update={
                "version": head.version + 1,
                "count": count + len(fresh),
                "pages": pages,
                "next_page": next_page,
                "tail": tail,
                "next_expiry": (
                    head.model_copy(update={"next_expiry": next_expiry}) if swept else head
                ).expiring(written),
            }
        )
        ops = [self._memory_op(m, EventType.memory_created) for m in fresh]
        for change in changes:
            gone = change.after.deleted_at is not None
            ops.append(
                self._memory_op(
                    change.after,
                    EventType.memory_deleted if gone else EventType.memory_updated,
                    etag=change.etag,
                    ttl_seconds=self._tombstone_ttl if gone else None,
                )
            )
        step = PageChange(
            pages=pages, next_page=next_page, saves=list(saves.values()), deletes=deletes
        )
        await self._commit(ops, new_head, etag, step)
        return fresh

    async def read_stored(self, user_id: str, ids: Sequence[str]) -> dict[str, StoredMemory]:
        """The documents of ``ids`` that exist, live or tombstones, by id."""
        entries = await self._read_many([memory_key(user_id, i) for i in ids])
        stored = (StoredMemory.model_validate(e.value) for e in entries if e.value is not None)
        return {str(m.id): m for m in stored if m.user_id == user_id}

    async def read_for_change(
        self, user_id: str, ids: Sequence[str]
    ) -> dict[str, tuple[StoredMemory, str | None]]:
        """The live memories ``ids`` with their documents' ETags, by id (missing ones left
        out)."""
        entries = await self._read_many([memory_key(user_id, i) for i in ids])
        found: dict[str, tuple[StoredMemory, str | None]] = {}
        for entry in entries:
            memory = self._live(user_id, entry)
            if memory is not None:
                found[str(memory.id)] = (memory, entry.etag)
        return found

    # -- helpers -----------------------------------------------------------------------------
    def _live(self, user_id: str, entry: StateEntry) -> StoredMemory | None:
        if entry.value is None:
            return None
        memory = StoredMemory.model_validate(entry.value)
        return None if memory.deleted_at is not None or memory.user_id != user_id else memory

    async def _write_change(self, head: MemoryHead, etag: str | None, change: Change) -> None:
        """Write one memory's ``change`` with ``head`` as read with it (``etag`` None: a memory
        without a head, written by an earlier version's crash; the head is created)."""
        if etag is None:
            head, etag = await self._head_for_write(head.user_id)
        await self._write(head, etag, adds=[], changes=[change])

    async def _save_pages(self, pages: Sequence[Json]) -> None:
        """Write new page generations (last-write: a key left by a crashed write is reused)."""
        limit = asyncio.Semaphore(BULK_PARALLEL)

        async def save(page: Json) -> None:
            async with limit:
                await self._store.save(
                    MEMORY_PAGES.save_key(page),
                    page,
                    etag=None,
                    first_write=False,
                )

        await asyncio.gather(*(save(p) for p in pages))

    async def _commit(
        self,
        memory_ops: list[StateOp],
        head: MemoryHead,
        etag: str | None,
        change: PageChange | None,
    ) -> None:
        if change is not None:
            await self._save_pages(change.saves)
        deletes = [] if change is None else change.deletes
        projection = IndexUpdated(user_id=head.user_id, count=head.count, version=head.version)
        head_ops = self._head_ops(head, etag, EventType.index_updated, projection)
        delete_ops = [StateOp(key=k, operation="delete") for k in deletes]
        await self._store.transact([*memory_ops, *delete_ops, *head_ops])

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

    def _head_ops(
        self, head: MemoryHead, etag: str | None, event: EventType, projection: BaseModel
    ) -> list[StateOp]:
        """The head upsert and, last (daprd 1.18 takes one projection per transaction, and
        only safely as the last operation: docs/dapr-runtime.md), the projection the outbox
        publishes instead."""
        key = head_key(head.user_id)
        upsert = StateOp(
            key=key,
            value=head.model_dump(mode="json"),
            etag=etag,
            metadata={"type": event.value, "subject": head.user_id},
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


__all__ = ["Change", "IndexEntry", "LegacyLayout", "MemoryRepository", "PageMissing"]
