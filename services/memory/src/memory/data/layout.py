"""How a user's memories are laid out in the state store: a small head and bounded pages.

Keys (daprd prefixes them with the app id; docs/memory.md has the sizes):

- ``memory:<user>:<id>``: one ``StoredMemory`` per memory (its upsert is the memory's event).
- ``head:<user>``: the ``MemoryHead``: version, count, the list of sealed pages (``PageRef``)
  and the *tail*: index entries of the newest memories, not sealed into a page yet.
- ``page:<user>:<no>:<gen>``: a sealed page (``MEMORY_PAGES``): up to 128 whole memories (with
  their embeddings), oldest first, at most 1 MiB of JSON.

The paging itself (order by ``(created_at, id)``, copy-on-write generations, merges and splits,
what a crash can leave) is ``sidecar.paging``, shared with chat's session lists; what is
memory's own: the tail holds small index entries while pages hold whole memories (sealing reads
the memories back), and every change commits in one transaction whose one projection is the
head's (memory.data.repository).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from memory.models.memory import StoredMemory
from sidecar.paging import Json, PagedLayout, PageRef, Position, next_times, page_of


def raw_position(memory: Json) -> Position:
    """The position of a memory given as stored JSON."""
    return (datetime.fromisoformat(memory["created_at"]), str(memory["id"]))


#: Pages of whole memories: a memory is at most ~32 KB of JSON (4,000 characters escaped, 16
#: tags, its vector), so a 1 MiB page holds at least 32; typically 128 take ~330 KB.
MEMORY_PAGES = PagedLayout(
    prefix="page",
    position=raw_position,
    max_entries=128,
    max_bytes=1024 * 1024,
    merge_below=32,
    max_new_pages=64,
)
PAGE_MAX_ENTRIES = MEMORY_PAGES.max_entries


def memory_key(user_id: str, memory_id: str) -> str:
    return f"memory:{user_id}:{memory_id}"


def head_key(user_id: str) -> str:
    return f"head:{user_id}"


class IndexEntry(BaseModel):
    """A tail entry: what list filters and caches need about a memory not yet in a page."""

    id: str
    created_at: datetime
    kind: str
    tags: list[str] = Field(default_factory=list)
    version: int = 1  # the memory's version: lets caches reload only what changed

    @property
    def position(self) -> Position:
        return (self.created_at, self.id)


def entry_for(memory: StoredMemory) -> IndexEntry:
    return IndexEntry(
        id=str(memory.id),
        created_at=memory.created_at,
        kind=memory.kind,
        tags=memory.tags,
        version=memory.version,
    )


def position_of(memory: StoredMemory) -> Position:
    return (memory.created_at, str(memory.id))


class MemoryHead(BaseModel):
    """The user's head document: small, read by every request (the version validates caches)."""

    schema_version: Literal["2"] = "2"
    user_id: str
    version: int = 0
    count: int = 0
    forgotten_at: datetime | None = None
    #: Memories erased so far by a forget that erases page by page (0 otherwise).
    erasing: int = 0
    next_page: int = 0
    pages: list[PageRef] = Field(default_factory=list)  # oldest first
    tail: list[IndexEntry] = Field(default_factory=list)  # oldest first

    def latest(self) -> datetime | None:
        """The newest ``created_at`` of the user's memories (None when there are none)."""
        if self.tail:
            return self.tail[-1].created_at
        return self.pages[-1].last if self.pages else None

    def page_of(self, position: Position) -> int | None:
        """Index in ``pages`` of the page whose range holds ``position`` (None: not sealed)."""
        return page_of(self.pages, position)

    def in_tail(self, memory_id: str) -> int | None:
        return next((i for i, e in enumerate(self.tail) if e.id == memory_id), None)


def stamp(memories: Sequence[StoredMemory], after: datetime | None) -> list[StoredMemory]:
    """The memories with ``created_at`` (and ``updated_at``) made strictly growing from
    ``after``: their order of insertion becomes their position order."""
    times = next_times([m.created_at for m in memories], after)
    return [
        m if t == m.created_at else m.model_copy(update={"created_at": t, "updated_at": t})
        for m, t in zip(memories, times, strict=True)
    ]


def documents_for(user_id: str, memories: Sequence[StoredMemory]) -> list[tuple[str, Json]]:
    """The state documents of a user who has exactly ``memories`` (oldest first, ``created_at``
    increasing), in the paged layout: each memory's document, the sealed pages and the head
    (version 1), as ``(key, value)`` pairs to save. For loading a store in bulk (benchmarks,
    tests); the service itself writes through ``MemoryRepository``."""
    change, left = MEMORY_PAGES.seal(
        user_id, [m.model_dump(mode="json") for m in memories], pages=[], next_page=0
    )
    head = MemoryHead(
        user_id=user_id, version=1, count=len(memories), next_page=len(change.saves),
        pages=change.pages, tail=[entry_for(m) for m in memories[len(memories) - len(left) :]],
    )  # fmt: skip
    documents = [(memory_key(user_id, str(m.id)), m.model_dump(mode="json")) for m in memories]
    documents += [(MEMORY_PAGES.save_key(p), p) for p in change.saves]
    documents.append((head_key(user_id), head.model_dump(mode="json")))
    return documents
