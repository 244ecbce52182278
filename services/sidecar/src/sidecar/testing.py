"""A fake of the daprd HTTP API for unit tests: state (first-write ETags, transactions) and
service invocation, served through ``httpx.MockTransport``.

It answers with the status codes and bodies real daprd uses (dapr-notes §1-§2), keeps ETags
like state.sqlite (a new UUID per write), and has the switches tests need: fail the next call,
and run a hook just before a write commits (to inject a concurrent writer). Integration tests
use the real daprd instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from sidecar.connection import Sidecar

InvokeHandler = Callable[[str, httpx.Request], httpx.Response]
ActorHost = Callable[[str, str, str, bytes], Awaitable[httpx.Response]]

_STATE = re.compile(r"^/v1\.0/state/(?P<store>[^/]+)(?:/(?P<rest>.+))?$")
_ACTOR_METHOD = re.compile(
    r"^/v1\.0/actors/(?P<type>[^/]+)/(?P<id>[^/]+)/method/(?P<method>[^/]+)$"
)


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errorCode": code, "message": message})


@dataclass
class FakeDaprSidecar:
    stores: set[str]
    data: dict[str, dict[str, tuple[Any, str]]] = field(default_factory=dict)
    invoke: InvokeHandler | None = None
    #: Answer the next request with this status (and a daprd-like error body), once.
    fail_next_status: int | None = None
    #: Called with (store, keys) right before a write commits; may change ``data``.
    before_write: Callable[[str, list[str]], None] | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    #: store name -> topic, for stores with Dapr's transactional outbox configured.
    outbox: dict[str, str] = field(default_factory=dict)
    #: What the outbox published, in order: {"topic", "type", "subject", "data"}.
    published: list[dict[str, Any]] = field(default_factory=list)
    #: Where actor calls go (``attach_fake_sidecar`` points it at the app's actor routes).
    actor_host: ActorHost | None = None
    #: One lock per actor id: daprd runs an actor's calls one at a time (turn-based).
    _actor_turns: dict[str, asyncio.Lock] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle_async)

    async def _handle_async(self, request: httpx.Request) -> httpx.Response:
        answer = self.handle(request)
        return answer if isinstance(answer, httpx.Response) else await answer

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport(), base_url="http://127.0.0.1:3500")

    # -- direct access for assertions ------------------------------------------------------
    def value(self, store: str, key: str) -> Any:
        entry = self.data.get(store, {}).get(key)
        return None if entry is None else entry[0]

    def put(self, store: str, key: str, value: Any) -> str:
        etag = uuid.uuid4().hex
        self.data.setdefault(store, {})[key] = (value, etag)
        return etag

    # -- the fake API ------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        self.requests.append(request)
        if self.fail_next_status is not None:
            status, self.fail_next_status = self.fail_next_status, None
            return _error(status, "ERR_FAKE_FAILURE", "injected failure")
        actor = _ACTOR_METHOD.match(request.url.path)
        if actor is not None:
            return self._call_actor(actor["type"], actor["id"], actor["method"], request.content)
        app_id = request.headers.get("dapr-app-id")
        if app_id is not None:
            if self.invoke is None:
                return _error(500, "ERR_DIRECT_INVOKE", f"failed to invoke, id: {app_id}")
            return self.invoke(app_id, request)
        path = request.url.path
        if path in ("/v1.0/healthz", "/v1.0/healthz/outbound"):
            return httpx.Response(204)
        match = _STATE.match(path)
        if match is None:
            return _error(404, "ERR_DIRECT_INVOKE", "failed getting app id")
        store, rest = match["store"], match["rest"]
        if store not in self.stores:
            return _error(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {store} is not found")
        table = self.data.setdefault(store, {})
        if request.method == "GET" and rest:
            return self._get(table, rest)
        if request.method == "DELETE" and rest:
            return self._delete(store, table, rest, request.headers.get("if-match"))
        body = json.loads(request.content or b"null")
        if request.method in ("POST", "PUT") and rest is None:
            return self._write(store, table, [{"operation": "upsert", "request": i} for i in body])
        if request.method in ("POST", "PUT") and rest == "bulk":
            return self._bulk(table, body["keys"])
        if request.method in ("POST", "PUT") and rest == "transaction":
            operations, events = self._outbox(store, body["operations"])
            response = self._write(store, table, operations)
            if response.status_code == 409:  # daprd reports a failed transaction as a 500
                message = f"error while executing state transaction: {response.json()['message']}"
                return _error(500, "ERR_STATE_TRANSACTION", message)
            self.published.extend(events)
            return response
        return _error(405, "ERR_METHOD_NOT_ALLOWED", f"{request.method} {path}")

    async def _call_actor(
        self, actor_type: str, actor_id: str, method: str, body: bytes
    ) -> httpx.Response:
        if self.actor_host is None:
            return _error(500, "ERR_ACTOR_RUNTIME_NOT_FOUND", "actor runtime is not configured")
        turn = self._actor_turns.setdefault(f"{actor_type}||{actor_id}", asyncio.Lock())
        async with turn:
            return await self.actor_host(actor_type, actor_id, method, body)

    def _outbox(
        self, store: str, operations: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Like daprd's outbox: projection operations are taken out (their value is published
        instead of the saved one) and every other upsert yields one event."""
        topic = self.outbox.get(store)
        if topic is None:
            return operations, []
        projections: dict[str, Any] = {}
        kept = []
        for op in operations:
            metadata = op["request"].get("metadata") or {}
            if op["operation"] == "upsert" and metadata.get("outbox.projection") == "true":
                projections[op["request"]["key"]] = op["request"].get("value")
            else:
                kept.append(op)
        events = [
            {
                "topic": topic,
                "type": (op["request"].get("metadata") or {}).get("type", "com.dapr.event.sent"),
                "subject": (op["request"].get("metadata") or {}).get("subject"),
                "data": projections.get(op["request"]["key"], op["request"].get("value")),
            }
            for op in kept
            if op["operation"] == "upsert"
        ]
        return kept, events

    def _get(self, table: dict[str, tuple[Any, str]], key: str) -> httpx.Response:
        if key not in table:
            return httpx.Response(204)
        value, etag = table[key]
        return httpx.Response(200, json=value, headers={"ETag": etag})

    def _bulk(self, table: dict[str, tuple[Any, str]], keys: list[str]) -> httpx.Response:
        items: list[dict[str, Any]] = []
        for key in keys:
            if key in table:
                items.append({"key": key, "data": table[key][0], "etag": table[key][1]})
            else:
                items.append({"key": key})
        return httpx.Response(200, json=items)

    def _delete(
        self, store: str, table: dict[str, tuple[Any, str]], key: str, etag: str | None
    ) -> httpx.Response:
        if etag and (key not in table or table[key][1] != etag):
            return _error(409, "ERR_STATE_DELETE", f"failed deleting state with key {key}: "
                          "possible etag mismatch")  # fmt: skip
        table.pop(key, None)
        return httpx.Response(204)

    def _write(
        self, store: str, table: dict[str, tuple[Any, str]], operations: list[dict[str, Any]]
    ) -> httpx.Response:
        keys = [op["request"]["key"] for op in operations]
        if self.before_write is not None:
            self.before_write(store, keys)
        for op in operations:
            request = op["request"]
            key, etag = request["key"], request.get("etag") or None
            first_write = (request.get("options") or {}).get("concurrency") == "first-write"
            current = table.get(key)
            mismatch = (etag is not None and (current is None or current[1] != etag)) or (
                etag is None and first_write and current is not None and op["operation"] == "upsert"
            )
            if mismatch:
                return _error(409, "ERR_STATE_SAVE", f"failed saving state in state store {store}: "
                              "possible etag mismatch")  # fmt: skip
        for op in operations:
            request = op["request"]
            if op["operation"] == "delete":
                table.pop(request["key"], None)
            else:
                table[request["key"]] = (request.get("value"), uuid.uuid4().hex)
        return httpx.Response(204)


