"""Streaming transports for a turn: Server-Sent Events and a WebSocket (FastAgency's message
taxonomy), both carrying live memory notifications for the user."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import (
    APIRouter,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from chat.api.deps import CallerDep, ChatServiceDep, SettingsDep, get_settings
from chat.core.auth import Authenticator, bearer
from chat.core.exceptions import Forbidden, SessionBusy, SessionNotFound, Unauthenticated
from chat.core.settings import ChatSettings
from chat.models.chat import ChatRequest
from chat.services.chat import TurnEvent, TurnRun
from chat.services.notifications import NotificationHub, committed_at, notification_from
from sidecar.contracts import DROP, SUCCESS, USER_ID_PATTERN, bulk_entries, bulk_statuses
from sidecar.errors import SidecarError
from sidecar.event_lag import DeliveryLag

logger = logging.getLogger(__name__)
router = APIRouter()


def hub_of(connection: Request | WebSocket) -> NotificationHub:
    hub: NotificationHub = connection.app.state.notifications
    return hub


async def with_notifications(
    events: AsyncIterator[TurnEvent], notes: asyncio.Queue[dict[str, Any]]
) -> AsyncIterator[TurnEvent]:
    """The turn's events, with the user's memory notifications interleaved as they arrive."""
    iterator = aiter(events)
    next_event: asyncio.Future[TurnEvent] = asyncio.ensure_future(anext(iterator))
    next_note: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(notes.get())
    try:
        while True:
            waiting: set[asyncio.Future[Any]] = {next_event, next_note}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if next_note in done:
                yield TurnEvent("memory", next_note.result())
                next_note = asyncio.ensure_future(notes.get())
            if next_event in done:
                try:
                    event = next_event.result()
                except StopAsyncIteration:
                    return
                yield event
                next_event = asyncio.ensure_future(anext(iterator))
    finally:
        next_note.cancel()
        next_event.cancel()  # a turn still running is cancelled: it saves what it has


@router.post("/chat/stream", tags=["chat"], response_class=EventSourceResponse)
async def chat_stream(
    *, body: ChatRequest, service: ChatServiceDep, request: Request, caller: CallerDep
) -> EventSourceResponse:
    """One turn as Server-Sent Events: ``session`` (ids, memories used, degraded), ``delta``,
    ``tool_call``, ``tool_result``, ``memory`` (live notifications), then ``done`` (the whole
    reply and its metadata; ``metadata.interrupted`` when a newer message interrupted it) or
    ``error`` (``code``: ``session_deleted``, ``model_failed``, ``unavailable``). Heartbeats
    keep idle proxies from closing it.

    The session's turn is taken before the stream opens: a missing session answers 404 and a
    refused message (``multitask_strategy=reject``) 409, both as plain HTTP errors. A client
    that goes away cancels the turn, which is saved at once, marked interrupted."""
    Authenticator.authorize(caller, body.user_id)
    settings = get_settings(request)
    run = await service.start_turn(body)
    hub = hub_of(request)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            with hub.subscribe(body.user_id) as notes:
                async for event in with_notifications(run.events(), notes):
                    yield ServerSentEvent(event=event.type, data=json.dumps(event.data))
        finally:
            run.cancel("client_disconnected")  # a no-op once the turn has ended

    return EventSourceResponse(
        stream(),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        ping=max(1, int(settings.sse_heartbeat_seconds)),
    )


WS_TYPES = {
    "session": "workflow_started",
    "delta": "text_message_delta",
    "tool_call": "suggested_function_call",
    "tool_result": "function_call_execution",
    "memory": "memory",
    "done": "workflow_completed",
    "error": "error",
}


@router.websocket("/ws")
async def chat_socket(
    websocket: WebSocket,
    service: ChatServiceDep,
    settings: SettingsDep,
    user_id: str = Query(pattern=USER_ID_PATTERN),
    access_token: str | None = Query(default=None, max_length=8192),
) -> None:
    """A conversation over one socket. Client → server: ``{"type": "user_message", "content",
    "session_id"?}`` and ``{"type": "cancel"}``. Server → client: ``workflow_started``,
    ``text_message_delta``, ``suggested_function_call``, ``function_call_execution``,
    ``text_message`` (the whole reply), ``workflow_completed``, ``memory``, ``error``.

    With ``AUTH_MODE=jwt`` the token comes as ``Authorization: Bearer …`` or, for browsers,
    which cannot set headers on a WebSocket, as ``?access_token=``; a socket without a valid
    token for ``user_id`` is refused before it opens (close code 1008)."""
    authenticator = Authenticator(settings)
    try:
        token = bearer(websocket.headers.get("authorization")) or access_token
        authenticator.authorize(authenticator.caller(token), user_id)
    except (Unauthenticated, Forbidden) as exc:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=str(exc)) from exc
    await websocket.accept()
    send_lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with send_lock:
            await websocket.send_json(message)

    running: list[TurnRun] = []  # the socket's turn once it has started (at most one)

    async def run_turn(request: ChatRequest) -> None:
        try:
            run = await service.start_turn(request)
        except SessionNotFound as exc:
            await send({"type": "error", "code": "not_found", "message": str(exc)})
            return
        except SessionBusy as exc:
            await send({"type": "error", "code": "session_busy", "message": str(exc)})
            return
        except SidecarError as exc:
            logger.warning("websocket turn for %s not started: %r", user_id, exc)
            await send({"type": "error", "code": "unavailable", "message": "retry shortly"})
            return
        running[:] = [run]
        # A `cancel` stops the turn, which is saved and still ends with its events here
        # (workflow_completed, marked interrupted).
        async for event in run.events():
            if event.type == "done":
                await send({"type": "text_message", "content": event.data["reply"]})
            await send({"type": WS_TYPES[event.type], **event.data})

    async def forward(notes: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            await send({"type": "memory", **(await notes.get())})

    turn: asyncio.Task[None] | None = None
    with hub_of(websocket).subscribe(user_id) as notes:
        notifier = asyncio.create_task(forward(notes))
        try:
            while True:
                message = await websocket.receive_json()
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "cancel":
                    if turn is not None and not turn.done():
                        if running:
                            running[0].cancel("cancelled")
                        else:  # still waiting for the session's turn: stop waiting
                            turn.cancel()
                    continue
                if kind not in ("user_message", "text_input"):
                    await send({"type": "error", "message": "expected user_message or cancel"})
                    continue
                if turn is not None and not turn.done():
                    await send({"type": "error", "message": "a turn is running: wait or cancel"})
                    continue
                try:
                    request = ChatRequest(
                        user_id=user_id,
                        session_id=message.get("session_id"),
                        message=message.get("content"),
                        multitask_strategy=message.get("multitask_strategy"),
                    )
                except ValidationError as exc:
                    await send({"type": "error", "message": exc.errors()[0]["msg"]})
                    continue
                running.clear()
                turn = asyncio.create_task(run_turn(request))
        except (WebSocketDisconnect, json.JSONDecodeError) as exc:
            logger.debug("websocket for %s closed: %r", user_id, exc)
        finally:
            notifier.cancel()
            if turn is not None and not turn.done():
                turn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await turn


@router.post("/events/memory-events", tags=["events"])
async def on_memory_event(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """daprd's deliveries of memory-events (every chat replica gets each one: a consumer group
    per replica): tell the user's open streams here. The subscription is a bulk one
    (components/common/subscriptions.yaml): a body is daprd's bulk envelope, answered with a
    status per entry (``{"statuses": [{"entryId", "status"}]}``); a single CloudEvent (a
    subscription without ``bulkSubscribe``) is answered with one ``{"status"}``.

    Notifications are live only: an event older than NOTIFICATION_MAX_AGE_SECONDS (a new
    replica's group starts at the beginning of the stream) is acknowledged and not pushed. An
    event that is not a CloudEvent object is dropped (to memory-events-dlq)."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return DROP
    entries = bulk_entries(body)
    if entries is None:
        return notify(request, settings, body)
    return bulk_statuses([(entry_id, notify(request, settings, e)) for entry_id, e in entries])


def notify(request: Request, settings: ChatSettings, event: Any) -> dict[str, str]:
    """Push one memory-events CloudEvent to the user's open streams here: SUCCESS when handled
    (pushed, stale or not worth telling), DROP when it is not a CloudEvent object."""
    if not isinstance(event, dict) or "type" not in event:
        return DROP
    committed = committed_at(event)
    if committed is not None:
        lag: DeliveryLag = request.app.state.delivery_lag
        age = lag.observe("memory-events", committed)
        if age > settings.notification_max_age_seconds:
            return SUCCESS
    found = notification_from(event)
    if found is not None:
        user_id, notification = found
        hub_of(request).publish(user_id, notification)
    return SUCCESS
