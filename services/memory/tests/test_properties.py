"""Property tests (Hypothesis): any delivery parses or is dropped; any request body gets 4xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.api.events import parse_event

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=16,
)
TURN_FIELDS = ["schema_version", "turn_id", "session_id", "user_id", "user_text", "reply",
               "tools_used", "model", "completed_at", "interrupted"]  # fmt: skip
CLOUD_EVENTS = st.fixed_dictionaries(
    {"id": ANY_TEXT, "type": st.sampled_from(["conversation.turn.completed", "session.deleted"])},
    optional={
        "data": st.dictionaries(st.sampled_from(TURN_FIELDS), JSON_VALUES) | JSON_VALUES,
        "specversion": ANY_TEXT,
    },
)


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | JSON_VALUES.map(encoded) | CLOUD_EVENTS.map(encoded))
def test_any_turn_delivery_parses_or_is_dropped(body: bytes) -> None:
    parse_event(body)  # a model or None; an exception here would be a 500 and a retry


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=JSON_VALUES.map(encoded) | st.binary(max_size=200))
@pytest.mark.parametrize("path", ["/memories/alice", "/memories/alice:batch"])
def test_any_body_gets_an_answer_below_500(app: FastAPI, path: str, body: bytes) -> None:
    response = TestClient(app).post(
        path, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text
