"""Guards for every test: nothing leaves the machine (no real model, no outside service)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

_send = httpx.AsyncHTTPTransport.handle_async_request
_send_sync = httpx.HTTPTransport.handle_request


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test whose code sends an HTTP request past loopback (e.g. to a real model)."""

    async def guarded(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        if not _loopback(request.url.host):
            pytest.fail(f"test tried to reach {request.url.host}: tests never leave the machine")
        return await _send(self, request)

    def guarded_sync(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if not _loopback(request.url.host):
            pytest.fail(f"test tried to reach {request.url.host}: tests never leave the machine")
        return _send_sync(self, request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", guarded)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", guarded_sync)
