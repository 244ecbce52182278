"""The fault tests' stacks: end-user auth on at both services (AUTH_MODE=jwt, as deployed), a
low per-user turn limit, and chat's and memory's models OpenAI-compatible servers the tests
script (tests/faults/model_server.py), on a block of ports of their own (FAULT_PORTS), one
stack at a time: ``faults`` is the embedded resource set (SQLite stores, valkey broker) with
two replicas of each app; ``redis_faults`` the redis set (one Redis for stores, actors and
broker) with one."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.faults.model_server import ScriptedModelServer, scripted_model_server
from tests.integration.stack import (
    FAULT_PORTS,
    PACED,
    AppPorts,
    Stack,
    eventually,
    running_stack,
)

MODEL_PORT = 8490  # below the ephemeral range, outside every stack's block
#: memory's model (fact extraction and consolidation): unscripted calls fail, and memory's
#: rules take over, as they do when a real model is down.
MEMORY_MODEL_PORT = 8491
MODEL_TIMEOUT_SECONDS = 2.0
TURN_RATE_LIMIT = "5/minute"


@dataclass
class FaultStack:
    stack: Stack
    model: ScriptedModelServer
    key: str
    memory_model: ScriptedModelServer

    def token(self, user: str, *, key: str | None = None) -> str:
        claims = {"sub": user, "exp": int(time.time()) + 600}
        return jwt.encode(claims, key or self.key, algorithm="HS256")

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def chat_url(self, replica: int = 0) -> str:
        return self.stack.app_url(self.stack.replicas("chat")[replica])

    def chat(self, user: str, message: str, *, replica: int = 0, **extra: Any) -> httpx.Response:
        return httpx.post(
            f"{self.chat_url(replica)}/chat",
            json={"user_id": user, "message": message, **extra},
            headers=self.auth(user),
            timeout=30,
        )

    def memories(self, user: str) -> list[dict[str, Any]]:
        return self._listed(user, "memories", "items")

    def sessions(self, user: str) -> list[dict[str, Any]]:
        return self._listed(user, "sessions", "sessions")

    def _listed(self, user: str, what: str, field: str) -> list[dict[str, Any]]:
        """``GET /users/{user}/{what}`` as the user, through chat replica 0 → its ``field``."""
        response = httpx.get(
            f"{self.chat_url()}/users/{user}/{what}", headers=self.auth(user), timeout=10
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()[field]
        return items

    def metrics(self, app: AppPorts) -> str:
        return httpx.get(f"http://127.0.0.1:{app.metrics}/metrics", timeout=10).text


def new_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with fault_stack("embedded", tmp_path_factory.mktemp("stack-faults"), replicas=2) as stack:
        yield stack


@pytest.fixture(scope="module")
def redis_faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with fault_stack("redis", tmp_path_factory.mktemp("stack-faults-redis"), replicas=1) as stack:
        yield stack


@contextmanager
def fault_stack(resource_set: str, workdir: Path, *, replicas: int) -> Iterator[FaultStack]:
    key = secrets.token_hex(32)
    with (
        scripted_model_server(MODEL_PORT) as model,
        scripted_model_server(MEMORY_MODEL_PORT) as memory_model,
    ):
        env = {
            **PACED,
            "AUTH_MODE": "jwt",
            "AUTH_JWT_KEY": key,
            "TURN_RATE_LIMIT": TURN_RATE_LIMIT,
        }
        chat_env = {
            "OPENAI_API_KEY": "sk-scripted-" + secrets.token_hex(8),
            "OPENAI_BASE_URL": model.base_url,
            "MODEL_NAME": "scripted",
            "MODEL_TIMEOUT_SECONDS": str(MODEL_TIMEOUT_SECONDS),
            "MODEL_MAX_RETRIES": "0",
        }
        memory_env = {
            "OPENAI_API_KEY": "sk-scripted-" + secrets.token_hex(8),
            "OPENAI_BASE_URL": memory_model.base_url,
            "EXTRACTION_MODEL": "scripted",
        }
        with running_stack(
            resource_set,
            workdir,
            env=env,
            app_env={"chat": chat_env, "memory": memory_env},
            ports=FAULT_PORTS,
            replicas=replicas,
        ) as stack:
            yield FaultStack(stack=stack, model=model, key=key, memory_model=memory_model)


# -- memory stopped, on either resource set ----------------------------------------------------
def _calls_to_memory(faults: FaultStack, replica: int) -> float:
    """Calls a chat sidecar has made to memory: daprd counts each under its Resiliency
    (``dapr_resiliency_count``, the timeout policy of target ``app_memory``)."""
    total = 0.0
    for line in faults.metrics(faults.stack.replicas("chat")[replica]).splitlines():
        series = line.startswith("dapr_resiliency_count{") and 'target="app_memory"' in line
        if series and 'policy="timeout"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def memory_stopped_degrades_opens_the_breaker_and_recovers(faults: FaultStack) -> None:
    """Every memory replica stopped: turns answer degraded within the memory budget, chat's
    breaker opens after MEMORY_BREAKER_FAILURES (no call leaves chat then, /readyz says
    "circuit open"), and once memory is back the breaker closes without a restart of chat."""
    user = new_user("recall")
    assert faults.chat(user, "I live in Porto").status_code == 200
    eventually(
        lambda: "The user lives in Porto." in [m["content"] for m in faults.memories(user)],
        what="the derived memory",
    )
    memory = faults.stack.replicas("memory")
    for replica in memory:
        faults.stack.stop_app(replica)
    try:
        timings = []
        for i in range(7):  # MEMORY_BREAKER_FAILURES is 5: the breaker opens on the way
            began = time.monotonic()
            reply = faults.chat(new_user("degraded"), f"where do I live? {i}")
            timings.append(time.monotonic() - began)
            assert reply.status_code == 200, reply.text
            assert reply.json()["metadata"]["degraded"] is True
        assert max(timings) < 5.0, timings  # the 2 s memory budget plus the turn
        # Open: the next turns are degraded without a call leaving chat.
        calls = _calls_to_memory(faults, 0)
        for i in range(2):
            reply = faults.chat(new_user("degraded"), f"and now? {i}")
            assert reply.json()["metadata"]["degraded"] is True
        assert _calls_to_memory(faults, 0) == calls
        ready = httpx.get(f"{faults.chat_url()}/readyz", timeout=10).json()
        assert "circuit open" in json.dumps(ready), ready  # and readiness says so
    finally:
        for replica in memory:
            faults.stack.start_app(replica)
    # Back without a restart of chat: after MEMORY_BREAKER_RECOVERY_SECONDS one call is let
    # through and closes the breaker. Polled through chat's memories route, which takes the
    # same path (a poll by turns would spend the user's turn limit).
    memories_url = f"{faults.chat_url()}/users/{user}/memories"
    eventually(
        lambda: httpx.get(memories_url, headers=faults.auth(user), timeout=10).status_code == 200,
        timeout=40,
        what="memory reachable through chat again",
    )
    body = faults.chat(user, "Where do I live?").json()
    assert body["metadata"]["degraded"] is False
    assert "The user lives in Porto." in [m["content"] for m in body["metadata"]["memories_used"]]
