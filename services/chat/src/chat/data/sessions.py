"""Sessions and their history in the Dapr state store (``chat-state``).

Keys (daprd prefixes them with the app id): ``session:<user>:<session>`` holds the session's
messages; ``sessions:<user>`` the user's list of sessions (title, activity, message count).

Who writes what (chat.data.actors): a session's document only through its ``ChatSession``
actor, a user's list only through the ``ChatUser`` actor, so writers of one key never race and
the ETags below are a safety net (a conflict is re-read and retried), not the mechanism.

A finished turn is one transaction with one upsert, the session document, guarded by its ETag:
the component's outbox publishes it, projected to the ``conversation.turn.completed`` payload, so
the history write and the event commit together. The session list is derived data, kept with
plain ETag-guarded saves (a plain save publishes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, Field

from chat.core.exceptions import SessionDeleted
from chat.models.events import TURN_COMPLETED, ConversationTurn
from chat.models.sessions import HistoryMessage, SessionDocument, SessionSummary
from sidecar.state import StateOp, StateStore, retry_on_conflict

JSON = "application/json"
TITLE_CHARS = 80


def session_key(user_id: str, session_id: str) -> str:
    return f"session:{user_id}:{session_id}"


def sessions_key(user_id: str) -> str:
    return f"sessions:{user_id}"


class SessionIndex(BaseModel):
    sessions: list[SessionSummary] = Field(default_factory=list)


class SessionRepository:
    def __init__(self, store: StateStore, *, outbox: bool = True) -> None:
        self._store = store
        self._outbox = outbox

    # -- reads -------------------------------------------------------------------------------
    async def list_sessions(self, user_id: str) -> list[SessionSummary]:
        entry = await self._store.get(sessions_key(user_id))
        if entry.value is None:
            return []
        return SessionIndex.model_validate(entry.value).sessions

    async def get(self, user_id: str, session_id: str) -> SessionDocument | None:
        entry = await self._store.get(session_key(user_id, session_id))
        return None if entry.value is None else SessionDocument.model_validate(entry.value)

    # -- a user's list (the ChatUser actor) ---------------------------------------------------
    async def create(self, user_id: str, session_id: str, *, now: datetime) -> SessionDocument:
        """List the session, then write its empty document (first write: an id that exists
        already is a ConcurrencyConflict). A session that exists is always listed; a listed
        session whose document failed to be written reads as empty and can be deleted."""
        document = SessionDocument(session_id=session_id, user_id=user_id, created_at=now)
        await self._update_index(
            user_id,
            lambda sessions: [
                SessionSummary(session_id=session_id, created_at=now, last_activity=now),
                *(s for s in sessions if s.session_id != session_id),
            ],
        )
        await retry_on_conflict(
            lambda: self._store.save(
                session_key(user_id, session_id), document.model_dump(mode="json"), etag=None
            ),
            attempts=1,
        )
        return document

    async def touch(self, user_id: str, summary: SessionSummary) -> bool:
        """Record a finished turn in the list entry of a session that is still listed (a
        session deleted meanwhile stays deleted). Counts only grow: a late touch from an
        earlier turn cannot undo a later one. Returns whether the entry was there."""
        found: list[bool] = []

        def change(sessions: list[SessionSummary]) -> list[SessionSummary]:
            known = next((s for s in sessions if s.session_id == summary.session_id), None)
            found.append(known is not None)
            if known is None or known.message_count > summary.message_count:
                return sessions
            updated = summary.model_copy(update={"created_at": known.created_at})
            others = [s for s in sessions if s.session_id != summary.session_id]
            return sorted([updated, *others], key=lambda s: s.last_activity, reverse=True)

        await self._update_index(user_id, change)
        return bool(found) and found[-1]

    async def unlist(self, user_id: str, session_id: str) -> bool:
        """Take the session off the user's list; returns whether it was listed."""
        found: list[bool] = []

        def change(sessions: list[SessionSummary]) -> list[SessionSummary]:
            kept = [s for s in sessions if s.session_id != session_id]
            found.append(len(kept) != len(sessions))
            return kept

        await self._update_index(user_id, change)
        return bool(found) and found[-1]

    # -- one session (the ChatSession actor) --------------------------------------------------
    async def append_turn(
        self, user_id: str, session_id: str, messages: list[HistoryMessage], turn: ConversationTurn
    ) -> SessionDocument:
        """Append a turn's messages; with the outbox, its event commits with them.

        Raises SessionDeleted when the session's document is gone: a turn that finishes after
        its session was deleted never brings it back. A turn saved already is not saved again
        (a commit retried after its answer was lost)."""

        async def attempt() -> SessionDocument:
            key = session_key(user_id, session_id)
            entry = await self._store.get(key)
            if entry.value is None:
                raise SessionDeleted(session_id)
            current = SessionDocument.model_validate(entry.value)
            if any(m.turn_id == turn.turn_id for m in current.messages):
                return current  # saved already (a retried commit): once is enough
            updated = current.model_copy(update={"messages": [*current.messages, *messages]})
            ops = [
                StateOp(
                    key=key,
                    value=updated.model_dump(mode="json"),
                    etag=entry.etag,
                    metadata={"type": TURN_COMPLETED, "subject": turn.turn_id},
                    content_type=JSON,
                )
            ]
            if self._outbox:
                ops.append(
                    StateOp(
                        key=key,
                        value=turn.model_dump(mode="json"),
                        metadata={"outbox.projection": "true"},
                        content_type=JSON,
                    )
                )
            await self._store.transact(ops)
            return updated

        return await retry_on_conflict(attempt)

    async def delete_document(self, user_id: str, session_id: str) -> bool:
        """Delete the session's document; returns whether there was one."""
        key = session_key(user_id, session_id)
        entry = await self._store.get(key)
        if entry.value is None:
            return False
        await self._store.delete(key)
        return True

    # -- helpers -----------------------------------------------------------------------------
    async def _update_index(
        self, user_id: str, change: Callable[[list[SessionSummary]], list[SessionSummary]]
    ) -> None:
        async def attempt() -> None:
            entry = await self._store.get(sessions_key(user_id))
            index = SessionIndex.model_validate(entry.value) if entry.value else SessionIndex()
            updated = SessionIndex(sessions=change(index.sessions))
            if updated == index:  # nothing changed: write nothing (not even an empty list)
                return
            await self._store.save(
                sessions_key(user_id), updated.model_dump(mode="json"), etag=entry.etag
            )

        await retry_on_conflict(attempt)


def summary_of(document: SessionDocument, *, last_activity: datetime) -> SessionSummary:
    """The list entry for a session as its document stands after a turn."""
    title = next((m.content for m in document.messages if m.role == "user"), "")[:TITLE_CHARS]
    return SessionSummary(
        session_id=document.session_id,
        created_at=document.created_at,
        title=title,
        last_activity=last_activity,
        message_count=len(document.messages),
    )
