"""Memory domain logic: create, read, change, delete, list, search, forget, derive from turns."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Literal, TypeVar

import httpx
from threadpoolctl import threadpool_limits

from memory.core.exceptions import IdempotencyKeyReused, MemoryLimitReached
from memory.core.settings import MemorySettings
from memory.data.actors import CreateBatches, MemoryWriter
from memory.data.layout import MemoryHead
from memory.data.repository import MemoryRepository, PageMissing
from memory.models.events import ConversationTurn
from memory.models.memory import (
    BatchItemResult,
    ForgetResult,
    Memory,
    MemoryBatch,
    MemoryBatchItem,
    MemoryBatchResult,
    MemoryCreate,
    MemoryHistory,
    MemoryKind,
    MemoryOperation,
    MemoryPage,
    MemoryPatch,
    MemorySource,
    MemoryUpdate,
    SearchResults,
    SourceType,
    StoredEmbedding,
    StoredMemory,
)
from memory.services.consolidation import (
    CandidateMemory,
    ConsolidationRequest,
    ConsolidationResult,
    known_memories,
)
from memory.services.embedding import TextEmbedder, load_default_embedder
from memory.services.extraction import (
    FactExtractor,
    LLMFactExtractor,
    MalformedAnswer,
    RuleFactExtractor,
    derive,
)
from memory.services.facts import attribute_of
from memory.services.planner import LLMPlanner
from memory.services.search import (
    READ_ATTEMPTS,
    Segment,
    SegmentCache,
    SegmentReader,
    embed_contents,
    rank,
)
from sidecar.actors import ActorClient
from sidecar.concurrency import GroupedCalls
from sidecar.cursors import InvalidCursor, decode_cursor, encode_cursor
from sidecar.errors import ConcurrencyConflict
from sidecar.paging import Position
from sidecar.state import StateStore

logger = logging.getLogger(__name__)
T = TypeVar("T")


@lru_cache(maxsize=1)
def shared_embedder() -> TextEmbedder | None:
    """Load the embedding model once per process (about 0.4 s, 90 MB of weights)."""
    return load_default_embedder()


#: Threads for CPU-bound work (embedding, ranking, segment builds), each computing on its own
#: thread only (the encoder's ONNX Runtime session has one intra-op thread, OpenBLAS one
#: thread): two use both cores of the reference machine (docs/benchmarks.md); under the
#: Kubernetes limit of one CPU (k8s/base/memory) the second only overlaps the first's waits.
CPU_WORKERS = 2
#: Texts embedded in one call from which the call is split over the CPU workers.
SPLIT_EMBEDDING_AT = 32


@dataclass
class MemoryRuntime:
    """What the memory service keeps per process: none of it is state of record."""

    embedder: TextEmbedder | None
    batches: CreateBatches
    # A small pool for the CPU-bound numpy work (embedding, ranking, corpus builds): asyncio's
    # default pool (cores + 4 threads) let a burst of creates hold the GIL long enough for the
    # sidecar's health probe to time out, and Dapr then moved the app's actors away.
    cpu: ThreadPoolExecutor
    # Texts to embed that arrive together are embedded together (one forward pass).
    embeddings: GroupedCalls[None, str, StoredEmbedding | None]
    embed: Callable[[None, list[str]], Awaitable[list[StoredEmbedding | None]]]
    segments: SegmentCache
    extractor: FactExtractor
    #: Consolidation by the configured LLM (None: the rules decide).
    planner: LLMPlanner | None = None
    #: Sweeps of expired memories running in this process, by user.
    sweeps: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def reader(
        self, repository: MemoryRepository, *, migrate: Callable[[str], Awaitable[object]]
    ) -> SegmentReader:
        """A reader of users' segments over ``repository``, sharing this process's cache and
        CPU pool; ``migrate`` converts a user of an earlier layout (through the actor, or,
        in the actor, directly)."""
        return SegmentReader(
            repository, embedder=self.embedder, segments=self.segments, cpu=self.cpu,
            migrate=migrate,
        )  # fmt: skip

    @classmethod
    def create(
        cls,
        settings: MemorySettings,
        *,
        embedder: TextEmbedder | Literal["default"] | None = "default",
    ) -> MemoryRuntime:
        """``embedder="default"`` loads the bundled model (None when it is not installed);
        tests pass their own, or None for keyword-only search."""
        extractor: FactExtractor = RuleFactExtractor()
        if settings.openai_api_key is not None:
            http = httpx.AsyncClient(
                base_url=settings.openai_base_url or "https://api.openai.com/v1",
                headers={"Authorization": f"Bearer {settings.openai_api_key.get_secret_value()}"},
                timeout=httpx.Timeout(20.0),
            )
            extractor = LLMFactExtractor(http, model=settings.extraction_model)
        model = shared_embedder() if embedder == "default" else embedder
        planner = (
            None if settings.openai_api_key is None
            else LLMPlanner(http, model=settings.extraction_model, embedder=model)
        )  # fmt: skip
        # One BLAS thread per caller (the ranking's matrix products): the pool's two workers
        # are the parallelism. OpenBLAS
        # otherwise starts a thread per core for every matmul and spins them while it waits;
        # with two workers, two replicas and daprd on 2 cores, 150 texts took 123 s instead
        # of 3 s (docs/benchmarks.md, "BLAS threads").
        threadpool_limits(limits=1, user_api="blas")
        cpu = ThreadPoolExecutor(max_workers=CPU_WORKERS, thread_name_prefix="memory-cpu")

        async def embed(_: None, contents: list[str]) -> list[StoredEmbedding | None]:
            # Texts that arrived together are one call (GroupedCalls); a large group is split
            # over the pool's workers, or an import would run on one core: every `i::n` share
            # has texts of every length, so the shares take about as long.
            loop = asyncio.get_running_loop()
            shares = CPU_WORKERS if len(contents) >= SPLIT_EMBEDDING_AT else 1
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(cpu, embed_contents, model, contents[i::shares])
                    for i in range(shares)
                )
            )
            embedded: list[StoredEmbedding | None] = [None] * len(contents)
            for i, part in enumerate(parts):
                embedded[i::shares] = part
            return embedded

        return cls(
            embedder=model,
            batches=CreateBatches(),
            cpu=cpu,
            embeddings=GroupedCalls(),
            embed=embed,
            segments=SegmentCache(settings.search_cache_memories),
            extractor=extractor,
            planner=planner,
        )


# Ids of memories created with an Idempotency-Key: uuid5(this, "<user>\n<key>").
IDEMPOTENCY_NAMESPACE = uuid.UUID("7d1f3c52-3f0e-4a51-9a7c-6b0f1f1e2d3c")


#: Pages read (and built into segments) together while a filtered list scans older pages.
LIST_PAGES_AT_ONCE = 4


def encode_list_cursor(position: Position) -> str:
    return encode_cursor({"t": position[0].isoformat(), "i": position[1]})


def decode_list_cursor(cursor: str) -> Position:
    """The position a list cursor continues after. Raises InvalidCursor."""
    fields = decode_cursor(cursor)
    try:
        return datetime.fromisoformat(fields["t"]), str(fields["i"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc


def memory_repository(store: StateStore, settings: MemorySettings) -> MemoryRepository:
    """The repository over the app's store, as both the service (reads) and the user actors
    (writes) use it."""
    return MemoryRepository(
        store,
        max_per_user=settings.max_memories_per_user,
        tombstone_ttl_seconds=settings.tombstone_ttl_seconds,
        outbox=settings.outbox_enabled,
    )


class MemoryService:
    """Reads go straight to the store; writes go through the user's actor (``MemoryWriter``),
    which serializes them across replicas."""

    def __init__(
        self,
        *,
        store: StateStore,
        settings: MemorySettings,
        runtime: MemoryRuntime,
        actors: ActorClient,
    ) -> None:
        self._settings = settings
        self._runtime = runtime
        self._repository = memory_repository(store, settings)
        self._writer = MemoryWriter(
            actors, max_per_user=settings.max_memories_per_user, batches=runtime.batches
        )
        self._reader = runtime.reader(self._repository, migrate=self._writer.migrate)

    # -- single memories ---------------------------------------------------------------------
    async def create(
        self, *, user_id: str, data: MemoryCreate, idempotency_key: str | None = None
    ) -> tuple[Memory, MemoryOperation, bool]:
        """Store a new memory: the memory as stored, what consolidation did (a fact may be
        known already, ``noop``, or a new value of one, ``update``: docs/memory.md), and
        whether this request did it (False for a replay).

        With an ``idempotency_key`` the id is derived from it, so a repeated request (a retry
        after a timeout, by the caller or by its sidecar) returns the memory the first one
        stored instead of storing it again. Reusing a key for another body, or after that
        memory was deleted, is refused (IdempotencyKeyReused). Facts (``semantic``) are
        consolidated with the user's memories; episodes and procedures are stored as given.
        """
        memory_id = (
            uuid.uuid4()
            if idempotency_key is None
            else uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}\n{idempotency_key}")
        )
        (embedding,) = await self._embed([data.content])
        parsed = attribute_of(data.content) if data.kind is MemoryKind.semantic else None
        memory = self._new(
            user_id, memory_id=memory_id, kind=data.kind, content=data.content,
            tags=data.tags, source=data.source, embedding=embedding,
            attribute=None if parsed is None else parsed[0], expires_at=data.expires_at,
        )  # fmt: skip
        if data.kind is MemoryKind.semantic:
            candidate = CandidateMemory(memory=memory, value=None if parsed is None else parsed[1])
            result = await self._consolidate(user_id, ConsolidationRequest(candidates=[candidate]))
            outcome = next(
                o for o in result.outcomes
                if o.candidate == str(memory_id) and o.operation is not MemoryOperation.delete
            )  # fmt: skip
            if not outcome.replayed and outcome.memory is not None:
                return outcome.memory.public(), outcome.operation, True
            existing = outcome.memory
        else:
            written = await self._writer.add(user_id, [memory])
            if written:
                return written[0].public(), MemoryOperation.add, True
            existing = await self._repository.get(user_id, str(memory_id))
        if existing is None:
            raise IdempotencyKeyReused(
                "this Idempotency-Key stored a memory that was deleted since"
            )
        if existing.id == memory_id and (existing.kind, existing.content, existing.tags) != (
            data.kind, data.content, data.tags,
        ):  # fmt: skip
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different memory")
        operation = MemoryOperation.add if existing.id == memory_id else MemoryOperation.noop
        return existing.public(), operation, False

    async def history(self, *, user_id: str, memory_id: uuid.UUID) -> MemoryHistory | None:
        """The versions of a live memory's content, oldest first; None if there is none."""
        memory = await self._live(user_id, memory_id)
        if memory is None:
            return None
        return MemoryHistory(user_id=user_id, memory_id=memory.id, versions=memory.versions())

    async def get(self, *, user_id: str, memory_id: uuid.UUID) -> Memory | None:
        memory = await self._live(user_id, memory_id)
        return None if memory is None else memory.public()

    async def _live(self, user_id: str, memory_id: uuid.UUID) -> StoredMemory | None:
        """The memory, unless it is absent, deleted, another user's or expired."""
        memory = await self._repository.get(user_id, str(memory_id))
        return None if memory is None or memory.expired(datetime.now(UTC)) else memory

    async def update(
        self, *, user_id: str, memory_id: uuid.UUID, data: MemoryUpdate
    ) -> Memory | None:
        new_embedding = None
        if data.content is not None:
            (new_embedding,) = await self._embed([data.content])
        parsed = None if data.content is None else attribute_of(data.content)
        patch = MemoryPatch(
            kind=data.kind,
            content=data.content,
            tags=data.tags,
            embedding=new_embedding,
            attribute=None if parsed is None else parsed[0],
            expires_at=data.expires_at,
            expiry_given="expires_at" in data.model_fields_set,
            updated_at=datetime.now(UTC),
        )
        updated = await self._writer.update(user_id, str(memory_id), patch)
        return None if updated is None else updated.public()

    async def delete(self, *, user_id: str, memory_id: uuid.UUID) -> bool:
        return await self._writer.delete(user_id, str(memory_id), now=datetime.now(UTC))

    async def forget(self, *, user_id: str) -> ForgetResult:
        deleted = await self._writer.forget(user_id, now=datetime.now(UTC))
        return ForgetResult(user_id=user_id, deleted=deleted)

    # -- collections -------------------------------------------------------------------------
    async def list_page(
        self,
        *,
        user_id: str,
        limit: int,
        kind: MemoryKind | None = None,
        tags: Sequence[str] = (),
        cursor: str | None = None,
    ) -> MemoryPage:
        """The newest memories matching ``kind`` and every tag, older than ``cursor``: the
        tail from the head, then sealed pages newest first (cached segments) until the page
        is full."""
        after = None if cursor is None else decode_list_cursor(cursor)
        now = datetime.now(UTC)

        def matches(position: Position, memory_kind: str, memory_tags: Sequence[str]) -> bool:
            return (
                (after is None or position < after)
                and (kind is None or memory_kind == kind)
                and all(t in memory_tags for t in tags)
            )

        for _ in range(READ_ATTEMPTS):
            head = await self._reader.head(user_id)
            self._sweep_if_due(head, now)
            picked: list[tuple[Position, str | tuple[Segment, int]]] = []
            for entry in reversed(head.tail):
                if len(picked) > limit:
                    break
                current = entry.expires_at is None or entry.expires_at > now
                if current and matches(entry.position, entry.kind, entry.tags):
                    picked.append((entry.position, entry.id))
            older = [r for r in reversed(head.pages) if after is None or r.first_position < after]
            try:
                while len(picked) <= limit and older:
                    group, older = older[:LIST_PAGES_AT_ONCE], older[LIST_PAGES_AT_ONCE:]
                    for segment in await self._reader.page_segments(user_id, group):
                        live = segment.live(now.timestamp())
                        for row in range(len(segment) - 1, -1, -1):
                            position = segment.positions[row]
                            if live[row] and matches(
                                position, segment.kinds[row], segment.tags[row]
                            ):
                                picked.append((position, (segment, row)))
            except PageMissing:
                continue
            break
        else:
            raise ConcurrencyConflict("memories kept changing while they were listed")
        page = picked[:limit]
        tail_ids = [item for _, item in page if isinstance(item, str)]
        docs = {
            str(v["id"]): Memory.model_validate(v)
            for v in await self._repository.get_many_values(user_id, tail_ids)
        }
        items = [
            docs.get(item) if isinstance(item, str) else item[0].memory(item[1]) for _, item in page
        ]
        return MemoryPage(
            user_id=user_id,
            items=[m for m in items if m is not None],
            next_cursor=encode_list_cursor(page[-1][0]) if len(picked) > limit else None,
            total=head.count,
        )

    async def search(self, *, user_id: str, query: str, k: int) -> SearchResults:
        """The ``k`` memories that best match ``query``. Reads the head (is the cache
        current?), then only what changed since: pages by key, the tail by version. The
        query is embedded meanwhile, on the CPU pool."""
        embedder = self._runtime.embedder
        query_vector = (
            None if embedder is None
            else asyncio.ensure_future(self._reader.on_cpu(lambda: embedder.embed([query])[0]))
        )  # fmt: skip
        try:
            head, segments = await self._reader.everything(user_id)
            self._sweep_if_due(head, datetime.now(UTC))
            vector = None if query_vector is None else await query_vector
        finally:
            if query_vector is not None and not query_vector.done():
                query_vector.cancel()
        ranking = partial(
            rank,
            query_vector=vector,
            k=k,
            semantic_weight=self._settings.search_semantic_weight,
            episode_weight=self._settings.search_episode_weight,
            now=datetime.now(UTC).timestamp(),
        )
        hits = await self._reader.on_cpu(ranking, query, segments)
        mode = "keyword" if self._runtime.embedder is None else "semantic+keyword"
        return SearchResults(user_id=user_id, query=query, mode=mode, hits=hits)

    # -- bulk import ---------------------------------------------------------------------------
    async def import_batch(self, *, user_id: str, batch: MemoryBatch) -> MemoryBatchResult:
        """Store up to 500 memories in order, in as few transactions as fit (each memory still
        announced as its own ``memory.created``). Idempotent per item (see MemoryBatchItem);
        over the user's cap, what fits is stored and the rest refused."""
        items = batch.items
        embeddings = await self._embed([i.content for i in items])
        memories = [
            self._new(
                user_id, memory_id=self._batch_id(user_id, item), kind=item.kind,
                content=item.content, tags=item.tags, source=item.source, embedding=embedding,
                expires_at=item.expires_at, attribute=self._attribute(item.kind, item.content),
            )
            for item, embedding in zip(items, embeddings, strict=True)
        ]  # fmt: skip
        outcomes = await self._writer.add_each(user_id, memories)
        replayed = [str(m.id) for m, o in zip(memories, outcomes, strict=True) if o is None]
        existing = {str(m.id): m for m in await self._repository.get_many(user_id, replayed)}
        results: list[BatchItemResult] = []
        for item, memory, outcome in zip(items, memories, outcomes, strict=True):
            if isinstance(outcome, StoredMemory):
                results.append(BatchItemResult(status="created", memory=outcome.public()))
            elif isinstance(outcome, MemoryLimitReached):
                results.append(
                    BatchItemResult(
                        status="refused", error="memory_limit_reached", detail=str(outcome)
                    )
                )
            else:
                results.append(self._replay(item, existing.get(str(memory.id))))
        created = sum(r.status == "created" for r in results)
        return MemoryBatchResult(user_id=user_id, created=created, items=results)

    @staticmethod
    def _batch_id(user_id: str, item: MemoryBatchItem) -> uuid.UUID:
        key = item.idempotency_key
        if key is None:
            body = json.dumps([item.kind, item.content, item.tags], ensure_ascii=False)
            key = "content:" + hashlib.sha256(body.encode()).hexdigest()
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}\n{key}")

    @staticmethod
    def _replay(item: MemoryBatchItem, existing: StoredMemory | None) -> BatchItemResult:
        if existing is None:
            detail = "this idempotency_key stored a memory that was deleted since"
        elif (existing.kind, existing.content, existing.tags) != (
            item.kind, item.content, item.tags,
        ):  # fmt: skip
            detail = "this idempotency_key was used with a different memory"
        else:
            return BatchItemResult(status="existing", memory=existing.public())
        return BatchItemResult(status="refused", error="idempotency_key_reused", detail=detail)

    # -- conversation turns ------------------------------------------------------------------
    async def remember_turn(self, turn: ConversationTurn) -> list[Memory]:
        """Consolidate what a finished turn teaches into the user's memories (in the user's
        actor, one transaction); return the memories added or changed. A redelivered turn
        changes nothing: its episode's id marks it applied. A turn without an episode (its
        message said nothing about the user) has no such mark: each memory it derives is kept
        once by its id, or counted once in the memory it merged with (``absorbed``)."""
        derived = await derive(turn, self._runtime.extractor)
        if not derived:
            return []  # nothing about the user, no tool that changed anything
        source = MemorySource(
            type=SourceType.conversation, session_id=turn.session_id, turn_id=turn.turn_id
        )
        embeddings = await self._embed([d.content for d in derived])
        candidates = [
            CandidateMemory(
                memory=self._new(
                    turn.user_id, memory_id=d.memory_id(turn.turn_id), kind=d.kind,
                    content=d.content, tags=list(d.tags), source=source, embedding=e,
                    attribute=d.attribute,
                ),
                value=d.value,
                retract=d.retract,
                forget=d.forget,
                said_at=turn.completed_at,
            )
            for d, e in zip(derived, embeddings, strict=True)
        ]  # fmt: skip
        request = ConsolidationRequest(
            candidates=candidates,
            marker=next(
                (str(d.memory_id(turn.turn_id)) for d in derived if d.slot == "episode"), None
            ),
            not_after_forget_of=turn.completed_at,
        )
        if self._runtime.planner is not None:
            request = await self._planned(turn, request, self._runtime.planner)
        result = await self._consolidate(turn.user_id, request)
        return [
            o.memory.public()
            for o in result.outcomes
            if o.memory is not None and not o.replayed
            and o.operation in (MemoryOperation.add, MemoryOperation.update)
        ]  # fmt: skip

    async def _planned(
        self, turn: ConversationTurn, request: ConsolidationRequest, planner: LLMPlanner
    ) -> ConsolidationRequest:
        """``request`` with the LLM's plan and the head version it saw, or unchanged when the
        model fails (the rules decide then; logged)."""
        try:
            head, segments = await self._reader.everything(turn.user_id)
            known = await self._reader.on_cpu(
                known_memories,
                segments,
                datetime.now(UTC).timestamp(),
                planner.candidates(request.candidates),
            )
            plan = await planner.plan(request.candidates, known)
        except (httpx.HTTPError, MalformedAnswer) as exc:
            logger.warning(
                "consolidation by the LLM failed for turn %s, the rules decide: %s",
                turn.turn_id,
                exc,
            )
            return request
        return request.model_copy(update={"plan": plan, "based_on": head.version})

    def _sweep_if_due(self, head: MemoryHead, now: datetime) -> None:
        """Start the sweep of the user's expired memories (in the user's actor, in the
        background, once per process at a time) when one is due. Reads leave expired
        memories out meanwhile."""
        due = head.next_expiry is not None and head.next_expiry <= now
        sweeps = self._runtime.sweeps
        if not due or head.user_id in sweeps:
            return

        async def sweep() -> None:
            try:
                await self._consolidate(head.user_id, ConsolidationRequest(candidates=[]))
            except Exception as exc:  # the next read tries again
                logger.warning("sweeping %s failed: %r", head.user_id, exc)
            finally:
                sweeps.pop(head.user_id, None)

        sweeps[head.user_id] = asyncio.create_task(sweep())

    async def sweep(self, *, user_id: str) -> ConsolidationResult:
        """Delete the user's expired memories now (each announced as ``memory.deleted``)."""
        return await self._consolidate(user_id, ConsolidationRequest(candidates=[]))

    async def _consolidate(
        self, user_id: str, request: ConsolidationRequest
    ) -> ConsolidationResult:
        answer = await self._writer.consolidate(user_id, request.model_dump(mode="json"))
        return ConsolidationResult.model_validate(answer)

    @staticmethod
    def _attribute(kind: MemoryKind, content: str) -> str | None:
        """The attribute a fact's sentence sets (memory.services.facts), kept with it."""
        parsed = attribute_of(content) if kind is MemoryKind.semantic else None
        return None if parsed is None else parsed[0]

    async def _embed(self, contents: Sequence[str]) -> list[StoredEmbedding | None]:
        return await self._runtime.embeddings(None, list(contents), self._runtime.embed)

    def _new(
        self,
        user_id: str,
        *,
        memory_id: uuid.UUID,
        kind: MemoryKind,
        content: str,
        tags: list[str],
        source: MemorySource,
        embedding: StoredEmbedding | None,
        attribute: str | None = None,
        expires_at: datetime | None = None,
    ) -> StoredMemory:
        now = datetime.now(UTC)
        return StoredMemory(
            id=memory_id, user_id=user_id, kind=kind, content=content, tags=tags,
            source=source, created_at=now, updated_at=now, version=1, embedding=embedding,
            attribute=attribute, expires_at=expires_at,
        ).with_history()  # fmt: skip
