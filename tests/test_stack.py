"""The local runner's pieces that need no processes: the run's tokens, the traced config, the
staged run file (replicas, daprd wrappers), the test stacks' port blocks, and how start-up
waits for each part and tells why one failed."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts.stack import (
    COMPONENTS,
    MAX_REPLICAS,
    STATE_DIR,
    CliLog,
    Progress,
    RunFile,
    StartupFailed,
    Tokens,
    create_sqlite_files,
    daprd_wrapper,
    redis_answer,
    redis_ready,
    runtime_bin,
    sqlite_files,
    staged_config,
    wait_until,
)
from sidecar.settings import SidecarSettings
from tests.deploy.test_dapr_schemas import errors


def test_tokens_are_fresh_accepted_by_the_apps_and_kept_private(tmp_path: Path) -> None:
    first, second = Tokens.generate(), Tokens.generate()
    assert first != second
    assert first.dapr_api != first.app_api
    settings = SidecarSettings(**{k.lower(): v for k, v in first.env().items()})
    assert settings.require_dapr_tokens
    path = tmp_path / "tokens.env"
    first.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == (f"DAPR_API_TOKEN={first.dapr_api}\nAPP_API_TOKEN={first.app_api}\n")


def test_an_otel_endpoint_adds_an_exporter_that_dapr_accepts(tmp_path: Path) -> None:
    source = COMPONENTS / "config.yaml"
    assert staged_config(source, otel_endpoint=None, target=tmp_path / "c.yaml") == source
    staged = staged_config(source, otel_endpoint="127.0.0.1:4317", target=tmp_path / "c.yaml")
    doc = yaml.safe_load(staged.read_text())
    assert doc["spec"]["tracing"]["otel"] == {
        "endpointAddress": "127.0.0.1:4317", "isSecure": False, "protocol": "grpc",
    }  # fmt: skip
    assert (
        doc["spec"]["accessControl"] == yaml.safe_load(source.read_text())["spec"]["accessControl"]
    )
    assert errors(doc) == []


def test_the_staged_run_file_points_at_the_staged_config(tmp_path: Path) -> None:
    base = RunFile.load()
    assert base.staged("embedded") is base
    config = tmp_path / "config.generated.yaml"
    config.write_text((COMPONENTS / "config.yaml").read_text())
    staged = base.staged("redis", config_file=config)
    try:
        assert staged.config_file == config.resolve()
        assert all("/redis" in p for p in staged.data["common"]["resourcesPaths"][1:])
    finally:
        staged.path.unlink()


def test_replicas_get_their_own_ports_directories_and_pod_names(tmp_path: Path) -> None:
    base = RunFile.load()
    staged = base.staged("embedded", replicas=3, runtime_dir=tmp_path / "runtime")
    try:
        apps = staged.apps
        assert [a.pod_name for a in apps] == [
            "chat-0", "memory-0", "chat-1", "memory-1", "chat-2", "memory-2",
        ]  # fmt: skip
        # Replica 0 is dapr.yaml's entry as it is, runtimePath aside.
        for original, entry in zip(base.data["apps"], staged.data["apps"], strict=False):
            assert {k: v for k, v in entry.items() if k != "runtimePath"} == original
        ports = [*staged.ports.values(), staged.placement_port]
        assert len(ports) == len(set(ports))
        assert all(p < 32768 for p in ports)
        for spec, entry in zip(apps, staged.data["apps"], strict=True):
            command = entry["command"]
            assert command[command.index("--port") + 1] == str(entry["appPort"])
            # Two levels below the run file, as services/<app>: ../../data is the same store.
            app_dir = (staged.path.parent / entry["appDirPath"]).resolve()
            assert app_dir.parent.parent == staged.path.parent.resolve()
            if spec.replica:
                assert app_dir == STATE_DIR / spec.pod_name
            assert entry["runtimePath"] == str((tmp_path / "runtime" / spec.pod_name).resolve())
        assert len({e["appDirPath"] for e in staged.data["apps"]}) == len(apps)
    finally:
        staged.path.unlink()
    with pytest.raises(ValueError, match="replicas"):
        base.staged("embedded", replicas=MAX_REPLICAS + 1)


def test_the_daprd_wrapper_runs_the_real_daprd_with_its_pod_name(tmp_path: Path) -> None:
    wrapper = daprd_wrapper("chat-1", tmp_path / "chat-1")
    assert wrapper == tmp_path / "chat-1" / ".dapr" / "bin" / "daprd"  # where CLI 1.12 looks
    assert os.access(wrapper, os.X_OK)
    text = wrapper.read_text()
    assert f'exec {runtime_bin("daprd")} "$@"' in text
    # Run it with a stand-in for daprd: the environment and the arguments reach it.
    fake = tmp_path / "fake-daprd"
    fake.write_text('#!/bin/sh\necho "$POD_NAME $*"\n')
    fake.chmod(0o755)
    wrapper.write_text(text.replace(str(runtime_bin("daprd")), str(fake)))
    out = subprocess.run(
        [wrapper, "--app-id", "chat"], capture_output=True, text=True, check=True, timeout=10
    )
    assert out.stdout == "chat-1 --app-id chat\n"


def test_test_stack_port_blocks_never_overlap() -> None:
    from tests.integration.stack import (
        BENCH_PORTS,
        CLIENT_PORTS,
        FAULT_PORTS,
        IMAGE_PORTS,
        MAX_REPLICAS,
        PORTS,
        SCRIPTED_CLIENT_PORTS,
    )

    every_block = (
        *PORTS.values(),
        BENCH_PORTS,
        CLIENT_PORTS,
        FAULT_PORTS,
        SCRIPTED_CLIENT_PORTS,
        IMAGE_PORTS,
    )
    blocks = [ports.with_replicas(MAX_REPLICAS) for ports in every_block]
    run_file = RunFile.load().staged("embedded", replicas=MAX_REPLICAS)
    try:
        make_run = set(run_file.ports.values()) | {run_file.placement_port}
    finally:
        run_file.path.unlink()
    every = [p for block in blocks for p in block.all_ports()]
    assert len(every) == len(set(every)), "two test stacks would share a port"
    assert not set(every) & make_run, "a test stack would collide with `make run`"
    assert all(1024 < p < 32768 for p in every)
    for block in (*PORTS.values(), BENCH_PORTS):
        # Replica 0 is what a one-replica stack used: existing callers keep their ports.
        assert block.replicas("chat")[0] == block.chat
        assert block.with_replicas(2).replicas("memory")[0] == block.memory
    stack = PORTS["embedded"].with_replicas(2)
    names = [a.process_name(part) for a in itertools.chain(
        stack.replicas("chat"), stack.replicas("memory")) for part in ("app", "daprd")]  # fmt: skip
    assert len(names) == len(set(names))


def test_every_sqlite_file_of_the_embedded_set_is_found_beside_the_run() -> None:
    files = sqlite_files(
        [COMPONENTS / "common", COMPONENTS / "embedded"],
        COMPONENTS / "config.yaml",
        base=COMPONENTS.parent / "services" / "chat",
    )
    data = COMPONENTS.parent / "data"
    assert sorted(files) == sorted(
        data / f"{name}.db"
        for name in ("chat-state", "memory-state", "chat-actors", "memory-actors",
                     "name-resolution")
    )  # fmt: skip
    chat = COMPONENTS.parent / "services" / "chat"
    assert sqlite_files([COMPONENTS / "redis"], COMPONENTS / "config.yaml", base=chat) == [
        data / "name-resolution.db"
    ]


def test_a_sqlite_file_created_first_takes_no_lock_when_a_sidecar_asks_for_wal(
    tmp_path: Path,
) -> None:
    """The start-up race of two sidecars on one fresh file (docs/dapr-runtime.md): while one
    connection writes, turning the file into WAL fails at once despite a busy timeout. A file
    created in WAL beforehand answers the same pragma without a lock."""

    def wal_while_another_writes(path: Path) -> str:
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("CREATE TABLE IF NOT EXISTS state (key TEXT)")
        try:
            with sqlite3.connect(path, timeout=5) as sidecar:
                return str(sidecar.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        finally:
            writer.execute("ROLLBACK")
            writer.close()

    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        wal_while_another_writes(tmp_path / "fresh.db")
    prepared = tmp_path / "nested" / "prepared.db"
    create_sqlite_files([prepared])
    assert wal_while_another_writes(prepared) == "wal"
    create_sqlite_files([prepared])  # again, on a file in use: nothing to change


# -- start-up: every part waited for until it answers, a failure told at once ----------------
DAPRD_FATAL = (
    'time="2026-12-07T20:01:02.3Z" level=fatal msg="Fatal error from runtime: process component '
    "pubsub error: [INIT_COMPONENT_FAILURE]: initialization error occurred for pubsub "
    "(pubsub.redis/v1): redis streams: error connecting to redis at 127.0.0.1:6380: LOADING "
    'Valkey is loading the dataset in memory" app_id=chat instance=vm scope=dapr.runtime '
    "type=log ver=1.18.2"
)
APP_TRACEBACK = [  # as the CLI writes it: the app's lines behind a prefix
    "== APP - chat == Traceback (most recent call last):",
    '== APP - chat ==   File "/x/chat/main.py", line 40, in create_app',
    "== APP - chat == pydantic_core._pydantic_core.ValidationError: 1 validation error for "
    "ChatSettings",
    "== APP - chat == turn_rate_limit",
    "== APP - chat ==   Value error, not a rate limit: 'bogus'",
    "The App process exited with error code: exit status 1",
]


def cli_log(tmp_path: Path, pattern: str, lines: list[str]) -> CliLog:
    (tmp_path / pattern.replace("*", "20261207200102")).write_text("\n".join(lines) + "\n")
    return CliLog("part", tmp_path, pattern, since=0)


def test_a_daprd_log_tells_its_fatal_line(tmp_path: Path) -> None:
    log = cli_log(tmp_path, "chat_daprd_*.log", ["level=info msg=starting", DAPRD_FATAL])
    failure = log.failure()
    assert failure is not None
    assert failure.reason.startswith("Fatal error from runtime: process component pubsub")
    assert failure.reason.endswith("LOADING Valkey is loading the dataset in memory")
    assert failure.log == tmp_path / "chat_daprd_20261207200102.log"


def test_an_app_log_tells_its_exception_once_it_exited(tmp_path: Path) -> None:
    running = cli_log(tmp_path, "chat_app_*.log", APP_TRACEBACK[:-1])
    assert running.failure() is None  # a traceback logged by a running app is not a failure
    exited = cli_log(tmp_path, "chat_app_*.log", APP_TRACEBACK)
    failure = exited.failure()
    assert failure is not None
    assert failure.reason == (
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for ChatSettings\n"
        "turn_rate_limit\n"
        "  Value error, not a rate limit: 'bogus'"
    )


def test_a_log_from_before_this_run_is_not_read(tmp_path: Path) -> None:
    log = cli_log(tmp_path, "chat_daprd_*.log", [DAPRD_FATAL])
    assert CliLog("part", tmp_path, log.pattern, since=time.time() + 3600).failure() is None


def test_waiting_ends_at_once_when_a_part_fails() -> None:
    failure = StartupFailed("memory-0's sidecar (daprd)", "Fatal error from runtime: boom")
    began = time.monotonic()
    with pytest.raises(StartupFailed) as raised:
        wait_until(lambda: False, what="chat-0", timeout=60, failed=lambda: failure)
    assert time.monotonic() - began < 1
    assert str(raised.value) == "memory-0's sidecar (daprd) failed: Fatal error from runtime: boom"


@contextlib.contextmanager
def resp_server(port: int, answers: list[bytes]) -> Iterator[None]:
    """A server on 127.0.0.1:``port`` that answers each connection's first command with the
    next of ``answers`` (the last one from then on), as a Redis loading its journal does."""
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        index = 0
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(64)
                conn.sendall(answers[min(index, len(answers) - 1)])
                index += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_broker_loading_its_journal_is_not_ready_until_it_answers_pong() -> None:
    loading = b"-LOADING Valkey is loading the dataset in memory\r\n"
    with resp_server(6389, [loading, loading, loading, b"+PONG\r\n"]):
        assert redis_answer(6389) == loading.decode().strip()
        assert not redis_ready(6389)
        assert not redis_ready(6389)
        assert redis_ready(6389)
    assert redis_answer(6389) is None  # nothing listens


def test_the_wait_is_shown_while_it_lasts(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    ticks = iter([False] * 6 + [True])
    wait_until(lambda: next(ticks), what="valkey", progress=Progress(sys.stdout), interval=0.2)
    out = capsys.readouterr().out
    assert "waiting for valkey" in out
    assert "valkey: ready in 1." in out
