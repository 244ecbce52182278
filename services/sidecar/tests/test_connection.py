from __future__ import annotations

import httpx
import pytest

from sidecar.connection import sidecar_http_client, wait_for_sidecar
from sidecar.settings import SidecarSettings


async def test_wait_for_sidecar_returns_once_outbound_is_ready() -> None:
    answers = iter([500, 500, 204])

    def sidecar(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.0/healthz/outbound"
        return httpx.Response(next(answers))

    client = httpx.AsyncClient(transport=httpx.MockTransport(sidecar), base_url="http://d")
    await wait_for_sidecar(client, timeout_seconds=5)


async def test_wait_for_sidecar_times_out_with_the_last_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://d")
    with pytest.raises(TimeoutError, match="connection refused"):
        await wait_for_sidecar(client, timeout_seconds=0.3)


def test_sidecar_client_sends_the_api_token_and_has_a_timeout() -> None:
    settings = SidecarSettings(
        dapr_http_port=3601, dapr_api_token="tok-0123456789abcdef", dapr_call_timeout_seconds=3
    )
    client = sidecar_http_client(settings)
    assert str(client.base_url) == "http://127.0.0.1:3601"
    assert client.headers["dapr-api-token"] == "tok-0123456789abcdef"
    assert client.timeout.read == 3


def test_sidecar_client_sends_no_token_when_none_is_set() -> None:
    assert "dapr-api-token" not in sidecar_http_client(SidecarSettings()).headers
