"""The whole system the way a user starts it: `make run`'s runner, which starts the broker and
placement and then the real CLI with `dapr run -f dapr.yaml`; both apps healthy through their
sidecars; and everything gone after Ctrl-C or `make stop`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from scripts.stack import (
    PID_FILE,
    ROOT,
    RunFile,
    app_healthy_through_sidecar,
    component_port,
    port_open,
    wait_until,
)

pytestmark = pytest.mark.e2e

RUN_FILE = RunFile.load()
PORTS = sorted(
    {a.app_port for a in RUN_FILE.apps}
    | {a.dapr_http_port for a in RUN_FILE.apps}
    | {a.dapr_grpc_port for a in RUN_FILE.apps}
    | {RUN_FILE.placement_port, component_port("embedded", "pubsub", "redisHost")}
)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def make_run(tmp_log: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    busy = [p for p in PORTS if port_open(p)]
    if busy:
        pytest.fail(f"ports {busy} are in use: stop the running stack (`make stop`) first")
    with tmp_log.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "scripts/stack.py", "run"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    groups: list[int] = []
    try:
        wait_until(
            lambda: PID_FILE.exists() and len(PID_FILE.read_text().split()) >= 4,
            what="the runner's pid file",
            timeout=60,
        )
        groups = [int(p) for p in PID_FILE.read_text().split()[:-1]]
        for app in RUN_FILE.apps:
            wait_until(
                lambda app=app: app_healthy_through_sidecar(app),
                what=f"{app.app_id} healthy through its sidecar",
                timeout=180,
            )
        yield runner, groups
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
            try:
                runner.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(runner.pid, signal.SIGKILL)
        for pgid in groups:
            if group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)


def assert_everything_stopped(groups: list[int]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        any(group_alive(g) for g in groups) or any(port_open(p) for p in PORTS)
    ):
        time.sleep(0.2)
    assert [g for g in groups if group_alive(g)] == [], "a process group outlived the stack"
    assert [p for p in PORTS if port_open(p)] == [], "a port is still served after the stop"
    assert not PID_FILE.exists()


def exercise(run_file: RunFile) -> None:
    chat = next(a for a in run_file.apps if a.app_id == "chat")
    memory = next(a for a in run_file.apps if a.app_id == "memory")
    for app in (chat, memory):
        ready = httpx.get(f"http://127.0.0.1:{app.app_port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    user = f"e2e-{uuid.uuid4().hex[:10]}"
    created = httpx.post(
        f"http://127.0.0.1:{chat.dapr_http_port}/memories/{user}",
        headers={"dapr-app-id": "memory"},
        json={"kind": "semantic", "content": "Prefers the night train"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    listed = httpx.get(f"http://127.0.0.1:{chat.app_port}/users/{user}/memories", timeout=10)
    assert [m["content"] for m in listed.json()["items"]] == ["Prefers the night train"]
    # A chat turn: recalled memory in the reply, the turn published, and memory deriving from it.
    reply = httpx.post(
        f"http://127.0.0.1:{chat.app_port}/chat",
        json={"user_id": user, "message": "My name is Sam. Any travel tips?"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert "Prefers the night train" in reply.json()["reply"]
    wait_until(
        lambda: any(
            m["content"] == "The user's name is Sam."
            for m in httpx.get(
                f"http://127.0.0.1:{chat.app_port}/users/{user}/memories", timeout=10
            ).json()["items"]
        ),
        what="memory derived from the published turn",
        timeout=30,
    )
    assert memory.dapr_http_port != chat.dapr_http_port


def test_dapr_run_serves_both_apps_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    log = tmp_path / "make-run.log"
    with make_run(log) as (runner, groups):
        exercise(RUN_FILE)
        runner.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground runner
        assert runner.wait(timeout=40) == 0, log.read_text()
    assert_everything_stopped(groups)


def test_make_stop_from_another_terminal_stops_everything(tmp_path: Path) -> None:
    log = tmp_path / "make-run.log"
    with make_run(log) as (runner, groups):
        stop = subprocess.run(
            [sys.executable, "scripts/stack.py", "stop"], cwd=ROOT, capture_output=True, timeout=60
        )
        assert stop.returncode == 0, stop.stderr
        assert runner.wait(timeout=40) == 0, log.read_text()
    assert_everything_stopped(groups)
