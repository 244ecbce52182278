"""What one service sends, the other reads: checked with both services' own models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from chat.models.events import ConversationTurn as ChatTurn
from chat.models.events import SessionDeletedEvent as ChatSessionDeleted
from chat.models.events import ToolUse
from chat.models.memory import SearchResults as ChatSearchResults
from memory.models.events import ConversationTurn as MemoryTurn
from memory.models.events import SessionDeletedEvent as MemorySessionDeleted
from memory.models.memory import Memory, MemorySource, SearchHit, SearchResults


def test_the_turn_chat_publishes_is_the_turn_memory_reads() -> None:
    published = ChatTurn(
        turn_id=uuid.uuid4().hex,
        session_id=str(uuid.uuid4()),
        user_id="alice",
        user_text="Remember that I like tea",
        reply="Noted.",
        tools_used=[ToolUse(name="remember", arguments='{"content":"I like tea"}', output="{}")],
        model="offline",
        completed_at=datetime.now(UTC),
        interrupted=True,
    )
    read = MemoryTurn.model_validate(published.model_dump(mode="json"))
    assert read.model_dump() == MemoryTurn.model_validate(published.model_dump()).model_dump()
    assert (read.turn_id, read.interrupted, read.tools_used[0].name) == (
        published.turn_id,
        True,
        "remember",
    )


def test_the_session_deletion_chat_publishes_is_what_memory_reads() -> None:
    published = ChatSessionDeleted(
        user_id="alice", session_id=str(uuid.uuid4()), deleted_at=datetime.now(UTC),
        message_count=134,
    )  # fmt: skip
    read = MemorySessionDeleted.model_validate(published.model_dump(mode="json"))
    assert read.model_dump() == published.model_dump()


def test_search_results_memory_returns_are_what_chat_reads() -> None:
    now = datetime.now(UTC)
    memory = Memory(
        id=uuid.uuid4(), user_id="alice", kind="semantic", content="Likes tea", tags=["drinks"],
        source=MemorySource(), created_at=now, updated_at=now, version=1,
    )  # fmt: skip
    results = SearchResults(
        user_id="alice",
        query="tea",
        mode="semantic+keyword",
        hits=[SearchHit(memory=memory, score=0.9, semantic=0.9, keyword=1.0)],
    )
    read = ChatSearchResults.model_validate(results.model_dump(mode="json"))
    assert read.hits[0].memory.id == str(memory.id)
    assert read.hits[0].memory.content == "Likes tea"
    assert read.hits[0].score == 0.9
