"""Sessions at scale: a turn, history pages and the session list, by size, through the stack.

    PYTHONPATH=. uv run python bench/sessions_bench.py [--n 50]

Starts the embedded stack (sqlite + Valkey, real daprd, security on) on its own ports. For
each size, one session is seeded with that many turns (two messages each) and one user with
that many sessions, written straight into chat's store in the paged layout (docs/chat.md,
plain saves: no events). Then, sequentially through chat's public API: a turn on the long
session (``POST /chat``, offline model: the whole turn, memory recall through Dapr included),
the newest and the oldest page of its history (50 messages), and the newest page of the long
session list (50 sessions). Baseline, same run: chat's ``/healthz``. Each figure is also given
as a multiple of the same figure at the smallest size: "the same at turn 10 and at turn
10,000". Results go to bench/results/sessions.json and the section of docs/benchmarks.md
between its sessions-bench markers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.memory_bench import latency_cell, percentile, replace_section, write_results
from chat.data.sessions import (
    SESSION_PAGES,
    SessionListHead,
    history_key,
    seal_messages,
    session_key,
    sessions_key,
)
from chat.models.sessions import HistoryMessage, SessionHead, SessionSummary
from tests.integration.stack import BENCH_PORTS, Stack, running_stack

SIZES = [10, 1000, 10000]
START, END = "<!-- sessions-bench:start -->", "<!-- sessions-bench:end -->"


def stats(samples: list[float], base: float | None = None) -> dict[str, float]:
    result = {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
    }
    if base:
        result["p50_vs_baseline"] = round(result["p50_ms"] / base, 2)
    return result


async def save_all(stack: Stack, items: list[tuple[str, Any]]) -> None:
    """Plain saves through chat's sidecar, in requests under daprd's 4 MiB body limit."""
    url = f"{stack.sidecar(stack.ports.chat)}/v1.0/state/chat-state"
    async with httpx.AsyncClient(headers=stack.auth, timeout=300) as http:
        chunk: list[dict[str, Any]] = []
        size = 0
        for key, value in [*items, ("", None)]:
            bytes_ = len(str(value))
            if chunk and (key == "" or size + bytes_ > 2 * 1024 * 1024):
                response = await http.post(url, json=chunk)
                if not response.is_success:
                    raise RuntimeError(f"seeding failed: {response.status_code} {response.text}")
                chunk, size = [], 0
            if key:
                chunk.append({"key": key, "value": value})
                size += bytes_


async def seed_session(stack: Stack, user: str, turns: int) -> str:
    """A session of ``turns`` turns for ``user``, listed, in the paged layout."""
    session_id = str(uuid.uuid4())
    start = datetime.now(UTC) - timedelta(days=30)
    messages = [
        HistoryMessage(
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {i}: " + ("what about trains?" if i % 2 == 0 else "Trains are fine."),
            timestamp=start + timedelta(seconds=i),
            turn_id=f"t{i // 2}",
        )
        for i in range(2 * turns)
    ]
    pages = seal_messages(messages)
    tail: list[dict[str, Any]] = []
    if len(pages[-1]) < 64:
        tail = pages.pop()
    head = SessionHead(
        session_id=session_id, user_id=user, created_at=start, title="what about trains?",
        message_count=len(messages), last_turn_id=messages[-1].turn_id,
        page_counts=[len(p) for p in pages], tail=[HistoryMessage.model_validate(m) for m in tail],
    )  # fmt: skip
    summary = SessionSummary(
        session_id=session_id, created_at=start, title=head.title, last_activity=start,
        message_count=len(messages),
    )  # fmt: skip
    listing = SessionListHead(user_id=user, count=1, tail=[summary])
    items: list[tuple[str, Any]] = [
        (history_key(user, session_id, no), {"messages": page}) for no, page in enumerate(pages)
    ]
    items += [
        (session_key(user, session_id), head.model_dump(mode="json")),
        (sessions_key(user), listing.model_dump(mode="json")),
    ]
    await save_all(stack, items)
    return session_id


async def seed_list(stack: Stack, user: str, sessions: int) -> None:
    """A user with ``sessions`` sessions in the paged list (their heads are not needed)."""
    start = datetime.now(UTC) - timedelta(days=30)
    summaries = [
        SessionSummary(
            session_id=str(uuid.uuid4()), created_at=start + timedelta(milliseconds=i),
            title=f"session {i}", last_activity=start + timedelta(milliseconds=i),
            message_count=2 * (i % 40),
        ).model_dump(mode="json")
        for i in range(sessions)
    ]  # fmt: skip
    change, left = SESSION_PAGES.seal(user, summaries, pages=[], next_page=0)
    head = SessionListHead(
        user_id=user, count=sessions, next_page=change.next_page, pages=change.pages,
        tail=[SessionSummary.model_validate(s) for s in left],
    )  # fmt: skip
    items = [(SESSION_PAGES.save_key(p), p) for p in change.saves]
    items.append((sessions_key(user), head.model_dump(mode="json")))
    await save_all(stack, items)


async def timed(call: Callable[[], Awaitable[httpx.Response]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        response = await call()
        response.raise_for_status()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def measure(stack: Stack, n: int) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}}
    async with httpx.AsyncClient(base_url=stack.app_url(stack.ports.chat), timeout=60) as chat:
        baseline = await timed(lambda: chat.get("/healthz"), n)
        base = statistics.median(baseline)
        results["baseline_healthz"] = stats(baseline)
        for size in SIZES:
            user = f"bench-{size}-{uuid.uuid4().hex[:6]}"
            session_id = await seed_session(stack, user, size)
            lister = f"lister-{size}-{uuid.uuid4().hex[:6]}"
            await seed_list(stack, lister, size)
            history = f"/users/{user}/sessions/{session_id}/history"
            counter = iter(range(10**6))

            def turn(
                user: str = user, session_id: str = session_id, counter: Any = counter
            ) -> Awaitable[httpx.Response]:
                body = {"user_id": user, "session_id": session_id, "message": f"hi {next(counter)}"}
                return chat.post("/chat", json=body)

            figures = {
                "turn": stats(await timed(turn, n), base),
                "history_newest_50": stats(
                    await timed(
                        lambda h=history: chat.get(h, params={"limit": 50, "order": "newest"}), n
                    ),
                    base,
                ),
                "history_oldest_50": stats(
                    await timed(lambda h=history: chat.get(h, params={"limit": 50}), n), base
                ),
                "list_newest_50": stats(
                    await timed(
                        lambda u=lister: chat.get(f"/users/{u}/sessions", params={"limit": 50}), n
                    ),
                    base,
                ),
            }
            results["sizes"][str(size)] = figures
            print({size: figures}, flush=True)
    return results


def render_markdown(results: dict[str, Any]) -> str:
    sizes = list(results["sizes"])
    first = results["sizes"][sizes[0]]
    rows = [
        ("a turn (`POST /chat`) on a session of that many turns", "turn"),
        ("its history, newest 50 messages", "history_newest_50"),
        ("its history, oldest 50 messages", "history_oldest_50"),
        ("the session list of a user with that many sessions, newest 50", "list_newest_50"),
    ]
    base = results["baseline_healthz"]
    lines = [
        START,
        f"Run of {results['when'][:10]}. Baseline: chat's `/healthz`, **p50 {base['p50_ms']} ms**."
        f" Each cell: p50 / p99 in ms, then the p50 as a multiple of the baseline and the p99 as "
        f"a multiple of the same figure at {int(sizes[0]):,}.",
        "",
        "| | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for label, key in rows:
        cells = []
        for size in sizes:
            f = results["sizes"][size][key]
            cells.append(latency_cell(f, f["p99_ms"] / first[key]["p99_ms"]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50, help="sequential calls per figure")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sessions-bench-"))
    with running_stack("embedded", workdir, ports=BENCH_PORTS, replicas=1) as stack:
        results = asyncio.run(measure(stack, args.n))
    write_results("sessions", results)
    replace_section(render_markdown(results), START, END)


if __name__ == "__main__":
    main()
