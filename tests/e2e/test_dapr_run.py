"""The whole system the way a user starts it: `make run`'s runner, which starts the broker,
placement and Sentry and then the real CLI with `dapr run -f dapr.yaml`; both apps healthy
through their sidecars, with API tokens both ways, mTLS and access control on (a third app's
call to memory is denied); and everything gone after Ctrl-C or `make stop`."""

from __future__ import annotations

import os
import shutil
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
    CLI_SENTRY_PORT,
    PID_FILE,
    PORT_KEYS,
    ROOT,
    SENTRY_DIR,
    TOKENS_FILE,
    ProcessSet,
    RunFile,
    Tokens,
    app_healthy_through_sidecar,
    component_port,
    journal_bytes,
    port_open,
    process_set,
    replica_entry,
    runtime_bin,
    start_process,
    start_valkey,
    wait_until,
)

pytestmark = pytest.mark.e2e

RUN_FILE = RunFile.load()
# A sidecar for an app id that is not chat, to show memory's access control at work.
INTRUDER = {"http": 3590, "grpc": 5590, "internal": 5591, "metrics": 9095}
PORTS = sorted(
    {a.app_port for a in RUN_FILE.apps}
    | {a.dapr_http_port for a in RUN_FILE.apps}
    | {a.dapr_grpc_port for a in RUN_FILE.apps}
    | {RUN_FILE.placement_port, component_port("embedded", "pubsub", "redisHost")}
    | {CLI_SENTRY_PORT, *INTRUDER.values()}
)
# `make run REPLICAS=2`: the second replica of each app adds its own ports.
REPLICA_PORTS = sorted(
    {int(replica_entry(app, 1)[key]) for app in RUN_FILE.data["apps"] for key in PORT_KEYS}
)


