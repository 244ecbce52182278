"""How a user's memories are laid out in the state store: a small head and bounded pages.

Keys (daprd prefixes them with the app id; docs/memory.md has the sizes):

- ``memory:<user>:<id>``: one ``StoredMemory`` per memory (its upsert is the memory's event).
- ``head:<user>``: the ``MemoryHead``: version, count, the list of sealed pages (``PageRef``)
  and the *tail*: index entries of the newest memories, not sealed into a page yet.
- ``page:<user>:<no>:<gen>``: a sealed page (``MEMORY_PAGES``): up to 128 whole memories (with
  their embeddings, as 8-bit integers: ``page_item``), oldest first, at most 1 MiB of JSON.

The paging itself (order by ``(created_at, id)``, copy-on-write generations, merges and splits,
what a crash can leave) is ``sidecar.paging``, shared with chat's session lists; what is
memory's own: the tail holds small index entries while pages hold whole memories (sealing reads
the memories back), and every change commits in one transaction whose one projection is the
head's (memory.data.repository).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pybase64
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from memory.models.memory import StoredMemory
from sidecar.paging import Json, PagedLayout, PageRef, Position, next_times


def raw_position(memory: Json) -> Position:
    """The position of a memory given as stored JSON."""
    return (datetime.fromisoformat(memory["created_at"]), str(memory["id"]))


#: Pages of whole memories: a memory is at most ~30 KB of JSON (4,000 characters escaped, 16
#: tags, its 8-bit vector), so a 1 MiB page holds at least 32; typically 128 take ~140 KB.
MEMORY_PAGES = PagedLayout(
    prefix="page",
    position=raw_position,
    max_entries=128,
    max_bytes=1024 * 1024,
    merge_below=32,
    max_new_pages=64,
)
PAGE_MAX_ENTRIES = MEMORY_PAGES.max_entries


#: Fields of a memory's document that pages (and search's cached segments) leave out.
PAGE_OMITS = ("history", "absorbed")


def page_item(memory: Json) -> Json:
    """A memory as pages keep it: its stored JSON with the embedding's float32 ``vector``
    replaced by ``{"model", "q8", "scale"}``: base64 of one signed byte per dimension and the
    float that multiplies them back (symmetric scalar quantisation, scale = max |x| / 127).

    A page is read whole by every patch or delete of one of its memories and written whole
    again, and through daprd and SQLite that costs about 30 ms per 100 KB (docs/benchmarks.md);
    the float32 vector was 2 KB of a memory's ~2.5 KB. The error per dimension is at most
    scale / 2 (~0.001 for the model's unit vectors), a cosine error of ~0.0006 typically;
    rankings keep their tests (memory/tests/test_search.py, 10,000 memories in pages). The
    memory's own document and its events keep the float32 vector, its history and the ids it
    absorbed (``PAGE_OMITS``: only the document's readers need them). An item already
    quantised, or without a usable vector, is returned otherwise unchanged."""
    if any(k in memory for k in PAGE_OMITS):
        memory = {k: v for k, v in memory.items() if k not in PAGE_OMITS}
    embedding = memory.get("embedding")
    if not isinstance(embedding, dict) or not isinstance(embedding.get("vector"), str):
        return memory
    try:
        raw = pybase64.b64decode(embedding["vector"], validate=True)
    except ValueError:  # not base64 (binascii.Error)
        return memory
    if not raw or len(raw) % 4:
        return memory
    vector = np.frombuffer(raw, dtype="<f4")
    peak = float(np.max(np.abs(vector)))
    if not math.isfinite(peak):
        return memory
    scale = peak / 127 if peak > 0 else 1.0
    quantised = np.rint(vector / scale).astype(np.int8)
    return {
        **memory,
        "embedding": {
            "model": embedding.get("model"),
            "q8": pybase64.b64encode(quantised.tobytes()).decode("ascii"),
            "scale": scale,
        },
    }


def page_vectors(
    embeddings: Sequence[dict[str, Any] | None], rows: Sequence[int], dimension: int
) -> NDArray[np.float32]:
    """The unit vectors of ``rows`` of ``embeddings`` stored by ``page_item`` (each has
    ``q8`` of ``dimension`` bytes and a ``scale``), as a (len(rows), dimension) matrix: one
    base64 decode for all of them when each one's base64 has no padding (``dimension`` a
    multiple of 3, as the model's 384), else one per row."""
    codes = [embeddings[i]["q8"] for i in rows]  # type: ignore[index]
    raw = (
        pybase64.b64decode("".join(codes))
        if dimension % 3 == 0
        else b"".join(pybase64.b64decode(c) for c in codes)
    )
    matrix = np.frombuffer(raw, dtype=np.int8).reshape(-1, dimension)
    vectors = matrix.astype(np.float32)
    vectors *= np.asarray([embeddings[i]["scale"] for i in rows], dtype=np.float32)[:, None]  # type: ignore[index]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.maximum(norms, 1e-12)
    return vectors


def is_page_vector(embedding: dict[str, Any], dimension: int) -> bool:
    """Whether ``embedding`` is in ``page_item``'s form for vectors of ``dimension``."""
    q8 = embedding.get("q8")
    return (
        isinstance(q8, str)
        and len(q8) == 4 * ((dimension + 2) // 3)
        and isinstance(embedding.get("scale"), int | float)
    )


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
    expires_at: datetime | None = None

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
        expires_at=memory.expires_at,
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
    #: The earliest ``expires_at`` of the user's memories, if any (when the next sweep is due;
    #: memory.services.consolidation). May be earlier than the truth, never later.
    next_expiry: datetime | None = None
    pages: list[PageRef] = Field(default_factory=list)  # oldest first
    tail: list[IndexEntry] = Field(default_factory=list)  # oldest first

    def latest(self) -> datetime | None:
        """The newest ``created_at`` of the user's memories (None when there are none)."""
        if self.tail:
            return self.tail[-1].created_at
        return self.pages[-1].last if self.pages else None

    def expiring(self, memories: Sequence[StoredMemory]) -> datetime | None:
        """``next_expiry`` once ``memories`` are written too."""
        times = [t for t in (self.next_expiry, *(m.expires_at for m in memories)) if t]
        return min(times, default=None)


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
        user_id, [page_item(m.model_dump(mode="json")) for m in memories], pages=[], next_page=0
    )
    head = MemoryHead(
        user_id=user_id, version=1, count=len(memories), next_page=len(change.saves),
        pages=change.pages, tail=[entry_for(m) for m in memories[len(memories) - len(left) :]],
    )  # fmt: skip
    documents = [(memory_key(user_id, str(m.id)), m.model_dump(mode="json")) for m in memories]
    documents += [(MEMORY_PAGES.save_key(p), p) for p in change.saves]
    documents.append((head_key(user_id), head.model_dump(mode="json")))
    return documents
