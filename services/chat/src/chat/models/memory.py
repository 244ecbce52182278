"""What chat reads of the memory service's answers (a tolerant reader: unknown fields ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from sidecar.contracts import USER_ID_PATTERN

UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]


class MemoryView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    kind: str
    content: str
    tags: list[str] = []
    created_at: datetime


class MemoryList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str
    items: list[MemoryView]
    total: int


class SearchHit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    memory: MemoryView
    score: float


class SearchResults(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hits: list[SearchHit]
