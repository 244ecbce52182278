"""The service images, built here by `make images` (scripts/images.sh) with the local engine, run
as a deployment runs them: their own unprivileged user, a read-only root filesystem, no
capabilities, no network of their own beyond the host's loopback. Each app answers through its
real daprd, and a turn through chat's container becomes a memory in memory's container, whose
encoder's weights are in the image (nothing is downloaded at start)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.stack import ROOT
from tests.integration.stack import (
    IMAGE_PORTS,
    ContainerImage,
    Stack,
    container_engine,
    engine_env,
    eventually,
    running_stack,
)

pytestmark = pytest.mark.images

PREFIX, TAG = "agent", "0.1.0"
SERVICES = ("chat", "memory")


@pytest.fixture(scope="module")
def images() -> dict[str, ContainerImage]:
    name = container_engine()
    if name is None:
        reason = "no container engine (podman or docker) answers here"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs podman")
        pytest.skip(reason)
    built = subprocess.run(
        ["scripts/images.sh"],
        cwd=ROOT,
        env={
            **os.environ,
            **engine_env(name),
            "ENGINE": name,
            "IMAGE_PREFIX": PREFIX,
            "IMAGE_TAG": TAG,
        },
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return {
        s: ContainerImage(engine=name, name=f"{PREFIX}-{s}:{TAG}", env=engine_env(name))
        for s in SERVICES
    }


def run_offline(image: ContainerImage, code: str, timeout: float) -> str:
    """``python3 -c code`` in ``image`` as deployed (read-only) and with no network at all;
    its output (the test fails with the error output when it exits non-zero)."""
    run = subprocess.run(
        [image.engine, "run", "--rm", "--read-only", "--network", "none", image.name,
         "python3", "-c", code],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **image.env},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def inspect(image: ContainerImage) -> dict[str, object]:
    out = subprocess.run(
        [image.engine, "image", "inspect", image.name],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **image.env},
    ).stdout
    data: list[dict[str, object]] = json.loads(out)
    return data[0]


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_runs_unprivileged_with_only_its_runtime(
    images: dict[str, ContainerImage], service: str
) -> None:
    image = images[service]
    config = inspect(image)["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "10001:10001"
    probe = run_offline(
        image,
        "import os, importlib.util as u; print(os.getuid(), os.access('/app', os.W_OK), "
        "u.find_spec('pytest') is None, u.find_spec('ruff') is None)",
        timeout=120,
    )
    assert probe.split() == ["10001", "False", "True", "True"]


def test_the_encoder_loads_from_the_image_without_a_network(
    images: dict[str, ContainerImage],
) -> None:
    image = images["memory"]
    embed = run_offline(
        image,
        "from memory.services.embedding import load_default_embedder as load; e = load(); "
        "print(len(e.embed(['the user lives in Bergen'])[0]))",
        timeout=300,
    )
    assert embed.split()[-1] == "384"


@pytest.fixture(scope="module")
def image_stack(
    images: dict[str, ContainerImage], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("image-stack")
    began = time.monotonic()
    with running_stack("embedded", workdir, ports=IMAGE_PORTS, replicas=1, images=images) as stack:
        print(f"\nstack from images ready in {time.monotonic() - began:.1f} s")
        yield stack


def test_both_apps_answer_through_their_sidecars_and_a_turn_becomes_a_memory(
    image_stack: Stack,
) -> None:
    stack = image_stack
    for app in (stack.ports.chat, stack.ports.memory):
        ready = httpx.get(f"{stack.app_url(app)}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    user = f"img-{uuid.uuid4().hex[:8]}"
    chat = stack.app_url(stack.ports.chat)
    reply = httpx.post(
        f"{chat}/chat", json={"user_id": user, "message": "I live in Bergen."}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    eventually(
        lambda: (
            "The user lives in Bergen."
            in [
                m["content"]
                for m in httpx.get(f"{chat}/users/{user}/memories", timeout=10).json()["items"]
            ]
        ),
        what="the memory derived in memory's container",
        timeout=30,
    )
    hits = httpx.get(
        f"{chat}/users/{user}/memories/search", params={"q": "which city is home?"}, timeout=10
    ).json()["hits"]
    assert hits, "semantic search found nothing"
