"""One Dapr actor per user serializes every write to that user's memories, across replicas.

``MemoryUser`` (actor id: the user id) runs the repository's writes (add, update, delete,
forget) one at a time, on whichever replica Dapr placed it: concurrent creates for one user,
from any replica, reach the store one after another and never collide on the index ETag, so
they never leave an orphaned outbox message behind (docs/architecture.md). Reads do not go
through the actor.

``MemoryWriter`` is the caller's side: the same four writes, as actor calls. Creates that
arrive together in one process for one user travel together (``CreateBatches``, a
``GroupedCalls`` per user): while one ``add`` for the user is in flight, the next ones wait and
then go as one call and one transaction, so a burst of creates costs a few actor turns.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dapr.actor import Actor, ActorInterface
from dapr.actor.runtime.context import ActorRuntimeContext

from memory.core.exceptions import MemoryLimitReached
from memory.data.repository import MemoryRepository
from memory.models.memory import MemoryPatch, StoredMemory
from sidecar.actors import ACTOR_ERRORS, ActorClient, actor_method, actor_reply
from sidecar.concurrency import GroupedCalls

logger = logging.getLogger(__name__)

ACTOR_TYPE = "MemoryUser"  # the class name below: Dapr names actor types after the class
#: Memories per ``add`` call (one transaction): 100 memories are ~250 KB and 101 outbox
#: messages. An import of 300 in one transaction took over 10 s on SQLite while the outbox's
#: own marker writes contended for the database (tests/integration/test_storage.py, in CI).
ADD_CHUNK = 100
#: A call waits in the user's actor queue behind the calls before it: bounded below the
#: 30 s per-attempt timeout of memory calls (components/common/resiliency.yaml), so the
#: caller's sidecar never retries a write that is still queued.
ACTOR_CALL_SECONDS = 25.0
_DOMAIN_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (MemoryLimitReached, "memory_limit_reached"),
)


class MemoryUserInterface(ActorInterface):
    """The methods of the ``MemoryUser`` actor; each takes and answers a JSON object."""

    @actor_method("add")
    @abstractmethod
    async def add(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("update")
    @abstractmethod
    async def update(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("delete")
    @abstractmethod
    async def delete(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("forget")
    @abstractmethod
    async def forget(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("migrate")
    @abstractmethod
    async def migrate(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("consolidate")
    @abstractmethod
    async def consolidate(self, request: dict[str, Any]) -> dict[str, Any]: ...


#: Consolidation as the actor runs it: (user id, request JSON) → result JSON
#: (memory.services.consolidation.Consolidator, injected: the data layer does not decide).
Consolidate = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class MemoryUser(Actor, MemoryUserInterface):
    """The writer of one user's memories (the actor id is the user id). Keeps no state of its
    own: everything is in ``memory-state``."""

    def __init__(
        self,
        ctx: ActorRuntimeContext,
        actor_id: Any,
        *,
        repository: MemoryRepository,
        consolidate: Consolidate | None = None,
    ) -> None:
        super().__init__(ctx, actor_id)
        self._repository = repository
        self._consolidate = consolidate
        self._user_id: str = actor_id.id

    async def add(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"memories": [StoredMemory], "not_after_forget_of": time | null}`` → the
        memories written, as stored (existing ids are skipped)."""

        async def work() -> list[dict[str, Any]]:
            memories = [StoredMemory.model_validate(m) for m in request["memories"]]
            cutoff = request.get("not_after_forget_of")
            written = await self._repository.add(
                self._user_id,
                memories,
                not_after_forget_of=None if cutoff is None else datetime.fromisoformat(cutoff),
            )
            return [m.model_dump(mode="json") for m in written]

        return await actor_reply(work(), _DOMAIN_ERRORS)

    async def update(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"memory_id", "patch": MemoryPatch}`` → the updated memory, or null."""

        async def work() -> dict[str, Any] | None:
            patch = MemoryPatch.model_validate(request["patch"])
            updated = await self._repository.update(self._user_id, request["memory_id"], patch)
            return None if updated is None else updated.model_dump(mode="json")

        return await actor_reply(work(), _DOMAIN_ERRORS)

    async def delete(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"memory_id", "now"}`` → whether a live memory was deleted."""
        now = datetime.fromisoformat(request["now"])
        return await actor_reply(
            self._repository.delete(self._user_id, request["memory_id"], now=now), _DOMAIN_ERRORS
        )

    async def forget(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"now"}`` → how many memories were deleted."""
        now = datetime.fromisoformat(request["now"])
        return await actor_reply(self._repository.forget(self._user_id, now=now), _DOMAIN_ERRORS)

    async def migrate(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{}`` → whether the user's memories were converted from the layout of earlier
        versions (memory.data.repository.MemoryRepository.migrate)."""
        return await actor_reply(self._repository.migrate(self._user_id), _DOMAIN_ERRORS)

    async def consolidate(self, request: dict[str, Any]) -> dict[str, Any]:
        """A ``ConsolidationRequest`` → its ``ConsolidationResult``: the decisions for new
        memories against the user's, committed in one transaction
        (memory.services.consolidation)."""
        if self._consolidate is None:
            raise RuntimeError("this app registered MemoryUser without consolidation")
        return await actor_reply(self._consolidate(self._user_id, request), _DOMAIN_ERRORS)


def memory_actor_factory(
    repository: MemoryRepository, consolidate: Consolidate | None = None
) -> Callable[[ActorRuntimeContext, Any], Actor]:
    """What the app registers: every ``MemoryUser`` activation gets the app's repository
    and its consolidation."""

    def build(ctx: ActorRuntimeContext, actor_id: Any) -> Actor:
        return MemoryUser(ctx, actor_id, repository=repository, consolidate=consolidate)

    return build


