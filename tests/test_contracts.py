"""What one service sends, the other reads: checked with both services' own models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from chat.models.chat import MAX_MESSAGE_CHARS
from chat.models.memory import MemoryList as ChatMemoryList
from chat.models.memory import SearchResults as ChatSearchResults
from memory.models.events import ConversationTurn as MemoryTurn
from memory.models.events import SessionDeletedEvent as MemorySessionDeleted
from memory.models.memory import Memory, MemoryPage, MemorySource, SearchHit, SearchResults
from sidecar import turn_events
from sidecar.turn_events import ConversationTurn as ChatTurn
from sidecar.turn_events import SessionDeletedEvent as ChatSessionDeleted
from sidecar.turn_events import ToolUse


def test_the_turn_chat_publishes_is_the_turn_memory_reads() -> None:
    published = ChatTurn(
        schema_version="1.0",
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
        schema_version="1.0", user_id="alice", session_id=str(uuid.uuid4()),
        deleted_at=datetime.now(UTC), message_count=134,
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


# -- one model per wire record, and records that take whatever the API takes ----------------


def test_conversation_turns_records_are_one_model_on_both_sides() -> None:
    # chat imports the records from sidecar.turn_events; memory's models module re-exports them.
    assert MemoryTurn is turn_events.ConversationTurn
    assert MemorySessionDeleted is turn_events.SessionDeletedEvent


def test_the_turn_record_takes_every_message_the_public_api_takes() -> None:
    assert MAX_MESSAGE_CHARS <= turn_events.MAX_USER_TEXT_CHARS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reply=st.text(max_size=40_000),
    tools=st.lists(
        st.tuples(st.text(max_size=80), st.none() | st.text(max_size=3_000), st.none() | st.text()),
        max_size=40,
    ),
    model=st.text(max_size=300),
)
def test_any_finished_turn_becomes_a_record_memory_reads(
    reply: str, tools: list[tuple[str, str | None, str | None]], model: str
) -> None:
    # The producer bounds free text (truncates), so no reply, tool call or model name of any
    # length or alphabet can make chat publish what memory refuses.
    record = turn_events.ConversationTurn.bounded(
        turn_id=uuid.uuid4().hex,
        session_id=str(uuid.uuid4()),
        user_id="alice",
        user_text="x" * turn_events.MAX_USER_TEXT_CHARS,
        reply=reply,
        tools_used=[turn_events.ToolUse.bounded(*t) for t in tools],
        model=model,
        completed_at=datetime.now(UTC),
        interrupted=False,
    )
    read = MemoryTurn.model_validate_json(record.model_dump_json())
    assert read == record
    assert read.reply == reply or read.reply.endswith(turn_events.ELLIPSIS)


#: (what memory answers, what chat reads it with): chat must accept every valid answer.
MEMORY_ANSWERS = [
    (SearchResults, ChatSearchResults),
    (MemoryPage, ChatMemoryList),
]

Schema = dict[str, Any]


def resolved(schema: Schema, root: Schema) -> Schema:
    """``schema`` with a local ``$ref`` followed (pydantic puts models under ``$defs``)."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def branches(schema: Schema, root: Schema) -> list[Schema]:
    schema = resolved(schema, root)
    return [b for option in schema.get("anyOf", [schema]) for b in branches_of(option, root)]


def branches_of(schema: Schema, root: Schema) -> list[Schema]:
    schema = resolved(schema, root)
    return branches(schema, root) if "anyOf" in schema else [schema]


def kind(schema: Schema) -> str | None:
    if "const" in schema or "enum" in schema:
        return schema.get("type", "string")
    return schema.get("type")


def refusals(reader: Schema, writer: Schema, r_root: Schema, w_root: Schema, at: str) -> list[str]:
    """Where a value valid under ``writer`` may be invalid under ``reader``: each JSON schema
    branch the writer allows must be taken by a reader branch that is no stricter (type,
    enum, length, bounds, pattern, required properties, items), recursively."""
    problems: list[str] = []
    for w in branches(writer, w_root):
        candidates = [r for r in branches(reader, r_root) if takes(r, w)]
        if not candidates:
            problems.append(f"{at}: the reader takes no {kind(w) or 'value'} like {w}")
            continue
        r = candidates[0]
        if kind(w) == "object" and kind(r) == "object":
            w_props, r_props = w.get("properties", {}), r.get("properties", {})
            for name in r.get("required", []):
                if name not in w.get("required", []):
                    problems.append(f"{at}.{name}: required by the reader, optional to the writer")
            for name, r_prop in r_props.items():
                if name in w_props:
                    problems += refusals(r_prop, w_props[name], r_root, w_root, f"{at}.{name}")
            if r.get("additionalProperties") is False and set(w_props) - set(r_props):
                problems.append(f"{at}: the reader forbids {sorted(set(w_props) - set(r_props))}")
        if kind(w) == "array" and kind(r) == "array" and "items" in r:
            problems += refusals(r["items"], w.get("items", {}), r_root, w_root, f"{at}[]")
    return problems


def takes(reader: Schema, writer: Schema) -> bool:
    """Whether every value of the (resolved, single-branch) ``writer`` passes ``reader``'s own
    keywords (not its nested properties, which ``refusals`` walks)."""
    r_kind, w_kind = kind(reader), kind(writer)
    if r_kind is not None and r_kind != w_kind and (r_kind, w_kind) != ("number", "integer"):
        return False
    if "enum" in reader or "const" in reader:
        allowed = set(reader.get("enum", [reader.get("const")]))
        if not set(writer.get("enum", [writer.get("const")])) <= allowed:
            return False
    if "pattern" in reader and reader["pattern"] != writer.get("pattern"):
        return False
    if "format" in reader and reader["format"] != writer.get("format"):
        return False
    for upper in ("maxLength", "maximum", "maxItems"):
        if upper in reader and writer.get(upper, float("inf")) > reader[upper]:
            return False
    for lower in ("minLength", "minimum", "minItems"):
        if lower in reader and writer.get(lower, float("-inf")) < reader[lower]:
            return False
    return True


@pytest.mark.parametrize(("written", "reader"), MEMORY_ANSWERS, ids=lambda m: m.__name__)
def test_chat_reads_every_answer_memorys_schema_allows(
    written: type[BaseModel], reader: type[BaseModel]
) -> None:
    # The schemas compared, not one sample: every answer memory's schema allows must be one
    # chat's reader takes.
    w = written.model_json_schema(mode="serialization")
    r = reader.model_json_schema(mode="validation")
    assert refusals(r, w, r, w, reader.__name__) == []


def test_the_schema_comparison_catches_a_stricter_reader() -> None:
    class Written(BaseModel):
        name: str
        size: int | None = None

    class Strict(BaseModel):
        name: str = Field(max_length=10)
        size: int
        extra: str

    w, r = Written.model_json_schema(mode="serialization"), Strict.model_json_schema()
    problems = refusals(r, w, r, w, "Strict")
    assert any("Strict.name" in p for p in problems)  # maxLength the writer does not have
    assert any("Strict.size" in p for p in problems)  # required, and null is not taken
    assert any("Strict.extra" in p for p in problems)  # required, never written
