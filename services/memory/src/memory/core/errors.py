"""HTTP mapping of the memory service's errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from memory.core.exceptions import IdempotencyKeyReused, MemoryLimitReached
from sidecar.http_errors import error_body, install_error_handlers


async def _limit_reached(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("memory_limit_reached", str(exc)), status_code=409)


async def _key_reused(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("idempotency_key_reused", str(exc)), status_code=409)


def install(app: FastAPI) -> None:
    install_error_handlers(app)
    app.add_exception_handler(MemoryLimitReached, _limit_reached)
    app.add_exception_handler(IdempotencyKeyReused, _key_reused)