def run_tokens() -> Tokens:
    values = dict(line.split("=", 1) for line in TOKENS_FILE.read_text().split())
    return Tokens(dapr_api=values["DAPR_API_TOKEN"], app_api=values["APP_API_TOKEN"])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def make_run(
    tmp_log: Path, replicas: int = 1
) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    ports = PORTS + (REPLICA_PORTS if replicas > 1 else [])
    busy = [p for p in ports if port_open(p)]
    if busy:
        pytest.fail(f"ports {busy} are in use: stop the running stack (`make stop`) first")
    with tmp_log.open("wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "scripts/stack.py", "run", "--replicas", str(replicas)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    groups: list[int] = []
    try:
        wait_until(
            lambda: PID_FILE.exists() and len(PID_FILE.read_text().split()) >= 5,
            what="the runner's pid file",
            timeout=60,
        )
        groups = [int(p) for p in PID_FILE.read_text().split()[:-1]]
        tokens = run_tokens()
        for app in RunFile.load(ROOT / "dapr.embedded.generated.yaml").apps:
            wait_until(
                lambda app=app: app_healthy_through_sidecar(app, tokens),
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
    ports = PORTS + REPLICA_PORTS
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        any(group_alive(g) for g in groups) or any(port_open(p) for p in ports)
    ):
        time.sleep(0.2)
    assert [g for g in groups if group_alive(g)] == [], "a process group outlived the stack"
    assert [p for p in ports if port_open(p)] == [], "a port is still served after the stop"
    assert not PID_FILE.exists()
    assert not TOKENS_FILE.exists(), "the run's tokens outlived it"
    assert not SENTRY_DIR.exists(), "the run's certificate authority outlived it"


def start_intruder(started: ProcessSet, log_dir: Path) -> str:
    """A real daprd for app id `intruder` in the run's trust domain (a certificate from the
    run's Sentry, the same configuration); returns its HTTP API address."""
    daprd = start_process(
        "intruder-daprd",
        [
            runtime_bin("daprd"),
            "--app-id", "intruder",
            "--dapr-http-port", str(INTRUDER["http"]),
            "--dapr-grpc-port", str(INTRUDER["grpc"]),
            "--dapr-internal-grpc-port", str(INTRUDER["internal"]),
            "--metrics-port", str(INTRUDER["metrics"]),
            "--dapr-listen-addresses", "127.0.0.1",
            "--config", RUN_FILE.config_file,
            "--enable-mtls",
            "--sentry-address", f"127.0.0.1:{CLI_SENTRY_PORT}",
            "--placement-host-address", f"127.0.0.1:{RUN_FILE.placement_port}",
        ],
        log_dir=log_dir,
        env={"DAPR_TRUST_ANCHORS": (SENTRY_DIR / "ca.crt").read_text()},
        cwd=ROOT / "services" / "chat",  # the config's name-resolution path is relative
    )  # fmt: skip
    started.add(daprd)
    url = f"http://127.0.0.1:{INTRUDER['http']}"
    wait_until(
        lambda: (
            httpx.get(f"{url}/v1.0/healthz", timeout=1).status_code == 204
            if port_open(INTRUDER["http"])
            else False
        ),
        what="the intruder's sidecar",
        watch=[daprd],
    )
    return url


def assert_security(run_file: RunFile, tokens: Tokens, log_dir: Path) -> None:
    chat = next(a for a in run_file.apps if a.app_id == "chat")
    memory = next(a for a in run_file.apps if a.app_id == "memory")
    user = f"e2e-{uuid.uuid4().hex[:10]}"
    body = {"kind": "semantic", "content": "Keeps a diary"}
    # App -> sidecar: the sidecar's API wants the run's DAPR_API_TOKEN.
    no_token = httpx.post(
        f"http://127.0.0.1:{chat.dapr_http_port}/v1.0/invoke/memory/method/memories/{user}",
        json=body,
        timeout=10,
    )
    assert no_token.status_code == 401, no_token.text
    # Sidecar -> app: memory refuses a caller without APP_API_TOKEN (health aside).
    direct = httpx.get(f"http://127.0.0.1:{memory.app_port}/memories/{user}", timeout=10)
    assert direct.status_code == 401, direct.text
    assert httpx.get(f"http://127.0.0.1:{memory.app_port}/healthz", timeout=10).is_success
    # Access control: an app other than chat is denied by memory's sidecar, with its identity.
    with process_set() as started:
        intruder = start_intruder(started, log_dir)
        denied = httpx.post(
            f"{intruder}/v1.0/invoke/memory/method/memories/{user}", json=body, timeout=10
        )
        assert denied.status_code == 403, denied.text
        assert "spiffe://public/ns/default/intruder" in denied.text
        read = httpx.get(f"{intruder}/v1.0/invoke/memory/method/memories/{user}", timeout=10)
        assert read.status_code == 403, read.text
    # chat may: its sidecar passes the same call through, and nothing of the intruder's landed.
    allowed = httpx.post(
        f"http://127.0.0.1:{chat.dapr_http_port}/v1.0/invoke/memory/method/memories/{user}",
        json=body,
        headers=tokens.sidecar_headers(),
        timeout=10,
    )
    assert allowed.status_code == 201, allowed.text
    listed = httpx.get(f"http://127.0.0.1:{chat.app_port}/users/{user}/memories", timeout=10)
    assert listed.json()["total"] == 1
    # ...but only memory's API: chat cannot reach memory's other endpoints (default deny).
    docs = httpx.get(
        f"http://127.0.0.1:{chat.dapr_http_port}/v1.0/invoke/memory/method/openapi.json",
        headers=tokens.sidecar_headers(),
        timeout=10,
    )
    assert docs.status_code == 403, docs.text


def exercise(run_file: RunFile, tokens: Tokens) -> None:
    chat = next(a for a in run_file.apps if a.app_id == "chat")
    memory = next(a for a in run_file.apps if a.app_id == "memory")
    for app in (chat, memory):
        ready = httpx.get(f"http://127.0.0.1:{app.app_port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    user = f"e2e-{uuid.uuid4().hex[:10]}"
    created = httpx.post(
        f"http://127.0.0.1:{chat.dapr_http_port}/memories/{user}",
        headers={"dapr-app-id": "memory", **tokens.sidecar_headers()},
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
        tokens = run_tokens()
        exercise(RUN_FILE, tokens)
        assert_security(RUN_FILE, tokens, tmp_path)
        runner.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground runner
        assert runner.wait(timeout=40) == 0, log.read_text()
    assert_everything_stopped(groups)


@pytest.mark.parametrize("replicas", [1, 2])
def test_make_stop_from_another_terminal_stops_everything(tmp_path: Path, replicas: int) -> None:
    log = tmp_path / "make-run.log"
    with make_run(log, replicas) as (runner, groups):
        stop = subprocess.run(
            [sys.executable, "scripts/stack.py", "stop"], cwd=ROOT, capture_output=True, timeout=60
        )
        assert stop.returncode == 0, stop.stderr
        assert runner.wait(timeout=40) == 0, log.read_text()
    assert_everything_stopped(groups)


# -- start-up after a day of use, and a start that fails --------------------------------------
JOURNAL = ROOT / "data" / "valkey"
BROKER_PORT = component_port("embedded", "pubsub", "redisHost")


@contextmanager
def broker_journal_of(megabytes: int, workdir: Path) -> Iterator[int]:
    """``data/valkey`` holding a journal of at least ``megabytes`` MB (random, so it does not
    compress), written by the embedded broker itself; the user's own journal is moved aside
    for the test and put back after it. Yields the journal's size in bytes."""
    import base64

    import valkey

    aside = workdir / "valkey-aside"
    if JOURNAL.exists():
        shutil.move(JOURNAL, aside)
    try:
        with process_set() as started:
            started.add(start_valkey(BROKER_PORT, data_dir=JOURNAL, log_dir=workdir))
            client = valkey.Valkey(port=BROKER_PORT)
            entry = base64.b64encode(os.urandom(96_000))  # 128 KB, a large event
            while journal_bytes(JOURNAL) < megabytes * 1_000_000:
                pipe = client.pipeline(transaction=False)
                for _ in range(100):
                    pipe.xadd("e2e-day-of-use", {"data": entry})
                pipe.execute()
            client.close()
        yield journal_bytes(JOURNAL)
    finally:
        shutil.rmtree(JOURNAL, ignore_errors=True)
        if aside.exists():
            shutil.move(aside, JOURNAL)


def test_make_run_after_a_day_of_use_waits_for_the_broker_to_load_its_journal(
    tmp_path: Path,
) -> None:
    """A broker journal of 300 MB (the issue saw 295 MB after a day): the broker answers
    ``-LOADING`` while it reads it, and daprd gave up on such a broker at once. `make run`
    waits until it answers PONG, then starts the sidecars."""
    log = tmp_path / "make-run.log"
    with broker_journal_of(300, tmp_path) as size:
        assert size >= 300_000_000
        with make_run(log) as (runner, groups):
            exercise(RUN_FILE, run_tokens())
            runner.send_signal(signal.SIGINT)
            assert runner.wait(timeout=40) == 0, log.read_text()
        assert_everything_stopped(groups)
    output = log.read_text()
    assert f"valkey on 127.0.0.1:{BROKER_PORT}: ready in" in output, output
    assert "chat-0 through its sidecar: ready in" in output, output


def test_a_start_that_fails_says_which_part_and_why_at_once(tmp_path: Path) -> None:
    """chat cannot start (a setting it refuses): `make run` says so as soon as the app exits,
    naming the part and its exception, stops everything and exits non-zero."""
    busy = [p for p in PORTS if port_open(p)]
    if busy:
        pytest.fail(f"ports {busy} are in use: stop the running stack (`make stop`) first")
    began = time.monotonic()
    ran = subprocess.run(
        [sys.executable, "scripts/stack.py", "run"],
        cwd=ROOT,
        env={**os.environ, "TURN_RATE_LIMIT": "bogus"},
        capture_output=True,
        text=True,
        timeout=170,
    )
    elapsed = time.monotonic() - began
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "start-up failed: chat-0 (the app) failed: " in ran.stderr, ran.stderr
    assert "ValidationError: 1 validation error for ChatSettings" in ran.stderr, ran.stderr
    assert "turn_rate_limit" in ran.stderr, ran.stderr
    assert elapsed < 90, elapsed  # when it exits, not after the 180 s wait
    assert_everything_stopped([])
