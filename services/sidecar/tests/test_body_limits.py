"""Body limits derived from the request models: legal bodies fit in any encoding, and a model
that bounds nothing cannot be given a limit."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pytest
from fastapi import APIRouter, FastAPI, Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, StringConstraints

from sidecar.body_limits import (
    MIN_BODY_LIMIT,
    UnboundedSchema,
    max_json_bytes,
    request_body_limit,
)

Tag = Annotated[str, StringConstraints(max_length=8)]


class Inner(BaseModel):
    flag: bool
    count: int = Field(ge=-5, le=1000)


class Bounded(BaseModel):
    name: Annotated[str, StringConstraints(max_length=20)]
    note: str | None = Field(default=None, json_schema_extra={"maxLength": 30})
    tags: list[Tag] = Field(default_factory=list, max_length=4)
    extra: dict[Tag, float | None] = Field(default_factory=dict, max_length=3)
    inner: Inner | None = None
    mode: Literal["a", "bbb"] = "a"


def test_a_bounded_model_has_a_bound_and_every_field_counts() -> None:
    base = max_json_bytes(Bounded)
    assert base > 0

    class Wider(Bounded):
        name: Annotated[str, StringConstraints(max_length=21)]

    assert max_json_bytes(Wider) == base + 12  # one more character, escaped as a pair


@pytest.mark.parametrize(
    "annotation",
    [
        str,
        list[int],
        dict[Tag, int],  # no maxProperties
        Annotated[dict[str, int], Field(max_length=2)],  # names without a bound
        Any,
    ],
)
def test_anything_unbounded_is_refused(annotation: Any) -> None:
    with pytest.raises(UnboundedSchema):
        max_json_bytes(annotation)


texts = st.text(st.characters(codec="utf-8"), max_size=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(st.characters(codec="utf-8"), max_size=20),
    note=st.none() | st.text(st.characters(codec="utf-8"), max_size=30),
    tags=st.lists(texts, max_size=4),
    extra=st.dictionaries(texts, st.none() | st.floats(allow_nan=False), max_size=3),
    inner=st.none() | st.builds(Inner, flag=st.booleans(), count=st.integers(-5, 1000)),
    mode=st.sampled_from(["a", "bbb"]),
    indent=st.sampled_from([None, 2, 8]),
)
def test_any_legal_value_fits_in_any_encoding(
    name: str,
    note: str | None,
    tags: list[str],
    extra: dict[str, float | None],
    inner: Inner | None,
    mode: str,
    indent: int | None,
) -> None:
    value = Bounded(name=name, note=note, tags=tags, extra=extra, inner=inner, mode=mode)
    encoded = json.dumps(value.model_dump(mode="json"), ensure_ascii=True, indent=indent)
    assert len(encoded.encode()) <= max_json_bytes(Bounded)


def test_an_apps_limit_is_its_widest_documented_body_and_at_most_the_ceiling() -> None:
    router = APIRouter()

    @router.post("/small")
    async def small(body: Inner) -> None: ...

    @router.post("/bounded")
    async def bounded(body: Bounded) -> None: ...

    @router.post("/raw")  # reads its own body: declares none
    async def raw(request: Request) -> None: ...

    app = FastAPI()
    app.include_router(router)
    widest = max_json_bytes(Bounded)
    assert request_body_limit(app.routes, ceiling=10**9) == widest
    assert request_body_limit(app.routes, ceiling=widest - 1) == widest - 1
    assert request_body_limit(FastAPI().routes, ceiling=10**9) == MIN_BODY_LIMIT


def test_an_app_with_an_unbounded_body_cannot_be_given_a_limit() -> None:
    app = FastAPI()

    @app.post("/free")
    async def free(body: dict[str, Any]) -> None: ...

    with pytest.raises(UnboundedSchema, match="POST /free"):
        request_body_limit(app.routes, ceiling=10**9)
