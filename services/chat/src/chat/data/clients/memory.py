"""The memory service, reached only through Dapr service invocation via chat's own sidecar."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from circuitbreaker import CircuitBreaker
from pydantic import BaseModel, ValidationError

from chat.models.memory import (
    MemoryAdded,
    MemoryHistory,
    MemoryList,
    MemoryView,
    SearchHit,
    SearchResults,
)
from sidecar.contracts import MEMORY_OPERATION_HEADER
from sidecar.errors import InvocationFailed


def memory_down(exc_type: type[BaseException], exc: BaseException) -> bool:
    """What counts against memory's breaker: no answer (unreachable, timed out) or a 5xx.
    A 4xx is an answer, about that one request."""
    if not isinstance(exc, InvocationFailed):
        return False
    return exc.status_code is None or exc.status_code >= 500


def memory_breaker(*, failures: int, recovery_seconds: float) -> CircuitBreaker:
    """One breaker per chat process for the whole memory service (the ``circuitbreaker``
    package): after ``failures`` calls in a row that found memory down, calls fail at once
    for ``recovery_seconds``; then one call is let through, and its success closes it.

    It is the only breaker on calls to memory: daprd's are kept per *endpoint*, app id and
    method path (dapr ``pkg/resiliency/resiliency.go``, ``EndpointPolicy``), and count every
    4xx as a failure, so the Resiliency sets none on the memory target
    (docs/dapr-runtime.md#a-4xx-counts-as-a-breaker-failure)."""
    return CircuitBreaker(
        failure_threshold=failures,
        recovery_timeout=recovery_seconds,
        expected_exception=memory_down,
        name="memory",
    )


M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], data: Any, call: str) -> M:
    """``data`` read as ``model``; raises InvocationFailed when memory answered something else
    (a deployment fault: chat answers 503, never 500)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvocationFailed(
            f"memory answered {call} with an unexpected body: {exc.error_count()} errors"
        ) from exc


class MemoryClient:
    """Calls memory's API as ``<sidecar>/<path>`` with the ``dapr-app-id`` header, and the end
    user's bearer token when there is one (AUTH_MODE=jwt): memory acts only for the user the
    token is for (sidecar.auth), so a call for another user fails with 403."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_id: str,
        timeout_seconds: float,
        end_user_token: str | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._http = http
        self._breaker = breaker
        self._headers = {"dapr-app-id": app_id}
        if end_user_token is not None:
            self._headers["authorization"] = f"Bearer {end_user_token}"
        self._timeout = httpx.Timeout(timeout_seconds)

    async def list_memories(
        self, user_id: str, *, limit: int = 50, kind: str | None = None
    ) -> MemoryList:
        params: dict[str, str | int] = {"limit": limit}
        if kind is not None:
            params["kind"] = kind
        data = await self._call("GET", f"/memories/{quote(user_id, safe='')}", params=params)
        return _parsed(MemoryList, data, "GET /memories")

    async def memory_history(self, user_id: str, memory_id: str) -> MemoryHistory | None:
        """The versions of one memory's content (oldest first), or None if memory has no
        such memory for the user. Raises InvocationFailed."""
        path = f"/memories/{quote(user_id, safe='')}/{quote(memory_id, safe='')}/history"
        try:
            data = await self._call("GET", path)
        except InvocationFailed as exc:
            if exc.status_code == 404:
                return None
            raise
        return _parsed(MemoryHistory, data, "GET history")

    async def add_memory(
        self,
        user_id: str,
        *,
        kind: str,
        content: str,
        tags: list[str],
        idempotency_key: str,
        source: dict[str, str] | None = None,
    ) -> MemoryAdded:
        """Create a memory (``source``: where it came from, the API by default) and say what
        memory did with it (``Memory-Operation``: ``add``, ``noop`` or ``update``,
        docs/memory.md#consolidation). The key makes the call safe to retry (by the sidecar's
        resiliency policy too): memory stores at most one memory per key. Raises
        InvocationFailed (``status_code`` 409: the user's memory limit)."""
        body: dict[str, Any] = {"kind": kind, "content": content, "tags": tags}
        if source is not None:
            body["source"] = source
        response = await self._request(
            "POST",
            f"/memories/{quote(user_id, safe='')}",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return MemoryAdded(
            memory=_parsed(MemoryView, response.json(), "POST /memories"),
            operation=response.headers.get(MEMORY_OPERATION_HEADER, "add"),
        )

    async def delete_memory(self, user_id: str, memory_id: str) -> bool:
        """Delete one memory (announced as ``memory.deleted``); False if the user has no such
        memory. Raises InvocationFailed."""
        path = f"/memories/{quote(user_id, safe='')}/{quote(memory_id, safe='')}"
        try:
            await self._request("DELETE", path)
        except InvocationFailed as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    async def search(self, user_id: str, query: str, *, k: int) -> list[SearchHit]:
        path = f"/memories/{quote(user_id, safe='')}/search"
        data = await self._call("GET", path, params={"q": query[:1000], "k": k})
        return _parsed(SearchResults, data, "GET search").hits

    async def ping(self) -> None:
        """Reach memory's liveness endpoint through both sidecars."""
        await self._call("GET", "/healthz")

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The call's JSON answer. Raises InvocationFailed as ``_request`` does."""
        return (await self._request(method, path, **kwargs)).json()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The call's successful response. Raises InvocationFailed: memory unreachable, slow,
        or answering an error, or its breaker open (then without calling)."""
        if self._breaker is None:
            return await self._send(method, path, **kwargs)
        if self._breaker.opened:
            raise InvocationFailed(
                f"memory is unavailable (circuit open for {self._breaker.open_remaining:.0f} s "
                f"more): {method} {path} not sent"
            )
        response: httpx.Response = await self._breaker.call_async(
            self._send, method, path, **kwargs
        )
        return response

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            headers = {**self._headers, **kwargs.pop("headers", {})}
            response = await self._http.request(
                method, path, headers=headers, timeout=self._timeout, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise InvocationFailed(f"memory did not answer {method} {path} in time") from exc
        except httpx.HTTPError as exc:
            raise InvocationFailed(f"memory unreachable for {method} {path}: {exc!r}") from exc
        if not response.is_success:
            # 4xx here means chat sent something memory refuses (or Dapr denied the call):
            # a fault of this deployment, not of the end user's request.
            status = response.status_code
            raise InvocationFailed(
                f"memory answered {method} {path} with {status}: {response.text[:200]}",
                status_code=status,
            )
        return response
