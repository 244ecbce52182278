"""A chat turn: take the session's turn lease, recall memories, run the agent (streamed), save
the turn with its event, release the lease.

``start_turn`` resolves the session and waits for its turn (or refuses, per the message's
double-texting strategy) *before* anything is written or streamed, so a missing session is a
404 and a refused message a 409 with nothing of it stored. The turn itself then runs as its own
task (a ``TurnRun``), owned by the process's ``TurnRegistry`` rather than by the request: when
the client goes away the transport cancels it explicitly, and the cancelled turn saves what it
has (the user's message, the reply so far, marked interrupted) before its lease lets the next
turn of the session start. ``chat`` is the same turn collected into one reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import openai
from agents import Model, Runner
from agents.items import ToolCallItem, ToolCallOutputItem

from chat.core.exceptions import (
    ModelFailed,
    ModelTimedOut,
    SessionBusy,
    SessionDeleted,
    SessionFull,
    SessionNotFound,
)
from chat.core.settings import ChatSettings
from chat.data.actors import SessionActors, session_actor_id
from chat.data.clients.memory import MemoryClient
from chat.data.sessions import SessionRepository
from chat.models.chat import (
    ChatRequest,
    ChatResponse,
    MemoryUsed,
    MultitaskStrategy,
    ReplyMetadata,
    ToolUsed,
)
from chat.models.sessions import (
    HistoryMessage,
    SessionCreated,
    SessionHistory,
    SessionList,
)
from chat.models.sessions import (
    SessionDeleted as SessionDeletedReply,
)
from chat.services.agent import TurnContext, build_agent
from sidecar.actors import ActorClient
from sidecar.cursors import InvalidCursor, decode_cursor, encode_cursor
from sidecar.errors import (
    ConcurrencyConflict,
    InvocationFailed,
    SidecarError,
    StateStoreUnavailable,
)
from sidecar.state import StateStore
from sidecar.turn_events import MAX_TOOL_TEXT_CHARS, ConversationTurn, ToolUse, truncate

logger = logging.getLogger(__name__)

HistoryOrder = Literal["oldest", "newest"]
DEFAULT_HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 500
DEFAULT_SESSIONS_LIMIT = 50
MAX_SESSIONS_LIMIT = 200


def encode_history_cursor(index: int, order: HistoryOrder) -> str:
    return encode_cursor({"i": index, "o": order})


def encode_position_cursor(position: tuple[datetime, str]) -> str:
    return encode_cursor({"t": position[0].isoformat(), "i": position[1]})


def decode_position_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a list cursor continues before. Raises InvalidCursor."""
    fields = decode_cursor(cursor)
    try:
        return datetime.fromisoformat(fields["t"]), str(fields["i"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc


def decode_history_cursor(cursor: str, order: HistoryOrder, total: int) -> int:
    """The message index a history cursor continues from (0 = the oldest message). Raises
    InvalidCursor for a cursor of another order or out of range."""
    fields = decode_cursor(cursor)
    index = fields.get("i")
    if fields.get("o") != order or not isinstance(index, int) or not 0 <= index <= total:
        raise InvalidCursor("cursor is not one this API returned for this order")
    return index


T = TypeVar("T")

# Waiting for a session's turn: poll its actor from this delay, doubling up to the cap; a turn
# released in this process wakes its local waiters at once.
_POLL_FIRST_SECONDS = 0.02
_POLL_MAX_SECONDS = 0.5


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
    history: list[HistoryMessage]  # the agent's window: the session's newest messages
    reply: list[str] = field(default_factory=list)
    tools: list[ToolUsed] = field(default_factory=list)
    degraded: bool = False
    memories_used: list[MemoryUsed] = field(default_factory=list)


def suggested_questions(turn: _Turn, memories: list[MemoryUsed]) -> list[str]:
    suggestions = ["What do you know about me?", "What time is it?"]
    if not memories:
        suggestions.append("Remember that I prefer short answers.")
    used = {t.name for t in turn.tools}
    return [s for s in suggestions if not ("time" in s and "get_current_time" in used)][:3]


class TurnRun:
    """A turn running as its own task: its events as they happen, and how to stop it.

    ``cancel(reason)`` stops it (``client_disconnected``, ``interrupted`` by a newer message,
    ``session_deleted``, ``shutdown``); the turn then saves what it has and ends."""

    def __init__(self, turn: _Turn) -> None:
        self.turn = turn
        self.cancel_reason: str | None = None
        self.task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()

    @property
    def session_key(self) -> str:
        return session_actor_id(self.turn.user_id, self.turn.session_id)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self._queue.put_nowait(TurnEvent(kind, data))

    def close(self) -> None:
        self._queue.put_nowait(None)

    def cancel(self, reason: str) -> None:
        """Stop the turn (once; the first reason wins). It saves what it has, then ends.

        The cancellation is scheduled rather than immediate: a task cancelled before its first
        step would never run its coroutine, and so never save or close its stream."""
        if self.task is not None and not self.task.done() and self.cancel_reason is None:
            self.cancel_reason = reason
            self.task.get_loop().call_soon(self.task.cancel)

    async def events(self) -> AsyncIterator[TurnEvent]:
        """The turn's events until it ends. A consumer that stops early (the client went away)
        cancels the turn: explicitly, here, not whenever the generator is collected."""
        ended = False
        try:
            while (event := await self._queue.get()) is not None:
                yield event
            ended = True
        finally:
            if not ended:
                self.cancel("client_disconnected")

    async def wait(self) -> None:
        if self.task is not None:
            await asyncio.wait({self.task})


class TurnRegistry:
    """The turns running in this process, owned by the app's lifespan: a turn's task outlives
    the request that started it, and shutdown cancels and drains them (their saves included).

    It also lets a waiting turn start as soon as a turn of the same session ends *here*, and
    lets ``interrupt`` stop a running turn here at once; across replicas the session's actor
    does both (on the next poll or renewal), so nothing relies on this for correctness."""

    def __init__(self) -> None:
        self._runs: set[TurnRun] = set()
        self._released: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._waiters: defaultdict[str, int] = defaultdict(int)

    def start(self, run: TurnRun, work: Coroutine[Any, Any, None]) -> None:
        def ended(task: asyncio.Task[None]) -> None:
            self._runs.discard(run)
            self.wake(run.session_key)
            run.close()  # the stream ends whatever happened (a second close is harmless)
            if not task.cancelled() and task.exception() is not None:
                logger.error("turn %s failed", run.turn.turn_id, exc_info=task.exception())

        self._runs.add(run)
        run.task = asyncio.create_task(work, name=f"turn-{run.turn.turn_id}")
        run.task.add_done_callback(ended)

    def interrupt(self, session_key: str) -> None:
        for run in list(self._runs):
            if run.session_key == session_key:
                run.cancel("interrupted")

    def wake(self, session_key: str) -> None:
        event = self._released.pop(session_key, None)
        if event is not None:
            event.set()

    async def released(self, session_key: str, *, within_seconds: float) -> None:
        """Return when a turn of the session ends in this process, or after the given time.
        The session's event lives only while someone waits on it (a turn running on another
        replica never wakes it here)."""
        event = self._released[session_key]
        self._waiters[session_key] += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), within_seconds)
        finally:
            self._waiters[session_key] -= 1
            if not self._waiters[session_key]:
                del self._waiters[session_key]
                if self._released.get(session_key) is event:
                    del self._released[session_key]

    @property
    def running(self) -> int:
        return len(self._runs)

    async def drain(self, *, grace_seconds: float = 10.0) -> None:
        """Cancel every running turn (each saves what it has) and wait for them to end."""
        runs = list(self._runs)
        for run in runs:
            run.cancel("shutdown")
        tasks = {run.task for run in runs if run.task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)


