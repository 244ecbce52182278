"""The public edge's authentication: who is calling, and may they act for this user?

In ``jwt`` mode a caller is the ``sub`` of a valid bearer token (signature, expiry, and the
audience and issuer when configured); a caller may act only for that user id: their sessions,
turns, memories and socket. Object-level authorisation reaches the agent's tools too, since the
tools act for the turn's user only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jwt

from chat.core.exceptions import Forbidden, Unauthenticated
from chat.core.settings import ChatSettings
from sidecar.contracts import USER_ID_PATTERN

LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Authenticator:
    settings: ChatSettings

    @property
    def enabled(self) -> bool:
        return self.settings.auth_mode == "jwt"

    def caller(self, token: str | None) -> str | None:
        """The user id the token speaks for; None in open mode."""
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
        """``user_id`` if the caller may act for it (anyone may in open mode)."""
        if caller is not None and caller != user_id:
            raise Forbidden("this token is for another user")
        return user_id


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it is."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
