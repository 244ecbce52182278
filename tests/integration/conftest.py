from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack import Stack, running_stack

# The offline model paced like a hosted one (a reply of ~50 words takes ~0.75 s), so that a turn
# is still running when the next message, a delete or a hang-up arrives; leases renewed often,
# so that a turn on one replica learns quickly that another replica interrupted it.
PACED = {"OFFLINE_TOKEN_DELAY_SECONDS": "0.015", "TURN_LEASE_RENEW_SECONDS": "0.25"}


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
