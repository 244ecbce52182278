from __future__ import annotations

import json

import orjson
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from sidecar import strict_json
from sidecar.http_errors import install_error_handlers, validation_body
from sidecar.testing import api_routes, asgi_client

REFUSED = {
    "NaN": b"[NaN]",
    "Infinity": b'{"x": -Infinity}',
    "overflow": b"[1e999]",
    "lone high surrogate": b'["x\\ud83d"]',
    "lone low surrogate": b'["\\ude00x"]',
    "invalid UTF-8": b'["caf\xe9"]',
    "1,025 levels": b"[" * 1025 + b"]" * 1025,
    "50,000 levels": b"[" * 50_000 + b"]" * 50_000,
    "trailing data": b"{} {}",
    "empty": b"",
}


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_what_rfc_8259_does_not_allow_is_refused(body: bytes) -> None:
    with pytest.raises(strict_json.InvalidJSON):
        strict_json.loads(body)
    assert issubclass(strict_json.InvalidJSON, ValueError)
    assert issubclass(strict_json.InvalidJSON, json.JSONDecodeError)  # FastAPI's 422 path


def test_valid_json_reads_as_the_standard_library_reads_it() -> None:
    text = '{"a": [1, 2.5, -0.0, true, null, "\\ud83d\\ude00 caf\\u00e9"], "b": {"c": "é"}}'
    assert strict_json.loads(text) == json.loads(text)
    assert strict_json.loads(text.encode()) == json.loads(text)
    assert strict_json.loads(b"[" * 1000 + b"]" * 1000) is not None


class Item(BaseModel):
    name: str
    score: float = 0.0


def strict_app() -> FastAPI:
    router = APIRouter(route_class=strict_json.StrictJSONRoute)

    @router.post("/items")
    async def create(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @router.get("/scores")
    async def scores(minimum: float) -> dict[str, float]:
        return {"minimum": minimum}

    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    return app


async def test_a_strict_route_answers_422_for_refused_json_and_keeps_its_class() -> None:
    app = strict_app()
    declared = list(api_routes(app.routes))
    assert {r.path for r in declared} == {"/items", "/scores"}
    assert all(isinstance(r, strict_json.StrictJSONRoute) for r in declared)
    async with asgi_client(app) as client:
        ok = await client.post("/items", json={"name": "tea"})
        assert ok.json() == {"name": "tea"}
        for body in REFUSED.values():
            refused = await client.post(
                "/items", content=body, headers={"content-type": "application/json"}
            )
            if body:
                assert refused.status_code == 422, body[:40]
                assert refused.json()["detail"][0]["type"] == "json_invalid"
            else:  # no body at all: the model is missing, still a 422
                assert refused.status_code == 422


async def test_a_422_is_rendered_even_when_its_input_cannot_be() -> None:
    async with asgi_client(strict_app()) as client:
        # "nan" parses as a float and is fine; a list where a name belongs is a 422 whose input
        # holds what json.dumps(allow_nan=False) refused.
        assert (await client.get("/scores", params={"minimum": "nan"})).status_code == 200
        wrong = await client.post(
            "/items", content=b'{"name": ["x"]}', headers={"content-type": "application/json"}
        )
        assert wrong.status_code == 422
    errors = [{"type": "t", "loc": ("body",), "msg": "m", "input": float("nan")}]
    rendered = orjson.loads(validation_body(errors))["detail"]
    assert rendered == [{"type": "t", "loc": ["body"], "msg": "m", "input": None}]
    unencodable = [{"type": "t", "loc": ("q",), "msg": "m", "input": b"\xff", "ctx": {}}]
    assert orjson.loads(validation_body(unencodable))["detail"] == [
        {"type": "t", "loc": ["q"], "msg": "m"}
    ]
