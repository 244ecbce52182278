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
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from memory.data.layout import documents_for
from memory.models.memory import MemoryKind, MemorySource, StoredMemory
from memory.services.embedding import load_default_embedder
from memory.services.search import embed_contents
from tests.integration.stack import BENCH_PORTS, Stack, running_stack

MEMORY = {"dapr-app-id": "memory"}
DEFAULT_SIZES = [100, 1000, 10000, 100000]
#: Untimed calls of each read after memory's restart, before the timed ones.
WARMUP = 10
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


PHRASES = [f"The user {v} {t}" for v in VERBS for t in TOPICS]


async def seed(stack: Stack, user: str, count: int) -> tuple[float, list[str]]:
    """Write ``count`` memories for ``user`` straight into memory's store in the paged layout
    (plain saves: no outbox, so no event backlog disturbs what is measured next). Vectors are
    those of the 84 distinct phrases, embedded once; contents stay distinct."""
    embedder = load_default_embedder()
    vectors = dict(zip(PHRASES, embed_contents(embedder, PHRASES), strict=True))
    started = time.perf_counter()
    base = datetime.now(UTC) - timedelta(days=30)
    memories = [
        StoredMemory(
            id=uuid.uuid4(), user_id=user,
            kind=MemoryKind.semantic if i % 3 else MemoryKind.episodic,
            content=synthetic(i), tags=["bench", f"t{i % 3}"], source=MemorySource(),
            created_at=base + timedelta(milliseconds=i), updated_at=base, version=1,
            embedding=vectors[PHRASES[(i % len(VERBS)) * len(TOPICS) + (i * 7) % len(TOPICS)]],
        )
        for i in range(count)
    ]  # fmt: skip
    items = documents_for(user, memories)
    url = f"{stack.sidecar(stack.ports.memory)}/v1.0/state/memory-state"
    limit = asyncio.Semaphore(1)  # one SQLite writer: parallel writes only wait on its lock
    async with httpx.AsyncClient(headers=stack.auth, timeout=300) as http:

        async def save(chunk: list[tuple[str, Any]]) -> None:
            async with limit:
                body = [{"key": k, "value": v} for k, v in chunk]
                response = await http.post(url, json=body)
                if not response.is_success:
                    raise RuntimeError(f"seeding failed: {response.status_code} {response.text}")

        chunks: list[list[tuple[str, Any]]] = [[]]
        size = 0
        # Requests of 512 KB: each save must finish within the state store's resiliency
        # timeout (stateCall, 5 s), and 2 MB saves into a SQLite file of 100,000+ memories
        # came close (one timed out).
        for item in items:
            bytes_ = len(json.dumps(item[1]))
            if chunks[-1] and size + bytes_ > 512 * 1024:
                chunks.append([])
                size = 0
            chunks[-1].append(item)
            size += bytes_
        await asyncio.gather(*(save(c) for c in chunks))
    return time.perf_counter() - started, [str(m.id) for m in memories]


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


async def measure(stack: Stack, sizes: list[int], n: int, import_size: int) -> dict[str, Any]:
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
            seconds, ids = await seed(stack, user, size)
            figures = await measure_user(stack, memory, user, ids, base_p50, n)
            results["sizes"][str(size)] = {"seed_seconds": round(seconds, 1)} | figures
            print(json.dumps({str(size): results["sizes"][str(size)]}), flush=True)
        if import_size:
            results["import"] = await measure_import(stack, memory, import_size)
            print(json.dumps({"import": results["import"]}), flush=True)
    return results


