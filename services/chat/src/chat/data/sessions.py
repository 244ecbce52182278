"""Sessions and their history in the Dapr state store (``chat-state``).

Keys (daprd prefixes them with the app id; docs/chat.md has the sizes):

- ``session:<user>:<session>``: the session's head (``SessionHead``): title, message count, the
  sizes of its sealed history pages and the *tail*, its newest messages (fewer than
  ``HISTORY_PAGE_MESSAGES``, at most ``TAIL_MAX_BYTES``).
- ``history:<user>:<session>:<no>``: sealed page ``no`` of the history, ``{"messages": [...]}``,
  up to ``HISTORY_PAGE_MESSAGES`` messages and ``HISTORY_PAGE_BYTES``, oldest first. History is
  append-only, so a sealed page never changes.
- ``sessions:<user>``: the user's list of sessions (title, activity, message count).
- ``deleted:<user>:<session>``: the record of an erased session, the ``session.deleted`` event
  (kept a day).

Appending a turn writes the head (and, once per ``HISTORY_PAGE_MESSAGES`` messages, seals the
tail into a page written just before): the same cost at turn 10 and at turn 10,000.

Who writes what (chat.data.actors): a session's document only through its ``ChatSession``
actor, a user's list only through the ``ChatUser`` actor, so writers of one key never race and
the ETags below are a safety net (a conflict is re-read and retried), not the mechanism.

A finished turn is one transaction with one upsert, the session head, guarded by its ETag: the
component's outbox publishes it, projected to the ``conversation.turn.completed`` payload, so
the history write and the event commit together (a sealed page is a plain save before it: no
event; a crash between leaves a page no head counts, overwritten by the next seal). The session
list is derived data, kept with plain ETag-guarded saves (a plain save publishes nothing).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from itertools import accumulate
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from chat.core.exceptions import SessionDeleted, SessionFull, SessionLimitReached
from chat.models.sessions import HistoryMessage, SessionHead, SessionSummary
from sidecar.errors import ConcurrencyConflict, ETagMismatch, StateStoreUnavailable
from sidecar.paging import Json, PageChange, PagedLayout, PageRef, Position, next_times, page_of
from sidecar.state import StateOp, StateStore, retry_on_conflict
from sidecar.turn_events import (
    SESSION_DELETED,
    TURN_COMPLETED,
    ConversationTurn,
    SessionDeletedEvent,
)

JSON = "application/json"
TITLE_CHARS = 80
#: Messages per sealed history page (32 turns of two), and the tail's size at which it seals.
HISTORY_PAGE_MESSAGES = 64
#: A page's JSON stays under this (daprd's request body limit is 4 MiB).
HISTORY_PAGE_BYTES = 1024 * 1024 - 256
#: The tail is sealed early once its JSON passes this (long replies), keeping the head small.
TAIL_MAX_BYTES = 512 * 1024
#: Pages one seal may write at most (a turn adds a few messages); erasure sweeps that many
#: past the last counted page, for pages a crashed seal left.
MAX_PAGES_PER_SEAL = 8
#: Deletes per transaction when a session is erased.
DELETE_CHUNK = 500
#: How long a session's deletion record (``deleted:<user>:<session>``) is kept. It exists to
#: carry ``session.deleted`` (Dapr's outbox publishes upserts only) and says when and how
#: much was erased; the store's TTL removes it (state.sqlite and state.redis both honour
#: ``ttlInSeconds`` inside transactions).
DELETION_RECORD_TTL_SECONDS = 24 * 3600


def session_key(user_id: str, session_id: str) -> str:
    return f"session:{user_id}:{session_id}"


def deletion_key(user_id: str, session_id: str) -> str:
    return f"deleted:{user_id}:{session_id}"


def history_key(user_id: str, session_id: str, no: int) -> str:
    return f"history:{user_id}:{session_id}:{no}"


def sessions_key(user_id: str) -> str:
    return f"sessions:{user_id}"


def _summary_position(summary: Json) -> Position:
    return (datetime.fromisoformat(summary["created_at"]), str(summary["session_id"]))


#: A user's session list: summaries ordered by creation, pages of 128 (~90 KB at most).
SESSION_PAGES = PagedLayout(
    prefix="sessions-page",
    position=_summary_position,
    max_entries=128,
    max_bytes=1024 * 1024,
    merge_below=32,
)


class SessionListHead(BaseModel):
    """``sessions:<user>``: the user's sessions, oldest first: sealed pages
    (``sessions-page:<user>:<no>:<gen>``) and the newest summaries in ``tail``. ``garbage``:
    page generations this head replaced, deleted right after it is saved (and again, as a
    no-op, before the next write: a crash between leaves nothing behind for long)."""

    schema_version: Literal["2"] = "2"
    user_id: str
    count: int = 0
    next_page: int = 0
    pages: list[PageRef] = Field(default_factory=list)
    tail: list[SessionSummary] = Field(default_factory=list)
    garbage: list[str] = Field(default_factory=list)

    def latest(self) -> datetime | None:
        if self.tail:
            return self.tail[-1].created_at
        return self.pages[-1].last if self.pages else None


def list_head_of(user_id: str, value: dict[str, Any] | None) -> SessionListHead:
    """A stored list head; the one-document list of earlier versions (``{"sessions": [...]}``,
    most recently active first) reads as a head whose tail holds them all, by creation."""
    if value is None:
        return SessionListHead(user_id=user_id)
    if "schema_version" not in value:
        sessions = [SessionSummary.model_validate(s) for s in value.get("sessions", [])]
        sessions.sort(key=lambda s: (s.created_at, s.session_id))
        return SessionListHead(user_id=user_id, count=len(sessions), tail=sessions)
    return SessionListHead.model_validate(value)


class SessionRepository:
    def __init__(
        self,
        store: StateStore,
        *,
        outbox: bool = True,
        max_messages: int = 100_000,
        max_sessions: int = 10_000,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._max_messages = max_messages
        self._max_sessions = max_sessions

    # -- reads -------------------------------------------------------------------------------
    async def list_sessions(
        self, user_id: str, *, limit: int, before: Position | None = None
    ) -> tuple[list[SessionSummary], bool, int]:
        """Up to ``limit`` sessions, newest first, created before ``before``; whether there
        are more, and how many the user has. Reads the head and only the pages needed."""
        for _ in range(4):  # a writer may replace a page between the head and its read
            entry = await self._store.get(sessions_key(user_id))
            head = list_head_of(user_id, entry.value)
            found = [
                s for s in reversed(head.tail)
                if before is None or (s.created_at, s.session_id) < before
            ][: limit + 1]  # fmt: skip
            older = [r for r in reversed(head.pages) if before is None or r.first_position < before]
            try:
                for ref in older:
                    if len(found) > limit:
                        break
                    page = await self._read_list_page(user_id, ref)
                    found += [
                        s for s in map(SessionSummary.model_validate, reversed(page["items"]))
                        if before is None or (s.created_at, s.session_id) < before
                    ]  # fmt: skip
            except _PageGone:
                continue
            return found[:limit], len(found) > limit, head.count
        raise ConcurrencyConflict("the session list kept changing while it was read")

    async def head(self, user_id: str, session_id: str) -> SessionHead | None:
        """The session's head, or None if there is no such session (for this user)."""
        entry = await self._store.get(session_key(user_id, session_id))
        return None if entry.value is None else head_of(entry.value)

    async def messages(self, head: SessionHead, start: int, stop: int) -> list[HistoryMessage]:
        """Messages ``start`` .. ``stop - 1`` of the session (0 = the oldest), reading only the
        sealed pages that hold some of them."""
        start, stop = max(0, start), min(stop, head.message_count)
        if start >= stop:
            return []
        found: list[HistoryMessage] = []
        if start < head.sealed:
            bounds = list(accumulate(head.page_counts, initial=0))
            first = bisect_right(bounds, start) - 1
            last = bisect_right(bounds, min(stop, head.sealed) - 1) - 1
            keys = [history_key(head.user_id, head.session_id, no) for no in range(first, last + 1)]
            pages = await self._store.get_many(keys)
            values = [p.value for p in pages if p.value is not None]
            if len(values) != len(pages):
                raise StateStoreUnavailable(f"a history page of {head.session_id} is missing")
            sealed = [HistoryMessage.model_validate(m) for v in values for m in v["messages"]]
            offset = bounds[first]
            found = sealed[start - offset : min(stop, head.sealed) - offset]
        if stop > head.sealed:
            found += head.tail[max(start, head.sealed) - head.sealed : stop - head.sealed]
        return found

    # -- a user's list (the ChatUser actor) ---------------------------------------------------
    async def create(self, user_id: str, session_id: str, *, now: datetime) -> SessionHead:
        """List the session, then write its empty head (first write: an id that exists
        already is a ConcurrencyConflict). A session that exists is always listed; a listed
        session whose head failed to be written reads as empty and can be deleted. Its
        ``created_at`` follows the user's newest session (the list's order)."""
        created: list[datetime] = []

        async def add(head: SessionListHead) -> PageChange | None:
            if head.count >= self._max_sessions:
                raise SessionLimitReached(self._max_sessions)
            (at,) = next_times([now], head.latest())
            created.append(at)
            summary = SessionSummary(session_id=session_id, created_at=at, last_activity=at)
            head.tail.append(summary)
            head.count += 1
            if len(head.tail) < SESSION_PAGES.max_entries:
                return None
            items = [t.model_dump(mode="json") for t in head.tail]
            change, left = SESSION_PAGES.seal(
                user_id, items, pages=head.pages, next_page=head.next_page
            )
            head.tail = [SessionSummary.model_validate(i) for i in left]
            return change

        await self._change_list(user_id, add)
        document = SessionHead(session_id=session_id, user_id=user_id, created_at=created[-1])
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

        def change(known: SessionSummary) -> SessionSummary | None:
            if known.message_count > summary.message_count:
                return known
            return summary.model_copy(update={"created_at": known.created_at})

        return await self._change_entry(user_id, summary.session_id, summary.created_at, change)

    async def unlist(self, user_id: str, session_id: str, created_at: datetime | None) -> bool:
        """Take the session off the user's list; returns whether it was listed.
        ``created_at`` (its position) finds it in a sealed page; without it only the tail
        and, failing that, every page are searched."""
        return await self._change_entry(user_id, session_id, created_at, lambda _: None)

    # -- one session (the ChatSession actor) --------------------------------------------------
    async def append_turn(
        self, user_id: str, session_id: str, messages: list[HistoryMessage], turn: ConversationTurn
    ) -> SessionHead:
        """Append a turn's messages; with the outbox, its event commits with them.

        Raises SessionDeleted when the session's head is gone (a turn that finishes after its
        session was deleted never brings it back) and SessionFull past ``max_messages``. A turn
        saved already is not saved again (a commit retried after its answer was lost)."""

        async def attempt() -> SessionHead:
            key = session_key(user_id, session_id)
            entry = await self._store.get(key)
            if entry.value is None:
                raise SessionDeleted(session_id)
            head = head_of(entry.value)
            if head.last_turn_id == turn.turn_id or any(
                m.turn_id == turn.turn_id for m in head.tail
            ):
                return head  # saved already (a retried commit): once is enough
            if head.message_count + len(messages) > self._max_messages:
                raise SessionFull(self._max_messages)
            tail = [*head.tail, *messages]
            page_counts = head.page_counts
            if len(tail) >= HISTORY_PAGE_MESSAGES or _size(tail) > TAIL_MAX_BYTES:
                pages = seal_messages(tail)
                if len(pages[-1]) < HISTORY_PAGE_MESSAGES and _size(pages[-1]) <= TAIL_MAX_BYTES:
                    tail = [HistoryMessage.model_validate(m) for m in pages.pop()]
                else:
                    tail = []
                first = len(page_counts)
                for i, page in enumerate(pages):
                    await self._store.save(
                        history_key(user_id, session_id, first + i),
                        {"messages": page},
                        etag=None,
                        first_write=False,  # a page a crashed seal left is written again
                    )
                page_counts = [*page_counts, *(len(p) for p in pages)]
            title = head.title or next((m.content for m in messages if m.role == "user"), "")
            updated = head.model_copy(
                update={
                    "title": title[:TITLE_CHARS],
                    "message_count": head.message_count + len(messages),
                    "last_turn_id": turn.turn_id,
                    "page_counts": page_counts,
                    "tail": tail,
                }
            )
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

    async def delete_document(self, user_id: str, session_id: str, *, now: datetime) -> bool:
        """Erase the session's head and every history page; returns whether there was a head.

        Pages go first (transactions of deletes, which publish nothing), then one transaction
        deletes the head and upserts the session's deletion record (``deleted:<user>:<session>``,
        kept ``DELETION_RECORD_TTL_SECONDS``), which the outbox publishes as ``session.deleted``:
        the erasure and its announcement commit together. A crash part-way leaves the head,
        which names the pages left, and the next delete finishes the work."""
        return await retry_on_conflict(lambda: self._erase(user_id, session_id, now))

    async def _erase(self, user_id: str, session_id: str, now: datetime) -> bool:
        key = session_key(user_id, session_id)
        entry = await self._store.get(key)
        if entry.value is None:
            return False
        head = head_of(entry.value)
        pages = len(head.page_counts) + MAX_PAGES_PER_SEAL  # and any a crashed seal left
        page_deletes = [
            StateOp(key=history_key(user_id, session_id, no), operation="delete")
            for no in reversed(range(pages))
        ]
        for chunk in range(0, len(page_deletes), DELETE_CHUNK):
            await self._store.transact(page_deletes[chunk : chunk + DELETE_CHUNK])
        record = SessionDeletedEvent(
            schema_version="1.0",
            user_id=user_id, session_id=session_id, deleted_at=now,
            message_count=head.message_count,
        )  # fmt: skip
        await self._store.transact(
            [
                StateOp(key=key, operation="delete", etag=entry.etag),
                StateOp(
                    key=deletion_key(user_id, session_id),
                    value=record.model_dump(mode="json"),
                    metadata={
                        "type": SESSION_DELETED,
                        "subject": session_id,
                        "ttlInSeconds": str(DELETION_RECORD_TTL_SECONDS),
                    },
                    content_type=JSON,
                ),
            ]
        )
        return True

    # -- helpers -----------------------------------------------------------------------------
    async def _read_list_page(self, user_id: str, ref: PageRef) -> Json:
        entry = await self._store.get(SESSION_PAGES.ref_key(user_id, ref))
        if entry.value is None:
            raise _PageGone(ref.no)
        return dict(entry.value)

    async def _change_entry(
        self,
        user_id: str,
        session_id: str,
        created_at: datetime | None,
        change: Callable[[SessionSummary], SessionSummary | None],
    ) -> bool:
        """Replace a listed session's summary by ``change(summary)`` (None: unlist it); False
        if it is not listed (nothing written)."""
        found: list[bool] = []

        async def edit(head: SessionListHead) -> PageChange | None:
            found.clear()
            at_tail = next((i for i, s in enumerate(head.tail) if s.session_id == session_id), None)
            if at_tail is not None:
                updated = change(head.tail[at_tail])
                found.append(True)
                if updated is None:
                    del head.tail[at_tail]
                    head.count -= 1
                else:
                    head.tail[at_tail] = updated
                return None
            candidates = range(len(head.pages))
            if created_at is not None:
                at = page_of(head.pages, (created_at, session_id))
                candidates = range(0) if at is None else range(at, at + 1)
            for at in candidates:
                page = await self._read_list_page(user_id, head.pages[at])
                items = page["items"]
                where = next(
                    (i for i, s in enumerate(items) if s["session_id"] == session_id), None
                )
                if where is None:
                    continue
                found.append(True)
                updated = change(SessionSummary.model_validate(items[where]))
                rest = [*items[:where], *items[where + 1 :]]
                if updated is not None:
                    rest.insert(where, updated.model_dump(mode="json"))
                else:
                    head.count -= 1

                async def read(ref: PageRef) -> Json:
                    return await self._read_list_page(user_id, ref)

                return await SESSION_PAGES.rewrite(
                    user_id, head.pages, head.next_page, at, rest, read
                )
            return None

        await self._change_list(user_id, edit)
        return bool(found)

    async def _change_list(
        self,
        user_id: str,
        change: Callable[[SessionListHead], Awaitable[PageChange | None]],
    ) -> None:
        """Read the user's list head, let ``change`` edit it (returning the page change, if
        any), then write the new pages, the head (ETag-guarded) and delete what it replaced.
        Plain saves: the list is derived data, and a transaction on ``chat-state`` would
        publish it through the outbox."""

        async def attempt() -> None:
            entry = await self._store.get(sessions_key(user_id))
            head = list_head_of(user_id, entry.value)
            for key in head.garbage:  # left by a write that stopped after its head
                await self._store.delete(key)
            before = head.model_dump(mode="json")
            try:
                page_change = await change(head)
            except _PageGone as exc:
                raise ETagMismatch(f"a session-list page changed: {exc}") from exc
            if page_change is None and head.model_dump(mode="json") == before:
                return  # nothing changed: write nothing (not even an empty list)
            head.garbage = []
            if page_change is not None:
                for page in page_change.saves:
                    await self._store.save(
                        SESSION_PAGES.save_key(page), page, etag=None, first_write=False
                    )
                head.pages, head.next_page = page_change.pages, page_change.next_page
                head.garbage = page_change.deletes
            await self._store.save(
                sessions_key(user_id), head.model_dump(mode="json"), etag=entry.etag
            )
            for key in head.garbage:
                await self._store.delete(key)

        await retry_on_conflict(attempt)


