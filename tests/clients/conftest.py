"""The clients against a real stack (embedded resource set, real daprd, security on), on a
block of ports of their own (CLIENT_PORTS): the console client in a real terminal (pexpect)
and the web page in real headless Chromium (Debian's `chromium`, driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack import CLIENT_PORTS, PACED, Stack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica of each app; replies paced like a hosted model's, so that a turn is still
    streaming when the test presses Ctrl-C or Stop."""
    workdir: Path = tmp_path_factory.mktemp("clients-stack")
    with running_stack("embedded", workdir, replicas=1, ports=CLIENT_PORTS, env=PACED) as stack:
        yield stack


@pytest.fixture(scope="session")
def chat_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports.chat.app}"
