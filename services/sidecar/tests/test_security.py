from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from sidecar.security import AppTokenGuard, dapr_callback_paths, every_path_but_health


def guarded_app(guarded: object) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/memories/u")
    async def memories() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/events/pubsub/memory-events")
    async def event() -> dict[str, str]:
        return {"status": "SUCCESS"}

    app.add_middleware(AppTokenGuard, token="s3cret-token", guarded=guarded)
    return app


async def call(app: FastAPI, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"dapr-api-token": token} if token is not None else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.request(method, path, headers=headers)


@pytest.mark.parametrize("token", [None, "", "wrong", "s3cret-token-and-more"])
async def test_guarded_path_refuses_missing_or_wrong_token(token: str | None) -> None:
    response = await call(guarded_app(every_path_but_health), "GET", "/memories/u", token)
    assert response.status_code == 401
    assert "dapr-api-token" in response.json()["message"]


async def test_guarded_path_accepts_the_app_token() -> None:
    response = await call(guarded_app(every_path_but_health), "GET", "/memories/u", "s3cret-token")
    assert response.status_code == 200


async def test_health_is_never_guarded() -> None:
    response = await call(guarded_app(every_path_but_health), "GET", "/healthz", None)
    assert response.status_code == 200


async def test_public_app_guards_only_dapr_callbacks() -> None:
    app = guarded_app(dapr_callback_paths)
    assert (await call(app, "GET", "/memories/u", None)).status_code == 200
    assert (await call(app, "POST", "/events/pubsub/memory-events", None)).status_code == 401
    ok = await call(app, "POST", "/events/pubsub/memory-events", "s3cret-token")
    assert ok.status_code == 200
