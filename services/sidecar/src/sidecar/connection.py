"""The one async Dapr client and HTTP client a process keeps to its sidecar."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from sidecar.settings import SidecarSettings

logger = logging.getLogger(__name__)

API_TOKEN_HEADER = "dapr-api-token"  # noqa: S105 (a header name, not a secret)


@dataclass(frozen=True, slots=True)
class Sidecar:
    """Open clients to the app's own sidecar: ``http`` for the HTTP API (state, invocation,
    health), ``dapr`` for the SDK's gRPC client (metadata, publishing)."""

    settings: SidecarSettings
    http: httpx.AsyncClient
    dapr: Any  # dapr.aio.clients.DaprClient (the SDK ships no type information)


def _sidecar_headers(settings: SidecarSettings) -> dict[str, str]:
    if settings.dapr_api_token is None:
        return {}
    return {API_TOKEN_HEADER: settings.dapr_api_token.get_secret_value()}


def sidecar_http_client(settings: SidecarSettings) -> httpx.AsyncClient:
    """An HTTP client for the sidecar's API with the API token and an explicit timeout.

    httpx's interface over aiohttp's connection pool and HTTP parser (``httpx-aiohttp``, the
    transport the OpenAI SDK offers for the same reason): every state and actor call goes
    through it, and httpx's own pool and pure-Python HTTP/1.1 parser cost ~2.3 ms of CPU per
    call here against ~1.1 ms through aiohttp (a head read from daprd, measured on the 2-core
    machine of docs/benchmarks.md); a patch makes about six such calls. Errors still arrive
    as ``httpx.HTTPError`` subclasses (unit tests swap in ``httpx.MockTransport``).
    """
    return HttpxAiohttpClient(
        base_url=settings.dapr_http_endpoint,
        headers=_sidecar_headers(settings),
        timeout=httpx.Timeout(settings.dapr_call_timeout_seconds),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )


async def wait_for_sidecar(http: httpx.AsyncClient, timeout_seconds: float) -> None:
    """Poll ``/v1.0/healthz/outbound`` until the sidecar can serve the app's outbound calls.

    daprd marks outbound readiness before it blocks waiting for the app port, so this returns
    while the app itself is still starting (dapr-notes §4.1).
    """
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        try:
            response = await http.get("/v1.0/healthz/outbound", timeout=1.0)
            if response.is_success:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = repr(exc)
        await asyncio.sleep(0.2)
    raise TimeoutError(
        f"Dapr sidecar at {http.base_url} not ready after {timeout_seconds:.0f}s: {last_error}"
    )


def _configure_sdk(settings: SidecarSettings) -> None:
    """The SDK reads its endpoint and token from ``dapr.conf.settings`` only (a module global
    filled from the environment at import); point it at the same sidecar as these settings."""
    from dapr.conf import settings as sdk_settings

    values: dict[str, object] = {
        "DAPR_RUNTIME_HOST": settings.dapr_runtime_host,
        "DAPR_HTTP_PORT": settings.dapr_http_port,
        "DAPR_GRPC_PORT": settings.dapr_grpc_port,
        "DAPR_HTTP_ENDPOINT": None,
        "DAPR_GRPC_ENDPOINT": None,
        "DAPR_HEALTH_TIMEOUT": int(settings.dapr_health_timeout_seconds),
        "DAPR_API_TOKEN": (
            settings.dapr_api_token.get_secret_value() if settings.dapr_api_token else None
        ),
    }
    for name, value in values.items():
        setattr(sdk_settings, name, value)


@asynccontextmanager
async def open_sidecar(settings: SidecarSettings) -> AsyncIterator[Sidecar]:
    """Wait for the sidecar, open both clients, and close them on exit."""
    os.environ.setdefault("DAPR_SKIP_LEGACY_CHECK", "1")
    from dapr.aio.clients import DaprClient

    http = sidecar_http_client(settings)
    try:
        await wait_for_sidecar(http, settings.dapr_health_timeout_seconds)
        _configure_sdk(settings)
        # The SDK's constructor repeats the health wait synchronously; the sidecar answered a
        # moment ago, so it returns after one probe. It must run on the loop's thread: the
        # gRPC aio channel binds to the running loop.
        dapr: Any = DaprClient(address=settings.dapr_grpc_address)
        try:
            logger.info(
                "connected to Dapr sidecar",
                extra={
                    "dapr_http": settings.dapr_http_endpoint,
                    "dapr_grpc": settings.dapr_grpc_address,
                },
            )
            yield Sidecar(settings=settings, http=http, dapr=dapr)
        finally:
            await dapr.close()
    finally:
        await http.aclose()


def instance_id() -> str:
    """A stable id for this process, used to keep per-instance probe keys apart."""
    return f"{socket.gethostname()}-{os.getpid()}"
