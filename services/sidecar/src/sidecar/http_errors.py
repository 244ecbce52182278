"""One place that turns sidecar-layer failures into clear HTTP answers."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


class SafeJSONResponse(JSONResponse):
    """A JSON response rendered by orjson, which writes a non-finite float as ``null`` where
    Starlette's renderer (``allow_nan=False``) raised and turned a 422 into a 500."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def validation_detail(errors: Any) -> Any:
    """FastAPI's ``detail`` list for a validation error, made renderable whatever the input
    was: with each error's ``input`` and ``ctx`` when they encode, without them when they
    cannot (bytes that are not UTF-8, text with lone surrogates)."""
    try:
        detail = jsonable_encoder(errors)
        orjson.dumps(detail)
        return detail
    except (TypeError, ValueError):  # UnicodeError and orjson.JSONEncodeError among them
        return [
            {k: str(v) if k == "msg" else v for k, v in e.items() if k in ("type", "loc", "msg")}
            for e in errors
        ]


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return SafeJSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Known failures map to 409/422/503 with a clear body (a 422 renders whatever the rejected
    input was); anything else to a generic 500 with a request id (the traceback only in the
    log)."""
    app.add_exception_handler(ConcurrencyConflict, _conflict)
    app.add_exception_handler(StateStoreUnavailable, _unavailable)
    app.add_exception_handler(InvocationFailed, _unavailable)
    app.add_exception_handler(ActorCallFailed, _unavailable)
    app.add_exception_handler(InvalidCursor, _invalid_cursor)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
