"""Pub/sub deliveries from daprd (the Subscription resources in components/common/)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from memory.api.deps import MemoryServiceDep
from memory.models.events import (
    SESSION_DELETED,
    TURN_COMPLETED,
    CloudEvent,
    ConversationTurn,
    SessionDeletedEvent,
)
from sidecar import strict_json
from sidecar.contracts import DROP, SUCCESS
from sidecar.event_lag import DeliveryLag
from sidecar.settings import DAPR_MAX_BODY_BYTES
from sidecar.strict_json import StrictJSONRoute

logger = logging.getLogger(__name__)

router = APIRouter(route_class=StrictJSONRoute, tags=["events"])

#: The CloudEvent types of ``conversation-turns`` and their data (docs/events.md).
EVENT_MODELS: dict[str, type[ConversationTurn] | type[SessionDeletedEvent]] = {
    TURN_COMPLETED: ConversationTurn,
    SESSION_DELETED: SessionDeletedEvent,
}


def parse_event(body: bytes) -> ConversationTurn | SessionDeletedEvent | None:
    """The data of a delivered CloudEvent (a finished turn or an erased session), or None if
    the event is not one we can ever handle (malformed, another type, an invalid payload)."""
    try:
        event = CloudEvent.model_validate(strict_json.loads(body))
        model = EVENT_MODELS.get(event.type)
        if model is None:
            logger.warning("dropping event %s of unexpected type %r", event.id, event.type)
            return None
        data: Any = strict_json.loads(event.data) if isinstance(event.data, str) else event.data
        return model.model_validate(data)
    except (ValueError, ValidationError) as exc:
        logger.warning("dropping malformed conversation-turns event: %s", str(exc)[:500])
        return None


@router.post("/events/conversation-turns", max_body_size=DAPR_MAX_BODY_BYTES)
async def on_conversation_turn(request: Request, service: MemoryServiceDep) -> dict[str, str]:
    """Derive memories from a finished turn. Redeliveries are harmless (ids come from the
    turn id); a malformed event is dropped, never retried; a store outage answers 503, and
    daprd retries. ``session.deleted`` is acknowledged and changes nothing: memories belong
    to the user, not to the session they came from (docs/memory.md), and ``forget`` erases
    them."""
    event = parse_event(await request.body())
    if event is None:
        return DROP
    if isinstance(event, SessionDeletedEvent):
        logger.info("session %s of user %s deleted", event.session_id, event.user_id)
        return SUCCESS
    lag: DeliveryLag = request.app.state.delivery_lag
    lag.observe("conversation-turns", event.completed_at)
    written = await service.remember_turn(event)
    logger.info("turn %s of user %s: %d new memories", event.turn_id, event.user_id, len(written))
    return SUCCESS
