"""Session shapes, as the Atomic Agents seed documents them (plus title, activity, count)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class SessionCreated(BaseModel):
    session_id: str
    message: str


class SessionSummary(BaseModel):
    session_id: str
    created_at: datetime
    title: str = ""
    last_activity: datetime
    message_count: int = 0


class SessionList(BaseModel):
    user_id: str
    sessions: list[SessionSummary]


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    timestamp: datetime
    turn_id: str
    interrupted: bool = False
    tools_used: list[str] = Field(default_factory=list)
    memories_used: list[str] = Field(default_factory=list)
    suggested_questions: list[str] = Field(default_factory=list)


class SessionHistory(BaseModel):
    session_id: str
    messages: list[HistoryMessage]


class SessionDeleted(BaseModel):
    message: str


class SessionDocument(BaseModel):
    """What chat keeps under ``session:<user>:<session>``."""

    session_id: str
    user_id: str
    created_at: datetime
    messages: list[HistoryMessage] = Field(default_factory=list)
