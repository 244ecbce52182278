"""Errors of the sidecar layer, shared by both services' exception handlers."""

from __future__ import annotations


class SidecarError(Exception):
    """Base for failures talking to the Dapr sidecar."""


class ETagMismatch(SidecarError):
    """A first-write check failed: someone else changed (or created) the key first."""


class ConcurrencyConflict(SidecarError):
    """Bounded retries after ETag mismatches were exhausted; surfaces as HTTP 409."""


class StateStoreUnavailable(SidecarError):
    """The sidecar or the store behind it could not serve the request; surfaces as HTTP 503."""


class InvocationFailed(SidecarError):
    """Dapr service invocation could not reach the target app or it answered with a 5xx."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ActorCallFailed(SidecarError):
    """The sidecar could not deliver an actor call, or the actor failed unexpectedly
    (placement not ready, the hosting replica gone, a timeout); surfaces as HTTP 503."""
