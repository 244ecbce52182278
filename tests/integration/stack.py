"""A real two-app Dapr stack for integration tests: the broker, placement, Sentry, and for each
app ``replicas`` copies of a real `daprd` with the app under uvicorn, on pinned 127.0.0.1
ports, logging to files. The replicas of an app share its state stores and the broker, as pods
of one Deployment do; each daprd has its own POD_NAME (``<app-id>-<replica>``), which names its
consumer group on pubsub-broadcast.

Security is on as in `make run`: API tokens both ways (fresh per stack), mTLS from the stack's
own Sentry, and the access control of components/config.yaml.

The resources are the project's own files (components/common + one resource set), copied with
only their addresses changed: the broker port, the SQLite file paths, the name-resolution table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
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
    create_sqlite_files,
    http_ok,
    port_open,
    process_set,
    redis_ready,
    runtime_bin,
    sqlite_files,
    start_placement,
    start_process,
    start_sentry,
    start_valkey,
    wait_until,
)

APP_IDS = ("chat", "memory")
# Replica r of an app uses its block's ports + REPLICA_STRIDE * r, so replica 0 keeps the ports
# of a one-replica stack; a block of 100 holds MAX_REPLICAS of each app.
REPLICA_STRIDE = 20
MAX_REPLICAS = 5


@dataclass(frozen=True)
class AppPorts:
    """One replica of an app: its uvicorn port and its daprd's ports."""

    app_id: str
    module: str
    app: int
    http: int
    grpc: int
    internal: int
    metrics: int
    replica: int = 0

    @property
    def pod_name(self) -> str:
        """What its daprd gets as POD_NAME (pubsub-broadcast's group: ``chat-chat-1``)."""
        return f"{self.app_id}-{self.replica}"

    def process_name(self, part: str) -> str:
        """``chat-app-0``, ``memory-daprd-1``: unique in a stack, and its log file's name."""
        return f"{self.app_id}-{part}-{self.replica}"


def app_ports(offset: int, app_id: str, replica: int) -> AppPorts:
    if not 0 <= replica < MAX_REPLICAS:
        raise ValueError(f"replica {replica} outside 0..{MAX_REPLICAS - 1}")
    step = offset + APP_IDS.index(app_id) + REPLICA_STRIDE * replica
    return AppPorts(
        app_id=app_id,
        module=f"{app_id}.main:create_app",
        app=8100 + step,
        http=3600 + step,
        grpc=5600 + step,
        internal=5610 + step,
        metrics=9190 + step,
        replica=replica,
    )


@dataclass(frozen=True)
class StackPorts:
    """One block of pinned ports per stack, below the ephemeral range.

    Per block (``offset`` 0, 100, 200): app ``8100+o``, daprd HTTP ``3600+o``, gRPC ``5600+o``,
    internal gRPC ``5610+o``, metrics ``9190+o``, each ``+ i + 20 * r`` for app ``i`` (chat 0,
    memory 1) and replica ``r``; the broker ``6390+o/100``; placement ``5250+o/10`` (with
    +100..+102), Sentry placement+5..+7. ``chat`` and ``memory`` are replica 0;
    ``replicas(app_id)`` gives every replica the stack runs."""

    chat: AppPorts
    memory: AppPorts
    broker: int
    placement: int
    offset: int = 0
    replica_count: int = 1

    @property
    def sentry(self) -> int:
        # placement uses its port and +100..+102; Sentry takes +5 (gRPC), +6, +7 (health, metrics)
        return self.placement + 5

    def replica(self, app_id: str, index: int) -> AppPorts:
        return app_ports(self.offset, app_id, index)

    def replicas(self, app_id: str) -> tuple[AppPorts, ...]:
        """Every replica of ``app_id`` in this stack, replica 0 first."""
        return tuple(self.replica(app_id, r) for r in range(self.replica_count))

    def with_replicas(self, count: int) -> StackPorts:
        if not 1 <= count <= MAX_REPLICAS:
            raise ValueError(f"replicas must be 1..{MAX_REPLICAS}, not {count}")
        return replace(self, replica_count=count)

    def all_ports(self) -> list[int]:
        """Every port the stack listens on (Sentry's and placement's included)."""
        found = [self.broker, self.placement, *(self.placement + d for d in (100, 101, 102))]
        found += [self.sentry, self.sentry + 1, self.sentry + 2]
        for app_id in APP_IDS:
            for app in self.replicas(app_id):
                found += [app.app, app.http, app.grpc, app.internal, app.metrics]
        return found

    @classmethod
    def block(cls, offset: int, replicas: int = 1) -> StackPorts:
        return cls(
            chat=app_ports(offset, "chat", 0),
            memory=app_ports(offset, "memory", 0),
            broker=6390 + offset // 100,
            placement=5250 + offset // 10,
            offset=offset,
        ).with_replicas(replicas)


