"""Memory service latency and throughput through the real stack (both daprd sidecars).

    PYTHONPATH=. uv run python bench/memory_bench.py [--sizes 1000 10000] [--quick]

Starts the embedded stack (sqlite + Valkey, real daprd) on its own ports, seeds one user per
size (the memories, with embeddings, written in batches through memory's own repository and
sidecar), then calls memory the way chat does, through chat's sidecar:
create, list (50 newest), search (k=5; the first, cold search reported apart), sequentially for
latency and with 16 concurrent callers for throughput. The baseline, measured in the same run,
is memory's /healthz invoked through the same two sidecars: the ratio says what each operation
costs over bare Dapr service invocation. Results go to bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from memory.data.repository import MemoryRepository
from memory.models.memory import MemoryKind, MemorySource, StoredMemory
from memory.services.embedding import load_default_embedder
from memory.services.search import embed_contents
from sidecar.state import StateStore
from tests.integration.stack import BENCH_PORTS, Stack, running_stack

MEMORY = {"dapr-app-id": "memory"}
TOPICS = [
    "coffee",
    "hiking",
    "the violin",
    "Thai food",
    "night trains",
    "chess",
    "gardening",
    "jazz",
    "marathons",
    "pottery",
    "astronomy",
    "sailing",
    "baking",
    "poetry",
]
VERBS = ["likes", "is learning", "talked about", "wants to try", "gave up", "recommends"]


def synthetic(i: int) -> str:
    return f"The user {VERBS[i % len(VERBS)]} {TOPICS[(i * 7) % len(TOPICS)]} (note {i})"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples_ms: list[float], baseline_p50: float | None = None) -> dict[str, float]:
    ok = [s for s in samples_ms if s == s]  # NaN marks a failed call
    p50 = statistics.median(ok) if ok else float("nan")
    result = {
        "n": len(samples_ms),
        "failed": len(samples_ms) - len(ok),
        "p50_ms": round(p50, 2),
        "p99_ms": round(percentile(ok, 0.99), 2) if ok else float("nan"),
    }
    if baseline_p50:
        result["p50_vs_baseline"] = round(p50 / baseline_p50, 2)
    return result


async def seed(stack: Stack, user: str, count: int) -> float:
    embedder = load_default_embedder()
    started = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.memory), headers=stack.auth, timeout=120
    ) as http:
        repository = MemoryRepository(
            StateStore(http, "memory-state"),
            max_per_user=10 * count,
            tombstone_ttl_seconds=3600,
        )
        base = datetime.now(UTC) - timedelta(days=30)
        for start in range(0, count, 250):
            contents = [synthetic(i) for i in range(start, min(count, start + 250))]
            embeddings = embed_contents(embedder, contents)
            batch = [
                StoredMemory(
                    id=uuid.uuid4(),
                    user_id=user,
                    kind=MemoryKind.semantic,
                    content=c,
                    tags=["bench"],
                    source=MemorySource(),
                    created_at=base + timedelta(seconds=start + j),
                    updated_at=base,
                    version=1,
                    embedding=e,
                )
                for j, (c, e) in enumerate(zip(contents, embeddings, strict=True))
            ]
            await repository.add(user, batch)
    return time.perf_counter() - started


async def timed(call: Callable[[], Awaitable[httpx.Response]], n: int) -> list[float]:
    """Latencies (ms) of ``n`` sequential calls; a failed call is recorded as NaN."""
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        response = await call()
        elapsed = (time.perf_counter() - began) * 1000
        samples.append(elapsed if response.is_success else float("nan"))
    return samples


async def throughput(
    call: Callable[[], Awaitable[httpx.Response]], total: int, concurrency: int
) -> dict[str, float]:
    """Requests per second with ``concurrency`` callers, and how many did not succeed."""
    remaining, failed = total, 0

    async def worker() -> None:
        nonlocal remaining, failed
        while remaining > 0:
            remaining -= 1
            if not (await call()).is_success:
                failed += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"rps": round(total / (time.perf_counter() - began), 1), "failed": failed}


async def measure(stack: Stack, sizes: list[int], n: int) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}}
    async with httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.chat), headers={**MEMORY, **stack.auth}, timeout=120
    ) as memory:
        baseline = await timed(lambda: memory.get("/healthz"), n)
        base_p50 = statistics.median(baseline)
        results["baseline_invoke_healthz"] = summary(baseline)
        results["baseline_throughput_rps"] = await throughput(
            lambda: memory.get("/healthz"), 4 * n, 16
        )
        for size in sizes:
            user = f"bench-{size}-{uuid.uuid4().hex[:6]}"
            seconds = await seed(stack, user, size)
            results["sizes"][str(size)] = {"seed_seconds": round(seconds, 1)} | await measure_user(
                memory, stack.app_url(stack.ports.memory), stack.app_auth, user, base_p50, n
            )
            print(json.dumps({str(size): results["sizes"][str(size)]}), flush=True)
    return results


async def measure_user(
    memory: httpx.AsyncClient,
    app_url: str,
    app_auth: dict[str, str],
    user: str,
    base_p50: float,
    n: int,
) -> dict[str, Any]:
    counter = iter(range(10**9))

    def search() -> Awaitable[httpx.Response]:
        query = f"outdoor sports {next(counter) % 7}"
        return memory.get(f"/memories/{user}/search", params={"q": query, "k": 5})

    def listing() -> Awaitable[httpx.Response]:
        return memory.get(f"/memories/{user}", params={"limit": 50})

    def create() -> Awaitable[httpx.Response]:
        # As chat creates: with an Idempotency-Key, so the sidecar's retries cannot duplicate.
        i = next(counter)
        body = {"kind": "episodic", "content": synthetic(i)}
        headers = {"Idempotency-Key": f"bench-{user}-{i}"}
        return memory.post(f"/memories/{user}", json=body, headers=headers)

    # The first search builds the user's corpus (every memory and vector read once). Measured
    # straight at the app: through Dapr, the 2 s resiliency timeout for memory calls applies.
    first = time.perf_counter()
    async with httpx.AsyncClient(base_url=app_url, headers=app_auth, timeout=120) as direct:
        (
            await direct.get(f"/memories/{user}/search", params={"q": "music", "k": 5})
        ).raise_for_status()
    cold_search = (time.perf_counter() - first) * 1000
    return {
        "list": summary(await timed(listing, n), base_p50),
        "search_cold_direct_ms": round(cold_search, 1),
        "search": summary(await timed(search, n), base_p50),
        "create": summary(await timed(create, n), base_p50),
        # Searches interleaved with creates: each create changes the index, so each search
        # refreshes its cached corpus (loading only the new memory).
        "search_after_each_create": summary(await timed_pairs(create, search, n // 2), base_p50),
        "throughput_rps_c16": {
            "list": await throughput(listing, 4 * n, 16),
            "search": await throughput(search, 2 * n, 16),
            "create": await throughput(create, 2 * n, 16),
        },
    }


async def timed_pairs(
    first: Callable[[], Awaitable[httpx.Response]],
    then: Callable[[], Awaitable[httpx.Response]],
    n: int,
) -> list[float]:
    """Latencies of ``then`` right after each ``first`` (e.g. a search after each write)."""
    samples = []
    for _ in range(n):
        await first()
        samples.extend(await timed(then, 1))
    return samples


def write_results(name: str, results: dict[str, Any]) -> None:
    """Stamp, save to bench/results/<name>.json and print the results of a benchmark run."""
    results["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--n", type=int, default=100, help="sequential calls per operation")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    env = {"MAX_MEMORIES_PER_USER": str(2 * max(args.sizes) + 10 * args.n)}
    with running_stack("embedded", workdir, env=env, ports=BENCH_PORTS, replicas=1) as stack:
        results = asyncio.run(measure(stack, args.sizes, args.n))
    write_results("memory", results)


if __name__ == "__main__":
    main()
