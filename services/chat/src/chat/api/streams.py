"""Streaming transports for a turn: Server-Sent Events and a WebSocket (FastAgency's message
taxonomy), both carrying live memory notifications for the user."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import (
    APIRouter,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from chat.api.deps import RATE_LIMITED, CallerDep, ChatServiceDep, SettingsDep, get_settings
from chat.core.exceptions import (
    RateLimited,
    SessionBusy,
    SessionFull,
    SessionLimitReached,
    SessionNotFound,
)
from chat.core.settings import ChatSettings
from chat.models.chat import ChatRequest
from chat.services.chat import TurnEvent, TurnRun
from chat.services.notifications import NotificationHub, committed_at, notification_from
from sidecar import strict_json
from sidecar.auth import Authenticator, Forbidden, Unauthenticated, bearer
from sidecar.contracts import DROP, SUCCESS, USER_ID_PATTERN, bulk_entries, bulk_statuses
from sidecar.errors import SidecarError
from sidecar.event_lag import DeliveryLag
from sidecar.settings import DAPR_MAX_BODY_BYTES
from sidecar.strict_json import StrictJSONRoute

logger = logging.getLogger(__name__)
router = APIRouter(route_class=StrictJSONRoute)


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


@router.post(
    "/chat/stream", tags=["chat"], response_class=EventSourceResponse, responses=RATE_LIMITED
)
async def chat_stream(
    *, body: ChatRequest, service: ChatServiceDep, request: Request, caller: CallerDep
) -> EventSourceResponse:
    """One turn as Server-Sent Events: ``session`` (ids, memories used, degraded), ``delta``
    (``text``, the new text, and ``response``, the reply so far: what clients that render
    each event's ``response`` show), ``tool_call``, ``tool_result``, ``memory`` (live
    notifications), then ``done`` (the whole reply and its metadata; ``metadata.interrupted``
    when a newer message interrupted it) or ``error`` (``code``: ``session_deleted``,
    ``model_failed``, ``model_timeout``, ``unavailable``). Heartbeats keep idle proxies from
    closing it.

    The session's turn is taken before the stream opens: a missing session answers 404 and a
    refused message (``multitask_strategy=reject``) 409, both as plain HTTP errors. A client
    that goes away cancels the turn, which is saved at once, marked interrupted."""
    Authenticator.authorize(caller, body.user_id)
    settings = get_settings(request)
    run = await service.start_turn(body)
    hub = hub_of(request)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        so_far: list[str] = []
        try:
            with hub.subscribe(body.user_id) as notes:
                async for event in with_notifications(run.events(), notes):
                    data = event.data
                    if event.type == "delta":  # and the reply so far, for clients that
                        so_far.append(data["text"])  # render each event's `response`
                        data = {**data, "response": "".join(so_far)}
                    yield ServerSentEvent(event=event.type, data=json.dumps(data))
        finally:
            run.cancel("client_disconnected")  # a no-op once the turn has ended

    return EventSourceResponse(
        stream(),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        ping=max(1, int(settings.sse_heartbeat_seconds)),
    )


#: The longest ``access_token`` a socket's URL may carry (a JWT is far shorter).
MAX_TOKEN_CHARS = 8192

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
    user_id: str = Query(default=""),
    access_token: str | None = Query(default=None),
) -> None:
    """A conversation over one socket. Client → server: ``{"type": "user_message", "content",
    "session_id"?}`` and ``{"type": "cancel"}``. Server → client: ``workflow_started``,
    ``text_message_delta``, ``suggested_function_call``, ``function_call_execution``,
    ``text_message`` (the whole reply), ``workflow_completed``, ``memory``, ``error``.

    With ``AUTH_MODE=jwt`` the token comes as ``Authorization: Bearer …`` or, for browsers,
    which cannot set headers on a WebSocket, as ``?access_token=``.

    Every refusal is a close code a client can read (the socket is accepted first: a close
    before the handshake reaches a browser as a bare HTTP 403), after an ``error`` message with
    a ``code`` where one can still be sent (RFC 6455 §7.4.1):

    - 1008 (policy violation): an invalid ``user_id``, a missing or invalid token, or a token
      for another user; nothing about the user is touched. The token is checked again before
      each turn: a message after it expired closes the socket the same way.
    - 1003 (unsupported data): a binary frame.
    - 1007 (invalid payload): a text frame that is not JSON (strictly: ``sidecar.strict_json``).
    - 1009 (message too big): a frame larger than a legal request body (the app's
      ``max_request_bytes``: sidecar.body_limits), as an HTTP body would get 413.

    A JSON message of the wrong shape is answered with an ``error`` (``invalid_message``; a
    second message while a turn runs: ``turn_running``) and the socket stays open."""
    await websocket.accept()
    refusal = socket_refusal(settings, websocket, user_id, access_token)
    if refusal is not None:
        await close_with_error(websocket, status.WS_1008_POLICY_VIOLATION, *refusal)
        return
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
        except RateLimited as exc:  # the socket stays open: the client may send it again later
            await send(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": str(exc),
                    "retry_after": exc.retry_after,
                }
            )
            return
        except (SessionFull, SessionLimitReached) as exc:
            code = "session_full" if isinstance(exc, SessionFull) else "session_limit_reached"
            await send({"type": "error", "code": code, "message": str(exc)})
            return
        except SidecarError as exc:
            logger.warning("websocket turn for %s not started: %r", user_id, exc)
            await send({"type": "error", "code": "unavailable", "message": "retry shortly"})
            return
        running[:] = [run]
        # A `cancel` stops the turn, which is saved and still ends with its events here
        # (workflow_completed, marked interrupted).
        try:
            async for event in run.events():
                if event.type == "done":
                    await send({"type": "text_message", "content": event.data["reply"]})
                await send({"type": WS_TYPES[event.type], **event.data})
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception:  # a bug of ours: the client is told, never left waiting
            logger.exception("websocket turn for %s failed", user_id)
            run.cancel("internal_error")
            with contextlib.suppress(Exception):
                await send({"type": "error", "code": "internal", "message": "internal error"})

    async def forward(notes: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            await send({"type": "memory", **(await notes.get())})

    turn: asyncio.Task[None] | None = None
    with hub_of(websocket).subscribe(user_id) as notes:
        notifier = asyncio.create_task(forward(notes))
        try:
            while True:
                message = await receive_message(websocket, websocket.app.state.max_request_bytes)
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "cancel":
                    if turn is not None and not turn.done():
                        if running:
                            running[0].cancel("cancelled")
                        else:  # still waiting for the session's turn: stop waiting
                            turn.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await turn
                            if running:  # it started meanwhile: its run stops too
                                running[0].cancel("cancelled")
                            # Nothing of the turn ran, so no event would end it: say so.
                            await send(
                                {
                                    "type": "error",
                                    "code": "cancelled",
                                    "message": "stopped before its turn began: nothing saved",
                                }
                            )
                    continue
                if kind not in ("user_message", "text_input"):
                    await send(
                        {
                            "type": "error",
                            "code": "invalid_message",
                            "message": "expected user_message or cancel",
                        }
                    )
                    continue
                if turn is not None and not turn.done():
                    await send(
                        {
                            "type": "error",
                            "code": "turn_running",
                            "message": "a turn is running: wait or cancel",
                        }
                    )
                    continue
                try:
                    request = ChatRequest(
                        user_id=user_id,
                        session_id=message.get("session_id"),
                        message=message.get("content"),
                        multitask_strategy=message.get("multitask_strategy"),
                    )
                except ValidationError as exc:
                    message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                    await send({"type": "error", "code": "invalid_message", "message": message})
                    continue
                expired = socket_refusal(settings, websocket, user_id, access_token)
                if expired is not None:  # the token expired since the handshake
                    raise RefusedFrame(status.WS_1008_POLICY_VIOLATION, *expired)
                running.clear()
                turn = asyncio.create_task(run_turn(request))
        except WebSocketDisconnect as exc:
            logger.debug("websocket for %s closed: %r", user_id, exc)
        except RefusedFrame as refused:
            async with send_lock:
                await close_with_error(websocket, refused.code, refused.error, refused.reason)
        finally:
            notifier.cancel()
            if turn is not None and not turn.done():
                turn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await turn


class RefusedFrame(Exception):
    """A frame the socket cannot take: closed with ``code`` after an ``error`` message."""

    def __init__(self, code: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.error, self.reason = code, error, reason


async def receive_message(websocket: WebSocket, max_bytes: int) -> Any:
    """The next client message, parsed strictly; raises WebSocketDisconnect when the client
    left, RefusedFrame for a binary frame (1003), a frame over ``max_bytes`` (1009) or text that
    is not JSON (1007)."""
    frame = await websocket.receive()
    if frame["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(frame.get("code", 1000), frame.get("reason"))
    text = frame.get("text")
    if text is None:
        raise RefusedFrame(
            status.WS_1003_UNSUPPORTED_DATA, "unsupported_data", "binary frames are not accepted"
        )
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise RefusedFrame(
            status.WS_1009_MESSAGE_TOO_BIG, "too_large", f"a message is at most {max_bytes} bytes"
        )
    try:
        return strict_json.loads(text)
    except strict_json.InvalidJSON as exc:
        raise RefusedFrame(
            status.WS_1007_INVALID_FRAME_PAYLOAD_DATA, "invalid_json", f"not valid JSON: {exc}"
        ) from exc


def socket_refusal(
    settings: ChatSettings, websocket: WebSocket, user_id: str, access_token: str | None
) -> tuple[str, str] | None:
    """Why the socket may not serve ``user_id`` (an ``(error, reason)`` pair), or None."""
    if not re.fullmatch(USER_ID_PATTERN, user_id):
        return "invalid_user_id", "user_id must match " + USER_ID_PATTERN
    if access_token is not None and len(access_token) > MAX_TOKEN_CHARS:
        return "unauthenticated", f"access_token is over {MAX_TOKEN_CHARS} characters"
    authenticator = Authenticator(settings)
    try:
        token = bearer(websocket.headers.get("authorization")) or access_token
        authenticator.authorize(authenticator.caller(token), user_id)
    except (Unauthenticated, Forbidden) as exc:
        return ("forbidden" if isinstance(exc, Forbidden) else "unauthenticated"), str(exc)
    return None


async def close_with_error(websocket: WebSocket, code: int, error: str, reason: str) -> None:
    """Send ``{"type": "error", "code": error, "message": reason}``, then close with ``code``
    and the reason (cut to the 123 bytes a close frame carries, RFC 6455 §5.5)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_json({"type": "error", "code": error, "message": reason})
        await websocket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))


@router.post("/events/memory-events", tags=["events"], max_body_size=DAPR_MAX_BODY_BYTES)
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
        body = strict_json.loads(await request.body())
    except strict_json.InvalidJSON:
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
