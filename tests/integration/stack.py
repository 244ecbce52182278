"""A real two-app Dapr stack for integration tests: the broker, placement, Sentry, and for each
app a real `daprd` and the app under uvicorn, on pinned 127.0.0.1 ports, logging to files.

Security is on as in `make run`: API tokens both ways (fresh per stack), mTLS from the stack's
own Sentry, and the access control of components/config.yaml.

The resources are the project's own files (components/common + one resource set), copied with
only their addresses changed: the broker port, the SQLite file paths, the name-resolution table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.stack import (
    COMPONENTS,
    ROOT,
    ManagedProcess,
    ProcessSet,
    Sentry,
    Tokens,
    http_ok,
    port_open,
    process_set,
    runtime_bin,
    start_placement,
    start_process,
    start_sentry,
    start_valkey,
    wait_until,
)


@dataclass(frozen=True)
class AppPorts:
    app_id: str
    module: str
    app: int
    http: int
    grpc: int
    internal: int
    metrics: int


@dataclass(frozen=True)
class StackPorts:
    """One block of pinned ports per resource set, below the ephemeral range."""

    chat: AppPorts
    memory: AppPorts
    broker: int
    placement: int

    @property
    def sentry(self) -> int:
        # placement uses its port and +100..+102; Sentry takes +5 (gRPC), +6, +7 (health, metrics)
        return self.placement + 5

    @classmethod
    def block(cls, offset: int) -> StackPorts:
        def app(app_id: str, i: int) -> AppPorts:
            return AppPorts(
                app_id=app_id,
                module=f"{app_id}.main:create_app",
                app=8100 + offset + i,
                http=3600 + offset + i,
                grpc=5600 + offset + i,
                internal=5610 + offset + i,
                metrics=9190 + offset + i,
            )

        return cls(
            chat=app("chat", 0),
            memory=app("memory", 1),
            broker=6390 + offset // 100,
            placement=5250 + offset // 10,
        )


PORTS = {"embedded": StackPorts.block(0), "redis": StackPorts.block(100)}
BENCH_PORTS = StackPorts.block(200)  # bench/: can run beside the tests and `make run`


@dataclass
class Stack:
    resource_set: str
    ports: StackPorts
    workdir: Path
    processes: ProcessSet
    broker_port: int
    tokens: Tokens | None  # None: a stack without security (benchmarks' baseline only)

    def sidecar(self, app: AppPorts) -> str:
        return f"http://127.0.0.1:{app.http}"

    @property
    def auth(self) -> dict[str, str]:
        """The header every call to a sidecar's API needs (DAPR_API_TOKEN)."""
        return self.tokens.sidecar_headers() if self.tokens else {}

    @property
    def app_auth(self) -> dict[str, str]:
        """The header a direct call to an app needs, as if it came from its sidecar."""
        return self.tokens.app_headers() if self.tokens else {}

    def app_url(self, app: AppPorts) -> str:
        return f"http://127.0.0.1:{app.app}"

    def process(self, name: str) -> ManagedProcess:
        return next(p for p in reversed(self.processes.processes) if p.name == name)

    def stop_app(self, app: AppPorts) -> None:
        self.process(f"{app.app_id}-app").stop()

    def start_app(self, app: AppPorts) -> None:
        """Start an app stopped by ``stop_app`` again and wait until its sidecar reaches it."""
        process = self.processes.add(
            start_app(
                app, log_dir=self.workdir / "logs", env=self.tokens.env() if self.tokens else {}
            )
        )
        wait_until(
            lambda: http_ok(
                f"http://127.0.0.1:{app.http}/healthz", {"dapr-app-id": app.app_id, **self.auth}
            ),
            what=f"{app.app_id} back",
            timeout=60,
            watch=[process],
        )

    def topic_events(self, topic: str) -> list[dict[str, Any]]:
        """Every CloudEvent the broker holds for ``topic`` (pubsub.redis: one stream per topic,
        each entry's ``data`` field is the envelope daprd published)."""
        import valkey

        client = valkey.Valkey(host="127.0.0.1", port=self.broker_port, socket_timeout=5)
        try:
            entries = client.xrange(topic, "-", "+")
        finally:
            client.close()
        return [json.loads(fields[b"data"]) for _, fields in entries]


def eventually(condition: Callable[[], Any], *, timeout: float = 20.0, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _rewrite_component(doc: dict[str, Any], *, broker_port: int, data_dir: Path) -> None:
    for item in doc.get("spec", {}).get("metadata", []):
        if item["name"] == "redisHost":
            item["value"] = f"127.0.0.1:{broker_port}"
        elif item["name"] == "connectionString":
            item["value"] = str(data_dir / f"{doc['metadata']['name']}.db")


def stage_resources(
    resource_set: str, workdir: Path, *, broker_port: int, secure: bool = True
) -> tuple[list[Path], Path]:
    """Copy the project's resources for ``resource_set`` into ``workdir`` with test addresses."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    dirs = []
    for name in ("common", resource_set):
        target = workdir / "resources" / name
        target.mkdir(parents=True)
        for source in sorted((COMPONENTS / name).glob("*.yaml")):
            docs = [d for d in yaml.safe_load_all(source.read_text()) if d]
            for doc in docs:
                if doc.get("kind") == "Component":
                    _rewrite_component(doc, broker_port=broker_port, data_dir=data_dir)
            (target / source.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
        dirs.append(target)
    config = yaml.safe_load((COMPONENTS / "config.yaml").read_text())
    config["spec"]["nameResolution"]["configuration"]["connectionString"] = str(
        data_dir / "name-resolution.db"
    )
    if not secure:
        del config["spec"]["mtls"], config["spec"]["accessControl"]
    config_path = workdir / "resources" / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return dirs, config_path


def start_redis(port: int, *, log_dir: Path) -> ManagedProcess | None:
    """A throwaway redis-server, or None when the machine has none."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    process = start_process(
        "redis",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        log_dir=log_dir,
    )
    wait_until(lambda: port_open(port), what=f"redis-server on {port}", watch=[process])
    return process


