"""Names and ports agree across dapr.yaml, components/ and the services' settings."""

from __future__ import annotations

from typing import Any

import yaml

from chat.core.settings import ChatSettings
from memory.core.settings import MemorySettings
from scripts.stack import COMPONENTS, RESOURCE_SETS, RunFile
from tests.deploy.manifests import local

SETTINGS = {"chat": ChatSettings(), "memory": MemorySettings()}


def components(resource_set: str) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in local("Component", resource_set)}


def test_run_file_apps_match_the_services() -> None:
    run_file = RunFile.load()
    assert sorted(a.app_id for a in run_file.apps) == sorted(SETTINGS)
    for app in run_file.data["apps"]:
        command = " ".join(app["command"])
        assert f"{app['appID']}.main:create_app --factory" in command
        assert f"--port {app['appPort']}" in command
        assert app["appDirPath"] == f"./services/{app['appID']}"


def test_ports_are_unique_and_below_the_ephemeral_range() -> None:
    run_file = RunFile.load()
    ports = [run_file.placement_port]
    for app in run_file.data["apps"]:
        ports += [app[k] for k in ("appPort", "daprHTTPPort", "daprGRPCPort",
                                   "daprInternalGRPCPort", "metricsPort")]  # fmt: skip
    assert len(ports) == len(set(ports))
    assert all(p < 32768 for p in ports)


def test_every_resource_set_has_each_apps_store_scoped_to_it_and_the_pubsub() -> None:
    for resource_set in RESOURCE_SETS:
        found = components(resource_set)
        for app_id, settings in SETTINGS.items():
            store = found[settings.state_store]
            assert store["spec"]["type"].startswith("state.")
            assert store["scopes"] == [app_id], f"{resource_set}: {settings.state_store} scopes"
            assert settings.pubsub_name in found
            assert app_id in found[settings.pubsub_name]["scopes"]


def test_resiliency_targets_name_real_apps_and_components() -> None:
    doc = yaml.safe_load((COMPONENTS / "common" / "resiliency.yaml").read_text())
    targets = doc["spec"]["targets"]
    assert set(targets["apps"]) <= set(SETTINGS)
    for resource_set in RESOURCE_SETS:
        assert set(targets["components"]) <= set(components(resource_set))
