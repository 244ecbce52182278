"""How a user's memories are laid out in the state store: a small head and bounded pages.

Keys (daprd prefixes them with the app id; docs/memory.md has the sizes):

- ``memory:<user>:<id>``: one ``StoredMemory`` per memory (its upsert is the memory's event).
- ``head:<user>``: the ``MemoryHead``: version, count, the list of sealed pages (``PageRef``)
  and the *tail*: index entries of the newest memories, not sealed into a page yet.
- ``page:<user>:<no>:<gen>``: a sealed page (``page_value``): up to ``PAGE_MAX_ENTRIES`` whole
  memories (with their embeddings), oldest first, at most ``PAGE_MAX_BYTES`` of JSON.

A user's memories are ordered by *position* ``(created_at, id)``; the user's actor stamps
``created_at`` so that it only grows, which makes the order the order of insertion: the tail
holds the newest positions, and each page a contiguous range of older ones (``first`` ..
``last`` in its ref), so a memory is found from its position alone.

Pages are copy-on-write: a change to a sealed page writes the next generation under a new key
*before* the transaction that switches the head to it (and deletes the old key), so readers
that follow a head always find what it names, and a transaction carries one projection only
(the head's; daprd 1.18 cannot take more, docs/dapr-runtime.md). A crash between the two
leaves at most one unreferenced generation per page (``gen + 1``) or unreferenced new pages
from ``next_page`` on; the next write reuses those keys, and erasure deletes them too
(``orphan_keys``).

Everything here is pure: the repository (memory.data.repository) does the I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from memory.models.memory import StoredMemory

#: Memories per sealed page, and the tail's size at which it is sealed into pages.
PAGE_MAX_ENTRIES = 128
#: A page's JSON stays under this (daprd's request body limit is 4 MiB): a memory is at most
#: ~32 KB of JSON (4,000 characters escaped, 16 tags, its vector), so a page holds at least 32.
PAGE_MAX_BYTES = 1024 * 1024
#: What the memories of a page may take (the rest is the page's few other fields).
PAGE_BUDGET = PAGE_MAX_BYTES - 256
#: A page left with fewer memories than this (after deletes) is merged into a neighbour.
PAGE_MERGE_BELOW = PAGE_MAX_ENTRIES // 4
#: How many new pages one write may seal at most (bounds the keys erasure has to sweep for).
MAX_PAGES_PER_WRITE = 64
#: Microsecond step used to keep ``created_at`` strictly growing within a user.
TICK = timedelta(microseconds=1)

Position = tuple[datetime, str]


def memory_key(user_id: str, memory_id: str) -> str:
    return f"memory:{user_id}:{memory_id}"


def head_key(user_id: str) -> str:
    return f"head:{user_id}"


def page_key(user_id: str, no: int, gen: int) -> str:
    return f"page:{user_id}:{no}:{gen}"


def json_size(value: object) -> int:
    """Bytes of ``value`` as the JSON the services send (orjson, UTF-8)."""
    return len(orjson.dumps(value))


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


class PageRef(BaseModel):
    """A sealed page as the head names it: its number, generation, size and range."""

    no: int
    gen: int
    count: int
    first: datetime
    first_id: str
    last: datetime
    last_id: str

    def key(self, user_id: str) -> str:
        return page_key(user_id, self.no, self.gen)

    @property
    def first_position(self) -> Position:
        return (self.first, self.first_id)

    @property
    def last_position(self) -> Position:
        return (self.last, self.last_id)


#: A page document as stored: ``{"schema_version": "2", "user_id", "no", "gen", "memories":
#: [StoredMemory JSON, oldest first]}``. Pages are handled as plain JSON (no model): a page is
#: read and written whole on the write path, and validating 128 memories each time showed up
#: as the largest cost in the profile (docs/benchmarks.md).
Json = dict[str, Any]


def page_value(user_id: str, no: int, gen: int, memories: list[Json]) -> Json:
    return {"schema_version": "2", "user_id": user_id, "no": no, "gen": gen, "memories": memories}


def ref_of(page: Json) -> PageRef:
    """The head's entry for a page document."""
    memories = page["memories"]
    first, last = memories[0], memories[-1]
    return PageRef(
        no=page["no"], gen=page["gen"], count=len(memories),
        first=first["created_at"], first_id=first["id"],
        last=last["created_at"], last_id=last["id"],
    )  # fmt: skip


def raw_position(memory: Json) -> Position:
    """The position of a memory given as stored JSON."""
    return (datetime.fromisoformat(memory["created_at"]), str(memory["id"]))


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
        lasts = [p.last_position for p in self.pages]
        at = bisect.bisect_left(lasts, position)
        if at < len(self.pages) and self.pages[at].first_position <= position:
            return at
        return None

    def in_tail(self, memory_id: str) -> int | None:
        return next((i for i, e in enumerate(self.tail) if e.id == memory_id), None)

    def orphan_keys(self) -> list[str]:
        """Keys a crashed write may have left that this head does not name (see the module
        docstring): erasure deletes them along with the pages it names."""
        keys = [page_key(self.user_id, p.no, p.gen + 1) for p in self.pages]
        return keys + [
            page_key(self.user_id, self.next_page + i, 1) for i in range(MAX_PAGES_PER_WRITE)
        ]


def stamp(memories: Sequence[StoredMemory], after: datetime | None) -> list[StoredMemory]:
    """The memories with ``created_at`` (and ``updated_at``) made strictly growing from
    ``after``: their order of insertion becomes their position order."""
    stamped = []
    for memory in memories:
        created = memory.created_at
        if after is not None and created <= after:
            created = after + TICK
        after = created
        stamped.append(
            memory if created == memory.created_at
            else memory.model_copy(update={"created_at": created, "updated_at": created})
        )  # fmt: skip
    return stamped


def paginate(user_id: str, memories: Iterable[Json], *, first_no: int) -> Iterator[Json]:
    """Seal ``memories`` (stored JSON, oldest first) into page documents numbered from
    ``first_no``, each within ``PAGE_MAX_ENTRIES`` and ``PAGE_MAX_BYTES``."""
    chunk: list[Json] = []
    size = 0
    no = first_no
    for memory in memories:
        bytes_ = json_size(memory) + 1
        if chunk and (len(chunk) == PAGE_MAX_ENTRIES or size + bytes_ > PAGE_BUDGET):
            yield page_value(user_id, no, 1, chunk)
            no, chunk, size = no + 1, [], 0
        chunk.append(memory)
        size += bytes_
    if chunk:
        yield page_value(user_id, no, 1, chunk)


def page_fits(memories: Sequence[Json]) -> bool:
    """Whether these memories (stored JSON) fit in one page."""
    return len(memories) <= PAGE_MAX_ENTRIES and json_size(memories) <= PAGE_BUDGET
