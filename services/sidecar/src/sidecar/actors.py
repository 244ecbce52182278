"""Dapr virtual actors: calling them through the app's own sidecar, and hosting them.

Actors are how both services serialize the writers of one key *across replicas* (one session,
one user's session list, one user's memories): Dapr places each actor id on one replica at a
time and runs its calls one after another (turn-based concurrency), so ordinary concurrency
never reaches the store as an ETag conflict (docs/architecture.md, "How writes are serialized").

- Calling: ``ActorClient.call`` POSTs to the sidecar's actor API
  (``/v1.0/actors/{type}/{id}/method/{method}``) over the process's one httpx client, with the
  API token and an explicit timeout. The SDK's ``ActorProxy`` opens an aiohttp session per call
  and reads its endpoint from process globals, so it is not used for calls.
- Hosting: the SDK's ``ActorRuntime`` (``register_actors``), behind the callback routes
  daprd uses (``PUT /actors/{type}/{id}/method/{m}``, ``GET /dapr/config``, ...) that
  ``dapr.ext.fastapi.DaprActor`` serves (added by sidecar.app: this module knows no web
  framework, so the services' domain layers may use it). The runtime is
  given this module's client for its own outbound calls (it would otherwise build one that
  blocks on a synchronous health wait) and a plain JSON serializer: the SDK's default decoder
  turns any string that starts like a date into a ``datetime`` and any duration-like string
  into a ``timedelta`` (``dapr/serializers/json.py``), which would corrupt user text.
- Answers: an actor method answers ``{"result": ...}`` or ``{"error": {"code", "message"}}``
  (``actor_reply``), so domain errors cross the actor boundary by name and the caller raises
  them again (``ActorClient.call``'s ``errors``); only a failure of the transport is a
  ``ActorCallFailed`` (HTTP 503).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Final, TypeVar, cast
from urllib.parse import quote

import httpx
from dapr.actor import Actor, ActorRuntime, actormethod
from dapr.actor.runtime.config import ActorRuntimeConfig
from dapr.actor.runtime.context import ActorRuntimeContext
from dapr.clients.base import DaprActorClientBase
from dapr.serializers import Serializer

from sidecar.errors import (
    ActorCallFailed,
    ConcurrencyConflict,
    SidecarError,
    StateStoreUnavailable,
)

__all__ = [
    "ACTOR_ERRORS",
    "ActorCallFailed",
    "ActorClient",
    "ActorFactory",
    "JsonSerializer",
    "actor_method",
    "actor_reply",
    "register_actors",
]

#: Errors every actor may answer with, and the exception the caller raises for each.
ACTOR_ERRORS: Final[Mapping[str, Callable[[str], Exception]]] = {
    "conflict": ConcurrencyConflict,
    "unavailable": StateStoreUnavailable,
}
_ERROR_CODES: Final[tuple[tuple[type[Exception], str], ...]] = (
    (ConcurrencyConflict, "conflict"),
    (SidecarError, "unavailable"),
)

ActorFactory = Callable[[ActorRuntimeContext, Any], Actor]
F = TypeVar("F", bound=Callable[..., Any])


def actor_method(name: str) -> Callable[[F], F]:
    """The SDK's ``actormethod`` (the method's name on the wire), with its type kept."""
    return cast(Callable[[F], F], actormethod(name=name))


class JsonSerializer(Serializer):
    """Plain JSON both ways (UTF-8 bytes): what goes in comes out, strings stay strings."""

    def serialize(self, obj: object, custom_hook: Callable[[object], bytes] | None = None) -> bytes:
        if isinstance(obj, bytes):
            return obj
        if custom_hook is not None:
            return bytes(custom_hook(obj))
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def deserialize(
        self,
        data: bytes,
        data_type: type | None = object,
        custom_hook: Callable[[Any], object] | None = None,
    ) -> Any:
        value = json.loads(data) if data else None
        return custom_hook(value) if custom_hook is not None else value


async def actor_reply(
    work: Awaitable[Any], errors: tuple[tuple[type[Exception], str], ...] = ()
) -> dict[str, Any]:
    """Run an actor method's ``work`` and wrap its outcome for the wire: ``{"result": value}``,
    or ``{"error": {"code", "message"}}`` for the domain errors in ``errors`` (checked in
    order, then the sidecar-layer ones: ``conflict``, ``unavailable``). Anything else
    propagates: daprd answers the caller 500 and ``ActorClient.call`` raises ActorCallFailed."""
    try:
        return {"result": await work}
    except Exception as exc:
        for kind, code in (*errors, *_ERROR_CODES):
            if isinstance(exc, kind):
                return {"error": {"code": code, "message": str(exc)[:1000]}}
        raise


class ActorClient(DaprActorClientBase):
    """The actor API of the app's own sidecar, over the process's httpx client.

    ``timeout_seconds`` bounds each call (daprd queues calls to a busy actor, so this includes
    the wait for the actor's turn)."""

    def __init__(self, http: httpx.AsyncClient, *, timeout_seconds: float = 10.0) -> None:
        self._http = http
        self._timeout = timeout_seconds

    async def call(
        self,
        actor_type: str,
        actor_id: str,
        method: str,
        payload: Mapping[str, Any] | None = None,
        *,
        errors: Mapping[str, Callable[[str], Exception]] = ACTOR_ERRORS,
        timeout_seconds: float | None = None,
    ) -> Any:
        """Invoke ``method`` with a JSON ``payload``; return the method's ``result``.

        Raises the exception ``errors`` (or ACTOR_ERRORS) names for an ``{"error"}`` answer,
        and ActorCallFailed when the call could not be made or the actor crashed."""
        body = json.dumps(payload or {}, separators=(",", ":"), allow_nan=False).encode()
        response = await self._send(
            "POST",
            self._url(actor_type, actor_id, f"method/{method}"),
            content=body,
            limit_seconds=timeout_seconds,
        )
        try:
            answer = response.json()
        except ValueError as exc:
            raise ActorCallFailed(f"{actor_type}.{method}: the answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise ActorCallFailed(f"{actor_type}.{method}: unexpected answer {answer!r:.200}")
        if "error" in answer:
            code = str(answer["error"].get("code", ""))
            message = str(answer["error"].get("message", ""))
            raise_as = errors.get(code) or ACTOR_ERRORS.get(code)
            if raise_as is None:
                raise ActorCallFailed(f"{actor_type}.{method} failed: {code}: {message}")
            raise raise_as(message)
        return answer.get("result")

    # -- DaprActorClientBase: what the SDK's ActorRuntime needs for hosted actors -------------
    async def invoke_method(
        self, actor_type: str, actor_id: str, method: str, data: bytes | None = None
    ) -> bytes:
        response = await self._send(
            "POST", self._url(actor_type, actor_id, f"method/{method}"), content=data or b""
        )
        return response.content

    async def save_state_transactionally(self, actor_type: str, actor_id: str, data: bytes) -> None:
        await self._send("PUT", self._url(actor_type, actor_id, "state"), content=data)

    async def get_state(self, actor_type: str, actor_id: str, name: str) -> bytes:
        response = await self._send("GET", self._url(actor_type, actor_id, f"state/{name}"))
        return response.content

    async def register_reminder(
        self, actor_type: str, actor_id: str, name: str, data: bytes
    ) -> None:
        await self._send("PUT", self._url(actor_type, actor_id, f"reminders/{name}"), content=data)

    async def unregister_reminder(self, actor_type: str, actor_id: str, name: str) -> None:
        await self._send("DELETE", self._url(actor_type, actor_id, f"reminders/{name}"))

    async def register_timer(self, actor_type: str, actor_id: str, name: str, data: bytes) -> None:
        await self._send("PUT", self._url(actor_type, actor_id, f"timers/{name}"), content=data)

    async def unregister_timer(self, actor_type: str, actor_id: str, name: str) -> None:
        await self._send("DELETE", self._url(actor_type, actor_id, f"timers/{name}"))

    # -- transport ----------------------------------------------------------------------------
    @staticmethod
    def _url(actor_type: str, actor_id: str, rest: str) -> str:
        return f"/v1.0/actors/{quote(actor_type, safe='')}/{quote(actor_id, safe='')}/{rest}"

    async def _send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        limit_seconds: float | None = None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                url,
                content=content,
                headers={"content-type": "application/json"},
                timeout=limit_seconds or self._timeout,
            )
        except httpx.HTTPError as exc:
            raise ActorCallFailed(f"actor call {method} {url}: {exc!r}") from exc
        if not response.is_success:
            raise ActorCallFailed(
                f"actor call {method} {url} answered {response.status_code}: {response.text[:300]}"
            )
        return response


async def register_actors(
    client: ActorClient,
    factories: Mapping[type[Actor], ActorFactory],
    *,
    idle_timeout: timedelta = timedelta(minutes=15),
    drain_timeout: timedelta = timedelta(seconds=20),
) -> None:
    """Register actor types with the process's ActorRuntime (what ``GET /dapr/config`` then
    tells daprd), each built by its factory (so actors get the app's store and settings)."""
    ActorRuntime.set_actor_config(
        ActorRuntimeConfig(
            actor_idle_timeout=idle_timeout,
            drain_ongoing_call_timeout=drain_timeout,
            drain_rebalanced_actors=True,
        )
    )
    serializer = JsonSerializer()
    for actor_type, factory in factories.items():
        await ActorRuntime.register_actor(
            actor_type,
            message_serializer=serializer,
            state_serializer=serializer,
            actor_factory=factory,
            actor_client=client,
        )
