"""Serialized writers and the event plane under load: 1 vs 2 replicas of each app.

    PYTHONPATH=. uv run python bench/concurrency_bench.py [--turns 15]

For each topology (1, then 2 replicas of each app; the embedded stack with security on, on the
benchmark ports) it measures, in one run:

- baseline: chat's ``/healthz``, direct (the floor of an HTTP round trip here);
- the serialization's unit cost: one ``ChatSession`` actor call (``acquire`` then ``release`` of
  a lease, through chat's sidecar and placement); a turn makes three actor calls (acquire,
  commit, touch) where the path before the actors made none;
- turns at 16 callers, each its own session, requests spread over the chat replicas: latency
  p50/p99, turns per second, failures;
- double texting: 16 callers on *one* session (``enqueue``): every turn answered and saved;
- event lag, idle and under the 16-caller load: commit → delivered to memory (memory's own
  ``event_delivery_lag_seconds`` window, every replica), and memory created → notification on an
  open WebSocket (held by the last chat replica, the memory made through the first).

Results go to bench/results/concurrency.json; docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.memory_bench import percentile, write_results
from tests.integration.stack import BENCH_PORTS, Stack, running_stack

CALLERS = 16


def stats(samples: list[float], baseline: float | None = None) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    result = {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
    }
    if baseline:
        result["p50_vs_baseline"] = round(statistics.median(samples) / baseline, 1)
    return result


async def timed_ms(call: Any) -> float:
    began = time.perf_counter()
    await call
    return (time.perf_counter() - began) * 1000


async def baseline_ms(client: httpx.AsyncClient, base: str, n: int) -> list[float]:
    return [await timed_ms(client.get(f"{base}/healthz")) for _ in range(n)]


async def actor_call_ms(stack: Stack, n: int) -> list[float]:
    """acquire + release of a fresh session's lease: two actor calls through chat's sidecar."""
    samples = []
    async with httpx.AsyncClient(
        base_url=stack.sidecar(stack.ports.chat), headers=stack.auth, timeout=10
    ) as sidecar:
        for _ in range(n):
            actor = f"/v1.0/actors/ChatSession/bench:{uuid.uuid4()}/method"
            turn = uuid.uuid4().hex
            began = time.perf_counter()
            body = {"turn_id": turn, "strategy": "enqueue", "lease_seconds": 5}
            granted = await sidecar.post(f"{actor}/acquire", json=body)
            await sidecar.post(f"{actor}/release", json={"turn_id": turn})
            samples.append((time.perf_counter() - began) * 1000 / 2)
            assert granted.json()["result"]["status"] == "granted", granted.text
    return samples


async def turn_load(bases: list[str], turns: int, *, one_session: bool) -> dict[str, Any]:
    """CALLERS callers, each ``turns`` turns, spread over ``bases``: each its own session, or
    all on one (double texting, enqueue)."""
    latencies: list[float] = []
    failed = 0
    user = f"bench-{uuid.uuid4().hex[:8]}"
    shared: str | None = None
    async with httpx.AsyncClient(timeout=300) as client:
        if one_session:
            created = await client.post(f"{bases[0]}/users/{user}/sessions")
            shared = created.json()["session_id"]

        async def caller(worker: int) -> None:
            nonlocal failed
            who = user if one_session else f"{user}-{worker}"
            session = shared
            for i in range(turns):
                body: dict[str, Any] = {"user_id": who, "message": f"Tell me about topic {i}"}
                if session:
                    body["session_id"] = session
                began = time.perf_counter()
                response = await client.post(f"{bases[(worker + i) % len(bases)]}/chat", json=body)
                if response.is_success:
                    latencies.append((time.perf_counter() - began) * 1000)
                    session = response.json()["session_id"]
                else:
                    failed += 1

        began = time.perf_counter()
        await asyncio.gather(*(caller(w) for w in range(CALLERS)))
        elapsed = time.perf_counter() - began
        saved = None
        if one_session:
            history = await client.get(f"{bases[0]}/users/{user}/sessions/{shared}/history")
            saved = len(history.json()["messages"]) // 2
    return {
        **stats(latencies),
        "turns_per_s": round(len(latencies) / elapsed, 2),
        "failed": failed,
        **({"turns_saved": saved, "turns_sent": CALLERS * turns} if one_session else {}),
    }


async def memory_lag(stack: Stack) -> dict[str, Any]:
    """Commit → delivery to memory's handler over the last minute, per memory replica."""
    figures = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for replica in stack.replicas("memory"):
            body = (await client.get(f"{stack.app_url(replica)}/readyz")).json()
            lag = body.get("figures", {}).get("event_lag_seconds", {}).get("conversation-turns")
            figures[replica.pod_name] = lag and {
                "n": lag["count"],
                "p50_ms": round(lag["p50"] * 1000, 1),
                "p99_ms": round(lag["p99"] * 1000, 1),
                "max_ms": round(lag["max"] * 1000, 1),
            }
    return figures


async def notification_lag(stack: Stack, samples: int) -> list[float]:
    """A memory made through the first chat replica (a "remember" turn), seen on a WebSocket
    held by the last one: ms from the turn's answer to the notification."""
    chats = stack.replicas("chat")
    lags = []
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(samples):
            user = f"listener-{uuid.uuid4().hex[:8]}"
            ws = f"ws://127.0.0.1:{chats[-1].app}/ws?user_id={user}"
            async with websockets.connect(ws) as socket:
                said = await client.post(
                    f"{stack.app_url(chats[0])}/chat",
                    json={"user_id": user, "message": f"Remember that I like tea number {i}."},
                )
                answered = time.perf_counter()
                assert said.is_success, said.text
                while True:
                    message = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
                    if message["type"] == "memory" and f"number {i}" in str(message["memory"]):
                        lags.append((time.perf_counter() - answered) * 1000)
                        break
    return lags


async def measure(stack: Stack, turns: int) -> dict[str, Any]:
    bases = [stack.app_url(r) for r in stack.replicas("chat")]
    async with httpx.AsyncClient(timeout=10) as client:
        for base in bases:
            await client.get(f"{base}/healthz")
        baseline = await baseline_ms(client, bases[0], 200)
    base_p50 = statistics.median(baseline)
    result: dict[str, Any] = {"baseline_healthz": stats(baseline)}
    result["actor_call"] = stats(await actor_call_ms(stack, 100), base_p50)
    idle_notify = await notification_lag(stack, 8)
    result["idle"] = {
        "notification": stats(idle_notify),
        "memory_delivery": await memory_lag(stack),
    }
    await asyncio.sleep(61)  # a fresh lag window for the loaded phase
    load = asyncio.create_task(turn_load(bases, turns, one_session=False))
    loaded_notify = await notification_lag(stack, 8)
    result["turns_16_callers"] = await load
    result["loaded"] = {
        "notification": stats(loaded_notify),
        "memory_delivery": await memory_lag(stack),
    }
    result["one_session_16_callers"] = await turn_load(bases, max(2, turns // 3), one_session=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=15, help="turns per caller")
    args = parser.parse_args()
    results: dict[str, Any] = {"callers": CALLERS, "turns_per_caller": args.turns}
    for replicas in (1, 2):
        with (
            tempfile.TemporaryDirectory() as workdir,
            running_stack("embedded", Path(workdir), ports=BENCH_PORTS, replicas=replicas) as stack,
        ):
            results[f"replicas_{replicas}"] = asyncio.run(measure(stack, args.turns))
        print(json.dumps(results[f"replicas_{replicas}"], indent=2))
    write_results("concurrency", results)


if __name__ == "__main__":
    main()
