"""Schemathesis against both services' OpenAPI documents: for inputs generated from each
operation's schema (valid and not), no 5xx and no response that breaks the documented schema.

The apps run in-process over their fake sidecar (sidecar.testing), so the property holds for
the services' own code; the real sidecars' part is the integration and fault suites'. Bounded:
a fixed number of examples per operation, derandomized, so a run is repeatable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from chat.core.settings import ChatSettings
from chat.main import create_app as create_chat
from memory.core.settings import MemorySettings
from memory.main import create_app as create_memory
from sidecar.testing import FakeDaprSidecar, attach_fake_sidecar

EXAMPLES = 25
CHECKS: list[Callable[..., Any]] = [not_a_server_error, response_schema_conformance]


def _memory_answers(_: str, request: Any) -> Any:
    import httpx

    memory_id = "00000000-0000-4000-8000-000000000000"
    # One body that reads as each of memory's answers chat parses (list, search, history, a
    # created memory).
    return httpx.Response(200, json={"user_id": "", "items": [], "total": 0, "hits": [],
                                     "query": "", "mode": "keyword", "versions": [],
                                     "memory_id": memory_id, "id": memory_id,
                                     "kind": "semantic", "content": "x",
                                     "created_at": "2026-12-01T00:00:00Z"})  # fmt: skip


def chat_app() -> FastAPI:
    app = create_chat(ChatSettings(turn_rate_limit=""))
    sidecar = FakeDaprSidecar(
        stores={"chat-state"}, outbox={"chat-state": "conversation-turns"}, invoke=_memory_answers
    )
    attach_fake_sidecar(app, sidecar)
    return app


def memory_app() -> FastAPI:
    app = create_memory(MemorySettings(), embedder=None)
    attach_fake_sidecar(
        app, FakeDaprSidecar(stores={"memory-state"}, outbox={"memory-state": "memory-events"})
    )
    return app


def without_lifespan(app: FastAPI) -> Callable[..., Any]:
    """The app with its lifespan answered and skipped: the lifespan waits for a real sidecar,
    and the fake one is attached already (as the other in-process tests do)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    return asgi


def schema_of(app: FastAPI) -> Any:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = without_lifespan(app)
    return schema


chat_schema = schema_of(chat_app())
memory_schema = schema_of(memory_app())
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@chat_schema.parametrize()
@SETTINGS
def test_chat_api_never_answers_5xx_or_off_schema(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


@memory_schema.parametrize()
@SETTINGS
def test_memory_api_never_answers_5xx_or_off_schema(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize("schema", [chat_schema, memory_schema], ids=["chat", "memory"])
def test_the_documents_are_covered(schema: Any) -> None:
    """Every documented operation is generated for (none is skipped by a broken schema)."""
    operations = list(schema.get_all_operations())
    assert len(operations) >= 8
