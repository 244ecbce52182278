from __future__ import annotations

import httpx
import pytest

from sidecar.errors import ConcurrencyConflict, ETagMismatch, StateStoreUnavailable
from sidecar.state import StateOp, StateStore, retry_on_conflict
from sidecar.testing import FakeDaprSidecar

STORE = "memory-state"


@pytest.fixture
def fake() -> FakeDaprSidecar:
    return FakeDaprSidecar(stores={STORE})


@pytest.fixture
async def store(fake: FakeDaprSidecar) -> StateStore:
    return StateStore(fake.client(), STORE)


async def test_get_missing_key_is_absent(store: StateStore) -> None:
    entry = await store.get("nope")
    assert entry.value is None
    assert entry.etag is None
    assert not entry.exists


async def test_save_then_get_returns_value_and_etag(store: StateStore) -> None:
    await store.save("k", {"a": 1}, etag=None)
    entry = await store.get("k")
    assert entry.value == {"a": 1}
    assert entry.etag


async def test_first_write_refuses_to_overwrite_without_etag(store: StateStore) -> None:
    await store.save("k", {"a": 1}, etag=None)
    with pytest.raises(ETagMismatch):
        await store.save("k", {"a": 2}, etag=None)
    assert (await store.get("k")).value == {"a": 1}


async def test_stale_etag_is_a_mismatch(store: StateStore) -> None:
    await store.save("k", 1, etag=None)
    first = await store.get("k")
    await store.save("k", 2, etag=first.etag)
    with pytest.raises(ETagMismatch):
        await store.save("k", 3, etag=first.etag)
    assert (await store.get("k")).value == 2


async def test_transaction_is_all_or_nothing(fake: FakeDaprSidecar, store: StateStore) -> None:
    await store.save("index", ["a"], etag=None)
    with pytest.raises(ETagMismatch):
        await store.transact(
            [StateOp(key="new", value=1), StateOp(key="index", value=["a", "b"], etag="stale")]
        )
    assert fake.value(STORE, "new") is None
    assert fake.value(STORE, "index") == ["a"]


async def test_get_many_keeps_order_and_reports_missing(store: StateStore) -> None:
    await store.save("b", 2, etag=None)
    await store.save("a", 1, etag=None)
    entries = await store.get_many(["a", "missing", "b"])
    assert [e.value for e in entries] == [1, None, 2]
    assert entries[1].etag is None


async def test_delete_with_stale_etag_is_a_mismatch(store: StateStore) -> None:
    await store.save("k", 1, etag=None)
    with pytest.raises(ETagMismatch):
        await store.delete("k", etag="stale")
    await store.delete("k", etag=(await store.get("k")).etag)
    assert not (await store.get("k")).exists


async def test_store_failure_is_unavailable(fake: FakeDaprSidecar, store: StateStore) -> None:
    fake.fail_next_status = 500
    with pytest.raises(StateStoreUnavailable, match="answered 500"):
        await store.get("k")


async def test_unreachable_sidecar_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://x")
    with pytest.raises(StateStoreUnavailable, match="unreachable"):
        await StateStore(client, STORE).get("k")


async def test_unknown_store_is_unavailable_not_a_crash(fake: FakeDaprSidecar) -> None:
    with pytest.raises(StateStoreUnavailable, match="400"):
        await StateStore(fake.client(), "other").get("k")


async def test_retry_on_conflict_rereads_after_a_concurrent_writer(
    fake: FakeDaprSidecar, store: StateStore
) -> None:
    await store.save("counter", 0, etag=None)
    injected = []

    def concurrent_writer(_: str, keys: list[str]) -> None:
        if not injected:  # one other writer sneaks in before our first commit
            injected.append(True)
            fake.put(STORE, "counter", 100)

    fake.before_write = concurrent_writer

    async def increment() -> int:
        entry = await store.get("counter")
        await store.save("counter", entry.value + 1, etag=entry.etag)
        return int(entry.value) + 1

    assert await retry_on_conflict(increment) == 101
    assert fake.value(STORE, "counter") == 101


async def test_retry_on_conflict_gives_up_with_a_conflict() -> None:
    calls = 0

    async def always_collides() -> None:
        nonlocal calls
        calls += 1
        raise ETagMismatch("possible etag mismatch")

    with pytest.raises(ConcurrencyConflict):
        await retry_on_conflict(always_collides, attempts=3, max_wait_seconds=0.001)
    assert calls == 3


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (409, "failed saving state in state store s: possible etag mismatch", ETagMismatch),
        (500, "error while executing state transaction: possible etag mismatch", ETagMismatch),
        (
            500,
            "error while executing state transaction: ERR user_script:14: failed to set key "
            "memory||index:u script: d908b9, on @user_script:14.",
            ETagMismatch,
        ),
        (500, "failed to set key memory||k: dial tcp 127.0.0.1:6379: connection refused", None),
        (500, "fail to get k from state store s: database is locked", None),
    ],
)
async def test_daprd_errors_are_classified_like_each_store_words_them(
    status: int, message: str, expected: type[Exception] | None
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"errorCode": "ERR_X", "message": message})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://x")
    with pytest.raises(expected or StateStoreUnavailable):
        await StateStore(client, STORE).transact([StateOp(key="k", value=1)])
