"""A chat turn: recall memories, run the agent (streamed), save the turn with its event.

``stream_turn`` yields typed events as they happen; ``chat`` is the same turn collected into one
reply. The turn is saved when it finishes; a turn cut short (the client went away) is saved with
what was produced so far, marked interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agents import Model, Runner
from agents.items import ToolCallItem, ToolCallOutputItem

from chat.core.exceptions import ModelFailed, SessionNotFound
from chat.core.settings import ChatSettings
from chat.data.clients.memory import MemoryClient
from chat.data.sessions import SessionRepository
from chat.models.chat import ChatRequest, ChatResponse, MemoryUsed, ReplyMetadata, ToolUsed
from chat.models.events import ConversationTurn, ToolUse
from chat.models.sessions import (
    HistoryMessage,
    SessionCreated,
    SessionDeleted,
    SessionHistory,
    SessionList,
)
from chat.services.agent import TurnContext, build_agent
from sidecar.errors import InvocationFailed
from sidecar.state import StateStore

logger = logging.getLogger(__name__)

# Saves of interrupted turns run on after the request's task is cancelled.
_background: set[asyncio.Task[Any]] = set()


@dataclass(frozen=True)
class TurnEvent:
    type: str
    data: dict[str, Any]


@dataclass
class _Turn:
    user_id: str
    session_id: str
    turn_id: str
    text: str
    started: datetime
    reply: list[str] = field(default_factory=list)
    tools: list[ToolUsed] = field(default_factory=list)
    degraded: bool = False


def suggested_questions(turn: _Turn, memories: list[MemoryUsed]) -> list[str]:
    suggestions = ["What do you know about me?", "What time is it?"]
    if not memories:
        suggestions.append("Remember that I prefer short answers.")
    used = {t.name for t in turn.tools}
    return [s for s in suggestions if not ("time" in s and "get_current_time" in used)][:3]


class ChatService:
    def __init__(
        self,
        *,
        store: StateStore,
        memory: MemoryClient,
        settings: ChatSettings,
        model: Model,
        model_name: str,
    ) -> None:
        self._sessions = SessionRepository(store, outbox=settings.outbox_enabled)
        self._memory = memory
        self._settings = settings
        self._model = model
        self._model_name = model_name

    # -- sessions ------------------------------------------------------------------------------
    async def create_session(self, *, user_id: str) -> SessionCreated:
        session_id = str(uuid.uuid4())
        await self._sessions.create(user_id, session_id, now=datetime.now(UTC))
        return SessionCreated(session_id=session_id, message="Session created successfully")

    async def list_sessions(self, *, user_id: str) -> SessionList:
        return SessionList(user_id=user_id, sessions=await self._sessions.list_sessions(user_id))

    async def history(self, *, user_id: str, session_id: str) -> SessionHistory:
        document = await self._sessions.get(user_id, session_id)
        if document is None:
            raise SessionNotFound(session_id)
        return SessionHistory(session_id=session_id, messages=document.messages)

    async def delete_session(self, *, user_id: str, session_id: str) -> SessionDeleted:
        if not await self._sessions.delete(user_id, session_id):
            raise SessionNotFound(session_id)
        return SessionDeleted(message=f"Session {session_id} deleted")

    # -- turns ---------------------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        done: dict[str, Any] | None = None
        async for event in self.stream_turn(request):
            if event.type == "error":
                raise ModelFailed(str(event.data.get("message")))
            if event.type == "done":
                done = event.data
        assert done is not None
        return ChatResponse.model_validate(done)

    async def stream_turn(self, request: ChatRequest) -> AsyncIterator[TurnEvent]:
        user_id = request.user_id
        if request.session_id is not None:
            document = await self._sessions.get(user_id, request.session_id)
            if document is None:
                raise SessionNotFound(request.session_id)  # another user's session included
            session_id, history = request.session_id, document.messages
        else:
            session_id, history = (await self.create_session(user_id=user_id)).session_id, []
        turn = _Turn(
            user_id=user_id,
            session_id=session_id,
            turn_id=uuid.uuid4().hex,
            text=request.content,
            started=datetime.now(UTC),
        )
        memories = await self._recall(turn)
        yield TurnEvent(
            "session",
            {
                "session_id": session_id,
                "turn_id": turn.turn_id,
                "memories_used": [m.model_dump() for m in memories],
                "degraded": turn.degraded,
            },
        )
        context = TurnContext(
            user_id=user_id,
            session_id=session_id,
            turn_id=turn.turn_id,
            memory=self._memory,
            recall_k=self._settings.recall_k,
            memories_used=list(memories),
        )
        agent = build_agent(self._model, memories)
        window = history[-self._settings.history_window :] if self._settings.history_window else []
        model_input: list[Any] = [{"role": m.role, "content": m.content} for m in window]
        model_input.append({"role": "user", "content": turn.text})

        try:
            result = Runner.run_streamed(agent, model_input, context=context)
            async for event in result.stream_events():
                for typed in self._translate(event, turn):
                    yield typed
            reply = str(result.final_output or "".join(turn.reply))
        except (asyncio.CancelledError, GeneratorExit):
            # The client went away mid-stream: keep what was said, marked interrupted.
            if turn.reply:
                self._save_in_background(turn, "".join(turn.reply), context, interrupted=True)
            raise
        except Exception as exc:  # the model or a tool failed: there is no reply to save
            logger.exception("turn %s failed", turn.turn_id)
            yield TurnEvent("error", {"message": f"the model failed: {type(exc).__name__}"})
            return
        await self._save(turn, reply, context, interrupted=False)
        metadata = ReplyMetadata(
            timestamp=datetime.now(UTC),
            session_id=session_id,
            turn_id=turn.turn_id,
            model=self._model_name,
            memories_used=context.memories_used,
            tools_used=turn.tools,
            degraded=turn.degraded,
        )
        response = ChatResponse(
            response=reply,
            reply=reply,
            session_id=session_id,
            user_id=user_id,
            suggested_questions=suggested_questions(turn, context.memories_used),
            metadata=metadata,
        )
        yield TurnEvent("done", response.model_dump(mode="json"))

    @staticmethod
    def _translate(event: Any, turn: _Turn) -> list[TurnEvent]:
        """The Agents SDK's stream events, as this API's typed events."""
        if event.type == "raw_response_event":
            if event.data.type == "response.output_text.delta":
                turn.reply.append(event.data.delta)
                return [TurnEvent("delta", {"text": event.data.delta})]
            return []
        if event.type != "run_item_stream_event":
            return []
        if isinstance(event.item, ToolCallItem):
            raw: Any = event.item.raw_item
            tool = ToolUsed(
                name=getattr(raw, "name", "tool"), arguments=getattr(raw, "arguments", None)
            )
            turn.tools.append(tool)
            return [TurnEvent("tool_call", {"name": tool.name, "arguments": tool.arguments})]
        if isinstance(event.item, ToolCallOutputItem):
            output = str(event.item.output)[:2000]
            name = turn.tools[-1].name if turn.tools else ""
            if turn.tools:
                turn.tools[-1].output = output
            return [TurnEvent("tool_result", {"name": name, "output": output})]
        return []

    async def _recall(self, turn: _Turn) -> list[MemoryUsed]:
        if self._settings.recall_k == 0:
            return []
        try:
            hits = await self._memory.search(turn.user_id, turn.text, k=self._settings.recall_k)
        except InvocationFailed as exc:
            logger.warning("memory unavailable for turn %s: %s", turn.turn_id, exc)
            turn.degraded = True
            return []
        return [MemoryUsed(id=h.memory.id, score=h.score, content=h.memory.content) for h in hits]

    async def _save(
        self, turn: _Turn, reply: str, context: TurnContext, *, interrupted: bool
    ) -> None:
        now = datetime.now(UTC)
        used_ids = [m.id for m in context.memories_used]
        messages = [
            HistoryMessage(
                role="user", content=turn.text, timestamp=turn.started, turn_id=turn.turn_id
            ),
            HistoryMessage(
                role="assistant",
                content=reply,
                timestamp=now,
                turn_id=turn.turn_id,
                interrupted=interrupted,
                tools_used=[t.name for t in turn.tools],
                memories_used=used_ids,
                suggested_questions=suggested_questions(turn, context.memories_used),
            ),
        ]
        event = ConversationTurn(
            turn_id=turn.turn_id,
            session_id=turn.session_id,
            user_id=turn.user_id,
            user_text=turn.text,
            reply=reply,
            model=self._model_name,
            completed_at=now,
            interrupted=interrupted,
            tools_used=[
                ToolUse(name=t.name, arguments=t.arguments, output=(t.output or None))
                for t in turn.tools
            ],
        )
        await self._sessions.append_turn(turn.user_id, turn.session_id, messages, event)

    def _save_in_background(
        self, turn: _Turn, reply: str, context: TurnContext, *, interrupted: bool
    ) -> None:
        task = asyncio.create_task(self._save(turn, reply, context, interrupted=interrupted))
        _background.add(task)
        task.add_done_callback(_background.discard)