async def _finish_regardless(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if the awaiting task is cancelled meanwhile: a turn's
    save must not be cut in half by a second cancellation (shutdown after a disconnect)."""
    future = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                return future.result()


def session_actors(actors: ActorClient, settings: ChatSettings) -> SessionActors:
    """The session and user actors, over the process's actor client."""
    return SessionActors(
        actors,
        max_messages=settings.max_messages_per_session,
        max_sessions=settings.max_sessions_per_user,
    )


class ChatService:
    def __init__(
        self,
        *,
        store: StateStore,
        actors: SessionActors,
        memory: MemoryClient,
        settings: ChatSettings,
        model: Model,
        model_name: str,
        registry: TurnRegistry,
    ) -> None:
        self._sessions = SessionRepository(
            store, outbox=settings.outbox_enabled, max_messages=settings.max_messages_per_session
        )
        self._actors = actors
        self._memory = memory
        self._settings = settings
        self._model = model
        self._model_name = model_name
        self._registry = registry

    # -- sessions ------------------------------------------------------------------------------
    async def create_session(self, *, user_id: str) -> SessionCreated:
        session_id = str(uuid.uuid4())
        await self._actors.create_session(user_id, session_id, now=datetime.now(UTC))
        return SessionCreated(session_id=session_id, message="Session created successfully")

    async def list_sessions(
        self, *, user_id: str, limit: int = DEFAULT_SESSIONS_LIMIT, cursor: str | None = None
    ) -> SessionList:
        """The user's sessions, newest first, ``limit`` at a time after ``cursor``. Raises
        InvalidCursor."""
        before = None if cursor is None else decode_position_cursor(cursor)
        sessions, more, total = await self._sessions.list_sessions(
            user_id, limit=limit, before=before
        )
        last = sessions[-1] if sessions else None
        return SessionList(
            user_id=user_id,
            sessions=sessions,
            next_cursor=(
                encode_position_cursor((last.created_at, last.session_id))
                if more and last is not None else None
            ),
            total=total,
        )  # fmt: skip

    async def history(
        self,
        *,
        user_id: str,
        session_id: str,
        limit: int = DEFAULT_HISTORY_LIMIT,
        order: HistoryOrder = "oldest",
        cursor: str | None = None,
    ) -> SessionHistory:
        """One page of the session's messages: ``limit`` of them, oldest or newest first,
        after ``cursor``. Reads the head and only the history pages the slice needs. Raises
        SessionNotFound, InvalidCursor."""
        head = await self._sessions.head(user_id, session_id)
        if head is None:
            raise SessionNotFound(session_id)
        total = head.message_count
        if order == "oldest":
            start = 0 if cursor is None else decode_history_cursor(cursor, order, total)
            stop = min(total, start + limit)
            messages = await self._sessions.messages(head, start, stop)
            more = stop < total
            next_at = stop
        else:
            stop = total if cursor is None else decode_history_cursor(cursor, order, total)
            start = max(0, stop - limit)
            messages = (await self._sessions.messages(head, start, stop))[::-1]
            more = start > 0
            next_at = start
        return SessionHistory(
            session_id=session_id,
            messages=messages,
            next_cursor=encode_history_cursor(next_at, order) if more else None,
            total=total,
        )

    async def delete_session(self, *, user_id: str, session_id: str) -> SessionDeletedReply:
        """Erase the session's history (through its actor: a running turn is stopped and its
        save refused; the erasure publishes ``session.deleted``) and take it off the user's
        list. 404 if it was neither."""
        head = await self._sessions.head(user_id, session_id)
        had_document = await self._actors.delete(user_id, session_id, now=datetime.now(UTC))
        created_at = None if head is None else head.created_at
        was_listed = await self._actors.unlist_session(user_id, session_id, created_at)
        if not (had_document or was_listed):
            raise SessionNotFound(session_id)
        return SessionDeletedReply(message=f"Session {session_id} deleted")

    # -- turns ---------------------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One turn, whole reply. Raises SessionNotFound, SessionBusy, SessionDeleted (the
        session was deleted while the turn ran), ModelFailed and ModelTimedOut (nothing saved
        for either)."""
        run = await self.start_turn(request)
        done: dict[str, Any] | None = None
        async for event in run.events():
            if event.type == "error":
                code, message = event.data.get("code"), str(event.data.get("message"))
                if code == "session_deleted":
                    raise SessionDeleted(run.turn.session_id)
                if code == "conflict":
                    raise ConcurrencyConflict(message)
                if code == "unavailable":
                    raise StateStoreUnavailable(message)
                if code == "model_timeout":
                    raise ModelTimedOut(message)
                raise ModelFailed(message)
            if event.type == "done":
                done = event.data
        if done is None:  # pragma: no cover - every run ends with done or error
            raise ModelFailed("the turn ended without a reply")
        return ChatResponse.model_validate(done)

    async def start_turn(self, request: ChatRequest) -> TurnRun:
        """Resolve the session, wait for its turn, and start the turn; return it running.

        Raises RateLimited (the user's TURN_RATE_LIMIT is spent), SessionNotFound (no such
        session for this user, or deleted while waiting) and SessionBusy (``reject`` while
        another turn runs or waits, or the wait ran out), in all cases with nothing written;
        ActorCallFailed when the session's actor is unreachable."""
        user_id = request.user_id
        if self._settings.turn_rate_limit:
            await self._actors.take_turn(user_id)  # before anything is read or written
        strategy: MultitaskStrategy = (
            request.multitask_strategy or self._settings.multitask_strategy
        )
        if request.session_id is None:
            session_id = (await self.create_session(user_id=user_id)).session_id
        else:
            session_id = request.session_id
            head = await self._sessions.head(user_id, session_id)
            if head is None:
                raise SessionNotFound(session_id)  # another user's session included
            if head.message_count + 2 > self._settings.max_messages_per_session:
                raise SessionFull(self._settings.max_messages_per_session)
        turn_id = uuid.uuid4().hex
        await self._acquire(user_id, session_id, turn_id, strategy)
        try:
            # Read after the lease is ours: the history includes the turn that ran before.
            # Only the agent's window is read (the tail, and a sealed page when it is short).
            head = await self._sessions.head(user_id, session_id)
            if head is None:
                raise SessionNotFound(session_id)
            window = self._settings.history_window
            history = await self._sessions.messages(
                head, head.message_count - window, head.message_count
            ) if window else []  # fmt: skip
        except BaseException:
            await _finish_regardless(self._release(user_id, session_id, turn_id))
            raise
        turn = _Turn(
            user_id=user_id,
            session_id=session_id,
            turn_id=turn_id,
            text=request.content,
            started=datetime.now(UTC),
            history=history,
        )
        run = TurnRun(turn)
        self._registry.start(run, self._run(run))
        return run

    async def _acquire(
        self, user_id: str, session_id: str, turn_id: str, strategy: MultitaskStrategy
    ) -> None:
        key = session_actor_id(user_id, session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.turn_queue_timeout_seconds
        delay = _POLL_FIRST_SECONDS
        granted = False
        try:
            while True:
                status, position = await self._actors.acquire(
                    user_id,
                    session_id,
                    turn_id,
                    strategy=strategy,
                    lease_seconds=self._settings.turn_lease_seconds,
                )
                if status == "granted":
                    granted = True
                    return
                if status == "busy":
                    raise SessionBusy(
                        f"session {session_id} is running another turn "
                        "(multitask_strategy=reject); nothing was saved"
                    )
                if strategy == "interrupt":
                    self._registry.interrupt(key)
                if loop.time() >= deadline:
                    raise SessionBusy(
                        f"session {session_id}: still {position} turn(s) ahead after "
                        f"{self._settings.turn_queue_timeout_seconds:.0f} s; nothing was saved"
                    )
                await self._registry.released(key, within_seconds=delay)
                delay = min(delay * 2, _POLL_MAX_SECONDS)
        finally:
            if not granted:  # refused, timed out, or the caller went away: leave the queue
                await _finish_regardless(self._release(user_id, session_id, turn_id))

    async def _release(self, user_id: str, session_id: str, turn_id: str) -> None:
        try:
            await self._actors.release(user_id, session_id, turn_id)
        except Exception as exc:  # the lease expires by itself
            logger.warning("could not release the lease of turn %s: %r", turn_id, exc)

    async def _run(self, run: TurnRun) -> None:
        """The turn's task: produce the reply, then save it; cancelled, save what there is."""
        turn = run.turn
        context = TurnContext(
            user_id=turn.user_id,
            session_id=turn.session_id,
            turn_id=turn.turn_id,
            memory=self._memory,
            recall_k=self._settings.recall_k,
        )
        heartbeat = asyncio.create_task(self._keep_lease(run))
        try:
            try:
                reply = await self._produce(run, context)
                interrupted = False
            except asyncio.CancelledError:
                # Ours to stop (TurnRun.cancel): save what was said, marked interrupted.
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                reply, interrupted = "".join(turn.reply), True
            except Exception as exc:  # the model or a tool failed: nothing is saved
                logger.exception("turn %s failed", turn.turn_id)
                await _finish_regardless(self._release(turn.user_id, turn.session_id, turn.turn_id))
                # The client learns what kind of failure, never the provider's text.
                if isinstance(exc, openai.APITimeoutError):
                    error = {"code": "model_timeout", "message": "the model did not answer in time"}
                else:
                    error = {
                        "code": "model_failed",
                        "message": f"the model failed: {type(exc).__name__}",
                    }
                run.emit("error", error)
                return
            heartbeat.cancel()  # the save releases the lease: no renewal may race it
            try:
                done = await _finish_regardless(
                    self._save(run, reply, context, interrupted=interrupted)
                )
            except SessionDeleted as exc:
                run.emit("error", {"code": "session_deleted", "message": str(exc)})
                return
            except Exception as exc:  # the store or the actor failed: 409 / 503 for the client
                logger.error("turn %s could not be saved: %r", turn.turn_id, exc)
                await _finish_regardless(self._release(turn.user_id, turn.session_id, turn.turn_id))
                code = "conflict" if isinstance(exc, ConcurrencyConflict) else "unavailable"
                run.emit("error", {"code": code, "message": "the turn could not be saved; retry"})
                return
            run.emit("done", done.model_dump(mode="json"))
        finally:
            heartbeat.cancel()
            run.close()

    async def _produce(self, run: TurnRun, context: TurnContext) -> str:
        """Recall, then run the agent, emitting events as they come; return the reply."""
        turn = run.turn
        memories = await self._recall(turn)
        context.memories_used = list(memories)
        run.emit(
            "session",
            {
                "session_id": turn.session_id,
                "turn_id": turn.turn_id,
                "memories_used": [m.model_dump(mode="json") for m in memories],
                "degraded": turn.degraded,
            },
        )
        agent = build_agent(self._model, memories)
        model_input: list[Any] = [
            {"role": m.role, "content": m.content} for m in turn.history if m.content
        ]
        model_input.append({"role": "user", "content": turn.text})
        # The agent's model calls per turn (a tool call and its answer take one each): a turn
        # that needs more ends as `model_failed` (MaxTurnsExceeded), not in a loop.
        result = Runner.run_streamed(
            agent, model_input, context=context, max_turns=self._settings.agent_max_turns
        )
        try:
            async for event in result.stream_events():
                for typed in self._translate(event, turn):
                    run.emit(typed.type, typed.data)
        except asyncio.CancelledError:
            result.cancel()  # stop the SDK's own run task too
            raise
        turn.memories_used = context.memories_used
        return str(result.final_output or "".join(turn.reply))

    async def _keep_lease(self, run: TurnRun) -> None:
        """Renew the turn's lease while it runs; stop the turn when the session's actor says
        it was interrupted (by a newer message, on any replica) or its session deleted."""
        turn = run.turn
        while True:
            await asyncio.sleep(self._settings.turn_lease_renew_seconds)
            try:
                status = await self._actors.renew(
                    turn.user_id,
                    turn.session_id,
                    turn.turn_id,
                    lease_seconds=self._settings.turn_lease_seconds,
                )
            except Exception as exc:  # the lease expires by itself if this keeps failing
                logger.warning("renewing the lease of turn %s failed: %r", turn.turn_id, exc)
                continue
            if status in ("interrupted", "deleted"):
                run.cancel("session_deleted" if status == "deleted" else "interrupted")
                return
            if status == "lost":
                logger.warning(
                    "turn %s lost its lease (expired, or its actor moved); it runs on, and "
                    "its save is still guarded by the session's ETag",
                    turn.turn_id,
                )

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
            output = truncate(str(event.item.output), MAX_TOOL_TEXT_CHARS)
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
        return [MemoryUsed.of(h) for h in hits]

    async def _save(
        self, run: TurnRun, reply: str, context: TurnContext, *, interrupted: bool
    ) -> ChatResponse:
        """Commit the turn through its session's actor (which releases the lease), update the
        user's list, and build the reply. An interrupted turn cut before any reply saves the
        user's message alone, marked interrupted. Raises SessionDeleted."""
        turn = run.turn
        now = datetime.now(UTC)
        memories_used = context.memories_used
        suggestions = suggested_questions(turn, memories_used)
        messages = [
            HistoryMessage(
                role="user",
                content=turn.text,
                timestamp=turn.started,
                turn_id=turn.turn_id,
                interrupted=interrupted,
            )
        ]
        if reply or not interrupted:
            messages.append(
                HistoryMessage(
                    role="assistant",
                    content=reply,
                    timestamp=now,
                    turn_id=turn.turn_id,
                    interrupted=interrupted,
                    tools_used=[t.name for t in turn.tools],
                    memories_used=[m.id for m in memories_used],
                    suggested_questions=suggestions,
                )
            )
        # The record memory reads, bounded here: a long reply or tool output is truncated in
        # the event (the history keeps it whole), never a reason to lose the turn.
        event = ConversationTurn.bounded(
            turn_id=turn.turn_id,
            session_id=turn.session_id,
            user_id=turn.user_id,
            user_text=turn.text,
            reply=reply,
            model=self._model_name,
            completed_at=now,
            interrupted=interrupted,
            tools_used=[ToolUse.bounded(t.name, t.arguments, t.output or None) for t in turn.tools],
        )
        summary = await self._actors.commit(
            turn.user_id, turn.session_id, turn.turn_id, messages, event
        )
        try:
            await self._actors.touch_session(turn.user_id, summary)
        except SidecarError as exc:  # derived data: the next turn's touch repairs it
            logger.warning("session list of %s not updated: %s", turn.user_id, exc)
        metadata = ReplyMetadata(
            timestamp=now,
            session_id=turn.session_id,
            turn_id=turn.turn_id,
            model=self._model_name,
            memories_used=memories_used,
            tools_used=turn.tools,
            degraded=turn.degraded,
            interrupted=interrupted,
        )
        return ChatResponse(
            response=reply,
            reply=reply,
            session_id=turn.session_id,
            user_id=turn.user_id,
            suggested_questions=suggestions,
            metadata=metadata,
        )
