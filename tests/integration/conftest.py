from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack import PACED, Stack, running_stack


@pytest.fixture(scope="session", params=["embedded", "redis"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The real stack, once per resource set (sqlite + valkey, then redis), shared by the tests:
    two replicas of each app, as a deployment runs them (``stack.ports.chat``/``.memory`` are
    replica 0, ``stack.replicas(app_id)`` lists them all)."""
    workdir: Path = tmp_path_factory.mktemp(f"stack-{request.param}")
    with running_stack(request.param, workdir, replicas=2, env=PACED) as stack:
        yield stack
