"""The records on ``conversation-turns``: one model each, which chat publishes and memory
reads (docs/events.md; the JSON schemas in docs/events/ are generated from these).

With a model on each side, chat once published what memory refused: a ``remember`` call of
2,500 characters passed chat's public API, and its event failed validation against a
2,000-character cap on tool arguments, after the memory was stored. One model cannot disagree
with itself, and :meth:`ConversationTurn.bounded` is where the producer fits free-form text
(a model's reply, a tool's output) into the record's bounds: truncated, marked, never refused.
Every bound is at least what chat's public API lets in (``user_text`` takes more than chat's
``MAX_MESSAGE_CHARS``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sidecar.contracts import RefId, UserId

__all__ = [
    "MAX_REPLY_CHARS",
    "MAX_TOOLS",
    "MAX_TOOL_TEXT_CHARS",
    "MAX_USER_TEXT_CHARS",
    "SESSION_DELETED",
    "TURN_COMPLETED",
    "ConversationTurn",
    "SessionDeletedEvent",
    "ToolUse",
    "truncate",
]

TURN_COMPLETED = "conversation.turn.completed"
SESSION_DELETED = "session.deleted"

# The record's bounds also bound the broker's journal (docs/brokers.md#the-journal-is-bounded):
# every event is kept in its stream until trimmed, so its largest size counts there.
#: The most a user message may hold (chat's public API takes as much: MAX_MESSAGE_CHARS).
MAX_USER_TEXT_CHARS = 8_000
#: A reply is the model's, of any length; the event carries its first 4,000 characters (the
#: session's history keeps it whole).
MAX_REPLY_CHARS = 4_000
#: A tool call's arguments and its output, each (memory reads the first 300 of the arguments).
MAX_TOOL_TEXT_CHARS = 300
#: Tool calls recorded per turn (the agent's ``max_turns`` bounds how many it makes).
MAX_TOOLS = 16
#: Appended where :func:`truncate` cut a text.
ELLIPSIS = "…"
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


def truncate(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit - 1`` and "…"."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


class ToolUse(BaseModel):
    """One tool call of the turn."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, StringConstraints(pattern=TOOL_NAME_PATTERN, max_length=64)]
    arguments: Annotated[str, StringConstraints(max_length=MAX_TOOL_TEXT_CHARS)] | None = None
    output: Annotated[str, StringConstraints(max_length=MAX_TOOL_TEXT_CHARS)] | None = None

    @classmethod
    def bounded(cls, name: str, arguments: str | None, output: str | None) -> Self:
        """A record of any call: the name made to fit its pattern ("tool" when nothing is
        left), arguments and output truncated."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "tool"
        return cls(
            name=name,
            arguments=None if arguments is None else truncate(arguments, MAX_TOOL_TEXT_CHARS),
            output=None if output is None else truncate(output, MAX_TOOL_TEXT_CHARS),
        )


class ConversationTurn(BaseModel):
    """Data of ``conversation.turn.completed``, published by chat with each finished turn."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal["1.0"]  # required: a consumer drops a version it does not know
    turn_id: RefId
    session_id: RefId
    user_id: UserId
    user_text: Annotated[str, StringConstraints(max_length=MAX_USER_TEXT_CHARS)]
    reply: Annotated[str, StringConstraints(max_length=MAX_REPLY_CHARS)]
    tools_used: list[ToolUse] = Field(default_factory=list, max_length=MAX_TOOLS)
    model: Annotated[str, StringConstraints(max_length=200)] = ""
    completed_at: datetime
    interrupted: bool = False

    @classmethod
    def bounded(
        cls,
        *,
        turn_id: str,
        session_id: str,
        user_id: str,
        user_text: str,
        reply: str,
        tools_used: Sequence[ToolUse],
        model: str,
        completed_at: datetime,
        interrupted: bool,
    ) -> Self:
        """The record of a turn whose ids and message the public API checked: the reply and the
        model name truncated, the first MAX_TOOLS tool calls kept. Raises ValidationError only
        for what the API should have refused (an id or a message out of bounds)."""
        return cls(
            schema_version="1.0",
            turn_id=turn_id,
            session_id=session_id,
            user_id=user_id,
            user_text=user_text,
            reply=truncate(reply, MAX_REPLY_CHARS),
            tools_used=list(tools_used[:MAX_TOOLS]),
            model=truncate(model, 200),
            completed_at=completed_at,
            interrupted=interrupted,
        )


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
