"""Memory domain logic: create, read, change, delete, list, search, forget, derive from turns."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, Literal, TypeVar

import httpx

from memory.core.exceptions import IdempotencyKeyReused, InvalidCursor
from memory.core.settings import MemorySettings
from memory.data.actors import CreateBatches, MemoryWriter
from memory.data.repository import IndexEntry, MemoryRepository
from memory.models.events import ConversationTurn
from memory.models.memory import (
    ForgetResult,
    Memory,
    MemoryCreate,
    MemoryKind,
    MemoryPage,
    MemoryPatch,
    MemorySource,
    MemoryUpdate,
    SearchResults,
    SourceType,
    StoredEmbedding,
    StoredMemory,
)
from memory.services.embedding import TextEmbedder, load_default_embedder
from memory.services.extraction import (
    FactExtractor,
    LLMFactExtractor,
    RuleFactExtractor,
    derive,
)
from memory.services.search import (
    CorpusCache,
    embed_contents,
    rank,
    refresh_corpus,
    stale_ids,
)
from sidecar.actors import ActorClient
from sidecar.concurrency import GroupedCalls
from sidecar.state import StateStore

logger = logging.getLogger(__name__)
T = TypeVar("T")


@lru_cache(maxsize=1)
def shared_embedder() -> TextEmbedder | None:
    """Load the embedding model once per process (about 0.4 s, 90 MB of weights)."""
    return load_default_embedder()


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
    corpora: CorpusCache
    extractor: FactExtractor

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
        cpu = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memory-cpu")

        async def embed(_: None, contents: list[str]) -> list[StoredEmbedding | None]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(cpu, embed_contents, model, contents)

        return cls(
            embedder=model,
            batches=CreateBatches(),
            cpu=cpu,
            embeddings=GroupedCalls(),
            embed=embed,
            corpora=CorpusCache(settings.search_cache_users),
            extractor=extractor,
        )


# Ids of memories created with an Idempotency-Key: uuid5(this, "<user>\n<key>").
IDEMPOTENCY_NAMESPACE = uuid.UUID("7d1f3c52-3f0e-4a51-9a7c-6b0f1f1e2d3c")


def encode_cursor(entry: IndexEntry) -> str:
    raw = json.dumps({"t": entry.created_at.isoformat(), "i": entry.id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        return datetime.fromisoformat(data["t"]), str(data["i"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
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

    # -- single memories ---------------------------------------------------------------------
    async def create(
        self, *, user_id: str, data: MemoryCreate, idempotency_key: str | None = None
    ) -> tuple[Memory, bool]:
        """Store a new memory; return it and whether it was created now.

        With an ``idempotency_key`` the id is derived from it, so a repeated request (a retry
        after a timeout, by the caller or by its sidecar) returns the memory the first one
        stored instead of storing it twice. Reusing a key for another body, or after that
        memory was deleted, is refused.
        """
        memory_id = (
            uuid.uuid4()
            if idempotency_key is None
            else uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}\n{idempotency_key}")
        )
        (embedding,) = await self._embed([data.content])
        memory = self._new(
            user_id, memory_id=memory_id, kind=data.kind, content=data.content,
            tags=data.tags, source=data.source, embedding=embedding,
        )  # fmt: skip
        if await self._writer.add(user_id, [memory]):
            return memory.public(), True
        existing = await self._repository.get(user_id, str(memory_id))
        if existing is None:
            raise IdempotencyKeyReused(
                "this Idempotency-Key stored a memory that was deleted since"
            )
        if (existing.kind, existing.content, existing.tags) != (data.kind, data.content, data.tags):
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different memory")
        return existing.public(), False

    async def get(self, *, user_id: str, memory_id: uuid.UUID) -> Memory | None:
        memory = await self._repository.get(user_id, str(memory_id))
        return None if memory is None else memory.public()

    async def update(
        self, *, user_id: str, memory_id: uuid.UUID, data: MemoryUpdate
    ) -> Memory | None:
        new_embedding = None
        if data.content is not None:
            (new_embedding,) = await self._embed([data.content])
        patch = MemoryPatch(
            kind=data.kind,
            content=data.content,
            tags=data.tags,
            embedding=new_embedding,
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
        index, _ = await self._repository.read_index(user_id)
        entries = [
            e for e in index.entries
            if (kind is None or e.kind == kind) and all(t in e.tags for t in tags)
        ]  # fmt: skip
        if cursor is not None:
            after = decode_cursor(cursor)
            entries = [e for e in entries if (e.created_at, e.id) < after]
        page = entries[:limit]
        memories = await self._repository.get_many(user_id, [e.id for e in page])
        next_cursor = encode_cursor(page[-1]) if len(entries) > limit else None
        return MemoryPage(
            user_id=user_id,
            items=[m.public() for m in memories],
            next_cursor=next_cursor,
            total=len(index.entries),
        )

    async def search(self, *, user_id: str, query: str, k: int) -> SearchResults:
        corpora = self._runtime.corpora
        index, _ = await self._repository.read_index(user_id)
        async with corpora.lock(user_id):  # one build per user at a time; others reuse it
            corpus = corpora.peek(user_id)
            if corpus is None or corpus.version != index.version:
                wanted = {e.id: e.version for e in index.entries}
                loaded = await self._repository.get_many(user_id, stale_ids(corpus, wanted))
                # Decoding and embedding are CPU-bound numpy: off the event loop.
                corpus = await self._on_cpu(
                    refresh_corpus, corpus, index.version, wanted, loaded, self._runtime.embedder
                )
                corpora.put(user_id, corpus)
        ranking = partial(
            rank,
            embedder=self._runtime.embedder,
            k=k,
            semantic_weight=self._settings.search_semantic_weight,
        )
        hits = await self._on_cpu(ranking, query, corpus)
        mode = "keyword" if self._runtime.embedder is None else "semantic+keyword"
        return SearchResults(user_id=user_id, query=query, mode=mode, hits=hits)

    # -- conversation turns ------------------------------------------------------------------
    async def remember_turn(self, turn: ConversationTurn) -> list[Memory]:
        """Store what a finished turn teaches; a redelivered turn writes nothing new."""
        derived = await derive(turn, self._runtime.extractor)
        source = MemorySource(
            type=SourceType.conversation, session_id=turn.session_id, turn_id=turn.turn_id
        )
        embeddings = await self._embed([d.content for d in derived])
        memories = [
            self._new(
                turn.user_id, memory_id=d.memory_id(turn.turn_id), kind=d.kind,
                content=d.content, tags=list(d.tags), source=source, embedding=e,
            )
            for d, e in zip(derived, embeddings, strict=True)
        ]  # fmt: skip
        written = await self._writer.add(
            turn.user_id, memories, not_after_forget_of=turn.completed_at
        )
        return [m.public() for m in written]

    async def _embed(self, contents: Sequence[str]) -> list[StoredEmbedding | None]:
        return await self._runtime.embeddings(None, list(contents), self._runtime.embed)

    async def _on_cpu(self, work: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound ``work(*args)`` on the process's one CPU thread."""
        return await asyncio.get_running_loop().run_in_executor(self._runtime.cpu, work, *args)

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
    ) -> StoredMemory:
        now = datetime.now(UTC)
        return StoredMemory(
            id=memory_id, user_id=user_id, kind=kind, content=content, tags=tags,
            source=source, created_at=now, updated_at=now, version=1, embedding=embedding,
        )  # fmt: skip
