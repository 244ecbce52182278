"""Values both services must agree on: id formats, and the answers daprd reads from a
pub/sub delivery (dapr-notes §3.5: SUCCESS acks, DROP drops to the dead-letter topic, RETRY
redelivers; matching is case-sensitive)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import StringConstraints

#: The longest user, session, turn or other reference id (the patterns below say the same).
MAX_ID_CHARS: Final = 128
USER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
# Session, turn and other reference ids.
REF_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN, max_length=MAX_ID_CHARS)]
RefId = Annotated[str, StringConstraints(pattern=REF_ID_PATTERN, max_length=MAX_ID_CHARS)]

#: A memory's content and tags as memory stores them: chat checks what clients send it to
#: create one against the same bounds, before calling memory.
MAX_MEMORY_CONTENT: Final = 4000
MAX_MEMORY_TAGS: Final = 16
MAX_MEMORY_TAG: Final = 64
#: The response header that says what creating a memory did (`add`, `noop`, `update`).
MEMORY_OPERATION_HEADER: Final = "Memory-Operation"

SUCCESS: Final[dict[str, str]] = {"status": "SUCCESS"}
DROP: Final[dict[str, str]] = {"status": "DROP"}


def bulk_entries(body: object) -> list[tuple[str, Any]] | None:
    """The ``(entryId, event)`` pairs of a bulk delivery, or None when ``body`` is not one.

    With ``bulkSubscribe`` enabled on a subscription, daprd POSTs a batch as one envelope
    ``{"id", "type": "com.dapr.event.sent.bulk", "topic", "pubsubname", "metadata",
    "entries": [{"entryId", "event", "contentType", "metadata"}]}``, each ``event`` the parsed
    CloudEvent, and reads back :func:`bulk_statuses` (Dapr 1.18, pkg/runtime/pubsub/
    bulksubscribe_events.go and pkg/runtime/subscription/postman/http/http.go;
    docs.dapr.io "Publish and subscribe to bulk messages"). Entries without a string
    ``entryId`` cannot be answered and are left out: daprd redelivers what gets no status."""
    if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        return None
    return [
        (entry["entryId"], entry.get("event"))
        for entry in body["entries"]
        if isinstance(entry, dict) and isinstance(entry.get("entryId"), str)
    ]


def bulk_statuses(statuses: list[tuple[str, dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    """The answer to a bulk delivery: ``{"statuses": [{"entryId", "status"}]}`` from
    ``(entryId, SUCCESS | DROP | ...)`` pairs. daprd retries an entry whose status is missing,
    empty or unknown, and sends a DROP to the dead-letter topic, as for a single delivery."""
    return {"statuses": [{"entryId": entry_id, **answer} for entry_id, answer in statuses]}
