"""Dependencies every service shares, as Annotated aliases (tests override them through
``app.dependency_overrides``, or set ``app.state.sidecar`` to a fake)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from sidecar.auth import Authenticator
from sidecar.connection import Sidecar
from sidecar.contracts import USER_ID_PATTERN
from sidecar.settings import SidecarSettings
from sidecar.state import StateStore


def get_sidecar(request: HTTPConnection) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar


SidecarDep = Annotated[Sidecar, Depends(get_sidecar)]


def get_state_store(sidecar: SidecarDep) -> StateStore:
    """The app's own state store (``settings.state_store``) through its sidecar."""
    return StateStore(sidecar.http, sidecar.settings.state_store)


StateStoreDep = Annotated[StateStore, Depends(get_state_store)]


UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id.")]

#: A memory search's text (``q``) and how many hits (``k``), as both services take them.
SearchText = Annotated[
    str, Query(min_length=1, max_length=1000, pattern=r"\S", description="What to look for.")
]
SearchHits = Annotated[int, Query(ge=1, le=50, description="How many hits at most.")]
#: ``Idempotency-Key`` on a memory's creation (memory stores at most one memory per key).
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Makes the create safe to retry: the same key returns the memory the "
        "first request stored (200) instead of storing it again.",
    ),
]

# Declared for the OpenAPI document; the check itself is Authenticator's (and a no-op when
# AUTH_MODE=open).
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="With AUTH_MODE=jwt: a JWT whose `sub` is the user id the request acts for.",
)


def get_caller(
    request: HTTPConnection,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str | None:
    """The user id the request's bearer token speaks for (None when AUTH_MODE=open); raises
    Unauthenticated (401) for a missing or invalid token."""
    settings: SidecarSettings = request.app.state.settings
    return Authenticator(settings).caller(credentials.credentials if credentials else None)


CallerDep = Annotated[str | None, Depends(get_caller)]


def authorized_user(user_id: UserIdPath, caller: CallerDep) -> str:
    """The path's user id, once the caller may act for it; raises Forbidden (403)."""
    return Authenticator.authorize(caller, user_id)


AuthorizedUserId = Annotated[str, Depends(authorized_user)]