#: Group commit of one process's concurrent creates, per user (an optimisation: the user's
#: actor is what serializes them): each memory's outcome, written (the memory as stored),
#: found stored already (None), or the error that refused it.
CreateBatches = GroupedCalls[str, StoredMemory, "StoredMemory | MemoryLimitReached | None"]


class MemoryWriter:
    """The writes of ``MemoryRepository``, made by the user's actor (from any replica)."""

    def __init__(
        self,
        actors: ActorClient,
        *,
        max_per_user: int,
        batches: CreateBatches | None = None,
    ) -> None:
        self._actors = actors
        self._batches = batches
        self._errors: Mapping[str, Callable[[str], Exception]] = {
            **ACTOR_ERRORS,
            "memory_limit_reached": lambda _: MemoryLimitReached(max_per_user),
        }

    async def _call(self, user_id: str, method: str, payload: dict[str, Any]) -> Any:
        return await self._actors.call(
            ACTOR_TYPE,
            user_id,
            method,
            payload,
            errors=self._errors,
            timeout_seconds=ACTOR_CALL_SECONDS,
        )

    async def add(
        self,
        user_id: str,
        memories: Sequence[StoredMemory],
        *,
        not_after_forget_of: datetime | None = None,
    ) -> list[StoredMemory]:
        """Store new memories in one transaction; return those written, as stored (see
        ``MemoryRepository.add``). Raises MemoryLimitReached, ConcurrencyConflict,
        StateStoreUnavailable, ActorCallFailed."""
        if not_after_forget_of is None and self._batches is not None:
            outcomes = await self._batches(user_id, list(memories), self._add_batch)
            refused = next((o for o in outcomes if isinstance(o, MemoryLimitReached)), None)
            if refused is not None:
                raise refused
            return [o for o in outcomes if isinstance(o, StoredMemory)]
        written = await self._send_add(user_id, list(memories), not_after_forget_of)
        return [written[str(m.id)] for m in memories if str(m.id) in written]

    async def add_each(
        self, user_id: str, memories: Sequence[StoredMemory]
    ) -> list[StoredMemory | MemoryLimitReached | None]:
        """Store a batch (an import): each memory's outcome, written (as stored), stored
        already (None), or refused because the user's cap was reached (what fits is stored)."""
        return await self._add_batch(user_id, list(memories))

    async def _add_batch(
        self, user_id: str, memories: list[StoredMemory]
    ) -> list[StoredMemory | MemoryLimitReached | None]:
        """One transaction for a batch of creates (``ADD_CHUNK`` at most: a larger batch goes
        as several, one after another). Two creates with one Idempotency-Key carry one id: it
        is sent once and counts as written for the first (the other then answers as a replay,
        as it would have alone). A batch over the cap is retried in halves, so what fits is
        stored."""
        if len(memories) > ADD_CHUNK:
            return [
                outcome
                for start in range(0, len(memories), ADD_CHUNK)
                for outcome in await self._add_batch(user_id, memories[start : start + ADD_CHUNK])
            ]
        unique = list({str(m.id): m for m in memories}.values())
        try:
            written = await self._send_add(user_id, unique)
        except MemoryLimitReached as exc:
            if len(memories) == 1:
                return [exc]
            half = len(memories) // 2  # what fits is stored: halve until it does
            return [
                *await self._add_batch(user_id, memories[:half]),
                *await self._add_batch(user_id, memories[half:]),
            ]
        outcomes: list[StoredMemory | MemoryLimitReached | None] = []
        for memory in memories:
            outcomes.append(written.pop(str(memory.id), None))
        return outcomes

    async def _send_add(
        self,
        user_id: str,
        memories: list[StoredMemory],
        not_after_forget_of: datetime | None = None,
    ) -> dict[str, StoredMemory]:
        written = await self._call(
            user_id,
            "add",
            {
                "memories": [m.model_dump(mode="json") for m in memories],
                "not_after_forget_of": (
                    None if not_after_forget_of is None else not_after_forget_of.isoformat()
                ),
            },
        )
        stored = (StoredMemory.model_validate(m) for m in written)
        return {str(m.id): m for m in stored}

    async def update(self, user_id: str, memory_id: str, patch: MemoryPatch) -> StoredMemory | None:
        """The memory after ``patch``, or None if there is no live memory with that id."""
        updated = await self._call(
            user_id, "update", {"memory_id": memory_id, "patch": patch.model_dump(mode="json")}
        )
        return None if updated is None else StoredMemory.model_validate(updated)

    async def delete(self, user_id: str, memory_id: str, *, now: datetime) -> bool:
        """Tombstone the memory; False if there was no live memory with that id."""
        return bool(
            await self._call(user_id, "delete", {"memory_id": memory_id, "now": now.isoformat()})
        )

    async def forget(self, user_id: str, *, now: datetime) -> int:
        """Delete every memory of the user; return how many."""
        return int(await self._call(user_id, "forget", {"now": now.isoformat()}))

    async def migrate(self, user_id: str) -> bool:
        """Convert the user's memories from the layout of earlier versions, if needed."""
        return bool(await self._call(user_id, "migrate", {}))

    async def consolidate(self, user_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """Consolidate new memories of the user (a ``ConsolidationRequest`` as JSON) in the
        user's actor; the ``ConsolidationResult`` as JSON. Raises MemoryLimitReached,
        ConcurrencyConflict, StateStoreUnavailable, ActorCallFailed."""
        result: dict[str, Any] = await self._call(user_id, "consolidate", request)
        return result
