"""Domain errors of the chat service (no web framework here; core.errors maps them)."""

from __future__ import annotations

import math


class SessionNotFound(LookupError):
    """No such session for this user (another user's session included)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} not found")
        self.session_id = session_id


class SessionBusy(Exception):
    """The session is running another turn and the request's strategy is ``reject`` (or its
    wait in the queue ran out): HTTP 409 ``session_busy``, nothing written."""


class SessionDeleted(Exception):
    """The session was deleted while the turn ran: the turn is not saved (HTTP 410
    ``session_deleted``; a stream ends with an ``error`` event with that code)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} was deleted while the turn ran; nothing saved")
        self.session_id = session_id


class SessionFull(Exception):
    """The session holds ``MAX_MESSAGES_PER_SESSION`` messages: HTTP 409 ``session_full``
    before the model is called, nothing written. A new session continues the conversation."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this session has reached its limit of {limit} messages; start a new session"
        )
        self.limit = limit


class SessionLimitReached(Exception):
    """The user has ``MAX_SESSIONS_PER_USER`` sessions: HTTP 409 ``session_limit_reached``,
    nothing written. Deleting a session makes room."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this user already has the maximum of {limit} sessions; delete some first"
        )
        self.limit = limit


class ModelFailed(RuntimeError):
    """The model (or a tool) failed during a turn: HTTP 502 ``model_failed``, nothing saved."""


class ModelTimedOut(RuntimeError):
    """The model did not answer within ``MODEL_TIMEOUT_SECONDS``: HTTP 504 ``model_timeout``,
    nothing saved."""


class RateLimited(Exception):
    """The user started more turns than ``TURN_RATE_LIMIT`` allows: HTTP 429 with
    ``Retry-After`` (a WebSocket gets an ``error`` with code ``rate_limited`` and stays open),
    before anything is written or the model is called."""

    def __init__(self, retry_after_seconds: float) -> None:
        #: Whole seconds until one more turn is allowed, rounded up, at least 1
        #: (``Retry-After``, RFC 9110 §10.2.3).
        self.retry_after = max(1, math.ceil(retry_after_seconds))
        super().__init__(f"too many turns: try again in {self.retry_after} s (TURN_RATE_LIMIT)")


class MemoryLimitReached(Exception):
    """memory refused a new memory: the user has as many as it keeps (memory's 409). HTTP
    409 ``memory_limit_reached``; nothing stored."""
