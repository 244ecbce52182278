"""The clients against real stacks (embedded resource set, real daprd, security on), on blocks
of ports of their own: the console client in a real terminal (pexpect) and the web page in real
headless Chromium (Debian's `chromium`, driven by Playwright).

``stack`` answers with the offline model, as `make run` does. ``scripted`` answers with a model
the test scripts (tests/clients/model_server.py): Markdown replies, and replies that stop
half-way until the test lets them go, so that Ctrl-C or Stop lands while a reply is certainly
still running, however loaded the machine."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.model_server import ScriptedModel, scripted_model
from tests.integration.stack import (
    CLIENT_PORTS,
    PACED,
    SCRIPTED_CLIENT_PORTS,
    Stack,
    running_stack,
)

#: The scripted model: below the ephemeral range, outside every block (tests/faults: 8490-1).
SCRIPTED_MODEL_PORT = 8492


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica of each app; replies paced like a hosted model's, so that a turn is still
    streaming when the test presses Stop."""
    workdir: Path = tmp_path_factory.mktemp("clients-stack")
    with running_stack("embedded", workdir, replicas=1, ports=CLIENT_PORTS, env=PACED) as stack:
        yield stack


@pytest.fixture(scope="session")
def chat_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports.chat.app}"


@dataclass
class ScriptedStack:
    stack: Stack
    model: ScriptedModel

    @property
    def chat_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.ports.chat.app}"


@pytest.fixture(scope="session")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedStack]:
    """One replica of each app; chat's model is the scripted one, memory keeps its rules."""
    workdir: Path = tmp_path_factory.mktemp("clients-scripted-stack")
    with scripted_model(SCRIPTED_MODEL_PORT) as model:
        chat_env = {
            "OPENAI_API_KEY": "sk-scripted-" + secrets.token_hex(8),
            "OPENAI_BASE_URL": model.base_url,
            "MODEL_NAME": "scripted",
            "MODEL_MAX_RETRIES": "0",
        }
        with running_stack(
            "embedded",
            workdir,
            replicas=1,
            ports=SCRIPTED_CLIENT_PORTS,
            env={"TURN_LEASE_RENEW_SECONDS": PACED["TURN_LEASE_RENEW_SECONDS"]},
            app_env={"chat": chat_env},
        ) as stack:
            yield ScriptedStack(stack=stack, model=model)


@pytest.fixture
def model(scripted: ScriptedStack) -> Iterator[ScriptedModel]:
    """The scripted stack's model, with nothing queued from an earlier test and nothing held
    after this one."""
    scripted.model.reset()
    try:
        yield scripted.model
    finally:
        scripted.model.reset()