PORTS = {"embedded": StackPorts.block(0), "redis": StackPorts.block(100)}
BENCH_PORTS = StackPorts.block(200)  # bench/: can run beside the tests and `make run`
CLIENT_PORTS = StackPorts.block(300)  # tests/clients: the CLI and the web page
FAULT_PORTS = StackPorts.block(400)  # tests/faults: a stack of its own, auth and limits on
# tests/clients: a second stack whose chat answers with a model the tests script
SCRIPTED_CLIENT_PORTS = StackPorts.block(500)
IMAGE_PORTS = StackPorts.block(600)  # tests/deploy: the apps run from their images

# The offline model paced like a hosted one (a reply of ~50 words takes ~0.75 s), so that a turn
# is still running when the next message, a delete or a hang-up arrives; leases renewed often,
# so that a turn on one replica learns quickly that another replica interrupted it.
PACED = {
    "OFFLINE_TOKEN_DELAY_SECONDS": "0.015",
    "TURN_LEASE_RENEW_SECONDS": "0.25",
}


@dataclass
class Stack:
    resource_set: str
    ports: StackPorts
    workdir: Path
    processes: ProcessSet
    broker_port: int
    tokens: Tokens | None  # None: a stack without security (benchmarks' baseline only)
    env: dict[str, str] = field(default_factory=dict)  # running_stack's extra app environment
    app_env: dict[str, dict[str, str]] = field(default_factory=dict)  # ...and one app's
    images: dict[str, ContainerImage] = field(default_factory=dict)  # apps run from images
    broker_container: Any = None  # the redis set's Redis, when testcontainers started it

    def replicas(self, app_id: str) -> tuple[AppPorts, ...]:
        """Every replica of ``app_id``, replica 0 (``ports.chat``/``ports.memory``) first."""
        return self.ports.replicas(app_id)

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
        """Stop one replica's app (its daprd keeps running), e.g. ``ports.memory``."""
        self.process(app.process_name("app")).stop()

    def start_app(self, app: AppPorts) -> None:
        """Start an app stopped by ``stop_app`` again and wait until its sidecar reaches it."""
        env = {
            **(self.tokens.env() if self.tokens else {}),
            **self.env,
            **self.app_env.get(app.app_id, {}),
        }
        process = self.processes.add(
            start_app(
                app, log_dir=self.workdir / "logs", env=env, image=self.images.get(app.app_id)
            )
        )
        wait_until(
            lambda: http_ok(
                f"http://127.0.0.1:{app.http}/healthz", {"dapr-app-id": app.app_id, **self.auth}
            ),
            what=f"{app.process_name('app')} back",
            timeout=60,
            watch=[process],
        )

    def kill_sidecar(self, app: AppPorts) -> None:
        """SIGKILL one replica's daprd (its app keeps running), as a crash would."""
        self.process(app.process_name("daprd")).stop(grace_seconds=0, sig=signal.SIGKILL)

    def restart_sidecar(self, app: AppPorts) -> None:
        """Start a killed daprd again with its own flags and wait until it reaches its app."""
        process = self.processes.add(self.process(app.process_name("daprd")).restarted())
        through = {"dapr-app-id": app.app_id, **self.auth}
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{app.http}/healthz", through),
            what=f"{app.process_name('daprd')} back",
            timeout=90,
            watch=[process],
        )

    @property
    def _broker_process(self) -> str:
        return "valkey" if self.resource_set == "embedded" else "redis"

    def stop_broker(self) -> None:
        """Stop the broker: the embedded set's valkey (its state stores are SQLite), or the
        redis set's Redis, which is its state stores and actor store too."""
        if self.broker_container is not None:
            self.broker_container.stop(timeout=10)
            return
        self.process(self._broker_process).stop()

    def start_broker(self) -> None:
        """Start it again on its data (append-only file): what it held is back."""
        if self.broker_container is not None:
            self.broker_container.start()
            wait_until(lambda: redis_ready(self.broker_port), what="the broker back")
            return
        process = self.processes.add(self.process(self._broker_process).restarted())
        wait_until(lambda: redis_ready(self.broker_port), what="the broker back", watch=[process])

    def state_keys(self, store: str, prefix: str) -> list[str]:
        """Keys of ``store`` (without daprd's ``<app id>||`` prefix) that start with ``prefix``,
        read straight from the backing store: state.sqlite's ``state`` table, or Redis."""
        app_id = store.removesuffix("-state")
        full = f"{app_id}||{prefix}"
        if self.resource_set == "embedded":
            import sqlite3

            db = sqlite3.connect(self.workdir / "data" / f"{store}.db")
            try:
                rows = db.execute(
                    "SELECT key FROM state WHERE substr(key, 1, ?) = ?", (len(full), full)
                ).fetchall()
            finally:
                db.close()
            found = [str(r[0]) for r in rows]
        else:
            import valkey

            client = valkey.Valkey(host="127.0.0.1", port=self.broker_port, socket_timeout=5)
            try:
                found = [k.decode() for k in client.scan_iter(match=full.replace("*", r"\*") + "*")]
            finally:
                client.close()
        return sorted(k.removeprefix(f"{app_id}||") for k in found)

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


