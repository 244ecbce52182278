"""The app-token guard: calls that come from the sidecar must carry ``APP_API_TOKEN``.

daprd sends ``dapr-api-token: $APP_API_TOKEN`` on every call to the app when the variable
is set (invocations, pub/sub deliveries, /dapr/subscribe, health probes); the SDK has no
helper to check it, so this ASGI middleware does (dapr-notes §5.2).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from sidecar.connection import API_TOKEN_HEADER

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def every_path_but_health(path: str) -> bool:
    """For apps reached only through Dapr (memory): every route but the probes and the
    metrics is guarded."""
    return path not in HEALTH_PATHS


def dapr_callback_paths(path: str) -> bool:
    """For public apps (chat): only the routes daprd calls (subscriptions, deliveries, the
    actor callbacks)."""
    return path.startswith(("/dapr/", "/events/", "/actors/"))


class AppTokenGuard:
    """Refuse guarded requests whose ``dapr-api-token`` header is not the app token."""

    def __init__(self, app: ASGIApp, *, token: str, guarded: Callable[[str], bool]) -> None:
        self.app = app
        self._token = token.encode()
        self._guarded = guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        presented = b""
        for name, value in scope.get("headers", []):
            if name.decode("latin-1").lower() == API_TOKEN_HEADER:
                presented = value
                break
        if hmac.compare_digest(presented, self._token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "invalid app token"})
            return
        body = json.dumps(
            {
                "error": "unauthorized",
                "message": "missing or invalid dapr-api-token (APP_API_TOKEN)",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