def docker_engine_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    result = subprocess.run([docker, "info"], capture_output=True, check=False, timeout=20)
    return result.returncode == 0


@contextmanager
def redis_from_testcontainers() -> Iterator[int]:
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7-alpine") as container:
        yield int(container.get_exposed_port(6379))


def start_sidecar_and_app(
    app: AppPorts,
    *,
    resources: list[Path],
    config: Path,
    placement_port: int,
    sentry: Sentry | None,
    tokens: Tokens | None,
    log_dir: Path,
    started: ProcessSet,
    env: dict[str, str] | None = None,
) -> None:
    argv: list[str | os.PathLike[str]] = [
        runtime_bin("daprd"),
        "--app-id", app.app_id,
        "--app-port", str(app.app),
        "--app-protocol", "http",
        "--dapr-http-port", str(app.http),
        "--dapr-grpc-port", str(app.grpc),
        "--dapr-internal-grpc-port", str(app.internal),
        "--metrics-port", str(app.metrics),
        "--dapr-listen-addresses", "127.0.0.1",
        "--config", config,
        "--placement-host-address", f"127.0.0.1:{placement_port}",
        *(["--enable-mtls", "--sentry-address", sentry.address] if sentry else []),
        "--enable-app-health-check",
        "--app-health-check-path", "/healthz",
        "--app-health-probe-interval", "1",
        "--log-level", os.environ.get("DAPRD_LOG_LEVEL", "info"),
    ]  # fmt: skip
    for path in resources:
        argv += ["--resources-path", path]
    app_env = {**(tokens.env() if tokens else {}), **(env or {})}
    daprd_env = {**app_env, **({"DAPR_TRUST_ANCHORS": sentry.trust_anchors} if sentry else {})}
    daprd = started.add(start_process(f"{app.app_id}-daprd", argv, log_dir=log_dir, env=daprd_env))
    uvicorn = started.add(start_app(app, log_dir=log_dir, env=app_env))
    through_sidecar = {"dapr-app-id": app.app_id, **(tokens.sidecar_headers() if tokens else {})}
    wait_until(
        lambda: (
            http_ok(f"http://127.0.0.1:{app.http}/v1.0/healthz")
            and http_ok(f"http://127.0.0.1:{app.http}/healthz", through_sidecar)
        ),
        what=f"{app.app_id} and its sidecar",
        timeout=90,
        watch=[daprd, uvicorn],
    )


def start_app(app: AppPorts, *, log_dir: Path, env: dict[str, str] | None = None) -> ManagedProcess:
    """The app alone under uvicorn, with the environment daprd's CLI would give it."""
    app_env = {
        "APP_ID": app.app_id,
        "APP_PORT": str(app.app),
        "DAPR_HTTP_PORT": str(app.http),
        "DAPR_GRPC_PORT": str(app.grpc),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    return start_process(
        f"{app.app_id}-app",
        [
            ROOT / ".venv" / "bin" / "uvicorn", app.module, "--factory",
            "--host", "127.0.0.1", "--port", str(app.app), "--no-access-log",
        ],
        log_dir=log_dir,
        env=app_env,
        cwd=ROOT,
    )  # fmt: skip


@contextmanager
def running_stack(
    resource_set: str,
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    ports: StackPorts | None = None,
    secure: bool = True,
) -> Iterator[Stack]:
    """Start the whole stack for ``resource_set``; stop every process on exit, whatever happens.

    ``secure=False`` leaves out tokens, mTLS and access control: only the benchmarks use it, as
    the baseline that prices them."""
    if not runtime_bin("daprd").exists():
        pytest.fail("daprd is not installed: run `make dapr` (scripts/install-dapr.sh)")
    ports = ports or PORTS[resource_set]
    log_dir = workdir / "logs"
    with ExitStack() as containers, process_set() as started:
        broker_port = ports.broker
        if resource_set == "embedded":
            started.add(start_valkey(broker_port, data_dir=workdir / "valkey", log_dir=log_dir))
        else:
            redis = start_redis(broker_port, log_dir=log_dir)
            if redis is not None:
                started.add(redis)
            elif docker_engine_available():
                broker_port = containers.enter_context(redis_from_testcontainers())
            else:
                reason = "the redis resource set needs redis-server or a Docker engine"
                if os.environ.get("CI"):
                    pytest.fail(f"{reason}; .ci/run installs redis-server")
                pytest.skip(reason)
        resources, config = stage_resources(
            resource_set, workdir, broker_port=broker_port, secure=secure
        )
        sentry = tokens = None
        if secure:
            sentry = start_sentry(
                ports.sentry,
                healthz_port=ports.sentry + 1,
                metrics_port=ports.sentry + 2,
                creds_dir=workdir / "sentry",
                log_dir=log_dir,
            )
            started.add(sentry.process)
            tokens = Tokens.generate()
        started.add(start_placement(ports.placement, sentry=sentry, log_dir=log_dir))
        for app in (ports.memory, ports.chat):
            start_sidecar_and_app(
                app,
                resources=resources,
                config=config,
                placement_port=ports.placement,
                sentry=sentry,
                tokens=tokens,
                log_dir=log_dir,
                started=started,
                env=env,
            )
        yield Stack(
            resource_set=resource_set,
            ports=ports,
            workdir=workdir,
            processes=started,
            broker_port=broker_port,
            tokens=tokens,
        )
