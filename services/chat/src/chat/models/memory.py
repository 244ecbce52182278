"""What chat reads of the memory service's answers (a tolerant reader: unknown fields ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sidecar.contracts import MAX_MEMORY_CONTENT, MAX_MEMORY_TAG, MAX_MEMORY_TAGS, UserId

__all__ = ["UserId"]  # re-exported: chat's models take it from here


class MemoryView(BaseModel):
    """A memory as memory's API returns it (docs/memory.md)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    kind: str
    content: str
    tags: list[str] = []
    created_at: datetime
    updated_at: datetime | None = None
    version: int | None = None
    attribute: str | None = None
    mentions: int | None = None
    last_seen_at: datetime | None = None
    expires_at: datetime | None = None


class MemoryVersionView(BaseModel):
    """One version of a memory's content (memory's ``MemoryVersion``)."""

    model_config = ConfigDict(extra="ignore")

    version: int
    operation: str = Field(description="`add` or `update`.")
    content: str
    at: datetime
    source: dict[str, str | None]


class MemoryHistory(BaseModel):
    """The versions of a memory's content, oldest first (the last is the current one)."""

    model_config = ConfigDict(extra="ignore")

    user_id: str
    memory_id: str
    versions: list[MemoryVersionView]


class MemoryList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str
    items: list[MemoryView]
    total: int


class MemoryNote(BaseModel):
    """What a user asks the agent to remember (``POST /users/{user_id}/memories``), within the
    bounds memory stores (sidecar.contracts)."""

    model_config = ConfigDict(extra="forbid")

    content: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MEMORY_CONTENT),
    ] = Field(description="The memory, in the user's words (a fact about them, by default).")
    kind: Literal["semantic", "episodic", "procedural"] = "semantic"
    tags: Annotated[
        list[
            Annotated[
                str,
                StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MEMORY_TAG),
            ]
        ],
        Field(max_length=MAX_MEMORY_TAGS),
    ] = Field(default_factory=list)


class MemoryAdded(BaseModel):
    """What creating a memory did: ``add`` (a new memory), ``noop`` (already known: the
    memory that says it) or ``update`` (the new value of the memory holding that attribute)."""

    memory: MemoryView
    operation: str


class SearchHit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    memory: MemoryView
    score: float


class SearchResults(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hits: list[SearchHit]
