"""Bad input at memory's edge: a clear 4xx (DROP for a delivery) before any side effect."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from sidecar.testing import FakeDaprSidecar

STORE = "memory-state"  # memory's state store (conftest)

POISON = [
    b'{"kind": "semantic", "content": "x\\ud83d"}',
    b'{"kind": "semantic", "content": "tea", "tags": [NaN]}',
    b'{"kind": "semantic", "content": "tea", "importance": Infinity}',
    b'{"kind": "semantic", "content": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"kind": "semantic", "content": "caf\xe9"}',
]


@pytest.mark.parametrize("body", POISON, ids=lambda b: b[:40].decode(errors="replace"))
@pytest.mark.parametrize("path", ["/memories/alice", "/memories/alice:batch"])
async def test_json_outside_rfc_8259_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar, path: str, body: bytes
) -> None:
    if path.endswith(":batch"):
        body = b'{"items": [' + body + b"]}"
    response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert fake_sidecar.data.get(STORE, {}) == {}
    assert fake_sidecar.published == []


async def test_a_body_over_daprds_limit_gets_413(
    client: httpx.AsyncClient, app: FastAPI, fake_sidecar: FakeDaprSidecar
) -> None:
    limit = app.state.max_request_bytes
    body = b'{"kind": "semantic", "content": "' + b"a" * limit + b'"}'
    response = await client.post(
        "/memories/alice", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert fake_sidecar.data.get(STORE, {}) == {}


async def test_turn_deliveries_it_cannot_parse_are_dropped_not_retried(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    for body in [*POISON, b"[" * 100_000, b'{"type": "x", "data": "' + b"[" * 5000 + b'"}']:
        answer = await client.post("/events/conversation-turns", content=body)
        assert answer.status_code == 200
        assert answer.json() == {"status": "DROP"}
    assert fake_sidecar.data.get(STORE, {}) == {}
