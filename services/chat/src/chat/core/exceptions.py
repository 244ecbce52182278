"""Domain errors of the chat service (no web framework here; core.errors maps them)."""

from __future__ import annotations


class SessionNotFound(LookupError):
    """No such session for this user (another user's session included)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} not found")
        self.session_id = session_id


class ModelFailed(RuntimeError):
    """The model (or a tool) failed during a turn."""


class Unauthenticated(Exception):
    """No bearer token, or one that does not verify (HTTP 401)."""


class Forbidden(Exception):
    """A valid caller acting for another user (HTTP 403)."""
