"""What the deployment's security costs: the same stack with and without it, in one run.

    PYTHONPATH=. uv run python bench/security_bench.py [--n 300] [--rounds 3]

"Secure" is the stack every test and `make run` uses: Dapr API tokens both ways, mTLS between
the sidecars (a real Sentry) and access control on memory. "Plain" is the same stack without
them. Both run on the benchmark ports, alternately, `--rounds` times each, so that drift of the
machine falls on both alike. Measured per stack: the time until both apps are healthy through
their sidecars; memory's /healthz through both sidecars (the service-invocation hop pair: both
tokens, mTLS, the ACL check), sequential and with 16 callers; a state read through chat's sidecar
(token check only); and a whole chat turn (POST /chat with the offline model: recall, agent,
history transaction, outbox). Reported: medians over all rounds, and secure / plain.
Results go to bench/results/security.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.memory_bench import percentile, throughput, timed, write_results
from tests.integration.stack import BENCH_PORTS, Stack, running_stack


def summary(samples: list[float]) -> dict[str, float]:
    ok = [s for s in samples if s == s]
    return {
        "n": len(samples),
        "failed": len(samples) - len(ok),
        "p50_ms": round(statistics.median(ok), 3),
        "p99_ms": round(percentile(ok, 0.99), 3),
    }


async def measure(stack: Stack, n: int) -> dict[str, Any]:
    chat = stack.ports.chat
    async with (
        httpx.AsyncClient(base_url=stack.sidecar(chat), headers=stack.auth, timeout=60) as sidecar,
        httpx.AsyncClient(base_url=stack.app_url(chat), timeout=60) as api,
    ):
        invoke = {"dapr-app-id": "memory"}
        key = f"bench-{uuid.uuid4().hex}"
        await sidecar.post("/v1.0/state/chat-state", json=[{"key": key, "value": {"v": 1}}])
        user = f"bench-{uuid.uuid4().hex[:8]}"
        turn = {"user_id": user, "message": "Tell me something"}
        await api.post("/chat", json=turn)  # warm: the session, the model, the memory user
        return {
            "invoke_healthz": await timed(lambda: sidecar.get("/healthz", headers=invoke), n),
            "invoke_rps_c16": (
                await throughput(lambda: sidecar.get("/healthz", headers=invoke), 4 * n, 16)
            )["rps"],
            "state_get": await timed(lambda: sidecar.get(f"/v1.0/state/chat-state/{key}"), n),
            "chat_turn": await timed(lambda: api.post("/chat", json=turn), max(20, n // 10)),
        }


def run_once(secure: bool, n: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"security-bench-{'on' if secure else 'off'}-"))
    began = time.perf_counter()
    with running_stack("embedded", workdir, ports=BENCH_PORTS, secure=secure, replicas=1) as stack:
        ready_s = time.perf_counter() - began
        result = asyncio.run(measure(stack, n))
    return {"ready_s": ready_s, **result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="sequential calls per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="stacks of each kind, alternating")
    args = parser.parse_args()
    pooled: dict[str, dict[str, list[float]]] = {"secure": {}, "plain": {}}
    for _ in range(args.rounds):
        for name, secure in (("secure", True), ("plain", False)):
            for metric, value in run_once(secure, args.n).items():
                samples = value if isinstance(value, list) else [value]
                pooled[name].setdefault(metric, []).extend(samples)
    results: dict[str, Any] = {"rounds": args.rounds, "n": args.n}
    for name, metrics in pooled.items():
        results[name] = {
            "ready_s_median": round(statistics.median(metrics["ready_s"]), 2),
            "invoke_rps_c16_median": round(statistics.median(metrics["invoke_rps_c16"]), 1),
            **{m: summary(metrics[m]) for m in ("invoke_healthz", "state_get", "chat_turn")},
        }
    results["secure_vs_plain"] = {
        m: round(results["secure"][m]["p50_ms"] / results["plain"][m]["p50_ms"], 2)
        for m in ("invoke_healthz", "state_get", "chat_turn")
    } | {
        "ready_s": round(
            results["secure"]["ready_s_median"] / results["plain"]["ready_s_median"], 2
        ),
        "invoke_rps_c16": round(
            results["secure"]["invoke_rps_c16_median"] / results["plain"]["invoke_rps_c16_median"],
            2,
        ),
    }
    write_results("security", results)


if __name__ == "__main__":
    main()
