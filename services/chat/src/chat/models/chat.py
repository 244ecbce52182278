"""Chat request and response shapes: both seed clients' forms are accepted and answered.

Atomic Agents (seed 004): ``{user_id, session_id, message}`` → ``{response, session_id}``.
DACA (seed 000): ``{user_id, text, tags?, metadata?}`` → ``{user_id, reply, metadata}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from chat.models.memory import SearchHit, UserId
from sidecar.contracts import REF_ID_PATTERN
from sidecar.turn_events import MAX_USER_TEXT_CHARS

SESSION_ID_PATTERN = REF_ID_PATTERN
MultitaskStrategy = Literal["enqueue", "reject", "interrupt"]
SessionId = Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN, max_length=128)]
#: The most characters a message may hold (Python's count: one per code point): what the
#: turn record takes (sidecar.turn_events).
MAX_MESSAGE_CHARS = MAX_USER_TEXT_CHARS
MAX_TAGS = 16
MAX_TAG_CHARS = 64
MAX_METADATA_ENTRIES = 32
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_TEXT_CHARS = 256
#: What a message's ``metadata`` holds (the DACA form's ``{timestamp, session_id}``): flat,
#: each value a string, a number, a boolean or null.
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_TEXT_CHARS)] | (
    int | float | bool | None
)
MetadataKey = Annotated[str, StringConstraints(max_length=MAX_METADATA_KEY_CHARS)]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    session_id: SessionId | None = None
    # The texts' bound is in the schema (the body limit is derived from it:
    # sidecar.body_limits); ``_one_text`` enforces it with a message that says the limit.
    message: str | None = Field(
        default=None,
        description="The user's text (Atomic Agents form).",
        json_schema_extra={"maxLength": MAX_MESSAGE_CHARS},
    )
    text: str | None = Field(
        default=None,
        description="The user's text (DACA form).",
        json_schema_extra={"maxLength": MAX_MESSAGE_CHARS},
    )
    tags: list[Annotated[str, StringConstraints(max_length=MAX_TAG_CHARS)]] = Field(
        default_factory=list, max_length=MAX_TAGS
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict, max_length=MAX_METADATA_ENTRIES
    )
    multitask_strategy: MultitaskStrategy | None = Field(
        default=None,
        description=(
            "Double texting: what this message does if its session is busy with another turn. "
            "`enqueue` runs it after that turn; `reject` answers 409 `session_busy` and writes "
            "nothing; `interrupt` cancels the running turn (saved, marked interrupted) and runs "
            "this one next. Default: the service's MULTITASK_STRATEGY (enqueue)."
        ),
    )

    @model_validator(mode="after")
    def _one_text(self) -> ChatRequest:
        if self.message is not None and self.text is not None and self.message != self.text:
            raise ValueError("give the text once, as `message` or as `text`")
        content = self.message if self.message is not None else self.text
        if content is None or not content.strip():
            raise ValueError("the message is empty: send some text in `message` (or `text`)")
        if len(content) > MAX_MESSAGE_CHARS:
            raise ValueError(
                f"the message is {len(content)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )
        self.message = content.strip()
        return self

    @property
    def content(self) -> str:
        assert self.message is not None
        return self.message


class MemoryUsed(BaseModel):
    id: str
    score: float
    content: str
    kind: str | None = Field(
        default=None, description="`semantic` (a current fact), `episodic`, `procedural`."
    )
    created_at: datetime | None = None

    @classmethod
    def of(cls, hit: SearchHit) -> MemoryUsed:
        """A search hit as the turn records it."""
        m = hit.memory
        return cls(
            id=m.id, score=hit.score, content=m.content, kind=m.kind, created_at=m.created_at
        )


class ToolUsed(BaseModel):
    name: str
    arguments: str | None = None
    output: str | None = None


class ReplyMetadata(BaseModel):
    timestamp: datetime
    session_id: str
    turn_id: str
    model: str
    memories_used: list[MemoryUsed]
    tools_used: list[ToolUsed]
    degraded: bool = Field(description="True when memory could not be reached for this turn.")
    interrupted: bool = False


class ChatResponse(BaseModel):
    response: str = Field(description="The reply (Atomic Agents form).")
    reply: str = Field(description="The same reply (DACA form).")
    session_id: str
    user_id: str
    suggested_questions: list[str]
    metadata: ReplyMetadata


StreamEventType = Literal["session", "memory", "delta", "tool_call", "tool_result", "done", "error"]
