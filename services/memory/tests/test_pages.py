"""The paged layout (memory.data.layout) through the API: sealing the tail, copy-on-write page
generations, merges, erasure of every key, ordering across pages, bulk import, migration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pybase64
import pytest

from memory.core.settings import MemorySettings
from memory.data.layout import MEMORY_PAGES, PAGE_MAX_ENTRIES, page_item, page_vectors
from memory.main import create_app
from memory.services.search import decode_vectors
from sidecar.paging import json_size
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

STORE = "memory-state"
TOPIC = "memory-events"
P = PAGE_MAX_ENTRIES
PAGE_MERGE_BELOW = MEMORY_PAGES.merge_below


@pytest.fixture
def fake() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={STORE}, outbox={STORE: TOPIC})


@pytest.fixture
async def client(fake: FakeDaprSidecar) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(MemorySettings(max_memories_per_user=2_000), embedder=None)
    attach_fake_sidecar(app, fake)
    async with asgi_client(app, "http://memory") as client:
        yield client


def head(fake: FakeDaprSidecar, user: str = "alice") -> dict[str, Any]:
    value, _ = fake.data[STORE][f"head:{user}"]
    return dict(value)


def keys(fake: FakeDaprSidecar, prefix: str) -> list[str]:
    return sorted(k for k in fake.data.get(STORE, {}) if k.startswith(prefix))


async def import_n(
    client: httpx.AsyncClient, n: int, user: str = "alice", start: int = 0, **extra: Any
) -> list[dict[str, Any]]:
    memories: list[dict[str, Any]] = []
    for first in range(start, start + n, 500):
        items = [
            {"kind": "semantic", "content": f"note {i} about topic{i % 7}", "tags": [f"t{i % 3}"]}
            | extra
            for i in range(first, min(first + 500, start + n))
        ]
        response = await client.post(f"/memories/{user}:batch", json={"items": items})
        assert response.status_code == 200, response.text
        memories += [r["memory"] for r in response.json()["items"]]
    return memories


async def list_all(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 200, **params} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/memories/alice", params=query)).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_the_tail_is_sealed_into_pages_of_bounded_size(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    await import_n(client, P - 1)
    assert head(fake)["pages"] == []
    assert len(head(fake)["tail"]) == P - 1
    await import_n(client, 1, start=P - 1)
    sealed = head(fake)
    assert sealed["tail"] == []
    assert [p["count"] for p in sealed["pages"]] == [P]
    assert keys(fake, "page:alice:") == ["page:alice:0:1"]
    await import_n(client, 2 * P + 5, start=P)
    counts = [p["count"] for p in head(fake)["pages"]]
    assert sum(counts) + len(head(fake)["tail"]) == 3 * P + 5 == head(fake)["count"]
    assert all(c <= P for c in counts)
    for key in keys(fake, "page:"):
        value, _ = fake.data[STORE][key]
        assert json_size(value) < 1024 * 1024


async def test_every_memory_is_listed_once_newest_first_across_pages(
    client: httpx.AsyncClient,
) -> None:
    created = await import_n(client, 2 * P + 40)
    listed = await list_all(client)
    assert [m["id"] for m in listed] == [m["id"] for m in reversed(created)]
    stamps = [m["created_at"] for m in listed]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == len(stamps)
    only_t1 = await list_all(client, tag="t1", kind="semantic")
    assert [m["id"] for m in only_t1] == [m["id"] for m in reversed(created) if m["tags"] == ["t1"]]
    assert (await client.get("/memories/alice", params={"kind": "episodic"})).json()["items"] == []


async def test_changes_in_a_sealed_page_write_its_next_generation(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    created = await import_n(client, P + 10)
    old = created[5]
    response = await client.patch(f"/memories/alice/{old['id']}", json={"tags": ["changed"]})
    assert response.status_code == 200
    assert keys(fake, "page:alice:") == ["page:alice:0:2"]  # the old generation is gone
    assert [m["id"] for m in await list_all(client, tag="changed")] == [old["id"]]
    assert (await client.delete(f"/memories/alice/{created[6]['id']}")).status_code == 204
    assert keys(fake, "page:alice:") == ["page:alice:0:3"]
    assert head(fake)["pages"][0]["count"] == P - 1
    listed = await list_all(client)
    assert len(listed) == P + 9 == (await client.get("/memories/alice")).json()["total"]
    assert created[6]["id"] not in {m["id"] for m in listed}


async def test_a_page_emptied_by_deletes_is_merged_then_dropped(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    created = await import_n(client, 2 * P)
    assert [p["count"] for p in head(fake)["pages"]] == [P, P]
    second = created[P:]
    for memory in second[: P - PAGE_MERGE_BELOW + 1]:
        assert (await client.delete(f"/memories/alice/{memory['id']}")).status_code == 204
    # Too small for a page of its own but too big to fit beside a full one: kept.
    assert [p["count"] for p in head(fake)["pages"]] == [P, PAGE_MERGE_BELOW - 1]
    for memory in created[: P // 2]:
        await client.delete(f"/memories/alice/{memory['id']}")
    # The first page shrank: the small one now fits beside it and is merged into it.
    pages = head(fake)["pages"]
    assert [p["count"] for p in pages] == [P // 2 + PAGE_MERGE_BELOW - 1]
    assert keys(fake, "page:alice:") == [f"page:alice:{pages[0]['no']}:{pages[0]['gen']}"]
    survivors = [m["id"] for m in created[P // 2 : P]] + [
        m["id"] for m in second[P - PAGE_MERGE_BELOW + 1 :]
    ]
    assert [m["id"] for m in await list_all(client)] == survivors[::-1]
    for memory in created[P // 2 : P] + second[P - PAGE_MERGE_BELOW + 1 :]:
        await client.delete(f"/memories/alice/{memory['id']}")
    assert head(fake)["pages"] == []
    assert head(fake)["count"] == 0
    assert keys(fake, "page:") == []


async def test_forget_erases_every_key_of_the_user_and_announces_the_total(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    await import_n(client, 3 * P + 7)
    await import_n(client, 3, user="bob")
    # A crashed write's leftover generation must be erased too.
    orphan = f"page:alice:{head(fake)['pages'][0]['no']}:{head(fake)['pages'][0]['gen'] + 1}"
    fake.put(STORE, orphan, {"items": []})
    fake.published.clear()
    response = await client.delete("/memories/alice")
    assert response.json() == {"user_id": "alice", "deleted": 3 * P + 7}
    assert keys(fake, "memory:alice:") == []
    assert keys(fake, "page:alice:") == []
    forgotten = [e for e in fake.published if e["type"] == "user.forgotten"]
    assert [e["data"]["deleted"] for e in forgotten] == [3 * P + 7]
    assert (await client.get("/memories/bob")).json()["total"] == 3
    assert (await client.get("/memories/alice")).json() == {
        "user_id": "alice", "items": [], "next_cursor": None, "total": 0,
    }  # fmt: skip


async def test_search_ranks_across_the_tail_and_every_page(client: httpx.AsyncClient) -> None:
    await import_n(client, 2 * P + 3)
    needle = {"kind": "semantic", "content": "Alice keeps bees on the roof"}
    await client.post("/memories/alice:batch", json={"items": [needle]})
    await import_n(client, P, start=5_000)  # the needle is sealed into a page now
    hits = (await client.get("/memories/alice/search", params={"q": "bees roof"})).json()["hits"]
    assert hits[0]["memory"]["content"] == needle["content"]


async def test_import_is_idempotent_per_item_and_announces_each(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    items = [
        {"kind": "semantic", "content": "likes tea"},
        {"kind": "semantic", "content": "likes jazz", "idempotency_key": "k-1"},
    ]
    first = (await client.post("/memories/alice:batch", json={"items": items})).json()
    assert [r["status"] for r in first["items"]] == ["created", "created"]
    assert first["created"] == 2
    again = (await client.post("/memories/alice:batch", json={"items": items})).json()
    assert [r["status"] for r in again["items"]] == ["existing", "existing"]
    assert [r["memory"]["id"] for r in again["items"]] == [
        r["memory"]["id"] for r in first["items"]
    ]
    reused = [{"kind": "semantic", "content": "likes coffee", "idempotency_key": "k-1"}]
    refused = (await client.post("/memories/alice:batch", json={"items": reused})).json()
    assert refused["items"][0] == {
        "status": "refused", "memory": None, "error": "idempotency_key_reused",
        "detail": "this idempotency_key was used with a different memory",
    }  # fmt: skip
    created_events = [e for e in fake.published if e["type"] == "memory.created"]
    assert len(created_events) == 2


async def test_import_past_the_cap_stores_what_fits(fake: FakeDaprSidecar) -> None:
    app = create_app(MemorySettings(max_memories_per_user=5), embedder=None)
    attach_fake_sidecar(app, fake)
    async with asgi_client(app) as client:
        items = [{"kind": "semantic", "content": f"m{i}"} for i in range(8)]
        body = (await client.post("/memories/alice:batch", json={"items": items})).json()
        assert [r["status"] for r in body["items"]] == ["created"] * 5 + ["refused"] * 3
        assert {r["error"] for r in body["items"][5:]} == {"memory_limit_reached"}
        assert (await client.get("/memories/alice")).json()["total"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"kind": "semantic", "content": "x"}] * 501},
        {"items": [{"kind": "semantic", "content": "x", "idempotency_key": "a b"}]},
        {"items": [{"kind": "semantic", "content": "x", "extra": 1}]},
        {},
    ],
)
async def test_an_invalid_import_is_422_and_writes_nothing(
    client: httpx.AsyncClient, fake: FakeDaprSidecar, body: dict[str, Any]
) -> None:
    assert (await client.post("/memories/alice:batch", json=body)).status_code == 422
    assert keys(fake, "") == []


async def test_memories_of_the_one_document_layout_are_migrated_on_first_read(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    created = await import_n(client, P + 20)
    # Rebuild the layout of earlier versions: the memories and one index document.
    for key in keys(fake, "page:") + keys(fake, "head:"):
        del fake.data[STORE][key]
    fake.put(
        STORE,
        "index:alice",
        {
            "user_id": "alice",
            "version": 7,
            "entries": [
                {"id": m["id"], "created_at": m["created_at"], "kind": m["kind"], "tags": m["tags"]}
                for m in reversed(created)
            ],
        },
    )
    listed = await list_all(client)
    assert [m["id"] for m in listed] == [m["id"] for m in reversed(created)]
    assert keys(fake, "index:") == []
    assert head(fake)["count"] == P + 20
    assert head(fake)["version"] == 8
    more = await import_n(client, 1, start=9_000)
    assert (await list_all(client))[0]["id"] == more[0]["id"]


async def test_a_page_that_grows_past_its_byte_limit_is_split(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    # Control characters are escaped in JSON (6 bytes each): 3,000 of them make a ~18 KB
    # memory, so a page holds ~55 of them; one grown to 4,000 pushes its page over 1 MiB.
    big = "\u0001" * 3_000
    items = [{"kind": "semantic", "content": f"{i}{big}"} for i in range(P)]
    created = []
    for first in range(0, P, 64):
        batch = {"items": items[first : first + 64]}
        body = (await client.post("/memories/alice:batch", json=batch)).json()
        created += [r["memory"] for r in body["items"]]
    before = head(fake)["pages"]
    assert len(before) >= 2
    for key in keys(fake, "page:"):
        value, _ = fake.data[STORE][key]
        assert json_size(value) < 1024 * 1024
    full = before[0]
    victim = created[full["count"] // 2]
    grown = "\u0001" * 4_000
    response = await client.patch(f"/memories/alice/{victim['id']}", json={"content": grown})
    assert response.status_code == 200
    after = head(fake)["pages"]
    assert len(after) == len(before) + 1  # the first page was within 6 KB of its limit
    assert sum(p["count"] for p in after) == sum(p["count"] for p in before)
    for key in keys(fake, "page:"):
        value, _ = fake.data[STORE][key]
        assert json_size(value) < 1024 * 1024
    listed = await list_all(client)
    assert [m["id"] for m in listed] == [m["id"] for m in reversed(created)]
    assert next(m for m in listed if m["id"] == victim["id"])["content"] == grown


async def test_a_patch_or_delete_of_a_missing_memory_writes_nothing(
    client: httpx.AsyncClient, fake: FakeDaprSidecar
) -> None:
    missing = "6f1c2e9a-8a4b-4c1d-9e2f-0a1b2c3d4e5f"
    assert (await client.patch(f"/memories/zoe/{missing}", json={"tags": ["x"]})).status_code == 404
    assert (await client.delete(f"/memories/zoe/{missing}")).status_code == 404
    assert keys(fake, "") == []


def _float_item(vector: np.ndarray, model: str = "all-MiniLM-L6-v2") -> dict[str, Any]:
    data = pybase64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return {"id": "m", "content": "x", "embedding": {"model": model, "vector": data}}


def test_page_items_keep_each_vector_within_half_a_quantisation_step() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((200, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [page_item(_float_item(v)) for v in vectors]
    assert all(set(i["embedding"]) == {"model", "q8", "scale"} for i in items)
    assert json_size(items[0]) < json_size(_float_item(vectors[0])) / 2.5
    steps = np.asarray([i["embedding"]["scale"] for i in items])[:, None]
    q8 = [np.frombuffer(pybase64.b64decode(i["embedding"]["q8"]), np.int8) for i in items]
    assert np.all(np.abs(np.stack(q8) * steps - vectors) <= steps / 2 * 1.0001)
    decoded = page_vectors([i["embedding"] for i in items], range(200), 384)  # unit rows
    assert np.allclose(np.linalg.norm(decoded, axis=1), 1, atol=1e-5)
    assert np.min(np.sum(decoded * vectors, axis=1)) > 0.9995  # cosine with the original
    assert page_item(items[0]) == items[0]  # already in page form: unchanged


@pytest.mark.parametrize(
    "item",
    [
        {"id": "m", "content": "x"},
        {"id": "m", "content": "x", "embedding": None},
        _float_item(np.full(384, np.nan)),
        {"id": "m", "content": "x", "embedding": {"model": "m", "vector": "abc"}},
    ],
)
def test_page_item_leaves_an_item_without_a_usable_vector_alone(item: dict[str, Any]) -> None:
    assert page_item(item) == item


def test_segments_decode_float_and_8_bit_vectors_side_by_side() -> None:
    """Pages written before 8-bit vectors keep float32 ones until rewritten: both decode."""

    class Model:
        model_name, dimension = "all-MiniLM-L6-v2", 384

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stored = [
        _float_item(vectors[0])["embedding"],
        page_item(_float_item(vectors[1]))["embedding"],
        _float_item(vectors[2], model="another-model")["embedding"],
        None,
    ]
    matrix, missing = decode_vectors(stored, Model())  # type: ignore[arg-type]
    assert missing == [2, 3]
    assert np.allclose(matrix[0], vectors[0])
    assert float(matrix[1] @ vectors[1]) > 0.9995
