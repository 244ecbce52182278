"""Opaque pagination cursors: a small JSON object, base64url-encoded without padding. Both
services hand them out in ``next_cursor`` and take them back as ``cursor``; one they did not
hand out is refused with ``InvalidCursor`` (HTTP 422 naming the ``cursor`` query field,
sidecar.http_errors)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


class InvalidCursor(ValueError):
    """A pagination cursor that this API did not hand out."""


def encode_cursor(fields: dict[str, Any]) -> str:
    """``fields`` (JSON-serialisable) as a URL-safe cursor."""
    return base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The fields of a cursor made by ``encode_cursor``. Raises InvalidCursor for anything
    else (not base64, not JSON, not an object)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc
    if not isinstance(data, dict):
        raise InvalidCursor("cursor is not one this API returned")
    return data
