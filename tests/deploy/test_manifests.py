"""The rendered overlays: valid Kubernetes (strict schemas of the core kinds) and the policies
every deployment of this project keeps (probes, limits, hardened containers, Dapr annotations,
secrets by reference only)."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from scripts.stack import RunFile
from tests.deploy.manifests import (
    APPS,
    OVERLAYS,
    Doc,
    annotations,
    is_dapr,
    named,
    of_kind,
    pod_spec,
    render,
)

# The oldest Kubernetes the manifests target and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
RUN_FILE = RunFile.load()
APP_PORTS = {a.app_id: a.app_port for a in RUN_FILE.apps}


def containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(overlay: str) -> list[Doc]:
    return of_kind(render(overlay), "Deployment")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_kinds_validate_strictly(overlay: str, version: str) -> None:
    problems = {}
    for doc in render(overlay):
        if is_dapr(doc):
            continue  # tests/deploy/test_dapr_schemas.py
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems[f"{doc['kind']}/{doc['metadata']['name']}"] = str(exc)
    assert problems == {}


def test_strict_validation_refuses_an_unknown_field() -> None:
    deployment = named(render("dev"), "Deployment", "chat")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_limits_and_a_hardened_security_context(
    overlay: str,
) -> None:
    for deployment in workloads(overlay):
        pod = pod_spec(deployment)
        where = f"{overlay}: {deployment['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["automountServiceAccountToken"] is False, where
        for container in containers(deployment):
            name = f"{where}/{container['name']}"
            assert container.get("livenessProbe"), name
            assert container.get("readinessProbe"), name
            resources = container["resources"]
            for part in ("requests", "limits"):
                assert set(resources[part]) >= {"cpu", "memory"}, f"{name} {part}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security.get("privileged", False) is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert not security["capabilities"].get("add"), name
            assert security.get("runAsNonRoot", True) is True, name
            image = container["image"]
            assert re.search(r":[\w][\w.-]*$", image), f"{name}: {image} has no tag"
            assert not image.endswith(":latest"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_app_has_matching_dapr_annotations_and_tokens(overlay: str) -> None:
    docs = render(overlay)
    for app_id in APPS:
        deployment = named(docs, "Deployment", app_id)
        notes = annotations(deployment)
        (container,) = pod_spec(deployment)["containers"]
        port = APP_PORTS[app_id]
        assert notes["dapr.io/enabled"] == "true"
        assert notes["dapr.io/app-id"] == app_id
        assert notes["dapr.io/app-port"] == str(port)
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert notes["dapr.io/app-protocol"] == "http"
        assert notes["dapr.io/log-as-json"] == "true"
        assert notes["dapr.io/config"] in {
            d["metadata"]["name"] for d in of_kind(docs, "Configuration")
        }
        for key in ("cpu-request", "cpu-limit", "memory-request", "memory-limit"):
            assert notes[f"dapr.io/sidecar-{key}"], key
        # The app reads the very secrets the injector gives its sidecar.
        env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"]}
        assert env["DAPR_API_TOKEN"] == {"name": notes["dapr.io/api-token-secret"], "key": "token"}
        assert env["APP_API_TOKEN"] == {"name": notes["dapr.io/app-token-secret"], "key": "token"}
        assert notes["dapr.io/api-token-secret"] != notes["dapr.io/app-token-secret"]
        assert {"name": "REQUIRE_DAPR_TOKENS", "value": "true"} in container["env"]
        # The probes are the app's own health endpoints, on its port.
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert notes["dapr.io/app-health-check-path"] == "/healthz"
        assert pod_spec(deployment)["serviceAccountName"] == app_id
        named(docs, "ServiceAccount", app_id)
        named(docs, "Service", app_id)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_values_never_appear_in_the_manifests(overlay: str) -> None:
    docs = render(overlay)
    assert of_kind(docs, "Secret") == []
    for deployment in workloads(overlay):
        for container in containers(deployment):
            for item in container.get("env", []):
                if re.search(r"(TOKEN|PASSWORD|KEY|SECRET)$", item["name"]):
                    assert "valueFrom" in item, f"{item['name']} must come from a Secret"
    for component in of_kind(docs, "Component"):
        for item in component["spec"]["metadata"]:
            if re.search(r"password|token|key$", item["name"], re.IGNORECASE):
                assert "secretKeyRef" in item, f"{component['metadata']['name']}.{item['name']}"


def test_prod_runs_replicas_with_autoscaling_budgets_and_network_policies() -> None:
    docs = render("prod")
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    assert all(d["spec"]["replicas"] >= 2 for d in deployments.values())
    assert {n: d["spec"]["replicas"] for n, d in deployments.items()} == {"chat": 3, "memory": 2}
    # The replicas share dev's Dapr components (pubsub-broadcast: one consumer group per pod).
    names = {c["metadata"]["name"] for c in of_kind(docs, "Component")}
    assert names == {c["metadata"]["name"] for c in of_kind(render("dev"), "Component")}
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "chat"}  # fmt: skip
    assert hpa["spec"]["minReplicas"] <= deployments["chat"]["spec"]["replicas"]
    selectors = {
        tuple(sorted(p["spec"]["selector"]["matchLabels"].items()))
        for p in of_kind(docs, "PodDisruptionBudget")
    }
    for deployment in deployments.values():
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert tuple(sorted(labels.items())) in selectors
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "NetworkPolicy")}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # Only chat's HTTP port is reachable from outside the pods' own sidecars; memory only on
    # the Dapr internal gRPC port, and only from chat.
    memory = policies["memory-from-chat-sidecar"]["ingress"]
    assert memory == [{
        "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "chat"}}}],
        "ports": [{"protocol": "TCP", "port": 50002}],
    }]  # fmt: skip
    chat_ports = [p["port"] for r in policies["chat-from-ingress"]["ingress"] for p in r["ports"]]
    assert chat_ports == [APP_PORTS["chat"]]


@pytest.mark.parametrize(("overlay", "tls"), [("dev", "false"), ("prod", "true")])
def test_every_component_speaks_tls_to_redis_in_prod_only(overlay: str, tls: str) -> None:
    """prod switches TLS on by replacing /spec/metadata/2 of every Component: that entry must
    be enableTLS in each of them, new components included."""
    for component in of_kind(render(overlay), "Component"):
        assert component["spec"]["metadata"][2] == {"name": "enableTLS", "value": tls}, component[
            "metadata"
        ]["name"]


def test_dev_is_one_replica_each_with_an_in_cluster_redis() -> None:
    docs = render("dev")
    assert {d["metadata"]["name"]: d["spec"]["replicas"] for d in of_kind(docs, "Deployment")} == {
        "chat": 1, "memory": 1, "redis": 1,
    }  # fmt: skip
    redis = named(docs, "Service", "redis")
    assert redis["spec"]["ports"][0]["port"] == 6379


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_overlays_namespace(overlay: str) -> None:
    docs = render(overlay)
    (namespace,) = of_kind(docs, "Namespace")
    ns = namespace["metadata"]["name"]
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {ns}
    # Access control identifies callers by namespace too: it must be this one.
    config = named(docs, "Configuration", "appconfig")
    assert {p["namespace"] for p in config["spec"]["accessControl"]["policies"]} == {ns}
