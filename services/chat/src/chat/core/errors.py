"""HTTP mapping of the chat service's errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chat.core.exceptions import (
    MemoryLimitReached,
    ModelFailed,
    ModelTimedOut,
    RateLimited,
    SessionBusy,
    SessionDeleted,
    SessionFull,
    SessionLimitReached,
    SessionNotFound,
)
from sidecar.http_errors import error_body, install_error_handlers


async def _session_not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("not_found", str(exc)), status_code=404)


async def _session_busy(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("session_busy", str(exc)), status_code=409)


async def _session_deleted(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("session_deleted", str(exc)), status_code=410)


async def _session_full(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("session_full", str(exc)), status_code=409)


async def _session_limit(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("session_limit_reached", str(exc)), status_code=409)


async def _model_failed(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("model_failed", str(exc)), status_code=502)


async def _model_timed_out(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("model_timeout", str(exc)), status_code=504)


async def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return JSONResponse(
        error_body("rate_limited", str(exc)),
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _memory_limit(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("memory_limit_reached", str(exc)), status_code=409)


def install(app: FastAPI) -> None:
    install_error_handlers(app)
    app.add_exception_handler(SessionNotFound, _session_not_found)
    app.add_exception_handler(SessionBusy, _session_busy)
    app.add_exception_handler(SessionDeleted, _session_deleted)
    app.add_exception_handler(SessionFull, _session_full)
    app.add_exception_handler(SessionLimitReached, _session_limit)
    app.add_exception_handler(ModelFailed, _model_failed)
    app.add_exception_handler(ModelTimedOut, _model_timed_out)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(MemoryLimitReached, _memory_limit)
