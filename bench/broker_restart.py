"""Restart of the embedded broker at the worst case its bounds allow (docs/brokers.md).

    PYTHONPATH=. uv run python bench/broker_restart.py [--runs 3]

Writes the journal the bounds allow at most (scripts/broker_bounds.py): every stream filled to its
``maxLenApprox`` with entries of the largest event it carries (random bytes, base64: they do not
compress, as text at its worst would not), then trimmed on until the append-only files reach
``max_journal_bytes`` (automatic rewrites off while it writes, so the files hold that much).
Then
starts the broker as `make run` does and times it from start to its first ``PONG``, right after
writing (the files still in the page cache, as after a `make stop`) and again after dropping the
page cache where the machine allows it. Prints medians against a fresh, empty broker measured in
the same run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import valkey

from scripts.broker_bounds import (
    RESTART_BUDGET_SECONDS,
    STREAMS,
    max_journal_bytes,
    max_lengths,
    report,
    retained_bytes,
)
from scripts.stack import COMPONENTS, journal_bytes, start_valkey

PORT = 6396  # below the ephemeral range, beside bench/broker_startup.py's 6395


def fill(data_dir: Path, target: int, max_len: dict[str, int], log_dir: Path) -> None:
    process = start_valkey(PORT, data_dir=data_dir, log_dir=log_dir)
    try:
        client = valkey.Valkey(port=PORT)
        client.config_set("auto-aof-rewrite-percentage", 0)
        round_ = 0
        while True:
            for stream in STREAMS:
                entry = base64.b64encode(os.urandom(stream.entry_bytes * 3 // 4))
                pipe = client.pipeline(transaction=False)
                for _ in range(100):
                    pipe.xadd(
                        stream.name,
                        {"data": entry},
                        maxlen=max_len[stream.component],
                        approximate=True,
                    )
                pipe.execute()
            round_ += 1
            if round_ % 5 == 0 and journal_bytes(data_dir) >= target:
                break
        client.close()
    finally:
        process.stop()


def time_to_pong(data_dir: Path, log_dir: Path) -> float:
    began = time.monotonic()
    process = start_valkey(PORT, data_dir=data_dir, log_dir=log_dir)
    elapsed = time.monotonic() - began
    process.stop()
    return elapsed


def drop_page_cache() -> bool:
    os.sync()
    with contextlib.suppress(OSError):
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    max_len = max_lengths(COMPONENTS / "embedded" / "pubsub.yaml")
    for line in report(max_len):
        print(line)
    target = max_journal_bytes(max_len)
    work = Path(tempfile.mkdtemp(prefix="broker-restart-"))
    try:
        empty = [time_to_pong(work / f"empty-{i}", work) for i in range(args.runs)]
        warm, cold = [], []
        for run in range(args.runs):
            data = work / f"journal-{run}"
            fill(data, target, max_len, work)
            size = journal_bytes(data)
            warm.append(time_to_pong(data, work))
            if drop_page_cache():
                cold.append(time_to_pong(data, work))
            print(f"run {run + 1}: journal {size / 1e6:.0f} MB, restart {warm[-1]:.2f} s"
                  + (f", with a cold page cache {cold[-1]:.2f} s" if cold else ""))  # fmt: skip
            shutil.rmtree(data)
        base = statistics.median(empty)
        bounds = f"retained at most {retained_bytes(max_len) / 1e6:.0f} MB"
        print(f"\n{bounds}, journal at most {target / 1e6:.0f} MB")
        print(f"budget: {RESTART_BUDGET_SECONDS:.0f} s")
        print(f"empty broker          median {base:6.2f} s")
        for name, times in (("worst-case journal", warm), ("  cold page cache", cold)):
            if times:
                median = statistics.median(times)
                ratio = f"x{median / base:.0f} vs empty"
                print(f"{name:<21} median {median:6.2f} s  (max {max(times):.2f}, {ratio})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
