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
    """A page of the user's sessions, newest (most recently created) first."""

    user_id: str
    sessions: list[SessionSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page."
    )
    total: int = Field(default=0, description="How many sessions the user has in all.")


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
    """One page of a session's messages, in the order asked for (``oldest`` first by default)."""

    session_id: str
    messages: list[HistoryMessage]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page."
    )
    total: int = Field(default=0, description="How many messages the session has in all.")


class SessionDeleted(BaseModel):
    message: str


class SessionHead(BaseModel):
    """What chat keeps under ``session:<user>:<session>`` (chat.data.sessions): the session's
    size and title, how many messages each sealed history page holds (oldest first), and the
    *tail*: the newest messages, not sealed into a page yet."""

    schema_version: Literal["2"] = "2"
    session_id: str
    user_id: str
    created_at: datetime
    title: str = ""
    message_count: int = 0
    last_turn_id: str | None = None
    page_counts: list[int] = Field(default_factory=list)
    tail: list[HistoryMessage] = Field(default_factory=list)

    @property
    def sealed(self) -> int:
        """Messages in sealed pages (those before the tail)."""
        return self.message_count - len(self.tail)
