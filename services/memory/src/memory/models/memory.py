"""Memory schemas: one family per entity (base, create, update, public, stored), every string
bounded, ids constrained by pattern."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from sidecar.contracts import (
    MAX_ID_CHARS,
    MAX_MEMORY_CONTENT,
    MAX_MEMORY_TAG,
    MAX_MEMORY_TAGS,
    RefId,
    UserId,
)

MAX_CONTENT = MAX_MEMORY_CONTENT
MAX_TAGS = MAX_MEMORY_TAGS

Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONTENT)
]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MEMORY_TAG)
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
# What a stored memory holds, read back as it was written (the bounds above, no reshaping).
StoredContent = Annotated[str, StringConstraints(max_length=MAX_CONTENT)]
StoredTag = Annotated[str, StringConstraints(max_length=MAX_MEMORY_TAG)]
#: An attribute is a few words of a fact (``home``, ``preference:tea``).
MAX_ATTRIBUTE = 200
#: A stored embedding, base64: room for 1,024 float32 dimensions (the encoder has 384).
MAX_VECTOR_CHARS = 4 * 1024 * 4 // 3 + 4


class MemoryKind(StrEnum):
    procedural = "procedural"  # past actions and skills
    episodic = "episodic"  # what happened in a conversation
    semantic = "semantic"  # facts about the user


class SourceType(StrEnum):
    api = "api"
    conversation = "conversation"


class MemorySource(BaseModel):
    """Where a memory came from: the API, or a conversation turn (with its session and turn)."""

    model_config = ConfigDict(extra="forbid")

    type: SourceType = SourceType.api
    session_id: RefId | None = None
    turn_id: RefId | None = None

    @model_validator(mode="after")
    def _conversation_needs_ids(self) -> MemorySource:
        if self.type is SourceType.conversation and not (self.session_id and self.turn_id):
            raise ValueError("a conversation source needs session_id and turn_id")
        return self


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _future(expires_at: datetime | None) -> datetime | None:
    """An expiry in the future, kept in UTC. Raises ValueError."""
    if expires_at is None:
        return None
    try:
        expires_at = expires_at.astimezone(UTC)
    except OverflowError as exc:  # "9999-12-31T23:59:59-14:00" is in the year 10000 in UTC
        raise ValueError("expires_at is out of range") from exc
    if expires_at <= datetime.now(UTC):
        raise ValueError("expires_at must be in the future")
    return expires_at


def _iso_time(value: object) -> object:
    """Only an ISO 8601 string: pydantic would read a number as seconds or milliseconds since
    1970, guessing which by its size."""
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("expires_at must be an ISO 8601 time with its zone, as a string")
    return value


class MemoryCreate(BaseModel):
    """What a client sends to create a memory."""

    model_config = ConfigDict(extra="forbid")

    kind: MemoryKind
    content: Content
    tags: Tags = Field(default_factory=list)
    source: MemorySource = Field(default_factory=MemorySource)
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the memory expires (with a time zone, in the future): from then on "
        "it is left out of every read, and a sweep deletes it (docs/memory.md#expiry).",
    )

    _dedupe_tags = field_validator("tags")(_unique)
    _a_string = field_validator("expires_at", mode="before")(_iso_time)
    _in_the_future = field_validator("expires_at")(_future)


IdempotencyKeyValue = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
]
MAX_BATCH = 500


class MemoryBatchItem(MemoryCreate):
    """One memory of a bulk import. ``idempotency_key`` works as the header does for a single
    create; without one the item is keyed by its kind, content and tags, so sending a batch
    again never stores anything twice."""

    idempotency_key: IdempotencyKeyValue | None = None


class MemoryBatch(BaseModel):
    """A bulk import: up to 500 memories, stored in this order (each announced on its own)."""

    model_config = ConfigDict(extra="forbid")

    items: list[MemoryBatchItem] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItemResult(BaseModel):
    """What became of one item: ``created`` now, ``existing`` (stored by an earlier request
    with the same key), or ``refused`` (``error`` says why; nothing was stored for it)."""

    status: Literal["created", "existing", "refused"]
    memory: Memory | None = None
    error: str | None = Field(
        default=None, description="`memory_limit_reached` or `idempotency_key_reused`."
    )
    detail: str | None = None


class MemoryBatchResult(BaseModel):
    user_id: str
    created: int
    items: list[BatchItemResult] = Field(description="One per item sent, in the same order.")


class MemoryUpdate(BaseModel):
    """A partial update: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    kind: MemoryKind | None = None
    content: Content | None = None
    tags: Tags | None = None
    expires_at: AwareDatetime | None = Field(
        default=None, description="A new expiry (in the future), or null to keep it forever."
    )

    @field_validator("tags")
    @classmethod
    def _dedupe(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _unique(tags)

    _a_string = field_validator("expires_at", mode="before")(_iso_time)
    _in_the_future = field_validator("expires_at")(_future)

    @model_validator(mode="after")
    def _something_to_change(self) -> MemoryUpdate:
        given = self.model_fields_set
        if "expires_at" not in given and all(getattr(self, name) is None for name in given):
            raise ValueError("give at least one of kind, content, tags, expires_at")
        return self


class MemoryOperation(StrEnum):
    """What consolidation did with a new fact (mem0's ADD / UPDATE / DELETE / NONE): stored it
    as a new memory, replaced an existing memory's content (a new value of a single-valued
    attribute), deleted an existing memory (a retraction), or found it known already."""

    add = "add"
    update = "update"
    delete = "delete"
    noop = "noop"


class MemoryVersion(BaseModel):
    """One version of a memory's content, as its history keeps it."""

    version: int = Field(ge=1)
    operation: MemoryOperation = Field(
        description="`add` (created), `update` (content replaced: by consolidation or a PATCH)."
    )
    content: StoredContent
    at: datetime
    source: MemorySource


#: Versions a memory's history keeps (the oldest are dropped first). A memory event carries
#: them, so they count in the broker's journal (docs/brokers.md#the-journal-is-bounded).
MAX_HISTORY = 10
#: Ids of would-be memories a memory absorbed (consolidated into it), kept to make the same
#: turn or Idempotency-Key count once.
MAX_ABSORBED = 32


class Memory(BaseModel):
    """A memory as the API returns it."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    user_id: UserId
    kind: MemoryKind
    content: StoredContent
    tags: Annotated[list[StoredTag], Field(max_length=MAX_TAGS)]
    source: MemorySource
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1, description="Bumped on every change; events carry it.")
    attribute: Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE)] | None = Field(
        default=None,
        description="The single-valued attribute a fact sets (`home`, `name`, "
        "`preference:tea`, ...; docs/memory.md#consolidation): a newer value replaces it.",
    )
    mentions: int = Field(
        default=1, ge=1, description="How often the fact was stated (duplicates counted here)."
    )
    last_seen_at: datetime | None = Field(
        default=None, description="When the fact was last stated (null: at `created_at`)."
    )
    expires_at: datetime | None = Field(
        default=None, description="When the memory expires (null: never)."
    )

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class StoredEmbedding(BaseModel):
    model: Annotated[str, StringConstraints(max_length=200)]
    vector: Annotated[str, StringConstraints(max_length=MAX_VECTOR_CHARS)] = Field(
        description="base64 of little-endian float32 values",
        json_schema_extra={"contentEncoding": "base64"},
    )


class StoredMemory(Memory):
    """The document kept under ``memory:<user>:<id>``, and the data of memory.* events.

    A deletion leaves a tombstone (``deleted_at`` set, content emptied) for a while, so that the
    deletion is announced through the outbox and a redelivered turn cannot bring it back.
    """

    schema_version: Literal["1.0"] = "1.0"
    deleted_at: datetime | None = None
    embedding: StoredEmbedding | None = None
    history: list[MemoryVersion] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Versions of the content, oldest first (bounded).",
    )
    absorbed: list[Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_ABSORBED,
        description="Ids of memories consolidated into this one (recent, bounded).",
    )

    def public(self) -> Memory:
        return Memory.model_validate(self.model_dump())

    def entry(self, operation: MemoryOperation, source: MemorySource) -> MemoryVersion:
        """The current content as a version of the history."""
        return MemoryVersion(
            version=self.version,
            operation=operation,
            content=self.content,
            at=self.updated_at,
            source=source,
        )

    def succeeded_by(
        self, new: StoredMemory, operation: MemoryOperation, source: MemorySource
    ) -> StoredMemory:
        """``new`` (this memory changed) with its new content appended to this one's history
        (the oldest versions dropped past ``MAX_HISTORY``)."""
        history = [*self.versions(), new.entry(operation, source)][-MAX_HISTORY:]
        return new.model_copy(update={"history": history})

    def versions(self) -> list[MemoryVersion]:
        """The history, oldest first; for a memory written before histories were kept, its
        current content as the one version known."""
        if self.history:
            return list(self.history)
        first = MemoryOperation.add if self.version == 1 else MemoryOperation.update
        return [self.entry(first, self.source)]

    def with_history(self) -> StoredMemory:
        """This memory with its history written out: a new memory's first version (an
        ``add``), or, for one written before histories were kept, its current content. Every
        change keeps the history it had (``MemoryPatch.apply``, consolidation), so a change
        that leaves the content alone does not lose it."""
        if self.history:
            return self
        return self.model_copy(update={"history": self.versions()})

    def absorbing(self, memory_id: str) -> StoredMemory:
        """This memory, noting that ``memory_id`` (a would-be memory) was consolidated into it."""
        absorbed = [*(a for a in self.absorbed if a != memory_id), memory_id]
        return self.model_copy(update={"absorbed": absorbed[-MAX_ABSORBED:]})


class MemoryPatch(BaseModel):
    """A checked ``MemoryUpdate`` ready to apply, with the new content's embedding and the time
    of the change: what crosses the actor boundary (a callable cannot)."""

    kind: MemoryKind | None = None
    content: str | None = None
    tags: list[str] | None = None
    embedding: StoredEmbedding | None = None
    attribute: str | None = None
    expires_at: datetime | None = None
    expiry_given: bool = False  # expires_at was given (a null clears it)
    updated_at: datetime

    def apply(self, memory: StoredMemory) -> StoredMemory:
        """The memory with the given fields changed and its version bumped; a new content is
        recorded in its history (an ``update`` by the API)."""
        update: dict[str, object] = {"updated_at": self.updated_at, "version": memory.version + 1}
        if self.kind is not None:
            update["kind"] = self.kind
        if self.tags is not None:
            update["tags"] = self.tags
        if self.expiry_given:
            update["expires_at"] = self.expires_at
        if self.content is not None:
            update["content"] = self.content
            update["embedding"] = self.embedding
            update["attribute"] = self.attribute
        memory = memory.with_history()
        changed = memory.model_copy(update=update)
        if self.content is None or self.content == memory.content:
            return changed
        return memory.succeeded_by(
            changed, MemoryOperation.update, MemorySource(type=SourceType.api)
        )


class MemoryHistory(BaseModel):
    """The versions of one memory's content, oldest first (the last is the current one)."""

    user_id: str
    memory_id: UUID
    versions: list[MemoryVersion]


class MemoryPage(BaseModel):
    user_id: str
    items: list[Memory]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page."
    )
    total: int = Field(description="How many memories the user has in all (before filters).")


class SearchHit(BaseModel):
    memory: Memory
    score: float = Field(description="The blended score the results are ranked by (0..1).")
    semantic: float | None = Field(description="Cosine similarity; null in keyword mode.")
    keyword: float = Field(description="Share of the query's terms found in the memory (0..1).")


class SearchResults(BaseModel):
    user_id: str
    query: str
    mode: Literal["semantic+keyword", "keyword"]
    hits: list[SearchHit]


class ForgetResult(BaseModel):
    user_id: str
    deleted: int
