"""ETag-guarded access to a Dapr state store through the sidecar's HTTP state API.

The HTTP API is used rather than the SDK's gRPC calls because the SDK's
``execute_state_transaction`` cannot set per-operation concurrency options, and a
transaction that creates a key must be able to say "first write wins" (see docs/architecture.md).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from sidecar.errors import ConcurrencyConflict, ETagMismatch, StateStoreUnavailable

T = TypeVar("T")

JSONValue = Any


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One key as read from the store: ``value`` is None (and ``etag`` None) when absent."""

    key: str
    value: JSONValue | None
    etag: str | None

    @property
    def exists(self) -> bool:
        return self.etag is not None


@dataclass(frozen=True, slots=True)
class StateOp:
    """One operation of a state transaction.

    ``etag=None`` on an upsert means "the key must not exist yet" (first-write); pass the
    ETag read earlier to update. ``metadata`` is per-operation (e.g. outbox CloudEvent fields).
    ``content_type`` is the request-level field (not metadata): the outbox publishes the value
    as JSON with it, while a ``contentType`` *metadata* entry would make state.redis run its
    RedisJSON script on servers without that module.
    """

    key: str
    operation: Literal["upsert", "delete"] = "upsert"
    value: JSONValue | None = None
    etag: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    #: ``last-write`` overwrites whatever is there (no ETag check at all).
    concurrency: Literal["first-write", "last-write"] = "first-write"

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "key": self.key,
            "options": {"concurrency": self.concurrency, "consistency": "strong"},
        }
        if self.operation == "upsert":
            request["value"] = self.value
        if self.etag is not None:
            request["etag"] = self.etag
        if self.metadata:
            request["metadata"] = self.metadata
        if self.content_type is not None:
            request["contentType"] = self.content_type
        return {"operation": self.operation, "request": request}


class StateStore:
    """A named Dapr state store reached through the app's own sidecar."""

    def __init__(self, http: httpx.AsyncClient, store_name: str) -> None:
        self._http = http
        self.store_name = store_name
        self._base = f"/v1.0/state/{store_name}"

    async def get(self, key: str) -> StateEntry:
        response = await self._request(
            "GET", f"{self._base}/{key}", params={"consistency": "strong"}
        )
        if response.status_code == httpx.codes.NO_CONTENT or not response.content:
            return StateEntry(key=key, value=None, etag=None)
        return StateEntry(
            key=key, value=orjson.loads(response.content), etag=response.headers.get("etag")
        )

    async def get_many(self, keys: Sequence[str]) -> list[StateEntry]:
        """Read several keys in one call, in the order given."""
        if not keys:
            return []
        response = await self._request(
            "POST", f"{self._base}/bulk", json={"keys": list(keys), "parallelism": 8}
        )
        by_key = {item["key"]: item for item in orjson.loads(response.content)}
        entries = []
        for key in keys:
            item = by_key.get(key, {})
            if item.get("error"):
                raise StateStoreUnavailable(f"reading {key!r} failed: {item['error']}")
            etag = item.get("etag") or None
            entries.append(StateEntry(key=key, value=item.get("data") if etag else None, etag=etag))
        return entries

    async def save(
        self,
        key: str,
        value: JSONValue,
        *,
        etag: str | None,
        metadata: dict[str, str] | None = None,
        first_write: bool = True,
    ) -> None:
        """Write one key, first-write-wins: ``etag=None`` only succeeds if the key is absent.
        With ``first_write=False`` (and no ETag) it overwrites whatever is there.

        A plain save, not a transaction: it never triggers a transactional outbox."""
        item = StateOp(
            key=key,
            value=value,
            etag=etag,
            metadata=metadata or {},
            concurrency="first-write" if first_write else "last-write",
        ).to_request()
        await self._request("POST", self._base, json=[item["request"]])

    async def delete(self, key: str, *, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag else None
        await self._request(
            "DELETE", f"{self._base}/{key}", params={"concurrency": "first-write"}, headers=headers
        )

    async def transact(
        self, ops: Sequence[StateOp], *, metadata: dict[str, str] | None = None
    ) -> None:
        """Apply every operation or none (raises ETagMismatch when any ETag check fails)."""
        body: dict[str, Any] = {"operations": [op.to_request() for op in ops]}
        if metadata:
            body["metadata"] = metadata
        await self._request("POST", f"{self._base}/transaction", json=body)

    async def _request(
        self, method: str, url: str, *, json: Any = None, **kwargs: Any
    ) -> httpx.Response:
        """One call to the sidecar's state API; JSON bodies are encoded with orjson (several
        times faster than the standard library on the large page documents)."""
        if json is not None:
            kwargs["content"] = orjson.dumps(json)
            kwargs["headers"] = {
                **(kwargs.get("headers") or {}),
                "content-type": "application/json",
            }
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise StateStoreUnavailable(
                f"state store {self.store_name!r}: sidecar unreachable ({exc!r})"
            ) from exc
        if response.is_success:
            return response
        raise _state_error(self.store_name, response)


def _state_error(store_name: str, response: httpx.Response) -> Exception:
    """Map a daprd state API error (docs/dapr-notes §2) to the sidecar layer's errors."""
    try:
        body = response.json()
        message = str(body.get("message", "")) if isinstance(body, dict) else response.text
    except (json.JSONDecodeError, UnicodeDecodeError):
        message = response.text
    if response.status_code == httpx.codes.CONFLICT or _is_etag_mismatch(message):
        return ETagMismatch(message)
    return StateStoreUnavailable(
        f"state store {store_name!r} answered {response.status_code}: {message[:300]}"
    )


def _is_etag_mismatch(message: str) -> bool:
    """Whether a daprd error message reports a failed concurrency check.

    Save and delete report an ETag mismatch as 409. A transaction reports every failure as 500
    ERR_STATE_TRANSACTION with the store's own words: state.sqlite says "possible etag
    mismatch"; state.redis's Lua script says "user_script:N: failed to set key <key>", which it
    also says for a first-write insert of a key that exists (even outside transactions, where
    daprd then answers 500, not 409). Both are checked against real daprd in tests/integration.
    """
    lowered = message.lower()
    return "etag mismatch" in lowered or (
        "user_script" in lowered and "failed to set key" in lowered
    )


async def retry_on_conflict(
    attempt: Callable[[], Awaitable[T]],
    *,
    attempts: int = 8,
    max_wait_seconds: float = 0.25,
) -> T:
    """Run a read-modify-write ``attempt`` again after each ETag mismatch, with jittered
    exponential back-off; raise ConcurrencyConflict once ``attempts`` are used up."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(ETagMismatch),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.01, max=max_wait_seconds),
        reraise=True,
    )
    try:
        async for try_ in retrying:
            with try_:
                return await attempt()
    except ETagMismatch as exc:
        raise ConcurrencyConflict(f"gave up after {attempts} concurrent-update retries") from exc
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
