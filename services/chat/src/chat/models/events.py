"""The events chat publishes on ``conversation-turns``: one with each finished turn and one with
each erased session (schemas: docs/events/conversation-turn.v1.json and session-deleted.v1.json,
which memory's models generate; tests/test_contracts.py checks both sides agree)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TURN_COMPLETED = "conversation.turn.completed"
SESSION_DELETED = "session.deleted"


class ToolUse(BaseModel):
    name: str
    arguments: str | None = Field(default=None, max_length=2000)
    output: str | None = Field(default=None, max_length=2000)


class ConversationTurn(BaseModel):
    schema_version: Literal["1.0"] = "1.0"
    turn_id: str
    session_id: str
    user_id: str
    user_text: str
    reply: str
    tools_used: list[ToolUse] = Field(default_factory=list)
    model: str
    completed_at: datetime
    interrupted: bool = False


class SessionDeletedEvent(BaseModel):
    """Data of ``session.deleted``: the session's head and every history page are erased, in
    the transaction that publishes this (docs/events.md)."""

    schema_version: Literal["1.0"] = "1.0"
    user_id: str
    session_id: str
    deleted_at: datetime
    message_count: int
