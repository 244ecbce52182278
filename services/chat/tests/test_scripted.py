"""The real Agents SDK tool loop, driven by the SDK's scripted model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.main import create_app
from chat.models.chat import ChatRequest
from chat.services.chat import ChatService
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

ServiceOf = Callable[[FastAPI], ChatService]


async def test_a_scripted_remember_call_stores_for_the_requests_user(
    fake_sidecar: FakeDaprSidecar, memory: Any
) -> None:
    model = ScriptedModel(
        [
            ModelStep(output=[function_call("remember", {"content": "Likes chess"}, call_id="c1")]),
            ModelStep(output=[assistant_message("Noted: chess.")]),
        ]
    )
    app = create_app(ChatSettings(), model=model)
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app) as client:
        body = (await client.post("/chat", json={"user_id": "carol", "message": "hi"})).json()
    assert body["reply"] == "Noted: chess."
    assert [t["name"] for t in body["metadata"]["tools_used"]] == ["remember"]
    (created,) = memory.created
    assert created["path"] == "/memories/carol"  # the tool has no way to name another user
    assert created["content"] == "Likes chess"
    # Safe to retry: one memory per tool call of this turn.
    assert created["idempotency_key"] == f"{body['metadata']['turn_id']}:c1"
    # The model saw the recalled memories in its instructions and the user's text as input.
    assert model.first_call is not None
    assert model.first_call.input[-1]["content"] == "hi"
    model.assert_complete()


async def test_a_model_failure_is_502_and_saves_nothing(
    fake_sidecar: FakeDaprSidecar,
) -> None:
    model = ScriptedModel([ModelStep.raise_error(RuntimeError("provider down"))])
    app = create_app(ChatSettings(), model=model)
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app) as client:
        response = await client.post("/chat", json={"user_id": "carol", "message": "hi"})
    assert response.status_code == 502
    assert "model failed" in response.json()["message"]
    assert not [e for e in fake_sidecar.published if e["type"] == "conversation.turn.completed"]


async def test_a_model_timeout_is_504_with_a_generic_body_and_saves_nothing(
    fake_sidecar: FakeDaprSidecar,
) -> None:
    timeout = openai.APITimeoutError(request=httpx.Request("POST", "http://provider/v1"))
    model = ScriptedModel([ModelStep.raise_error(timeout), ModelStep.raise_error(timeout)])
    app = create_app(ChatSettings(), model=model)
    attach_fake_sidecar(app, fake_sidecar)
    async with asgi_client(app) as client:
        response = await client.post("/chat", json={"user_id": "carol", "message": "hi"})
        assert response.status_code == 504
        assert response.json() == {
            "error": "model_timeout",
            "message": "the model did not answer in time",
        }
        stream = await client.post("/chat/stream", json={"user_id": "carol", "message": "hi"})
    assert stream.status_code == 200  # the turn had started: the stream ends with its error
    last = [line for line in stream.text.splitlines() if line.startswith("event:")][-1]
    assert last == "event: error"
    assert "model_timeout" in stream.text
    assert not [e for e in fake_sidecar.published if e["type"] == "conversation.turn.completed"]
    heads = {k: v for k, (v, _) in fake_sidecar.data["chat-state"].items() if "session:" in k}
    assert len(heads) == 2  # each turn started a session, and saved no message to it
    assert [head["message_count"] for head in heads.values()] == [0, 0]
    assert not [k for k in fake_sidecar.data["chat-state"] if "history:" in k]


async def test_a_stream_closed_midway_saves_what_was_said_as_interrupted(
    fake_sidecar: FakeDaprSidecar, service_of: ServiceOf
) -> None:
    app = create_app(ChatSettings(offline_token_delay_seconds=0.01))
    attach_fake_sidecar(app, fake_sidecar)
    service = service_of(app)
    run = await service.start_turn(ChatRequest(user_id="dave", message="tell me something long"))
    events = run.events()
    deltas = []
    async for event in events:
        if event.type == "delta":
            deltas.append(event.data["text"])
            if len(deltas) == 3:
                break
    started = time.monotonic()
    await events.aclose()  # the client went away: the turn is cancelled, explicitly
    await run.wait()
    assert time.monotonic() - started < 1.0  # saved at once, not when collected
    (event,) = [e for e in fake_sidecar.published if e["type"] == "conversation.turn.completed"]
    assert event["data"]["interrupted"] is True
    assert event["data"]["reply"] == "".join(deltas)
    session = (await service.list_sessions(user_id="dave")).sessions[0]
    history = await service.history(user_id="dave", session_id=session.session_id)
    assert history.messages[-1].interrupted is True
    assert history.messages[-1].content == "".join(deltas)
    assert session.message_count == 2
