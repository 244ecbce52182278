"""JSON as both services accept it: RFC 8259 and nothing more, parsed by orjson.

Python's ``json`` module accepts what other parsers refuse and fails in ways a handler does not
expect: ``NaN`` and ``Infinity`` (which then cannot be rendered back: a 422 about them became a
500), lone UTF-16 surrogates such as ``"\\ud83d"`` (a ``str`` no UTF-8 encoder takes: a message
failed deep inside, after its session was created), and nesting without a limit (50,000 levels
raised ``RecursionError``: a 500, and "retry" for a poison pub/sub message). orjson refuses all
three while parsing: non-finite numbers, invalid UTF-8 and unpaired surrogates, and more than
1,024 levels of nesting raise ``orjson.JSONDecodeError`` (a ``ValueError`` and a
``json.JSONDecodeError``; github.com/ijl/orjson#deserialize). So every JSON body, WebSocket
message and pub/sub delivery goes through :func:`loads`, before any side effect.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["InvalidJSON", "StrictJSONRequest", "StrictJSONRoute", "loads"]

#: What :func:`loads` raises: a ``ValueError`` (and ``json.JSONDecodeError``) with the reason.
InvalidJSON = orjson.JSONDecodeError


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The value of one JSON document; raises :data:`InvalidJSON` for anything RFC 8259 does not
    allow, for text that is not valid Unicode, and for nesting deeper than 1,024 levels."""
    return orjson.loads(data)


class StrictJSONRequest(Request):
    """A request whose ``json()`` is :func:`loads` over the body."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An ``APIRoute`` whose JSON body is parsed strictly (FastAPI's "custom Request and APIRoute
    class" pattern). FastAPI turns the parse error into its 422 ``json_invalid`` validation
    error, with the parser's reason in ``ctx.error`` (fastapi/routing.py)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
