"""Grouping concurrent calls into one (GroupedCalls)."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.concurrency import GroupedCalls


async def test_calls_made_while_one_runs_go_together_and_get_their_own_results() -> None:
    calls: list[list[int]] = []

    async def double(_: str, items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        return [2 * i for i in items]

    grouped: GroupedCalls[str, int, int] = GroupedCalls()
    results = await asyncio.gather(*(grouped("k", [i, i + 100], double) for i in range(20)))
    assert results == [[2 * i, 2 * (i + 100)] for i in range(20)]
    assert len(calls) == 1  # all arrived before the first call started: one call
    assert sorted(x for call in calls for x in call) == sorted(
        x for i in range(20) for x in (i, i + 100)
    )


async def test_a_group_is_capped_and_a_failure_reaches_every_caller_of_its_call() -> None:
    async def fail_on_seven(_: str, items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        if 7 in items:
            raise ValueError("seven")
        return items

    grouped: GroupedCalls[str, int, int] = GroupedCalls(max_items=3)
    calls = (grouped("k", [i], fail_on_seven) for i in range(10))
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = [i for i, r in enumerate(results) if isinstance(r, ValueError)]
    assert 7 in failed
    assert len(failed) <= 3  # only the callers that shared the failed call
    assert all(results[i] == [i] for i in range(10) if i not in failed)
    assert await grouped("k", [], fail_on_seven) == []


async def test_keys_are_grouped_apart() -> None:
    seen: list[tuple[str, list[int]]] = []

    async def record(key: str, items: list[int]) -> list[int]:
        seen.append((key, items))
        return items

    grouped: GroupedCalls[str, int, int] = GroupedCalls()
    await asyncio.gather(
        grouped("a", [1], record), grouped("b", [2], record), grouped("a", [3], record)
    )
    assert sorted(seen) == [("a", [1, 3]), ("b", [2])]
    assert await grouped("a", [], record) == []


async def test_callers_left_waiting_when_the_drain_is_cancelled_are_told() -> None:
    started = asyncio.Event()

    async def slow(_: str, items: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(10)
        return items

    grouped: GroupedCalls[str, int, int] = GroupedCalls()
    first = asyncio.create_task(grouped("k", [1], slow))
    await started.wait()
    second = asyncio.create_task(grouped("k", [2], slow))
    await asyncio.sleep(0)
    grouped._draining["k"].cancel()
    with pytest.raises(RuntimeError):
        await first
    with pytest.raises(RuntimeError):
        await second
