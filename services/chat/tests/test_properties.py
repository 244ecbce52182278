"""Property tests (Hypothesis): whatever arrives, chat answers 4xx or DROP, never 500."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chat.models.chat import ChatRequest

#: Text with every code point, lone surrogates included (json.dumps escapes them as \\udXXX).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=16,
)
#: Request-shaped objects: the real field names with values of any kind, plus strays.
CHAT_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.sampled_from(["alice", "", "a b", "x" * 200]) | JSON_VALUES,
        "session_id": JSON_VALUES,
        "message": ANY_TEXT | JSON_VALUES,
        "text": ANY_TEXT | JSON_VALUES,
        "tags": JSON_VALUES,
        "metadata": JSON_VALUES,
        "multitask_strategy": st.sampled_from(["reject", "enqueue", "interrupt", "x"]),
    },
)
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=300, deadline=None)
@given(CHAT_BODIES | JSON_VALUES)
def test_a_chat_request_validates_or_raises_validation_error(body: Any) -> None:
    with contextlib.suppress(ValidationError):
        ChatRequest.model_validate(body)


def encoded(value: Any) -> bytes:
    """As a client would send it: NaN and lone surrogates escaped, not refused here."""
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES)
@given(body=CHAT_BODIES.map(encoded) | JSON_VALUES.map(encoded) | st.binary(max_size=200))
@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
def test_any_body_gets_an_answer_below_500(app: FastAPI, path: str, body: bytes) -> None:
    response = TestClient(app).post(
        path, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURES)
@given(
    body=st.binary(max_size=200)
    | JSON_VALUES.map(encoded)
    | st.fixed_dictionaries(
        {"entries": st.lists(st.fixed_dictionaries({"entryId": ANY_TEXT, "event": JSON_VALUES}))}
    ).map(encoded)
)
def test_any_memory_events_delivery_is_acknowledged_or_dropped(app: FastAPI, body: bytes) -> None:
    answer = TestClient(app).post("/events/memory-events", content=body)
    assert answer.status_code == 200
    reply = answer.json()
    statuses = reply.get("statuses", [reply])
    assert all(s["status"] in ("SUCCESS", "DROP") for s in statuses)
