"""Liveness and readiness checks shared by both services."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sidecar.connection import instance_id
from sidecar.deps import SidecarDep, StateStoreDep
from sidecar.errors import SidecarError
from sidecar.event_lag import DeliveryLag
from sidecar.state import StateStore

CheckStatus = Literal["ok", "failed", "degraded"]


@dataclass(slots=True)
class Readiness:
    """The outcome of a readiness probe: ready only when every required check passed."""

    checks: dict[str, CheckStatus] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    #: Figures behind the checks, machine-readable (e.g. the event lag per topic).
    figures: dict[str, object] = field(default_factory=dict)

    def record(
        self, name: str, status: CheckStatus, detail: str | None = None, *, required: bool = True
    ) -> None:
        self.checks[name] = status
        if detail:
            self.details[name] = detail
        if required:
            self.required.add(name)

    @property
    def ready(self) -> bool:
        return all(self.checks[name] == "ok" for name in self.required)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": "ready" if self.ready else "not ready",
            "checks": dict(self.checks),
            "details": dict(self.details),
        }
        if self.figures:
            body["figures"] = dict(self.figures)
        return body


async def check_sidecar(http: httpx.AsyncClient, readiness: Readiness) -> None:
    try:
        response = await http.get("/v1.0/healthz/outbound")
    except httpx.HTTPError as exc:
        readiness.record("sidecar", "failed", f"unreachable: {exc!r}")
        return
    if response.is_success:
        readiness.record("sidecar", "ok")
    else:
        readiness.record(
            "sidecar", "failed", f"/v1.0/healthz/outbound answered {response.status_code}"
        )


async def check_components(dapr: Any, names: list[str], readiness: Readiness) -> None:
    """Ask the sidecar (gRPC metadata API, through the SDK client) whether the components this
    app relies on are loaded: a missing or mis-scoped resource file shows up here by name."""
    try:
        metadata = await asyncio.wait_for(dapr.get_metadata(), timeout=5)
    except Exception as exc:  # the SDK raises DaprGrpcError or grpc errors
        readiness.record("components", "failed", f"metadata unavailable: {exc!r}"[:300])
        return
    loaded = {c.name for c in metadata.registered_components}
    missing = [n for n in names if n not in loaded]
    if missing:
        readiness.record("components", "failed", "not loaded: " + ", ".join(missing))
    else:
        readiness.record("components", "ok", ", ".join(sorted(loaded)))


async def check_state_store(store: StateStore, readiness: Readiness) -> None:
    """Round trip through the store: write a per-instance probe key, read it back, delete it."""
    key = f"readyz-probe-{instance_id()}"
    token = uuid.uuid4().hex
    started = time.perf_counter()
    name = f"state:{store.store_name}"
    try:
        current = await store.get(key)
        await store.save(key, {"token": token}, etag=current.etag, metadata={"ttlInSeconds": "60"})
        read_back = await store.get(key)
        if not isinstance(read_back.value, dict) or read_back.value.get("token") != token:
            readiness.record(name, "failed", "read back a different value than written")
            return
        await store.delete(key, etag=read_back.etag)
    except SidecarError as exc:
        readiness.record(name, "failed", str(exc)[:300])
        return
    readiness.record(name, "ok", f"round trip {1000 * (time.perf_counter() - started):.1f} ms")


def check_event_lag(lag: DeliveryLag, threshold_seconds: float, readiness: Readiness) -> None:
    """Commit-to-delivery lag of the events this app consumes: failed while it looks stalled
    (sidecar.event_lag), with the figures either way."""
    readiness.figures["event_lag_seconds"] = {
        t.topic: {"count": t.count, "p50": t.p50, "p99": t.p99, "max": t.max} for t in lag.summary()
    }
    reasons = lag.stalled(threshold_seconds)
    if reasons:
        readiness.record("events", "failed", "event plane stalled: " + "; ".join(reasons))
        return
    figures = "; ".join(t.describe() for t in lag.summary()) or "no deliveries in the last minute"
    readiness.record("events", "ok", figures)


ExtraCheck = Callable[[Request, Readiness], Awaitable[None]]


def health_router(*extra_checks: ExtraCheck) -> APIRouter:
    """``/healthz`` (liveness, no dependencies) and ``/readyz`` (the sidecar answers and the
    app's state store completes a round trip, plus any ``extra_checks``)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request, sidecar: SidecarDep, store: StateStoreDep) -> JSONResponse:
        """Readiness: 200 when every required check passed, else 503; the body says which."""
        readiness = Readiness()
        await check_sidecar(sidecar.http, readiness)
        settings = sidecar.settings
        await check_components(
            sidecar.dapr,
            [settings.state_store, settings.pubsub_name, *settings.required_components],
            readiness,
        )
        await check_state_store(store, readiness)
        check_event_lag(request.app.state.delivery_lag, settings.event_lag_stall_seconds, readiness)
        for check in extra_checks:
            await check(request, readiness)
        return JSONResponse(readiness.as_dict(), status_code=200 if readiness.ready else 503)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus metrics of the app (``event_delivery_lag_seconds`` and the like)."""
        lag: DeliveryLag = request.app.state.delivery_lag
        return Response(generate_latest(lag.registry), media_type=CONTENT_TYPE_LATEST)

    return router
