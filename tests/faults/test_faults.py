"""Faults injected into a real stack (real daprd, placement, Sentry, valkey, SQLite): each test
stops or breaks one part and asserts what the others answer, that nothing is corrupted or
doubled, and that everything recovers without a restart (docs/security.md#fault-tests).

Also covered elsewhere, on both resource sets (tests/integration): memory down → a degraded
reply within its budget; an app killed mid-turn or restarted; duplicate delivery of a turn
stored once; a poison event dead-lettered and never redelivered."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets

from tests.faults.conftest import (
    MODEL_TIMEOUT_SECONDS,
    FaultStack,
    memory_stopped_degrades_opens_the_breaker_and_recovers,
    new_user,
)
from tests.faults.model_server import REPLY
from tests.integration.stack import eventually

pytestmark = pytest.mark.faults


def _sse_events(text: str) -> list[str]:
    return [line.removeprefix("event:").strip() for line in text.splitlines()
            if line.startswith("event:")]  # fmt: skip


# -- per-user rate limits ---------------------------------------------------------------------
def test_the_turn_limit_holds_across_replicas_and_never_reaches_the_model(
    faults: FaultStack,
) -> None:
    user, other = new_user("limited"), new_user("other")
    for i in range(5):  # TURN_RATE_LIMIT is 5/minute: both replicas count into one window
        reply = faults.chat(user, f"turn {i}", replica=i % 2)
        assert reply.status_code == 200, reply.text
        assert reply.json()["reply"].strip() == REPLY
    calls_before = len(faults.model.requests)
    for replica in (0, 1):
        refused = faults.chat(user, "one too many", replica=replica)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    stream = httpx.post(
        f"{faults.chat_url(1)}/chat/stream",
        json={"user_id": user, "message": "and by stream"},
        headers=faults.auth(user),
        timeout=30,
    )
    assert stream.status_code == 429
    assert len(faults.model.requests) == calls_before  # the model was never asked
    assert len(faults.sessions(user)) == 5  # nothing created for the refused turns
    assert faults.chat(other, "hello", replica=1).status_code == 200  # others unaffected


# -- authorization ----------------------------------------------------------------------------
def test_no_route_stream_or_socket_lets_one_user_reach_anothers_data(faults: FaultStack) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    first = faults.chat(bob, "I live in Ghent")
    assert first.status_code == 200, first.text
    bobs = first.json()["session_id"]
    eventually(lambda: faults.memories(bob), what="bob's derived memories")
    as_alice = faults.auth(alice)
    url = faults.chat_url()
    attempts = [
        ("POST", f"/users/{bob}/sessions", None),
        ("GET", f"/users/{bob}/sessions", None),
        ("GET", f"/users/{bob}/sessions/{bobs}/history", None),
        ("DELETE", f"/users/{bob}/sessions/{bobs}", None),
        ("GET", f"/users/{bob}/memories", None),
        ("POST", "/chat", {"user_id": bob, "message": "hi", "session_id": bobs}),
        ("POST", "/chat/stream", {"user_id": bob, "message": "hi", "session_id": bobs}),
    ]
    for method, path, body in attempts:
        for headers, status in (
            (as_alice, 403),
            ({}, 401),
            ({"Authorization": f"Bearer {faults.token(bob, key='x' * 64)}"}, 401),
        ):
            answer = httpx.request(method, url + path, json=body, headers=headers, timeout=30)
            assert answer.status_code == status, (method, path, answer.text)
    # Bob's session id under Alice's own user: not hers, so not found.
    history = httpx.get(f"{url}/users/{alice}/sessions/{bobs}/history", headers=as_alice)
    assert history.status_code == 404
    hijack = httpx.post(
        f"{url}/chat",
        json={"user_id": alice, "message": "hi", "session_id": bobs},
        headers=as_alice,
        timeout=30,
    )
    assert hijack.status_code == 404

    async def socket_refusal() -> tuple[dict[str, Any], int | None]:
        ws_url = f"ws://127.0.0.1:{faults.stack.ports.chat.app}/ws?user_id={bob}"
        async with websockets.connect(ws_url, additional_headers=as_alice) as socket:
            message = json.loads(await socket.recv())
            await socket.wait_closed()
            return message, socket.close_code

    message, code = asyncio.run(socket_refusal())
    assert (message["code"], code) == ("forbidden", 1008)

    # memory itself, called the way chat calls it (through chat's sidecar): the end user's
    # token travels through both sidecars and memory checks it against the path.
    sidecar = f"http://127.0.0.1:{faults.stack.ports.chat.http}/memories/{bob}"
    through = {"dapr-app-id": "memory", **faults.stack.auth}
    assert httpx.get(sidecar, headers={**through, **as_alice}).status_code == 403
    assert httpx.get(sidecar, headers=through).status_code == 401
    own = httpx.get(sidecar, headers={**through, **faults.auth(bob)})
    assert own.status_code == 200, own.text
    # The app tokens: memory's app and chat's callback routes refuse anyone but their daprd.
    memory_app = faults.stack.app_url(faults.stack.ports.memory)
    assert httpx.get(f"{memory_app}/memories/{bob}", headers=faults.auth(bob)).status_code == 401
    assert httpx.post(f"{url}/events/memory-events", json={}).status_code == 401
    # Bob's data is as he left it.
    bob_history = httpx.get(
        f"{url}/users/{bob}/sessions/{bobs}/history", headers=faults.auth(bob), timeout=10
    ).json()
    assert len(bob_history["messages"]) == 2
    assert [m["content"] for m in faults.memories(bob) if m["kind"] == "semantic"] == [
        "The user lives in Ghent."
    ]


# -- the model --------------------------------------------------------------------------------
def test_a_failing_or_hanging_model_answers_502_or_504_and_saves_nothing(
    faults: FaultStack,
) -> None:
    user = new_user("model")
    try:
        faults.model.mode = "fail"
        failed = faults.chat(user, "hello")
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"] == "model_failed"
        assert "provider secret detail" not in failed.text  # the provider's text stays inside
        stream = httpx.post(
            f"{faults.chat_url()}/chat/stream",
            json={"user_id": user, "message": "hello"},
            headers=faults.auth(user),
            timeout=30,
        )
        assert stream.status_code == 200
        assert _sse_events(stream.text)[-1] == "error"
        assert "model_failed" in stream.text

        faults.model.mode, faults.model.hang_seconds = "hang", MODEL_TIMEOUT_SECONDS + 5
        began = time.monotonic()
        hung = faults.chat(user, "hello", replica=1)
        elapsed = time.monotonic() - began
        assert hung.status_code == 504, hung.text
        assert hung.json()["error"] == "model_timeout"
        assert elapsed < MODEL_TIMEOUT_SECONDS + 3  # the budget, not the model's hang
    finally:
        faults.model.mode = "ok"
    # Three turns, three empty sessions: no message saved, no turn announced.
    sessions = faults.sessions(user)
    assert [s["message_count"] for s in sessions] == [0, 0, 0]
    announced = faults.stack.topic_events("conversation-turns")
    assert not [e for e in announced if (e.get("data") or {}).get("user_id") == user]
    assert faults.chat(user, "hello again").status_code == 200  # and the next turn works


# -- memory stopped ---------------------------------------------------------------------------
def test_memory_stopped_degrades_opens_the_breaker_and_recovers(faults: FaultStack) -> None:
    memory_stopped_degrades_opens_the_breaker_and_recovers(faults)


# -- the broker stopped -----------------------------------------------------------------------
def test_a_broker_outage_loses_and_doubles_no_committed_turn(faults: FaultStack) -> None:
    cities = ["Lyon", "Turin", "Bergen", "Leiden"]
    users = [new_user("outage") for _ in cities]
    before = faults.chat(users[0], f"I live in {cities[0]}")  # committed just before the stop
    assert before.status_code == 200, before.text
    faults.stack.stop_broker()
    statuses = {users[0]: 200}
    try:
        for user, city in zip(users[1:], cities[1:], strict=True):
            began = time.monotonic()
            answer = faults.chat(user, f"I live in {city}")
            assert time.monotonic() - began < 20  # answered, never hung
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 503:
                assert "retry-after" in {k.lower() for k in answer.headers}
            statuses[user] = answer.status_code
    finally:
        faults.stack.start_broker()
    for user, city in zip(users, cities, strict=True):
        fact = f"The user lives in {city}."
        if statuses[user] == 200:  # committed: its event arrives once, and is applied once
            eventually(
                lambda u=user, f=fact: f in [m["content"] for m in faults.memories(u)],
                timeout=60,
                what=f"{fact} derived after the outage",
            )
        else:  # refused: nothing of it was saved
            assert [s["message_count"] for s in faults.sessions(user)] in ([], [0])
    time.sleep(3)  # room for a duplicate delivery to land, if there were one
    for user, city in zip(users, cities, strict=True):
        contents = [m["content"] for m in faults.memories(user)]
        expected = 1 if statuses[user] == 200 else 0
        assert contents.count(f"The user lives in {city}.") == expected, contents
        assert len(contents) == len(set(contents)), contents  # nothing applied twice
    after = faults.chat(new_user("after"), "hello after the outage")
    assert after.status_code == 200, after.text


# -- memory's model -----------------------------------------------------------------------------
def test_memory_consolidates_with_its_model_and_falls_back_to_the_rules(
    faults: FaultStack,
) -> None:
    """memory's fact extraction and consolidation by an OpenAI-compatible model over HTTP
    (scripted), through real daprd and the user's actor on either memory replica; then the
    model failing: the rules extract and decide, and say so (docs/memory.md#consolidation)."""
    user = new_user("llm")
    extracted = {
        "I live in Lisbon.": ["The user lives in Lisbon."],
        "I moved to Porto.": ["The user lives in Porto."],
    }
    asked: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> object | None:
        question = body["messages"][-1]["content"]
        if body["response_format"]["type"] == "json_object":
            facts = extracted.get(question)
            return None if facts is None else {"facts": facts}
        asked.append(json.loads(question))
        lisbon = [m["id"] for m in asked[-1]["memories"] if "Lisbon" in m["text"]]
        (fact,) = asked[-1]["new_facts"]
        if not lisbon:
            return {
                "operations": [{"operation": "add", "candidate": fact["index"], "target": None}]
            }
        return {"operations": [
            {"operation": "update", "candidate": fact["index"], "target": lisbon[0]}
        ]}  # fmt: skip

    def facts() -> list[dict[str, Any]]:
        return [m for m in faults.memories(user) if m["kind"] == "semantic"]

    faults.memory_model.structured = answer
    try:
        assert faults.chat(user, "I live in Lisbon.").status_code == 200
        eventually(lambda: facts(), what="the model's fact")
        assert faults.chat(user, "I moved to Porto.").status_code == 200
        eventually(
            lambda: [f["content"] for f in facts()] == ["The user lives in Porto."],
            what="the model's update",
        )
        (home,) = facts()
        assert "rules-fallback" not in home["tags"]
        assert asked[-1]["new_facts"][0]["text"] == "The user lives in Porto."
        history = httpx.get(
            f"{faults.chat_url(1)}/users/{user}/memories/{home['id']}/history",
            headers=faults.auth(user),
            timeout=10,
        ).json()
        assert [v["content"] for v in history["versions"]] == [
            "The user lives in Lisbon.",
            "The user lives in Porto.",
        ]
    finally:
        faults.memory_model.structured = lambda body: None  # unscripted: a 500
    # The model failing: the rules extract (tagged) and decide.
    assert faults.chat(user, "I live in Braga now.").status_code == 200
    eventually(
        lambda: [f["content"] for f in facts()] == ["The user lives in Braga."],
        what="the rules' update",
    )
    (home,) = facts()
    assert "rules-fallback" in home["tags"]
    assert home["id"] == history["memory_id"]  # the same memory, a third version


# -- the web page with AUTH_MODE=jwt ------------------------------------------------------------
def test_the_web_page_asks_for_a_token_and_works_with_one(faults: FaultStack) -> None:
    from playwright.sync_api import expect

    from tests.browser import chromium

    user = new_user("web")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(faults.chat_url() + "/")
        status = page.get_by_role("status")
        expect(status).to_contain_text("needs a valid token")  # no token: refused, and told
        # A token signed with another key is refused the same way.
        page.get_by_label("Token").fill(faults.token(user, key="k" * 64))
        page.get_by_role("button", name="Use").click()
        expect(page.get_by_label("User id")).to_have_value(user)  # taken from the token
        expect(status).to_contain_text("needs a valid token")
        page.get_by_label("Token").fill(faults.token(user))
        page.get_by_role("button", name="Use").click()
        expect(page.locator("body")).to_have_attribute("data-connected", "true")
        expect(page.locator("#sessions")).to_contain_text("No sessions yet.")
        page.get_by_label("Message", exact=True).fill("Hello with a token")
        page.get_by_label("Message", exact=True).press("Enter")
        reply = page.locator("#log li.assistant").last
        expect(reply.locator(".text")).to_have_text(REPLY, timeout=30_000)
        page.get_by_label("Remember").fill("I like green tea")
        page.get_by_role("button", name="Add").click()
        expect(page.locator("#memories li", has_text="green tea").first).to_be_visible()
        browser.close()
    assert any("green tea" in m["content"] for m in faults.memories(user))
