"""End-user authentication, the same at both services: who is calling, and may they act
for this user?

In ``jwt`` mode a caller is the ``sub`` of a valid bearer token (signature, expiry, and the
audience and issuer when configured); a caller may act only for that user id. chat checks the
token a client sends (their sessions, turns, memories and socket; the agent's tools act for the
turn's user only) and forwards it unchanged on every call to memory, which checks it again
against the user id of the path: a bug in chat cannot read or change another user's memories,
and neither can anything that reaches memory without that user's token
(docs/security.md#end-user-identity-at-memory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jwt

from sidecar.contracts import USER_ID_PATTERN
from sidecar.settings import SidecarSettings

LEEWAY_SECONDS = 30


class Unauthenticated(Exception):
    """No bearer token, or one that does not verify (HTTP 401, WebSocket close 1008)."""


class Forbidden(Exception):
    """A valid caller acting for another user (HTTP 403, WebSocket close 1008)."""


@dataclass(frozen=True)
class Authenticator:
    settings: SidecarSettings

    @property
    def enabled(self) -> bool:
        return self.settings.auth_mode == "jwt"

    def caller(self, token: str | None) -> str | None:
        """The user id the token speaks for; None in open mode. Raises Unauthenticated."""
        if not self.enabled:
            return None
        if not token:
            raise Unauthenticated("a bearer token is required (Authorization: Bearer <JWT>)")
        key = self.settings.auth_jwt_key
        assert key is not None  # the settings refuse jwt mode without one
        try:
            claims = jwt.decode(
                token,
                key.get_secret_value(),
                algorithms=[self.settings.auth_jwt_algorithm],
                audience=self.settings.auth_jwt_audience,
                issuer=self.settings.auth_jwt_issuer,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self.settings.auth_jwt_audience is not None,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the bearer token is not valid: {exc}") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not re.fullmatch(USER_ID_PATTERN, subject):
            raise Unauthenticated("the bearer token's subject is not a valid user id")
        return subject

    @staticmethod
    def authorize(caller: str | None, user_id: str) -> str:
        """``user_id`` if the caller may act for it (anyone may in open mode); raises
        Forbidden otherwise."""
        if caller is not None and caller != user_id:
            raise Forbidden("this token is for another user")
        return user_id


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it is."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
