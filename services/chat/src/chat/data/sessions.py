"""Sessions and their history in the Dapr state store (``chat-state``).

Keys (daprd prefixes them with the app id): ``session:<user>:<session>`` holds the session's
messages; ``sessions:<user>`` the user's list of sessions (title, activity, message count).

A finished turn is one transaction with one upsert, the session document, guarded by its ETag:
the component's outbox publishes it, projected to the ``conversation.turn.completed`` payload, so
the history write and the event commit together. The session list is derived data, kept with
plain ETag-guarded saves (a plain save publishes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, Field

from chat.models.events import TURN_COMPLETED, ConversationTurn
from chat.models.sessions import HistoryMessage, SessionDocument, SessionSummary
from sidecar.state import StateOp, StateStore, retry_on_conflict

JSON = "application/json"


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

    async def list_sessions(self, user_id: str) -> list[SessionSummary]:
        entry = await self._store.get(sessions_key(user_id))
        if entry.value is None:
            return []
        return SessionIndex.model_validate(entry.value).sessions

    async def get(self, user_id: str, session_id: str) -> SessionDocument | None:
        entry = await self._store.get(session_key(user_id, session_id))
        return None if entry.value is None else SessionDocument.model_validate(entry.value)

    async def create(self, user_id: str, session_id: str, *, now: datetime) -> SessionDocument:
        document = SessionDocument(session_id=session_id, user_id=user_id, created_at=now)
        # The list first: a session that exists is always listed (a listed session whose
        # document failed to be written reads as empty and can be deleted).
        await self._update_index(
            user_id,
            lambda sessions: [
                SessionSummary(session_id=session_id, created_at=now, last_activity=now),
                *sessions,
            ],
        )
        await self._store.save(
            session_key(user_id, session_id), document.model_dump(mode="json"), etag=None
        )
        return document

    async def append_turn(
        self, user_id: str, session_id: str, messages: list[HistoryMessage], turn: ConversationTurn
    ) -> SessionDocument:
        """Append a turn's messages; with the outbox, its event commits with them. A concurrent
        turn on the same session makes the ETag stale: re-read and append after it."""

        async def attempt() -> SessionDocument:
            entry = await self._store.get(session_key(user_id, session_id))
            current = (
                SessionDocument.model_validate(entry.value)
                if entry.value is not None
                else SessionDocument(
                    session_id=session_id, user_id=user_id, created_at=turn.completed_at
                )
            )
            updated = current.model_copy(update={"messages": [*current.messages, *messages]})
            key = session_key(user_id, session_id)
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

        document = await retry_on_conflict(attempt)
        title = next((m.content for m in document.messages if m.role == "user"), "")[:80]

        def touch(sessions: list[SessionSummary]) -> list[SessionSummary]:
            known = next((s for s in sessions if s.session_id == session_id), None)
            summary = SessionSummary(
                session_id=session_id,
                created_at=known.created_at if known else document.created_at,
                title=title,
                last_activity=turn.completed_at,
                message_count=len(document.messages),
            )
            others = [s for s in sessions if s.session_id != session_id]
            return sorted([summary, *others], key=lambda s: s.last_activity, reverse=True)

        await self._update_index(user_id, touch)
        return document

    async def delete(self, user_id: str, session_id: str) -> bool:
        if await self.get(user_id, session_id) is None and not any(
            s.session_id == session_id for s in await self.list_sessions(user_id)
        ):
            return False
        await self._store.delete(session_key(user_id, session_id))
        await self._update_index(
            user_id, lambda sessions: [s for s in sessions if s.session_id != session_id]
        )
        return True

    async def _update_index(
        self, user_id: str, change: Callable[[list[SessionSummary]], list[SessionSummary]]
    ) -> None:
        async def attempt() -> None:
            entry = await self._store.get(sessions_key(user_id))
            index = SessionIndex.model_validate(entry.value) if entry.value else SessionIndex()
            updated = SessionIndex(sessions=change(index.sessions))
            await self._store.save(
                sessions_key(user_id), updated.model_dump(mode="json"), etag=entry.etag
            )

        await retry_on_conflict(attempt)
