"""Event payloads: what memory publishes on ``memory-events`` and reads from
``conversation-turns``. Versioned (``schema_version``); the JSON schemas in docs/events/ are
generated from these models and a test keeps them in step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from memory.models.memory import RefId, UserId


class EventType(StrEnum):
    """CloudEvent ``type`` values on ``memory-events``."""

    memory_created = "memory.created"
    memory_updated = "memory.updated"
    memory_deleted = "memory.deleted"
    user_forgotten = "user.forgotten"
    # Bookkeeping: every outbox transaction also upserts the user's index, and the outbox
    # publishes one event per upsert. Consumers ignore this type.
    index_updated = "memory.index.updated"


TURN_COMPLETED = "conversation.turn.completed"
SESSION_DELETED = "session.deleted"


class IndexUpdated(BaseModel):
    """Data of ``memory.index.updated`` (a projection of the index write, not the index)."""

    schema_version: Literal["1.0"] = "1.0"
    user_id: str
    count: int
    version: int


class UserForgotten(BaseModel):
    """Data of ``user.forgotten``: every memory of the user is gone."""

    schema_version: Literal["1.0"] = "1.0"
    user_id: str
    forgotten_at: datetime
    deleted: int
    version: int


ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class ToolUse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: ToolName
    arguments: Annotated[str, StringConstraints(max_length=2000)] | None = None
    output: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ConversationTurn(BaseModel):
    """Data of ``conversation.turn.completed``, published by chat with each finished turn."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal["1.0"]
    turn_id: RefId
    session_id: RefId
    user_id: UserId
    user_text: Annotated[str, StringConstraints(max_length=8000)]
    reply: Annotated[str, StringConstraints(max_length=32000)]
    tools_used: list[ToolUse] = Field(default_factory=list, max_length=32)
    model: Annotated[str, StringConstraints(max_length=200)] = ""
    completed_at: datetime
    interrupted: bool = False


class SessionDeletedEvent(BaseModel):
    """Data of ``session.deleted``, published by chat when a session and its history are
    erased (its head and every history page, in the transaction that publishes this)."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal["1.0"]
    user_id: UserId
    session_id: RefId
    deleted_at: datetime
    #: Messages the session held when it was erased.
    message_count: int = Field(ge=0)


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 envelope daprd delivers (only the fields memory reads)."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    source: str = ""
    specversion: str = "1.0"
    data: Any = None