@dataclass
class FakeDaprClient:
    """The few SDK client calls the apps make (the metadata API), answered from ``components``."""

    components: list[str]

    async def get_metadata(self) -> Any:
        registered = [SimpleNamespace(name=n, type="fake", version="v1") for n in self.components]
        return SimpleNamespace(registered_components=registered)

    async def close(self) -> None:
        return None


def attach_fake_sidecar(app: FastAPI, fake: FakeDaprSidecar) -> None:
    """Stand in for the lifespan: give ``app`` a Sidecar whose clients are fakes, and route the
    fake's actor calls to the app's actor routes, as daprd would (registering the app's actor
    types on the first call)."""
    settings = app.state.settings
    loaded = [*sorted(fake.stores), settings.pubsub_name, *settings.required_components]
    dapr = FakeDaprClient(components=loaded)
    sidecar = Sidecar(settings=settings, http=fake.client(), dapr=dapr)
    app.state.sidecar = sidecar
    registered: list[bool] = []
    token = settings.app_api_token.get_secret_value() if settings.app_api_token else None

    async def host(actor_type: str, actor_id: str, method: str, body: bytes) -> httpx.Response:
        if not registered:
            await app.state.register_actors(sidecar)
            registered.append(True)
        async with asgi_client(app) as client:
            response = await client.put(
                f"/actors/{actor_type}/{actor_id}/method/{method}",
                content=body,
                headers={"dapr-api-token": token} if token else {},
            )
        # daprd hands the app's answer back to the caller as it came.
        return httpx.Response(response.status_code, content=response.content)

    fake.actor_host = host


@asynccontextmanager
async def asgi_client(
    app: FastAPI, base_url: str = "http://app"
) -> AsyncIterator[httpx.AsyncClient]:
    """An async client that calls ``app`` in process (no lifespan, no network)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute under ``routes`` (e.g. ``app.routes``), those of included routers too:
    FastAPI 0.165 keeps an included router as one ``_IncludedRouter`` entry whose
    ``original_router`` holds the routes as declared."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from api_routes(original.routes)
