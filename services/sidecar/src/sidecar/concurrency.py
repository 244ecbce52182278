"""In-process coordination: per-key locks, and grouping concurrent calls into one."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Key = TypeVar("Key")
Item = TypeVar("Item")
R = TypeVar("R")


class KeyedLocks:
    """One asyncio lock per key (e.g. per user), created on demand and dropped when unused."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


@dataclass
class _Waiting(Generic[Item, R]):
    items: list[Item]
    done: asyncio.Future[list[R]]


@dataclass
class GroupedCalls(Generic[Key, Item, R]):
    """Group commit per key: calls for a key that arrive while one for it is running wait, then
    run together as one call of all their items (``run(key, items)`` answers one result per
    item, in order). For work whose cost is mostly per call, not per item (a model's forward
    pass, a transaction): a burst costs a few calls. A call that raises fails every caller it
    carried; callers left waiting when the drain is cancelled are failed too."""

    max_items: int = 256
    _waiting: dict[Key, list[_Waiting[Item, R]]] = field(default_factory=dict)
    _draining: dict[Key, asyncio.Task[None]] = field(default_factory=dict)

    async def __call__(
        self, key: Key, items: list[Item], run: Callable[[Key, list[Item]], Awaitable[list[R]]]
    ) -> list[R]:
        """``items``' results; ``run`` is used when this call starts the key's drain."""
        if not items:
            return []
        done: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(_Waiting(items, done))
        if key not in self._draining:
            self._draining[key] = asyncio.create_task(self._drain(key, run))
        return await asyncio.shield(done)

    async def _drain(self, key: Key, run: Callable[[Key, list[Item]], Awaitable[list[R]]]) -> None:
        try:
            while waiting := self._waiting.pop(key, []):
                group: list[_Waiting[Item, R]] = []
                size = 0
                while waiting and (not group or size + len(waiting[0].items) <= self.max_items):
                    group.append(waiting.pop(0))
                    size += len(group[-1].items)
                if waiting:  # over the cap: first in the next round
                    self._waiting[key] = [*waiting, *self._waiting.get(key, [])]
                await self._call(key, group, run)
        finally:
            del self._draining[key]
            _fail(self._waiting.pop(key, []), RuntimeError("the grouped call was cancelled"))

    async def _call(
        self,
        key: Key,
        group: list[_Waiting[Item, R]],
        run: Callable[[Key, list[Item]], Awaitable[list[R]]],
    ) -> None:
        try:
            results = await run(key, [item for waiting in group for item in waiting.items])
        except BaseException as exc:
            _fail(group, exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for waiting in group:
            end = start + len(waiting.items)
            if not waiting.done.done():
                waiting.done.set_result(results[start:end])
            start = end


def _fail(waiting: list[_Waiting[Item, R]], exc: Exception) -> None:
    for one in waiting:
        if not one.done.done():
            one.done.set_exception(exc)
