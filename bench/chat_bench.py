"""Chat latency and throughput with the offline model through the whole real stack.

    PYTHONPATH=. uv run python bench/chat_bench.py [--turns 60]

Starts the embedded stack (sqlite + Valkey, both real daprd) on its own ports and drives chat's
public API: ``POST /chat`` at concurrency 1, 16 and 64 (each caller its own user and session, so
the per-turn work is realistic: memory recall through Dapr, the agent run, the history
transaction with its outbox event). Baseline, same run: chat's ``/healthz``. For streaming: the
time to the first SSE ``delta`` against the offline model's own time to its first token
(measured in process), so the difference is what the service adds before the first word.
Results go to bench/results/chat.json.
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
from agents import ModelSettings, ModelTracing

from bench.memory_bench import percentile, write_results
from chat.services.agent import TOOLS, instructions_with
from chat.services.offline_model import OfflineModel
from tests.integration.stack import BENCH_PORTS, running_stack


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
    }


async def model_first_token_ms(runs: int) -> list[float]:
    model = OfflineModel()
    samples = []
    for i in range(runs):
        began = time.perf_counter()
        stream = model.stream_response(
            instructions_with([]), f"hello number {i}", ModelSettings(), list(TOOLS), None, [],
            ModelTracing.DISABLED, previous_response_id=None, conversation_id=None, prompt=None,
        )  # fmt: skip
        async for event in stream:
            if event.type == "response.output_text.delta":
                samples.append((time.perf_counter() - began) * 1000)
                break
    return samples


async def chat_load(base: str, concurrency: int, turns: int) -> dict[str, Any]:
    latencies: list[float] = []
    failed = degraded = 0

    async def caller(worker: int, client: httpx.AsyncClient) -> None:
        nonlocal failed, degraded
        user = f"bench-{concurrency}-{worker}-{uuid.uuid4().hex[:6]}"
        session = None
        for i in range(turns):
            body: dict[str, Any] = {"user_id": user, "message": f"Tell me about topic {i}"}
            if session:
                body["session_id"] = session
            began = time.perf_counter()
            response = await client.post("/chat", json=body)
            if response.is_success:
                latencies.append((time.perf_counter() - began) * 1000)
                session = response.json()["session_id"]
                degraded += bool(response.json()["metadata"]["degraded"])
            else:
                failed += 1

    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(caller(w, client) for w in range(concurrency)))
        elapsed = time.perf_counter() - began
    total = len(latencies) + failed
    return {
        **stats(latencies),
        "failed": failed,
        "degraded": degraded,
        "throughput_rps": round(total / elapsed, 1),
    }


async def sse_first_delta_ms(base: str, runs: int) -> tuple[list[float], list[float]]:
    first_byte, first_delta = [], []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for i in range(runs):
            body = {"user_id": f"sse-{i % 5}", "message": f"stream test {i}"}
            began = time.perf_counter()
            async with client.stream("POST", "/chat/stream", json=body) as response:
                got_byte = False
                async for line in response.aiter_lines():
                    if not got_byte:
                        first_byte.append((time.perf_counter() - began) * 1000)
                        got_byte = True
                    if line.startswith("event: delta"):
                        first_delta.append((time.perf_counter() - began) * 1000)
                        break
    return first_byte, first_delta


async def measure(base: str, turns: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        health = []
        for _ in range(100):
            began = time.perf_counter()
            (await client.get("/healthz")).raise_for_status()
            health.append((time.perf_counter() - began) * 1000)
    baseline = statistics.median(health)
    results: dict[str, Any] = {"baseline_healthz": stats(health), "chat": {}}
    for concurrency in (1, 16, 64):
        per_caller = max(2, turns // concurrency) if concurrency > 1 else turns
        result = await chat_load(base, concurrency, per_caller)
        result["p50_vs_baseline"] = round(result["p50_ms"] / baseline, 1)
        results["chat"][f"c{concurrency}"] = result
        print(json.dumps({f"c{concurrency}": result}), flush=True)
    model_ms = await model_first_token_ms(50)
    first_byte, first_delta = await sse_first_delta_ms(base, 30)
    results["sse"] = {
        "model_first_token": stats(model_ms),
        "first_byte": stats(first_byte),
        "first_delta": stats(first_delta),
        "overhead_p50_ms": round(statistics.median(first_delta) - statistics.median(model_ms), 2),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=60, help="turns per concurrency level")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    with running_stack("embedded", workdir, ports=BENCH_PORTS, replicas=1) as stack:
        results = asyncio.run(measure(stack.app_url(stack.ports.chat), args.turns))
    write_results("chat", results)


if __name__ == "__main__":
    main()
