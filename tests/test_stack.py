"""The local runner's pieces that need no processes: the run's tokens, the traced config and
the staged run file."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from scripts.stack import COMPONENTS, RunFile, Tokens, staged_config
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
