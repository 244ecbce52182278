"""Faults of the state store and of a sidecar, on the redis resource set (one Redis holds the
state stores, the actors' state and the broker; durable, as deployed: append-only file)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults.conftest import (
    FaultStack,
    memory_stopped_degrades_opens_the_breaker_and_recovers,
    new_user,
)
from tests.integration.stack import eventually

pytestmark = pytest.mark.faults

FAST = 2.0  # a refusal while a part is down comes within this many seconds
MEMORY_TIMEOUT_SECONDS = 2.0  # chat's budget for one memory call (its default)


def _timed(call: httpx.Request, client: httpx.Client) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = client.send(call)
    return response, time.monotonic() - began


def test_the_store_down_is_503_at_once_and_everything_recovers_intact(
    redis_faults: FaultStack,
) -> None:
    faults = redis_faults
    user = new_user("store")
    first = faults.chat(user, "I live in Oslo")
    assert first.status_code == 200, first.text
    session = first.json()["session_id"]
    eventually(
        lambda: "The user lives in Oslo." in [m["content"] for m in faults.memories(user)],
        what="the derived memory",
    )
    url, auth = faults.chat_url(), faults.auth(user)
    faults.stack.stop_broker()  # Redis: the stores, the actors' state and the broker
    try:
        with httpx.Client(timeout=30) as client:
            calls = [
                client.build_request("GET", f"{url}/users/{user}/sessions", headers=auth),
                client.build_request(
                    "GET", f"{url}/users/{user}/sessions/{session}/history", headers=auth
                ),
                client.build_request(
                    "POST",
                    f"{url}/chat",
                    json={"user_id": user, "message": "hello", "session_id": session},
                    headers=auth,
                ),
                # memory itself, as its sidecar calls it
                client.build_request(
                    "GET",
                    f"{faults.stack.app_url(faults.stack.ports.memory)}/memories/{user}",
                    headers={**auth, **faults.stack.app_auth},
                ),
            ]
            for call in calls:
                answer, elapsed = _timed(call, client)
                assert answer.status_code == 503, (call.url, answer.text)
                assert int(answer.headers["retry-after"]) >= 1, call.url
                assert elapsed < FAST, (call.url, elapsed)
            # chat's memories route: memory's 503 is retried once by chat's sidecar (the
            # Resiliency's memoryRetry), inside chat's own budget for a memory call.
            answer, elapsed = _timed(
                client.build_request("GET", f"{url}/users/{user}/memories", headers=auth), client
            )
            assert answer.status_code == 503, answer.text
            assert elapsed < MEMORY_TIMEOUT_SECONDS + 1, elapsed
    finally:
        faults.stack.start_broker()

    # Back within 30 s, without restarting anything, and what was written before is intact.
    def history_back() -> bool:
        answer = httpx.get(f"{url}/users/{user}/sessions/{session}/history", headers=auth)
        return answer.status_code == 200

    began = time.monotonic()
    eventually(history_back, timeout=30, what="chat reading its store again")
    history = httpx.get(f"{url}/users/{user}/sessions/{session}/history", headers=auth).json()
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == ["I live in Oslo"]
    eventually(lambda: faults.memories(user), timeout=30, what="memory reading its store again")
    assert "The user lives in Oslo." in [m["content"] for m in faults.memories(user)]
    again = faults.chat(user, "I work at Acme", session_id=session)
    assert again.status_code == 200, again.text
    assert time.monotonic() - began < 30
    eventually(
        lambda: "The user works at Acme." in [m["content"] for m in faults.memories(user)],
        timeout=30,
        what="a turn after the outage derived (the subscription is back too)",
    )


def test_a_killed_sidecar_makes_its_app_unready_and_both_recover(
    redis_faults: FaultStack,
) -> None:
    faults = redis_faults
    memory = faults.stack.ports.memory
    memory_app = faults.stack.app_url(memory)
    faults.stack.kill_sidecar(memory)
    try:
        began = time.monotonic()
        ready = httpx.get(f"{memory_app}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text  # not ready, and says so at once
        assert time.monotonic() - began < FAST
        user = new_user("sidecar")
        degraded = faults.chat(user, "I live in Riga")
        assert degraded.status_code == 200, degraded.text
        assert degraded.json()["metadata"]["degraded"] is True
    finally:
        faults.stack.restart_sidecar(memory)
    eventually(
        lambda: httpx.get(f"{memory_app}/readyz", timeout=10).status_code == 200,
        timeout=30,
        what="memory ready again",
    )
    # Its subscription works again: the turn committed while it was away, and a new one,
    # both become memories (the first from the broker's backlog).
    assert faults.chat(user, "I work at Globex").status_code == 200
    for fact in ("The user lives in Riga.", "The user works at Globex."):
        eventually(
            lambda f=fact: f in [m["content"] for m in faults.memories(user)],
            timeout=40,
            what=f"{fact} derived after the restart",
        )


def test_memory_stopped_degrades_opens_the_breaker_and_recovers_on_redis(
    redis_faults: FaultStack,
) -> None:
    memory_stopped_degrades_opens_the_breaker_and_recovers(redis_faults)
