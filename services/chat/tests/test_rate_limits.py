"""Per-user turn limits: the limiter, the setting, and what each turn route answers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from chat.core.settings import ChatSettings, parse_limits
from chat.data.rate_limits import TurnRateLimiter
from sidecar.testing import FakeDaprSidecar


def test_the_setting_takes_the_limits_notation_and_refuses_anything_else() -> None:
    assert ChatSettings(turn_rate_limit="").turn_rate_limits == ()
    both = ChatSettings(turn_rate_limit="10/second; 300/hour").turn_rate_limits
    assert [(item.amount, item.get_expiry()) for item in both] == [(10, 1), (300, 3600)]
    assert ChatSettings().turn_rate_limits  # on by default
    for bad in ("lots", "10 per fortnight", "-1/minute", "/minute"):
        with pytest.raises(ValidationError, match="is not a rate limit"):
            ChatSettings(turn_rate_limit=bad)


def test_a_user_gets_the_limit_then_a_wait_and_others_are_unaffected() -> None:
    limiter = TurnRateLimiter(parse_limits("3/minute"))
    assert [limiter.take("alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("alice")
    assert 0 < wait <= 60
    assert limiter.take("bob") == 0.0


def test_a_refused_turn_counts_against_no_limit() -> None:
    _, per_hour = items = parse_limits("1/minute;5/hour")
    limiter = TurnRateLimiter(items)
    assert limiter.take("alice") == 0.0
    for _ in range(3):
        assert limiter.take("alice") > 0  # refused by the minute's limit
    stats = limiter._strategy.get_window_stats(per_hour, "alice")
    assert stats.remaining == 4  # only the one turn that ran was counted


@pytest.fixture
def settings() -> ChatSettings:
    """conftest's app and client, with a limit of two turns a minute."""
    return ChatSettings(turn_rate_limit="2/minute")


async def test_past_the_limit_a_turn_is_429_with_retry_after_and_writes_nothing(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    for _ in range(2):
        ok = await client.post("/chat", json={"user_id": "alice", "message": "hello"})
        assert ok.status_code == 200, ok.text
    keys_before = {k for store in fake_sidecar.data.values() for k in store}
    published_before = len(fake_sidecar.published)
    for route in ("/chat", "/chat/stream"):
        refused = await client.post(route, json={"user_id": "alice", "message": "hello"})
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"] == "rate_limited"
    # Nothing written, nothing published, no session created for the refused turns.
    assert {k for store in fake_sidecar.data.values() for k in store} == keys_before
    assert len(fake_sidecar.published) == published_before
    sessions = (await client.get("/users/alice/sessions")).json()
    assert len(sessions["sessions"]) == 2
    # Another user has a window of their own.
    other = await client.post("/chat", json={"user_id": "bob", "message": "hello"})
    assert other.status_code == 200, other.text


def test_a_socket_past_the_limit_is_told_and_stays_open(app: FastAPI) -> None:
    client = TestClient(app)  # not entered: the fake sidecar is already attached
    with client.websocket_connect("/ws?user_id=alice") as ws:
        for _ in range(2):
            ws.send_json({"type": "user_message", "content": "hello"})
            while (message := ws.receive_json())["type"] != "workflow_completed":
                assert message["type"] != "error", message
        for _ in range(2):  # refused twice on the same socket: it is still open
            ws.send_json({"type": "user_message", "content": "hello"})
            error = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", "rate_limited")
            assert 1 <= error["retry_after"] <= 60
