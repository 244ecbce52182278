"""Dapr actors that serialize chat's writers across replicas (docs/architecture.md).

- ``ChatSession`` (actor id ``<user>:<session>``): the only writer of a session's document. It
  also keeps the session's *turn lease*: one turn runs at a time, the others wait in a queue,
  are refused, or interrupt the running one, as each message's double-texting strategy says.
- ``ChatUser`` (actor id ``<user>``): the only writer of the user's session list.
- ``ChatRateLimit`` (actor id ``<user>``): counts the user's turns against ``TURN_RATE_LIMIT``
  (chat.data.rate_limits); a type of its own so that a check never waits behind a list write.

Dapr places each actor id on one replica and runs its calls one after another, so ordinary
concurrency (double texting, retries, 25 first messages at once) reaches the store in order and
never as an ETag conflict, which with the outbox would leave an orphaned message behind.

The lease lives in the actor's memory, not in the store: it is coordination, not data. If Dapr
moves the actor (a replica joins or leaves) the lease is forgotten and a waiting turn may start
beside a running one; the history stays whole (ETags), only the one-at-a-time order is lost for
that moment. A replica that dies mid-turn stops renewing and its lease expires.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from dapr.actor import Actor, ActorInterface
from dapr.actor.runtime.context import ActorRuntimeContext

from chat.core.exceptions import RateLimited, SessionDeleted, SessionFull, SessionLimitReached
from chat.data.rate_limits import TurnRateLimiter
from chat.data.sessions import SessionRepository, summary_of
from chat.models.chat import MultitaskStrategy
from chat.models.sessions import HistoryMessage, SessionSummary
from sidecar.actors import ACTOR_ERRORS, ActorClient, actor_method, actor_reply
from sidecar.turn_events import ConversationTurn

SESSION_ACTOR = "ChatSession"  # the class names below: Dapr names actor types after the class
USER_ACTOR = "ChatUser"
RATE_LIMIT_ACTOR = "ChatRateLimit"
_DOMAIN_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (SessionDeleted, "session_deleted"),
    (SessionFull, "session_full"),
    (SessionLimitReached, "session_limit_reached"),
)

AcquireStatus = Literal["granted", "queued", "busy"]
RenewStatus = Literal["held", "interrupted", "deleted", "lost"]


def session_actor_id(user_id: str, session_id: str) -> str:
    """``<user>:<session>``: user ids never contain ``:`` (sidecar.contracts)."""
    return f"{user_id}:{session_id}"


# -- the lease: pure logic, the clock injected -----------------------------------------------
@dataclass
class _Holder:
    turn_id: str
    expires_at: float
    interrupt: bool = False


@dataclass
class _Waiter:
    turn_id: str
    seen_at: float
    interrupting: bool


@dataclass
class TurnLease:
    """Who runs the session's turn now and who waits, in order.

    A waiter polls ``acquire`` until it is granted; one that stops polling for ``waiter_ttl``
    seconds (its client went away, its replica died) is dropped. ``interrupt`` waiters go
    before ``enqueue`` ones and flag the running turn, which learns it on its next ``renew``.
    """

    # A waiter polls at least every 0.5 s, but one poll may wait up to an actor call's timeout
    # (10 s) in daprd's queue behind a slow commit: only silence longer than that drops it.
    waiter_ttl: float = 15.0
    clock: Callable[[], float] = time.monotonic
    holder: _Holder | None = None
    waiters: list[_Waiter] = field(default_factory=list)
    deleted: bool = False
    #: Turns that ended here lately: a renewal of one of them (sent before its save, delivered
    #: after) must not take the lease again.
    ended: deque[str] = field(default_factory=lambda: deque(maxlen=256))

    def acquire(
        self, turn_id: str, strategy: MultitaskStrategy, lease_seconds: float
    ) -> tuple[AcquireStatus, int]:
        """Try to take the lease for ``turn_id``: granted, queued (with the position, 1 =
        next), or busy (``reject`` while another turn runs or waits)."""
        now = self._tidy()
        if turn_id in self.ended:  # a late poll of a turn that gave up or ended: never again
            return "busy", 0
        if self.holder is not None and self.holder.turn_id == turn_id:
            self.holder.expires_at = now + lease_seconds
            return "granted", 0
        others = [w for w in self.waiters if w.turn_id != turn_id]
        if strategy == "reject" and (self.holder is not None or others):
            return "busy", 0
        waiter = next((w for w in self.waiters if w.turn_id == turn_id), None)
        if waiter is None:
            waiter = _Waiter(turn_id, now, interrupting=strategy == "interrupt")
            if waiter.interrupting:
                place = next(
                    (i for i, w in enumerate(self.waiters) if not w.interrupting), len(self.waiters)
                )
                self.waiters.insert(place, waiter)
            else:
                self.waiters.append(waiter)
        waiter.seen_at = now
        if waiter.interrupting and self.holder is not None:
            self.holder.interrupt = True
        if self.holder is None and self.waiters[0].turn_id == turn_id:
            self.waiters.pop(0)
            self.holder = _Holder(turn_id, now + lease_seconds)
            return "granted", 0
        return "queued", self.waiters.index(waiter) + 1

    def renew(self, turn_id: str, lease_seconds: float) -> RenewStatus:
        """Extend the holder's lease; say if it should stop (interrupted, session deleted), or
        that it is no longer the holder (its lease ran out)."""
        now = self._tidy()
        if self.deleted:
            return "deleted"
        if self.holder is None and turn_id not in self.ended:
            # Its lease ran out, or the actor moved and forgot it: nobody else took it, so the
            # running turn takes it back (it is the turn that runs).
            self.holder = _Holder(turn_id, now + lease_seconds)
        if self.holder is None:
            return "lost"
        if self.holder.turn_id != turn_id:
            return "lost"
        self.holder.expires_at = now + lease_seconds
        return "interrupted" if self.holder.interrupt else "held"

    def release(self, turn_id: str) -> None:
        """The turn is over (saved, failed, or its client gave up waiting)."""
        if self.holder is not None and self.holder.turn_id == turn_id:
            self.holder = None
        self.waiters = [w for w in self.waiters if w.turn_id != turn_id]
        self.ended.append(turn_id)
        self._settle_interrupt()

    def mark_deleted(self) -> None:
        self.deleted = True
        if self.holder is not None:
            self.holder.interrupt = True

    def _tidy(self) -> float:
        now = self.clock()
        if self.holder is not None and self.holder.expires_at <= now:
            self.holder = None
        self.waiters = [w for w in self.waiters if now - w.seen_at <= self.waiter_ttl]
        self._settle_interrupt()
        return now

    def _settle_interrupt(self) -> None:
        """An interrupt nobody waits for any more (its message gave up) is withdrawn."""
        if (
            self.holder is not None
            and self.holder.interrupt
            and not self.deleted
            and not any(w.interrupting for w in self.waiters)
        ):
            self.holder.interrupt = False


# -- the actors ------------------------------------------------------------------------------
class ChatSessionInterface(ActorInterface):
    @actor_method("acquire")
    @abstractmethod
    async def acquire(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("renew")
    @abstractmethod
    async def renew(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("release")
    @abstractmethod
    async def release(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("commit")
    @abstractmethod
    async def commit(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("delete")
    @abstractmethod
    async def delete(self, request: dict[str, Any]) -> dict[str, Any]: ...


class ChatSession(Actor, ChatSessionInterface):
    """One session: its turn lease, and the only writer of its document."""

    def __init__(
        self, ctx: ActorRuntimeContext, actor_id: Any, *, repository: SessionRepository
    ) -> None:
        super().__init__(ctx, actor_id)
        self._user_id, _, self._session_id = str(actor_id.id).partition(":")
        self._repository = repository
        self._lease = TurnLease()

    async def acquire(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"turn_id", "strategy", "lease_seconds"}`` → ``{"status", "position"}``."""
        status, position = self._lease.acquire(
            request["turn_id"], request["strategy"], float(request["lease_seconds"])
        )
        return {"result": {"status": status, "position": position}}

    async def renew(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"turn_id", "lease_seconds"}`` → ``{"status": held|interrupted|deleted|lost}``."""
        status = self._lease.renew(request["turn_id"], float(request["lease_seconds"]))
        return {"result": {"status": status}}

    async def release(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"turn_id"}``: the turn ends without a save, or stops waiting."""
        self._lease.release(request["turn_id"])
        return {"result": None}

    async def commit(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"turn_id", "messages", "event"}``: append the turn (one transaction with its
        outbox event) and release its lease → the session's list entry after the turn.
        Answers ``session_deleted`` if the session is gone (nothing written)."""

        async def work() -> dict[str, Any]:
            try:
                head = await self._repository.append_turn(
                    self._user_id,
                    self._session_id,
                    [HistoryMessage.model_validate(m) for m in request["messages"]],
                    ConversationTurn.model_validate(request["event"]),
                )
            finally:
                self._lease.release(request["turn_id"])
            completed = datetime.fromisoformat(request["event"]["completed_at"])
            return summary_of(head, last_activity=completed).model_dump(mode="json")

        return await actor_reply(work(), _DOMAIN_ERRORS)

    async def delete(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"now"}``: erase the session's head and history (announced as
        ``session.deleted``); a running turn learns it on its next renewal, and its save is
        refused. → whether there was a document. A call without ``now`` (from a replica of
        the previous version, during a rolling upgrade) uses this replica's clock."""
        now = datetime.fromisoformat(request["now"]) if "now" in request else datetime.now(UTC)

        async def work() -> bool:
            existed = await self._repository.delete_document(
                self._user_id, self._session_id, now=now
            )
            self._lease.mark_deleted()  # only once the document is gone (a failed delete: 503)
            return existed

        return await actor_reply(work(), _DOMAIN_ERRORS)


