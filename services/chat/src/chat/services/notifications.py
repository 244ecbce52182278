"""Live memory notifications for a user's open streams (SSE turns and WebSockets).

chat subscribes to ``memory-events`` through the ``pubsub-broadcast`` component, whose consumer
group is per replica (``consumerID: "{appID}-{podName}"``): every replica gets every event, and
fans it out, in its process, to the queues of that user's open streams, wherever they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

QUEUE_SIZE = 100
NOTIFIED_TYPES = frozenset({"memory.created", "memory.updated", "memory.deleted", "user.forgotten"})


class NotificationHub:
    def __init__(self) -> None:
        self._queues: defaultdict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    @contextlib.contextmanager
    def subscribe(self, user_id: str) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._queues[user_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[user_id].discard(queue)
            if not self._queues[user_id]:
                del self._queues[user_id]

    def publish(self, user_id: str, notification: dict[str, Any]) -> int:
        """Hand ``notification`` to every open stream of the user; a full queue (a stream that
        stopped reading) loses it rather than blocking delivery. Returns how many got it."""
        delivered = 0
        for queue in list(self._queues.get(user_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(notification)
                delivered += 1
        return delivered


def notification_from(event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(user id, notification) for a memory-events CloudEvent worth telling the user about."""
    event_type = event.get("type")
    data = event.get("data")
    if event_type not in NOTIFIED_TYPES or not isinstance(data, dict):
        return None
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return None
    memory = {k: data.get(k) for k in ("id", "kind", "content", "tags", "version", "updated_at")}
    return user_id, {"event": event_type, "memory": memory if "id" in data else None}


def committed_at(event: dict[str, Any]) -> datetime | None:
    """When the change a memory-events CloudEvent announces was committed: the memory's
    ``updated_at`` (``forgotten_at`` for user.forgotten), else daprd's ``time`` (whole
    seconds); None when it has neither."""
    data = event.get("data")
    stamps = [data.get("updated_at"), data.get("forgotten_at")] if isinstance(data, dict) else []
    for stamp in [*stamps, event.get("time")]:
        if isinstance(stamp, str):
            try:
                when = datetime.fromisoformat(stamp)
            except ValueError:
                continue
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return None
