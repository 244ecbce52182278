"""Request body limits derived from the request models' field limits, and the 413 they answer.

A body limit that is a number of its own drifts from the fields it has to hold: 8,000 emoji,
a legal message, are 96 KB once a client escapes them the way Python's ``json.dumps`` does
(``\\ud83c\\udf0a``, 12 bytes a character). So an app's limit is the largest body any request
its routes document as legal can take in any encoding (``max_json_bytes``), computed from the
models' JSON Schema; a model that does not bound a field cannot be given a limit and raises.

"Any encoding" means: every character of every string and key escaped, numbers as long as
their bounds allow, and whitespace of a pretty printer (``WHITESPACE_PER_VALUE`` bytes before
each value and member). JSON allows unbounded whitespace and digits; no limit can honour those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY, RequestBodyLimitMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A character outside the Basic Multilingual Plane escaped as a surrogate pair: ``\\uXXXX\\uXXXX``
#: (RFC 8259 §7). Python's ``len`` counts it as one character, as the models' limits do.
ESCAPED_CHAR_BYTES: Final = 12
#: Go's ``encoding/json`` (daprd, writing a CloudEvent) escapes ``<``, ``>``, ``&``, U+2028,
#: U+2029 and control characters as ``\\u00XX`` (6 bytes); other characters are UTF-8 (at most 4).
GO_JSON_CHAR_BYTES: Final = 6
#: A newline and indentation before each array item and object member, and ``": "``.
WHITESPACE_PER_VALUE: Final = 24
#: The longest spelling of a number without bounds: a float's ``repr`` is at most 24 bytes
#: (``-2.2250738585072014e-308``); an integer without bounds is given as many.
UNBOUNDED_NUMBER_BYTES: Final = 24
#: The least limit an app gets, for bodies of routes that declare none (a stray body on a GET).
MIN_BODY_LIMIT: Final = 1024
#: A ``date-time`` string (RFC 3339 with microseconds and an offset) is under 40 characters.
FORMAT_LENGTHS: Final[Mapping[str, int]] = {"date-time": 40, "date": 10, "uuid": 36}


class UnboundedSchema(ValueError):
    """A request model with a field whose encoded size has no bound (no ``max_length``)."""


def max_json_bytes(
    annotation: Any,
    *,
    char_bytes: int = ESCAPED_CHAR_BYTES,
    whitespace: int = WHITESPACE_PER_VALUE,
) -> int:
    """The largest encoding, in bytes, of any value valid for ``annotation`` (a pydantic model
    or any type ``TypeAdapter`` takes), as the module docstring defines it; with
    ``char_bytes`` and ``whitespace`` another encoder's worst case (Go's ``encoding/json``, as
    daprd writes events: ``GO_JSON_CHAR_BYTES`` and no whitespace).

    Raises UnboundedSchema naming the first unbounded place (a string without ``maxLength``, a
    list without ``maxItems``, a mapping without ``maxProperties`` or bounded keys, ``Any``)."""
    schema = TypeAdapter(annotation).json_schema(mode="validation")
    walker = _Walker(schema.get("$defs", {}), char_bytes=char_bytes, whitespace=whitespace)
    return walker.size(schema, "$")


def request_body_limit(routes: Sequence[BaseRoute], *, ceiling: int) -> int:
    """The body limit of an app serving ``routes``: the largest encoding of any request body
    its OpenAPI document declares (``max_json_bytes`` of each operation's JSON body schema),
    at most ``ceiling`` (daprd's own limit: nothing larger reaches an app through its
    sidecar). Routes that read their body themselves (daprd's callbacks) declare none, and
    their own ``max_body_size``.

    Raises UnboundedSchema naming the operation whose body has no bound."""
    document = get_openapi(title="limits", version="0", routes=routes)
    walker = _Walker(document.get("components", {}).get("schemas", {}))
    sizes = [MIN_BODY_LIMIT]
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            for media_type, body in content.items():
                sizes.append(walker.size(body["schema"], f"{method.upper()} {path} ({media_type})"))
    return min(max(sizes), ceiling)


class RequestBodyLimit:
    """Starlette's ``RequestBodyLimitMiddleware`` (413 over ``max_body_size`` bytes, counted
    as the body arrives, whether or not Content-Length says so; a route's own
    ``max_body_size`` takes over for that route), answering in the API's error shape:
    ``{"error": "too_large", "message", "limit_bytes"}``. Starlette answers plain text when
    Content-Length is over the limit, FastAPI ``{"detail"}`` when a streamed body runs over."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_in_api_shape(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                limit = int(scope.get(MAX_BODY_SIZE_SCOPE_KEY, self.max_body_size))
                await send_too_large(send, limit)
            elif not replaced:
                await send(message)

        await self.app(scope, receive, send_in_api_shape)


async def send_too_large(send: Send, limit: int) -> None:
    """A whole 413 answer in the API's error shape (the connection is closed after it: the
    rest of the body is not read)."""
    body = orjson.dumps(
        {
            "error": "too_large",
            "message": f"the request body is over the limit of {limit} bytes",
            "limit_bytes": limit,
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Walker:
    def __init__(
        self,
        defs: Mapping[str, Any],
        *,
        char_bytes: int = ESCAPED_CHAR_BYTES,
        whitespace: int = WHITESPACE_PER_VALUE,
    ) -> None:
        self.defs = defs
        self.char_bytes = char_bytes
        self.whitespace = whitespace

    def size(self, schema: Mapping[str, Any], where: str) -> int:
        if "$ref" in schema:
            return self.size(self.defs[schema["$ref"].rsplit("/", 1)[1]], where)
        for combinator in ("anyOf", "oneOf"):
            if combinator in schema:
                # Keywords beside the union apply to every branch (``str | None`` with a
                # ``maxLength`` given to the field puts it there).
                outer = {k: v for k, v in schema.items() if k != combinator}
                return max(self.size({**outer, **s}, where) for s in schema[combinator])
        if "allOf" in schema:
            return min(self.size(s, where) for s in schema["allOf"])
        if "const" in schema:
            return self.literal(schema["const"])
        if "enum" in schema:
            return max(self.literal(v) for v in schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return max(self.size({**schema, "type": k}, where) for k in kind)
        if kind == "string":
            return self.string(schema, where)
        if kind == "integer":
            return _integer(schema)
        if kind == "number":
            return UNBOUNDED_NUMBER_BYTES
        if kind == "boolean":
            return len("false")
        if kind == "null":
            return len("null")
        if kind == "array":
            return self.array(schema, where)
        if kind == "object":
            return self.object(schema, where)
        raise UnboundedSchema(f"{where} takes any JSON value: give it a type with bounds")

    def literal(self, value: Any) -> int:
        if isinstance(value, str):
            return 2 + self.char_bytes * len(value)
        return max(len(str(value)), len("false"))

    def string(self, schema: Mapping[str, Any], where: str) -> int:
        length = schema.get("maxLength", FORMAT_LENGTHS.get(schema.get("format", "")))
        if length is None:
            raise UnboundedSchema(f"{where} is a string without maxLength")
        # base64 has no character any encoder escapes
        per_char = 1 if schema.get("contentEncoding") == "base64" else self.char_bytes
        return 2 + per_char * int(length)

    def array(self, schema: Mapping[str, Any], where: str) -> int:
        if "maxItems" not in schema:
            raise UnboundedSchema(f"{where} is an array without maxItems")
        items = schema.get("items", {})
        item = self.size(items, f"{where}[]") if items else 0
        return 2 + int(schema["maxItems"]) * (item + 1 + self.whitespace)

    def object(self, schema: Mapping[str, Any], where: str) -> int:
        total = 2
        for name, member in (schema.get("properties") or {}).items():
            key = 2 + self.char_bytes * len(name)
            total += key + 1 + self.size(member, f"{where}.{name}") + 1 + self.whitespace
        extra = schema.get("additionalProperties", False)
        if extra is False or extra is None:
            return total
        if "maxProperties" not in schema:
            raise UnboundedSchema(f"{where} takes other members without maxProperties")
        names = schema.get("propertyNames", {})
        if "maxLength" not in names:
            raise UnboundedSchema(f"{where} takes member names without maxLength")
        key = self.string(names, f"{where} (a name)")
        value = self.size(extra if isinstance(extra, Mapping) else {}, f"{where}.*")
        per_member = key + 1 + value + 1 + self.whitespace
        return total + int(schema["maxProperties"]) * per_member


def _integer(schema: Mapping[str, Any]) -> int:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None or high is None:
        return UNBOUNDED_NUMBER_BYTES
    return max(len(str(int(low))), len(str(int(high))))