class ChatUserInterface(ActorInterface):
    @actor_method("create_session")
    @abstractmethod
    async def create_session(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("touch_session")
    @abstractmethod
    async def touch_session(self, request: dict[str, Any]) -> dict[str, Any]: ...

    @actor_method("unlist_session")
    @abstractmethod
    async def unlist_session(self, request: dict[str, Any]) -> dict[str, Any]: ...


class ChatUser(Actor, ChatUserInterface):
    """One user: the only writer of the user's session list."""

    def __init__(
        self, ctx: ActorRuntimeContext, actor_id: Any, *, repository: SessionRepository
    ) -> None:
        super().__init__(ctx, actor_id)
        self._user_id: str = actor_id.id
        self._repository = repository

    async def create_session(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"session_id", "now"}``: list the session and write its empty document."""
        now = datetime.fromisoformat(request["now"])
        work = self._repository.create(self._user_id, request["session_id"], now=now)
        reply = await actor_reply(work, _DOMAIN_ERRORS)
        return {"result": None} if "result" in reply else reply

    async def touch_session(self, request: dict[str, Any]) -> dict[str, Any]:
        """``SessionSummary`` → whether the session was still listed."""
        summary = SessionSummary.model_validate(request)
        return await actor_reply(self._repository.touch(self._user_id, summary), _DOMAIN_ERRORS)

    async def unlist_session(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"session_id", "created_at": time | null}`` → whether it was listed (the session's
        creation time finds it in a sealed page at once; without it every page is searched)."""
        created = request.get("created_at")
        work = self._repository.unlist(
            self._user_id,
            request["session_id"],
            None if created is None else datetime.fromisoformat(created),
        )
        return await actor_reply(work, _DOMAIN_ERRORS)


class ChatRateLimitInterface(ActorInterface):
    @actor_method("take")
    @abstractmethod
    async def take(self, request: dict[str, Any]) -> dict[str, Any]: ...


class ChatRateLimit(Actor, ChatRateLimitInterface):
    """One user's turn count, kept by this replica's limiter (in memory, no state)."""

    def __init__(
        self, ctx: ActorRuntimeContext, actor_id: Any, *, limiter: TurnRateLimiter
    ) -> None:
        super().__init__(ctx, actor_id)
        self._user_id: str = actor_id.id
        self._limiter = limiter

    async def take(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{}`` → ``{"retry_after": seconds}``: 0 when the turn is counted and may start."""
        return {"result": {"retry_after": self._limiter.take(self._user_id)}}


def chat_actor_factories(
    repository: SessionRepository, limiter: TurnRateLimiter
) -> dict[type[Actor], Callable[[ActorRuntimeContext, Any], Actor]]:
    """What the app registers: the three actor types, over the app's repository and its
    turn limiter."""

    def session(ctx: ActorRuntimeContext, actor_id: Any) -> Actor:
        return ChatSession(ctx, actor_id, repository=repository)

    def user(ctx: ActorRuntimeContext, actor_id: Any) -> Actor:
        return ChatUser(ctx, actor_id, repository=repository)

    def rate_limit(ctx: ActorRuntimeContext, actor_id: Any) -> Actor:
        return ChatRateLimit(ctx, actor_id, limiter=limiter)

    return {ChatSession: session, ChatUser: user, ChatRateLimit: rate_limit}


# -- the callers' side ------------------------------------------------------------------------
class SessionActors:
    """Calls to the ``ChatSession``, ``ChatUser`` and ``ChatRateLimit`` actors, typed. Every
    method may raise ActorCallFailed (HTTP 503), ConcurrencyConflict or StateStoreUnavailable."""

    def __init__(
        self, actors: ActorClient, *, max_messages: int = 100_000, max_sessions: int = 10_000
    ) -> None:
        self._actors = actors
        self._errors: dict[str, Callable[[str], Exception]] = {
            **ACTOR_ERRORS,
            "session_full": lambda _: SessionFull(max_messages),
            "session_limit_reached": lambda _: SessionLimitReached(max_sessions),
        }

    async def _session(
        self, user_id: str, session_id: str, method: str, payload: dict[str, Any]
    ) -> Any:
        errors = {**self._errors, "session_deleted": lambda _: SessionDeleted(session_id)}
        return await self._actors.call(
            SESSION_ACTOR, session_actor_id(user_id, session_id), method, payload, errors=errors
        )

    async def acquire(
        self,
        user_id: str,
        session_id: str,
        turn_id: str,
        *,
        strategy: MultitaskStrategy,
        lease_seconds: float,
    ) -> tuple[AcquireStatus, int]:
        answer = await self._session(
            user_id,
            session_id,
            "acquire",
            {"turn_id": turn_id, "strategy": strategy, "lease_seconds": lease_seconds},
        )
        return answer["status"], int(answer["position"])

    async def renew(
        self, user_id: str, session_id: str, turn_id: str, *, lease_seconds: float
    ) -> RenewStatus:
        answer = await self._session(
            user_id, session_id, "renew", {"turn_id": turn_id, "lease_seconds": lease_seconds}
        )
        status: RenewStatus = answer["status"]
        return status

    async def release(self, user_id: str, session_id: str, turn_id: str) -> None:
        await self._session(user_id, session_id, "release", {"turn_id": turn_id})

    async def commit(
        self,
        user_id: str,
        session_id: str,
        turn_id: str,
        messages: list[HistoryMessage],
        event: ConversationTurn,
    ) -> SessionSummary:
        """Save the turn and release its lease. Raises SessionDeleted (nothing saved)."""
        summary = await self._session(
            user_id,
            session_id,
            "commit",
            {
                "turn_id": turn_id,
                "messages": [m.model_dump(mode="json") for m in messages],
                "event": event.model_dump(mode="json"),
            },
        )
        return SessionSummary.model_validate(summary)

    async def delete(self, user_id: str, session_id: str, *, now: datetime) -> bool:
        return bool(await self._session(user_id, session_id, "delete", {"now": now.isoformat()}))

    async def take_turn(self, user_id: str) -> None:
        """Count a turn against the user's rate limit. Raises RateLimited (nothing counted)."""
        answer = await self._actors.call(RATE_LIMIT_ACTOR, user_id, "take", {})
        retry_after = float(answer["retry_after"])
        if retry_after > 0:
            raise RateLimited(retry_after)

    async def create_session(self, user_id: str, session_id: str, *, now: datetime) -> None:
        """Raises SessionLimitReached when the user has the maximum of sessions."""
        await self._actors.call(
            USER_ACTOR,
            user_id,
            "create_session",
            {"session_id": session_id, "now": now.isoformat()},
            errors=self._errors,
        )

    async def touch_session(self, user_id: str, summary: SessionSummary) -> bool:
        return bool(
            await self._actors.call(
                USER_ACTOR, user_id, "touch_session", summary.model_dump(mode="json")
            )
        )

    async def unlist_session(
        self, user_id: str, session_id: str, created_at: datetime | None = None
    ) -> bool:
        payload = {
            "session_id": session_id,
            "created_at": None if created_at is None else created_at.isoformat(),
        }
        return bool(await self._actors.call(USER_ACTOR, user_id, "unlist_session", payload))
