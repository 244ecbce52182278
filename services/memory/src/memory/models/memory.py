"""Memory schemas: one family per entity (base, create, public), every string bounded."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"

UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]
Content = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class MemoryKind(StrEnum):
    procedural = "procedural"  # past actions and skills
    episodic = "episodic"  # what happened in a conversation
    semantic = "semantic"  # facts about the user


class MemoryBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: MemoryKind
    content: Content
    tags: list[Tag] = Field(default_factory=list, max_length=16)


class MemoryCreate(MemoryBase):
    """What a client sends to create a memory."""


class Memory(MemoryBase):
    """A stored memory, as returned by the API and kept in the state store."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    user_id: UserId
    created_at: datetime
    updated_at: datetime


class MemoryPage(BaseModel):
    user_id: str
    items: list[Memory]
    total: int
