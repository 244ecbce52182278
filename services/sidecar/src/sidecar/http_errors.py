"""One place that turns sidecar-layer failures into clear HTTP answers."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from sidecar.auth import Forbidden, Unauthenticated
from sidecar.cursors import InvalidCursor
from sidecar.errors import (
    ActorCallFailed,
    ConcurrencyConflict,
    InvocationFailed,
    StateStoreUnavailable,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"


def error_body(error: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": error, "message": message, **extra}


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("conflict", f"concurrent updates kept colliding; retry the request ({exc})"),
        status_code=409,
    )


async def _unauthenticated(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("unauthenticated", str(exc)),
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("forbidden", str(exc)), status_code=403)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    logger.warning("dependency unavailable: %s", exc)
    return JSONResponse(
        error_body("unavailable", "a backing service is unavailable; retry shortly"),
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    request_id = uuid.uuid4().hex
    logger.exception("unhandled error (request id %s)", request_id, exc_info=exc)
    return JSONResponse(
        error_body("internal", "internal error", request_id=request_id), status_code=500
    )


async def _invalid_cursor(_: Request, exc: Exception) -> JSONResponse:
    # The same shape as FastAPI's validation errors, naming the field.
    detail = [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def validation_body(errors: Any) -> bytes:
    """FastAPI's 422 body, ``{"detail": [...]}``, rendered whatever the rejected input was, by
    orjson (a non-finite float becomes ``null``, where Starlette's ``allow_nan=False`` renderer
    raised and turned the 422 into a 500): each error with its ``input`` and ``ctx`` when they
    encode, without them when they cannot (bytes that are not UTF-8, text with lone
    surrogates)."""
    try:
        return orjson.dumps({"detail": jsonable_encoder(errors)})
    except (TypeError, ValueError):  # UnicodeError and orjson.JSONEncodeError among them
        kept = [
            {k: str(v) if k == "msg" else v for k, v in e.items() if k in ("type", "loc", "msg")}
            for e in errors
        ]
        return orjson.dumps({"detail": kept})


async def _invalid_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return Response(validation_body(exc.errors()), 422, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Known failures map to 401/403/409/422/503 with a clear body (a 422 renders whatever the
    rejected input was); anything else to a generic 500 with a request id (the traceback only
    in the log)."""
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
    app.add_exception_handler(StateStoreUnavailable, _unavailable)
    app.add_exception_handler(InvocationFailed, _unavailable)
    app.add_exception_handler(ActorCallFailed, _unavailable)
    app.add_exception_handler(InvalidCursor, _invalid_cursor)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