def turns_backlog(stack: Stack) -> int:
    """conversation-turns deliveries memory has not finished yet (pending + not yet read)."""
    return _stream_backlog(stack, "conversation-turns")


def outbox_backlog(stack: Stack, *, pending: bool = True) -> int:
    """Messages of the outbox's internal topics not yet handled (pending + not yet read), as
    the broker counts them for every consumer group. ``pending=False`` counts only the unread:
    a sidecar restarted by an earlier test leaves its consumer's entries pending until the
    component reclaims them."""
    return _stream_backlog(stack, "*outbox", pending=pending)


def _stream_backlog(stack: Stack, pattern: str, *, pending: bool = True) -> int:
    import valkey

    client = valkey.Valkey(host="127.0.0.1", port=stack.broker_port, socket_timeout=5)
    try:
        total = 0
        for name in client.scan_iter(match=pattern, _type="stream"):
            for group in client.xinfo_groups(name):  # type: ignore[union-attr]
                total += int(group.get("lag") or 0)
                total += int(group.get("pending") or 0) if pending else 0
        return total
    finally:
        client.close()  # type: ignore[no-untyped-call]


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
        elif item["name"] == "connectionString":  # a file of the test's own; options kept
            options = item["value"].partition("?")[2]
            path = str(data_dir / f"{doc['metadata']['name']}.db")
            item["value"] = f"{path}?{options}" if options else path


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
    create_sqlite_files(sqlite_files(dirs, config_path, base=workdir))
    return dirs, config_path