async def measure_user(
    stack: Stack,
    memory: httpx.AsyncClient,
    user: str,
    ids: list[str],
    base_p50: float,
    n: int,
) -> dict[str, Any]:
    counter = iter(range(10**9))
    # Patches and deletes hit memories anywhere (sealed pages and the tail), never the same.
    shuffled = random.Random(7).sample(ids, len(ids))
    n_patch, n_delete = min(len(ids) // 2, n), min(len(ids) // 4, n)
    patched = iter(shuffled[:n_patch])
    doomed = iter(shuffled[n_patch : n_patch + n_delete])

    def search() -> Awaitable[httpx.Response]:
        query = f"outdoor sports {next(counter) % 7}"
        return memory.get(f"/memories/{user}/search", params={"q": query, "k": 5})

    def listing() -> Awaitable[httpx.Response]:
        return memory.get(f"/memories/{user}", params={"limit": 50})

    def filtered() -> Awaitable[httpx.Response]:
        # Seeded semantic memories carry t1 or t2: a third of them match.
        params: dict[str, str | int] = {"limit": 50, "kind": "semantic", "tag": "t1"}
        return memory.get(f"/memories/{user}", params=params)

    def create() -> Awaitable[httpx.Response]:
        # As chat creates: with an Idempotency-Key, so the sidecar's retries cannot duplicate.
        i = next(counter)
        body = {"kind": "episodic", "content": synthetic(i)}
        headers = {"Idempotency-Key": f"bench-{user}-{i}"}
        return memory.post(f"/memories/{user}", json=body, headers=headers)

    def create_fact() -> Awaitable[httpx.Response]:
        # A fact is consolidated with the user's nearest memories in the user's actor
        # (docs/memory.md#consolidation): the synthetic facts all read alike, so many are near.
        i = next(counter)
        body = {"kind": "semantic", "content": synthetic(i)}
        headers = {"Idempotency-Key": f"bench-fact-{user}-{i}"}
        return memory.post(f"/memories/{user}", json=body, headers=headers)

    def patch() -> Awaitable[httpx.Response]:
        return memory.patch(f"/memories/{user}/{next(patched)}", json={"tags": ["patched"]})

    def delete() -> Awaitable[httpx.Response]:
        return memory.delete(f"/memories/{user}/{next(doomed)}")

    # The first search after a restart reads every page once: restart memory, then time it
    # through both sidecars, as chat would meet it.
    for app in stack.replicas("memory"):
        stack.stop_app(app)
        stack.start_app(app)
    first = time.perf_counter()
    (await search()).raise_for_status()
    cold_search = (time.perf_counter() - first) * 1000
    # Then warm up, untimed, as a running service is: the restarted app's first calls open
    # connections (app to daprd, daprd to app, mTLS between the sidecars) and activate the
    # user's actor, which the cold figure above already shows.
    for call, times in ((listing, WARMUP), (filtered, WARMUP), (search, WARMUP), (create, 5)):
        for _ in range(times):
            (await call()).raise_for_status()
    return {
        "search_first_after_restart_ms": round(cold_search, 1),
        "list": summary(await timed(listing, n), base_p50),
        "list_filtered": summary(await timed(filtered, n), base_p50),
        "search": summary(await timed(search, n), base_p50),
        "create": summary(await timed(create, n), base_p50),
        "create_fact": summary(await timed(create_fact, n), base_p50),
        "patch": summary(await timed(patch, n_patch), base_p50),
        "delete": summary(await timed(delete, n_delete), base_p50),
        # Searches interleaved with creates: each create changes the head, so each search
        # refreshes the user's tail segment (loading only the new memory).
        "search_after_each_create": summary(await timed_pairs(create, search, n // 2), base_p50),
        "throughput_rps_c16": {
            "list": await throughput(listing, 4 * n, 16),
            "search": await throughput(search, 2 * n, 16),
            "create": await throughput(create, 2 * n, 16),
        },
    }


def stream_length(stack: Stack, topic: str) -> int:
    """Entries in the broker's stream for ``topic`` (pubsub.redis: one stream per topic)."""
    import valkey

    client = valkey.Valkey(host="127.0.0.1", port=stack.broker_port, socket_timeout=5)
    try:
        return int(client.xlen(topic))  # type: ignore[arg-type]
    finally:
        client.close()  # type: ignore[no-untyped-call]


async def measure_import(stack: Stack, memory: httpx.AsyncClient, count: int) -> dict[str, Any]:
    """``count`` memories through ``POST /memories/{user}:batch`` (500 per request, two
    requests at a time), and how long until their events were all on the topic."""
    user = f"bench-import-{uuid.uuid4().hex[:6]}"
    before = stream_length(stack, "memory-events")
    batches = [
        [{"kind": "semantic", "content": synthetic(i)} for i in range(s, min(count, s + 500))]
        for s in range(0, count, 500)
    ]
    limit = asyncio.Semaphore(2)
    began = time.perf_counter()

    async def send(items: list[dict[str, Any]]) -> int:
        async with limit:
            response = await memory.post(f"/memories/{user}:batch", json={"items": items})
            response.raise_for_status()
            return int(response.json()["created"])

    created = sum(await asyncio.gather(*(send(b) for b in batches)))
    stored = time.perf_counter() - began
    while stream_length(stack, "memory-events") - before < count:
        if time.perf_counter() - began > 900:
            break
        await asyncio.sleep(1)
    announced = time.perf_counter() - began
    return {
        "count": count,
        "created": created,
        "stored_seconds": round(stored, 1),
        "announced_seconds": round(announced, 1),
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


#: The targets of docs/benchmarks.md's memory table (issue "storage that scales"), in ms.
TARGETS_P99_MS = {"search": 50, "list": 50, "list_filtered": 50, "create": 100,
                  "create_fact": 200, "patch": 100, "delete": 100}  # fmt: skip
START, END = "<!-- memory-bench:start -->", "<!-- memory-bench:end -->"
X = "\N{MULTIPLICATION SIGN}"


def latency_cell(figures: dict[str, Any], scale: float) -> str:
    """One table cell: p50 / p99 (ms), the p50 over the baseline, the p99 over the smallest
    size's p99 (``scale``)."""
    f = figures
    return f"{f['p50_ms']} / {f['p99_ms']} ({f['p50_vs_baseline']}{X}, {scale:.2f}{X})"


def render_markdown(results: dict[str, Any]) -> str:
    """The memory section of docs/benchmarks.md for ``results``: the table per size with
    ratios against the baseline and against 100 memories, and a chart of p99 by size."""
    sizes = list(results["sizes"])
    base = results["baseline_invoke_healthz"]
    rows = [
        ("list (50 newest)", "list"),
        ("list (kind + tag filter)", "list_filtered"),
        ("search (k=5), warm", "search"),
        ("search right after a create", "search_after_each_create"),
        ("create", "create"),
        ("create a fact (consolidated)", "create_fact"),
        ("patch", "patch"),
        ("delete", "delete"),
    ]
    smallest = results["sizes"][sizes[0]]
    lines = [
        START,
        f"Run of {results['when'][:10]}. Baseline: memory's `/healthz` through the same two "
        f"sidecars, **p50 {base['p50_ms']} ms** (p99 {base['p99_ms']} ms). Each cell: p50 / p99 "
        f"in ms, then the p50 as a multiple of the baseline and the p99 as a multiple of the "
        f"same operation's p99 at {int(sizes[0]):,} memories.",
        "",
        "| operation | " + " | ".join(f"{int(s):,} memories" for s in sizes) + " | target (p99) |",
        "|---|" + "---|" * len(sizes) + "---|",
    ]
    for label, key in rows:
        cells = []
        for size in sizes:
            f = results["sizes"][size][key]
            cells.append(latency_cell(f, f["p99_ms"] / smallest[key]["p99_ms"]))
        target = TARGETS_P99_MS.get(key)
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {f'< {target} ms' if target else ''} |"
        )
    cold = [f"{results['sizes'][s]['search_first_after_restart_ms']:,.0f} ms" for s in sizes]
    lines.append("| first search after a restart | " + " | ".join(cold) + " | < 1 s at 10,000 |")
    for op in ("list", "search", "create"):
        cells = [
            "{rps} req/s, {failed} failed".format(**results["sizes"][s]["throughput_rps_c16"][op])
            for s in sizes
        ]
        lines.append(f"| 16 callers: {op} | " + " | ".join(cells) + f" | 0 failed, within 2{X} |")
    if "import" in results:
        imp = results["import"]
        lines += [
            "",
            f"Bulk import: {imp['count']:,} memories through `POST /memories/{{user}}:batch` "
            f"(500 per request, two requests at a time) stored in **{imp['stored_seconds']} s**, "
            f"all {imp['count']:,} `memory.created` events on the topic after "
            f"{imp['announced_seconds']} s.",
        ]
    labels = ", ".join(f'"{int(s):,}"' for s in sizes)
    lines += ["", "```mermaid", "xychart-beta", '    title "p99 latency (ms) by memories per user"',
              f"    x-axis [{labels}]", '    y-axis "ms"']  # fmt: skip
    for _, key in (r for r in rows if r[1] in ("list", "search", "create", "delete")):
        values = ", ".join(str(results["sizes"][s][key]["p99_ms"]) for s in sizes)
        lines.append(f"    line [{values}]")
    lines += ["```", "", "The lines, in order: list, search, create, delete (p99; mermaid's "
              "xychart draws no legend).", END]  # fmt: skip
    return "\n".join(lines)


def replace_section(
    section: str, start: str, end: str, path: Path = Path("docs/benchmarks.md")
) -> None:
    """Replace what lies between the ``start`` and ``end`` markers of ``path`` by
    ``section`` (which carries the markers itself)."""
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path} lacks the {start} / {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + section + tail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--n", type=int, default=100, help="sequential calls per operation")
    parser.add_argument("--import-size", type=int, default=10_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    env = {"MAX_MEMORIES_PER_USER": str(max([*args.sizes, args.import_size]) + 10 * args.n)}
    with running_stack("embedded", workdir, env=env, ports=BENCH_PORTS, replicas=1) as stack:
        results = asyncio.run(measure(stack, args.sizes, args.n, args.import_size))
    write_results("memory", results)
    if args.sizes == DEFAULT_SIZES:
        replace_section(render_markdown(results), START, END)


if __name__ == "__main__":
    main()
