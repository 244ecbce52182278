"""The agent chat runs: instructions personalised with the user's memories, three tools, and
the configured model (an OpenAI-compatible endpoint, or the built-in offline model)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    RunContextWrapper,
    function_tool,
    set_tracing_disabled,
)
from agents.tool_context import ToolContext
from openai import AsyncOpenAI

from chat.core.settings import ChatSettings
from chat.data.clients.memory import MemoryClient
from chat.models.chat import MemoryUsed
from chat.services.offline_model import MEMORY_SECTION, OFFLINE_MODEL_NAME, OfflineModel
from sidecar.contracts import MAX_MEMORY_CONTENT
from sidecar.errors import InvocationFailed

AGENT_NAME = "assistant"
AGENT_DESCRIPTION = (
    "A helpful assistant that remembers what each user tells it (through the memory service) "
    "and can tell the time."
)
BASE_INSTRUCTIONS = (
    "You are a helpful assistant. Use what you know about the user to personalise your answers. "
    "Use recall_memories to look up more about the user, and remember to store facts the user "
    "asks you to keep. Be concise."
)


@dataclass
class TurnContext:
    """What the tools act for: always the request's user (no tool argument can name another)."""

    user_id: str
    session_id: str
    turn_id: str
    memory: MemoryClient
    recall_k: int
    memories_used: list[MemoryUsed] = field(default_factory=list)


@function_tool
def get_current_time() -> str:
    """Return the current date and time in UTC (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@function_tool
async def recall_memories(ctx: RunContextWrapper[TurnContext], query: str) -> str:
    """Search what you remember about the user.

    Args:
        query: What to look for, in plain words.
    """
    turn = ctx.context
    try:
        hits = await turn.memory.search(turn.user_id, query, k=max(turn.recall_k, 1))
    except InvocationFailed:
        return "The memory service is unavailable right now."
    if not hits:
        return "Nothing remembered yet."
    used = [MemoryUsed.of(hit) for hit in hits]
    for memory in used:
        if all(m.id != memory.id for m in turn.memories_used):
            turn.memories_used.append(memory)
    return "\n".join(memory_lines(used))


@function_tool
async def remember(ctx: ToolContext[TurnContext], content: str, kind: str = "semantic") -> str:
    """Store something about the user for later conversations.

    Args:
        content: The fact, preference or event to remember, as a short sentence.
        kind: semantic (a fact about the user), episodic (an event) or procedural (a skill).
    """
    turn = ctx.context
    if kind not in ("semantic", "episodic", "procedural"):
        kind = "semantic"
    try:
        created = await turn.memory.add_memory(
            turn.user_id,
            kind=kind,
            content=content[:MAX_MEMORY_CONTENT],
            tags=["remembered"],
            source={"type": "conversation", "session_id": turn.session_id, "turn_id": turn.turn_id},
            # One memory per tool call, however often the call is retried on its way.
            idempotency_key=f"{turn.turn_id}:{ctx.tool_call_id}",
        )
    except InvocationFailed:
        return "Could not store it: the memory service is unavailable."
    return json.dumps({"stored": created.memory.id, "content": created.memory.content})


TOOLS = [get_current_time, recall_memories, remember]


#: Heads the episodes recalled: what the user said then may have changed since; the facts
#: above it are current (memory keeps one live value per attribute: docs/memory.md).
EARLIER_SECTION = "From earlier conversations (what was said then; the facts above are current):"


def memory_lines(memories: list[MemoryUsed]) -> list[str]:
    """Recalled memories as the model reads them: the current facts first, then the episodes,
    each dated and marked as the past, so that a value the user has since changed ("I live in
    Lisbon", said before moving) is never shown as current."""
    current = [m for m in memories if m.kind != "episodic"]
    earlier = [m for m in memories if m.kind == "episodic"]
    lines = [f"- {m.content}" for m in current]
    if earlier:
        lines.append(EARLIER_SECTION)
        lines += [
            f"- ({'earlier' if m.created_at is None else f'{m.created_at:%Y-%m-%d}'}) {m.content}"
            for m in earlier
        ]
    return lines


def instructions_with(memories: list[MemoryUsed]) -> str:
    if not memories:
        return BASE_INSTRUCTIONS
    lines = "\n".join(memory_lines(memories))
    return f"{BASE_INSTRUCTIONS}\n\n{MEMORY_SECTION}\n{lines}\n"


def build_model(settings: ChatSettings) -> tuple[Model, str]:
    """The configured model and its name: OpenAI-compatible with a key, else the offline one."""
    if not settings.tracing_export:
        set_tracing_disabled(True)
    if settings.openai_api_key is None:
        return OfflineModel(
            token_delay_seconds=settings.offline_token_delay_seconds
        ), OFFLINE_MODEL_NAME
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )
    return OpenAIChatCompletionsModel(
        model=settings.model_name, openai_client=client
    ), settings.model_name


def build_agent(model: Model, memories: list[MemoryUsed]) -> Agent[TurnContext]:
    return Agent[TurnContext](
        name=AGENT_NAME, instructions=instructions_with(memories), tools=list(TOOLS), model=model
    )
