"""Event payloads: what memory publishes on ``memory-events``, and the ``conversation-turns``
records it reads (the models chat publishes them with: sidecar.turn_events). Versioned
(``schema_version``); the JSON schemas in docs/events/ are generated from these models and a
test keeps them in step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sidecar.contracts import UserId
from sidecar.turn_events import (
    SESSION_DELETED,
    TURN_COMPLETED,
    ConversationTurn,
    SessionDeletedEvent,
    ToolUse,
)

__all__ = [
    "SESSION_DELETED",
    "TURN_COMPLETED",
    "CloudEvent",
    "ConversationTurn",
    "EventType",
    "IndexUpdated",
    "SessionDeletedEvent",
    "ToolUse",
    "UserForgotten",
]


class EventType(StrEnum):
    """CloudEvent ``type`` values on ``memory-events``."""

    memory_created = "memory.created"
    memory_updated = "memory.updated"
    memory_deleted = "memory.deleted"
    user_forgotten = "user.forgotten"
    # Bookkeeping: every outbox transaction also upserts the user's index, and the outbox
    # publishes one event per upsert. Consumers ignore this type.
    index_updated = "memory.index.updated"


class IndexUpdated(BaseModel):
    """Data of ``memory.index.updated`` (a projection of the index write, not the index)."""

    schema_version: Literal["1.0"] = "1.0"
    user_id: UserId
    count: int
    version: int


class UserForgotten(BaseModel):
    """Data of ``user.forgotten``: every memory of the user is gone."""

    schema_version: Literal["1.0"] = "1.0"
    user_id: UserId
    forgotten_at: datetime
    deleted: int
    version: int


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 envelope daprd delivers (only the fields memory reads)."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    source: str = ""
    specversion: str = "1.0"
    data: Any = None
