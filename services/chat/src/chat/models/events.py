"""The event chat publishes with each finished turn (schema: docs/events/conversation-turn.v1.json,
which memory's model generates; tests/test_contracts.py checks both agree)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TURN_COMPLETED = "conversation.turn.completed"


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