class _PageGone(Exception):
    """A session-list page the head named was replaced after the head was read."""


def summary_of(head: SessionHead, *, last_activity: datetime) -> SessionSummary:
    """The list entry for a session as its head stands after a turn."""
    return SessionSummary(
        session_id=head.session_id,
        created_at=head.created_at,
        title=head.title,
        last_activity=last_activity,
        message_count=head.message_count,
    )


def head_of(value: dict[str, Any]) -> SessionHead:
    """A stored session head; a session document of earlier versions (all its messages in
    one document) reads as a head whose tail holds them all (sealed by the next turn)."""
    if "messages" in value and "schema_version" not in value:
        messages = [HistoryMessage.model_validate(m) for m in value["messages"]]
        title = next((m.content for m in messages if m.role == "user"), "")[:TITLE_CHARS]
        return SessionHead(
            session_id=value["session_id"],
            user_id=value["user_id"],
            created_at=value["created_at"],
            title=title,
            message_count=len(messages),
            last_turn_id=messages[-1].turn_id if messages else None,
            tail=messages,
        )
    return SessionHead.model_validate(value)


def _size(messages: Sequence[HistoryMessage | dict[str, Any]]) -> int:
    return len(
        orjson.dumps(
            [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in messages]
        )
    )


def seal_messages(messages: Sequence[HistoryMessage]) -> list[list[dict[str, Any]]]:
    """``messages`` (oldest first) as page contents: each up to ``HISTORY_PAGE_MESSAGES``
    messages and ``HISTORY_PAGE_BYTES`` of JSON (a single larger message gets a page alone)."""
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for message in messages:
        value = message.model_dump(mode="json")
        bytes_ = len(orjson.dumps(value)) + 1
        if pages[-1] and (
            len(pages[-1]) == HISTORY_PAGE_MESSAGES or size + bytes_ > HISTORY_PAGE_BYTES
        ):
            pages.append([])
            size = 0
        pages[-1].append(value)
        size += bytes_
    return pages
