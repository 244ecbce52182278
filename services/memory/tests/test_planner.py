"""Consolidation with an LLM configured: a scripted OpenAI-compatible endpoint (httpx's
MockTransport, no network) answers the fact extraction and the operations; the app applies
them, and falls back to the rules when the answers are off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memory.core.settings import MemorySettings
from memory.main import create_app
from memory.services.extraction import LLMFactExtractor
from memory.services.planner import LLMPlanner
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

Operations = Callable[[dict[str, Any]], object]


@dataclass
class ScriptedModel:
    """Answers ``/chat/completions``: extraction with ``facts`` for the message, operations
    by ``operations(question)`` (a dict, or a string sent as is)."""

    facts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    operations: Operations = lambda question: {"operations": []}
    asked: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        question = body["messages"][-1]["content"]
        if body["response_format"]["type"] == "json_schema":
            asked = json.loads(question)
            self.asked.append(asked)
            answer = self.operations(asked)
        else:
            answer = self.facts.get(question, {"facts": []})
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel(
        facts={
            "I live in Lisbon.": {"facts": ["The user lives in Lisbon."]},
            "I moved to Porto.": {"facts": ["The user lives in Porto."]},
        }
    )


@pytest.fixture
async def client(model: ScriptedModel) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(MemorySettings())
    attach_fake_sidecar(
        app, FakeDaprSidecar(stores={"memory-state"}, outbox={"memory-state": "memory-events"})
    )
    runtime = app.state.memory_runtime
    http = httpx.AsyncClient(transport=httpx.MockTransport(model), base_url="http://llm/v1")
    runtime.extractor = LLMFactExtractor(http, model="test-model")
    runtime.planner = LLMPlanner(http, model="test-model", embedder=runtime.embedder)
    async with asgi_client(app, "http://memory") as client:
        yield client


async def say(client: httpx.AsyncClient, text: str, turn: str) -> None:
    data = {"schema_version": "1.0", "turn_id": turn, "session_id": "s", "user_id": "dana",
            "user_text": text, "reply": "Noted.", "tools_used": [],
            "completed_at": "2026-11-30T10:00:00+00:00"}  # fmt: skip
    event = {"id": turn, "specversion": "1.0", "source": "chat",
             "type": "conversation.turn.completed", "data": data}  # fmt: skip
    response = await client.post("/events/conversation-turns", json=event)
    assert response.json() == {"status": "SUCCESS"}


async def facts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    page = await client.get("/memories/dana", params={"kind": "semantic"})
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def update_lisbon(question: dict[str, Any]) -> dict[str, Any]:
    """The operations a model would answer: Porto replaces the memory that says Lisbon."""
    lisbon = [m["id"] for m in question["memories"] if "Lisbon" in m["text"]]
    (fact,) = question["new_facts"]
    if not lisbon:
        return {"operations": [{"operation": "add", "candidate": fact["index"], "target": None}]}
    return {
        "operations": [{"operation": "update", "candidate": fact["index"], "target": lisbon[0]}]
    }


async def test_the_model_s_operations_are_applied(
    client: httpx.AsyncClient, model: ScriptedModel
) -> None:
    model.operations = update_lisbon
    await say(client, "I live in Lisbon.", "t1")
    await say(client, "I moved to Porto.", "t2")
    (home,) = await facts(client)
    assert home["content"] == "The user lives in Porto."
    history = (await client.get(f"/memories/dana/{home['id']}/history")).json()["versions"]
    assert [v["content"] for v in history] == [
        "The user lives in Lisbon.",
        "The user lives in Porto.",
    ]
    # The second call showed the model the memory it then updated, and the new fact.
    assert [m["text"] for m in model.asked[1]["memories"]] == ["The user lives in Lisbon."]
    assert model.asked[1]["new_facts"] == [
        {"index": 1, "text": "The user lives in Porto.", "taken_back": False}
    ]


async def test_the_model_decides_not_the_rules(
    client: httpx.AsyncClient, model: ScriptedModel
) -> None:
    """The rules would update Lisbon to Porto; this model says the fact is known (noop)."""
    await say(client, "I live in Lisbon.", "t1")
    model.operations = lambda question: {
        "operations": [
            {"operation": "noop", "candidate": 1, "target": question["memories"][0]["id"]}
        ]
    }
    await say(client, "I moved to Porto.", "t2")
    (home,) = await facts(client)
    assert (home["content"], home["mentions"]) == ("The user lives in Lisbon.", 2)


@pytest.mark.parametrize(
    "answer",
    [
        "not json",
        {"operations": [{"operation": "merge", "candidate": 1, "target": None}]},
        {"operations": [{"operation": "update", "candidate": 7, "target": None}]},
        {"ops": []},
    ],
    ids=["not-json", "unknown-operation", "unknown-candidate", "wrong-key"],
)
async def test_a_malformed_answer_is_asked_twice_then_the_rules_decide(
    client: httpx.AsyncClient,
    model: ScriptedModel,
    answer: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await say(client, "I live in Lisbon.", "t1")
    model.operations = lambda question: answer
    asked = len(model.asked)
    await say(client, "I moved to Porto.", "t2")
    assert len(model.asked) - asked == 2  # bounded: one retry
    assert [f["content"] for f in await facts(client)] == ["The user lives in Porto."]
    assert "the rules decide" in caplog.text


async def test_an_operation_on_a_memory_the_model_was_not_shown_is_not_applied(
    client: httpx.AsyncClient, model: ScriptedModel, caplog: pytest.LogCaptureFixture
) -> None:
    await say(client, "I live in Lisbon.", "t1")
    model.operations = lambda question: {
        "operations": [
            {"operation": "delete", "candidate": 1,
             "target": "00000000-0000-4000-8000-000000000000"},
        ]
    }  # fmt: skip
    await say(client, "I moved to Porto.", "t2")
    assert [f["content"] for f in await facts(client)] == ["The user lives in Porto."]
    assert "did not fit" in caplog.text