def start_redis(port: int, *, data_dir: Path, log_dir: Path) -> ManagedProcess | None:
    """A redis-server for the stack, or None when the machine has none. Durable as a deployed
    Redis is (append-only file, fsync every second), so a fault test can stop and restart it
    and find what it held."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    process = start_process(
        "redis",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", data_dir, "--save", "",
         "--appendonly", "yes"],
        log_dir=log_dir,
    )  # fmt: skip
    wait_until(lambda: port_open(port), what=f"redis-server on {port}", watch=[process])
    return process


#: The Redis the tests run in a container: built here from Debian's packages
#: (`scripts/images.sh test-servers`), never pulled.
TEST_REDIS_IMAGE = "localhost/agent-test-redis:bookworm"
CONTAINERS_CONF = ROOT / "scripts" / "containers.conf"


def engine_env(engine: str) -> dict[str, str]:
    """What ``engine`` runs with beyond this process's environment: podman and buildah take
    scripts/containers.conf (runc, ulimits under the machine's); docker nothing."""
    return {"CONTAINERS_CONF": str(CONTAINERS_CONF)} if engine in ("podman", "buildah") else {}


def container_engine() -> str | None:
    """The local container engine that answers (docker, then podman), or None."""
    for engine in ("docker", "podman"):
        if shutil.which(engine) is None:
            continue
        env = {**os.environ, **engine_env(engine)}
        if subprocess.run([engine, "info"], capture_output=True, check=False, timeout=30,
                          env=env).returncode == 0:  # fmt: skip
            return engine
    return None


@contextmanager
def docker_api(engine: str, workdir: Path) -> Iterator[None]:
    """``DOCKER_HOST`` for testcontainers while the block runs: docker's own socket, or
    Podman's Docker-compatible API served for the block (``podman system service``) on a
    socket in ``workdir``. Ryuk (testcontainers' reaper, an image from Docker Hub) is off:
    the containers are removed by the blocks that start them."""
    saved = {k: os.environ.get(k) for k in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED")}
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    try:
        if engine == "docker":
            yield
            return
        socket_path = workdir / "podman.sock"
        service = start_process(
            "podman-api",
            ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
            log_dir=workdir / "logs",
            env=engine_env(engine),
        )
        try:
            wait_until(socket_path.exists, what="podman's API socket", watch=[service])
            os.environ["DOCKER_HOST"] = f"unix://{socket_path}"
            yield
        finally:
            service.stop()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def redis_from_testcontainers(engine: str, port: int, workdir: Path) -> Iterator[Any]:
    """A Redis in a container on 127.0.0.1:``port`` (durable: append-only file in the
    container), started by testcontainers against ``engine``; yields the container
    (docker-py's, which ``Stack.stop_broker`` stops and starts)."""
    from testcontainers.core.container import DockerContainer

    built = subprocess.run(
        [ROOT / "scripts" / "images.sh", "test-servers"],
        env={**os.environ, "ENGINE": engine}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    with docker_api(engine, workdir):
        redis = DockerContainer(TEST_REDIS_IMAGE).with_command(
            ["redis-server", "--protected-mode", "no", "--appendonly", "yes", "--save", ""]
        )
        # Published on loopback only (testcontainers' with_bind_ports takes no address).
        redis.ports["6379/tcp"] = ("127.0.0.1", port)  # type: ignore[assignment]
        with redis:
            wait_until(lambda: redis_ready(port), what=f"redis in a container on {port}")
            yield redis.get_wrapped_container()


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
    image: ContainerImage | None = None,
) -> Callable[[], None]:
    """Start one replica's daprd and app (from ``image`` when given); returns the wait until
    both answer."""
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
        # As dapr.yaml: a probe may take 1 s on a loaded 2-core machine before it counts as a
        # failure (daprd's default 500 ms marked busy apps unhealthy, and moved their actors).
        "--app-health-probe-timeout", "1000",
        "--log-level", os.environ.get("DAPRD_LOG_LEVEL", "info"),
    ]  # fmt: skip
    for path in resources:
        argv += ["--resources-path", path]
    app_env = {**(tokens.env() if tokens else {}), **(env or {})}
    daprd_env = {
        **app_env,
        # As the Kubernetes injector does; pubsub-broadcast's consumerID needs it.
        "POD_NAME": app.pod_name,
        **({"DAPR_TRUST_ANCHORS": sentry.trust_anchors} if sentry else {}),
    }
    daprd = started.add(
        start_process(app.process_name("daprd"), argv, log_dir=log_dir, env=daprd_env)
    )
    uvicorn = started.add(start_app(app, log_dir=log_dir, env=app_env, image=image))
    through_sidecar = {"dapr-app-id": app.app_id, **(tokens.sidecar_headers() if tokens else {})}

    def wait() -> None:
        wait_until(
            lambda: (
                http_ok(f"http://127.0.0.1:{app.http}/v1.0/healthz")
                and http_ok(f"http://127.0.0.1:{app.http}/healthz", through_sidecar)
            ),
            what=f"{app.process_name('app')} and its sidecar",
            timeout=90,
            watch=[daprd, uvicorn],
        )

    return wait


@dataclass(frozen=True)
class ContainerImage:
    """An app's image and the engine that runs it (tests/deploy/test_images_run.py)."""

    engine: str  # podman or docker
    name: str  # e.g. agent-chat:0.1.0
    env: dict[str, str] = field(default_factory=dict)  # the engine's own (CONTAINERS_CONF)

    def argv(self, container: str, app_env: dict[str, str], command: list[str]) -> list[str]:
        """``run`` as a deployment runs the image: its own user, a read-only root filesystem,
        no capability, no privilege escalation; on the host's network (127.0.0.1 only), so
        that its daprd, a process here, reaches it as it reaches a local app."""
        env = [arg for key, value in app_env.items() for arg in ("--env", f"{key}={value}")]
        return [
            self.engine, "run", "--rm", "--name", container, "--network", "host",
            "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--stop-timeout", "10", *env, self.name, *command,
        ]  # fmt: skip


def start_app(
    app: AppPorts,
    *,
    log_dir: Path,
    env: dict[str, str] | None = None,
    image: ContainerImage | None = None,
) -> ManagedProcess:
    """The app alone under uvicorn, with the environment daprd's CLI would give it; from
    ``image`` in a container when given (the container is removed when the process stops)."""
    app_env = {
        "APP_ID": app.app_id,
        "APP_PORT": str(app.app),
        "DAPR_HTTP_PORT": str(app.http),
        "DAPR_GRPC_PORT": str(app.grpc),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    if image is not None:
        command = [
            "uvicorn", app.module, "--factory", "--host", "127.0.0.1", "--port", str(app.app),
            "--no-access-log", "--timeout-keep-alive", "100",
        ]  # fmt: skip
        container = f"test-{app.process_name('app')}-{app.app}"
        subprocess.run([image.engine, "rm", "-f", container], capture_output=True, check=False,
                       env={**os.environ, **image.env})  # fmt: skip
        return start_process(
            app.process_name("app"),
            image.argv(container, app_env, command),
            log_dir=log_dir,
            env=image.env,
        )
    return start_process(
        app.process_name("app"),
        [
            ROOT / ".venv" / "bin" / "uvicorn", app.module, "--factory",
            "--host", "127.0.0.1", "--port", str(app.app), "--no-access-log",
            "--timeout-keep-alive", "100",
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
    app_env: dict[str, dict[str, str]] | None = None,
    ports: StackPorts | None = None,
    secure: bool = True,
    replicas: int = 2,
    images: dict[str, ContainerImage] | None = None,
) -> Iterator[Stack]:
    """Start the whole stack for ``resource_set``; stop every process on exit, whatever happens.

    ``replicas`` copies of each app run, each with its own daprd and ports (``StackPorts``),
    sharing the stores and the broker; ``stack.ports.chat``/``.memory`` are replica 0 and
    ``stack.replicas(app_id)`` lists them all. ``secure=False`` leaves out tokens, mTLS and
    access control: only the benchmarks use it, as the baseline that prices them. ``env`` is
    every app's extra environment, ``app_env[app_id]`` one app's on top of it."""
    if not runtime_bin("daprd").exists():
        pytest.fail("daprd is not installed: run `make dapr` (scripts/install-dapr.sh)")
    ports = (ports or PORTS[resource_set]).with_replicas(replicas)
    log_dir = workdir / "logs"
    # Tests and benchmarks run bursts of turns for one user: the per-user limit stays in the
    # path (every turn asks the ChatRateLimit actor) but far above them, unless ``env`` sets
    # one (tests/faults checks the limit itself).
    env = {"TURN_RATE_LIMIT": "1000/second", **(env or {})}
    broker_container = None
    with ExitStack() as containers, process_set() as started:
        broker_port = ports.broker
        if resource_set == "embedded":
            started.add(start_valkey(broker_port, data_dir=workdir / "valkey", log_dir=log_dir))
        else:
            # From testcontainers against the local engine; redis-server where none answers.
            if (engine := container_engine()) is not None:
                broker_container = containers.enter_context(
                    redis_from_testcontainers(engine, broker_port, workdir)
                )
            elif (redis := start_redis(broker_port, data_dir=workdir / "redis",
                                       log_dir=log_dir)) is not None:  # fmt: skip
                started.add(redis)
            else:
                reason = "the redis resource set needs a container engine or redis-server"
                if os.environ.get("CI"):
                    pytest.fail(f"{reason}; .ci/run installs podman and redis-server")
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
        # memory first (chat's readiness asks for it); an app's replicas start together.
        for app_id in ("memory", "chat"):
            waits = [
                start_sidecar_and_app(
                    app,
                    resources=resources,
                    config=config,
                    placement_port=ports.placement,
                    sentry=sentry,
                    tokens=tokens,
                    log_dir=log_dir,
                    started=started,
                    env={**env, **(app_env or {}).get(app_id, {})},
                    image=(images or {}).get(app_id),
                )
                for app in ports.replicas(app_id)
            ]
            for wait in waits:
                wait()
        yield Stack(
            resource_set=resource_set,
            ports=ports,
            workdir=workdir,
            processes=started,
            broker_port=broker_port,
            tokens=tokens,
            env=env,
            app_env={app_id: dict(e) for app_id, e in (app_env or {}).items()},
            images=dict(images or {}),
            broker_container=broker_container,
        )
