"""In-process coordination: per-key locks, and grouping concurrent calls into one."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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
class GroupedCalls(Generic[Item, R]):
    """Calls that arrive while one is running wait, then run together as one call of all their
    items (``run`` maps a list of items to one result each, in order). For work whose cost is
    mostly per call, not per item (a model's forward pass, a transaction): a burst costs a few
    calls. Exceptions reach every caller of the failed call."""

    run: Callable[[list[Item]], Awaitable[list[R]]]
    max_items: int = 256
    _waiting: list[_Waiting[Item, R]] = field(default_factory=list)
    _draining: asyncio.Task[None] | None = None

    async def __call__(self, items: list[Item]) -> list[R]:
        if not items:
            return []
        done: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(items, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group: list[_Waiting[Item, R]] = []
                size = 0
                while self._waiting and (
                    not group or size + len(self._waiting[0].items) <= self.max_items
                ):
                    waiting = self._waiting.pop(0)
                    group.append(waiting)
                    size += len(waiting.items)
                await self._call(group)
        finally:
            self._draining = None
            for waiting in self._waiting:  # cancelled: nobody waits for an answer that never comes
                if not waiting.done.done():
                    waiting.done.set_exception(RuntimeError("the grouped call was cancelled"))
            self._waiting.clear()

    async def _call(self, group: list[_Waiting[Item, R]]) -> None:
        try:
            results = await self.run([item for waiting in group for item in waiting.items])
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else RuntimeError("cancelled")
            for waiting in group:
                if not waiting.done.done():
                    waiting.done.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for waiting in group:
            end = start + len(waiting.items)
            if not waiting.done.done():
                waiting.done.set_result(results[start:end])
            start = end
