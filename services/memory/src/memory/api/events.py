"""Pub/sub deliveries from daprd (the Subscription resources in components/common/)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from memory.api.deps import MemoryServiceDep
from memory.models.events import TURN_COMPLETED, CloudEvent, ConversationTurn
from sidecar.contracts import DROP, SUCCESS
from sidecar.event_lag import DeliveryLag

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"])


def parse_turn(body: bytes) -> ConversationTurn | None:
    """The turn in a delivered CloudEvent, or None if the event is not one we can ever handle."""
    try:
        event = CloudEvent.model_validate(json.loads(body))
        if event.type != TURN_COMPLETED:
            logger.warning("dropping event %s of unexpected type %r", event.id, event.type)
            return None
        data: Any = json.loads(event.data) if isinstance(event.data, str) else event.data
        return ConversationTurn.model_validate(data)
    except (ValueError, ValidationError) as exc:
        logger.warning("dropping malformed conversation-turns event: %s", str(exc)[:500])
        return None


@router.post("/events/conversation-turns")
async def on_conversation_turn(request: Request, service: MemoryServiceDep) -> dict[str, str]:
    """Derive memories from a finished turn. Redeliveries are harmless (ids come from the
    turn id); a malformed event is dropped, never retried; a store outage answers 503, and
    daprd retries."""
    turn = parse_turn(await request.body())
    if turn is None:
        return DROP
    lag: DeliveryLag = request.app.state.delivery_lag
    lag.observe("conversation-turns", turn.completed_at)
    written = await service.remember_turn(turn)
    logger.info("turn %s of user %s: %d new memories", turn.turn_id, turn.user_id, len(written))
    return SUCCESS
