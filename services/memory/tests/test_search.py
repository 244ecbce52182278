from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from memory.core.settings import MemorySettings
from memory.data.layout import documents_for
from memory.main import create_app
from memory.models.memory import MemoryKind, MemorySource, StoredMemory
from memory.services.memories import MemoryRuntime
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "memory-state"

CORPUS = [
    "Alice is allergic to peanuts",
    "Alice's daughter plays the violin in the school orchestra",
    "Alice prefers window seats when she travels by train",
    "Alice works as a nurse on night shifts",
    "Alice wants to run a marathon next spring",
    "Alice's favourite food is Thai green curry",
]

# Paraphrases: few or no words in common with the memory they should find.
PARAPHRASES = [
    ("which nuts can make her sick?", 0),
    ("does her kid have a musical hobby", 1),
    ("where does she like to sit on the railway", 2),
    ("what is her job at the hospital", 3),
    ("any long-distance running goals", 4),
    ("what cuisine does she enjoy eating", 5),
]


async def seed(client: httpx.AsyncClient) -> list[str]:
    ids = []
    for content in CORPUS:
        response = await client.post(
            "/memories/alice", json={"kind": "semantic", "content": content}
        )
        ids.append(response.json()["id"])
    return ids


@pytest.mark.parametrize(("query", "expected"), PARAPHRASES)
async def test_the_right_memory_ranks_first_for_a_paraphrase(
    client: httpx.AsyncClient, query: str, expected: int
) -> None:
    ids = await seed(client)
    response = await client.get("/memories/alice/search", params={"q": query, "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "semantic+keyword"
    assert body["hits"][0]["memory"]["id"] == ids[expected], [
        h["memory"]["content"] for h in body["hits"]
    ]
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= h["semantic"] <= 1 for h in body["hits"])


async def test_search_sees_updates_and_deletes(client: httpx.AsyncClient) -> None:
    ids = await seed(client)
    query = {"q": "which nuts can make her sick?", "k": 1}
    assert (await client.get("/memories/alice/search", params=query)).json()["hits"][0]["memory"][
        "id"
    ] == ids[0]
    await client.delete(f"/memories/alice/{ids[0]}")
    after = (await client.get("/memories/alice/search", params=query)).json()["hits"]
    assert ids[0] not in [h["memory"]["id"] for h in after]
    await client.patch(
        f"/memories/alice/{ids[3]}", json={"content": "Alice is severely allergic to walnuts"}
    )
    again = (await client.get("/memories/alice/search", params=query)).json()["hits"]
    assert again[0]["memory"]["id"] == ids[3]


async def test_search_is_per_user(client: httpx.AsyncClient) -> None:
    await seed(client)
    response = await client.get("/memories/bob/search", params={"q": "peanuts"})
    assert response.json()["hits"] == []


async def test_keyword_search_works_without_the_embedding_model() -> None:
    app = create_app(MemorySettings(), embedder=None)
    fake = FakeDaprSidecar(stores={"memory-state"}, outbox={"memory-state": "memory-events"})
    attach_fake_sidecar(app, fake)
    async with asgi_client(app) as client:
        await seed(client)
        body = (await client.get("/memories/alice/search", params={"q": "violin orchestra"})).json()
    assert body["mode"] == "keyword"
    assert [h["memory"]["content"] for h in body["hits"]] == [CORPUS[1]]
    assert body["hits"][0]["semantic"] is None
    assert body["hits"][0]["keyword"] == 1.0


@pytest.mark.parametrize(
    "params",
    [{"q": ""}, {"q": "   "}, {"q": "x" * 1001}, {"q": "x", "k": 0}, {"q": "x", "k": 51}, {}],
)
async def test_search_parameters_are_bounded(client: httpx.AsyncClient, params: dict) -> None:
    assert (await client.get("/memories/alice/search", params=params)).status_code == 422


async def test_a_search_after_a_write_reloads_only_what_changed(
    client: httpx.AsyncClient, fake_sidecar: FakeDaprSidecar
) -> None:
    ids = await seed(client)
    await client.get("/memories/alice/search", params={"q": "peanuts"})
    created = (
        await client.post("/memories/alice", json={"kind": "semantic", "content": "new"})
    ).json()
    await client.patch(f"/memories/alice/{ids[2]}", json={"content": "Alice flies everywhere"})
    fake_sidecar.requests.clear()
    hits = (await client.get("/memories/alice/search", params={"q": "aeroplane travel"})).json()[
        "hits"
    ]
    bulk_reads = [r for r in fake_sidecar.requests if r.url.path.endswith("/bulk")]
    assert len(bulk_reads) == 1
    loaded = json.loads(bulk_reads[0].content)["keys"]
    assert sorted(loaded) == sorted([f"memory:alice:{created['id']}", f"memory:alice:{ids[2]}"])
    assert hits[0]["memory"]["content"] == "Alice flies everywhere"


# Ten thousand other memories of Alice's, many in the same areas as CORPUS (food, music,
# travel, work, sport, health) but none saying what a paraphrase asks: 25 x 20 x 20, all
# distinct, short as most memories are (the encoder's cost grows with the length).
SUBJECTS = [
    "Alice bought", "Alice lost", "Alice fixed", "Alice ordered", "Alice sold", "Alice cleaned",
    "Alice painted", "Alice found", "Alice returned", "Alice packed", "Alice booked",
    "Alice borrowed", "Alice wrapped", "Alice measured", "Alice recommended", "Alice forgot",
    "Alice photographed", "Alice reviewed", "Alice ignored", "Alice counted", "Alice hid",
    "Alice labelled", "Alice weighed", "Alice polished", "Alice moved",
]  # fmt: skip
THINGS = [
    "a bicycle", "a teapot", "an amplifier", "a backpack", "a cookbook", "ski boots",
    "a laptop stand", "a scarf", "watercolours", "a bus ticket", "a yoga mat", "a desk lamp",
    "dog food", "a kettle", "a garden hose", "a chess clock", "a piano record",
    "a tennis racket", "a sewing machine", "a camping stove",
]  # fmt: skip
OCCASIONS = [
    "on Monday", "in March", "before New Year", "with her cousin", "at the market",
    "at lunch", "after work", "on Sunday", "for her birthday", "in a hurry", "twice",
    "alone", "at the airport", "at night", "on the way home", "with a coupon", "online",
    "at the weekend", "while on call", "again",
]  # fmt: skip


async def test_the_right_memory_still_ranks_first_among_10000(
    app: FastAPI, fake_sidecar: FakeDaprSidecar
) -> None:
    """Each paraphrase finds its memory first when the user has 10,000 memories: the six of
    CORPUS are the oldest (sealed in the first page), 9,994 others come after them."""
    others = [f"{s} {t} {o}" for s in SUBJECTS for t in THINGS for o in OCCASIONS]
    texts = (CORPUS + others)[:10_000]
    # The service's own embedding path: split over its CPU workers, one BLAS thread each.
    runtime: MemoryRuntime = app.state.memory_runtime
    vectors = await runtime.embed(None, texts)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    memories = [
        StoredMemory(
            id=uuid.uuid4(), user_id="alice", kind=MemoryKind.semantic, content=text, tags=[],
            source=MemorySource(), created_at=start + timedelta(seconds=i), updated_at=start,
            version=1, embedding=vector,
        )
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]  # fmt: skip
    for key, value in documents_for("alice", memories):
        fake_sidecar.put(STORE, key, value)
    pages = [v for k, (v, _) in fake_sidecar.data[STORE].items() if k.startswith("page:")]
    assert pages
    assert all("q8" in m["embedding"] for p in pages for m in p["items"])
    async with asgi_client(app, "http://memory") as client:
        assert (await client.get("/memories/alice")).json()["total"] == 10_000
        for query, expected in PARAPHRASES:
            response = await client.get("/memories/alice/search", params={"q": query, "k": 3})
            hits = response.json()["hits"]
            assert hits[0]["memory"]["id"] == str(memories[expected].id), (
                query,
                [h["memory"]["content"] for h in hits],
            )
        # A patch rewrites the first page (8-bit vectors, the new one quantised with them).
        changed = str(memories[2].id)
        patch = {"content": "Alice keeps bees in hives on her roof"}
        assert (await client.patch(f"/memories/alice/{changed}", json=patch)).status_code == 200
        response = await client.get(
            "/memories/alice/search", params={"q": "which insects does she look after", "k": 3}
        )
        assert response.json()["hits"][0]["memory"]["id"] == changed
