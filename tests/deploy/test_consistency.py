"""One system, three descriptions: `dapr.yaml` + `components/` (local), `k8s/` (rendered) and
the code (settings, routes, Dockerfiles). Where a fact is written twice, these tests fail on
drift."""

from __future__ import annotations

import base64
import fnmatch
import re
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from chat.core.settings import ChatSettings
from chat.main import create_app as create_chat
from memory.core.settings import MemorySettings
from memory.main import create_app as create_memory
from scripts import k8s_secrets
from scripts.stack import RESOURCE_SETS, ROOT, RunFile
from sidecar.strict_json import StrictJSONRoute
from sidecar.testing import api_routes
from tests.deploy.manifests import APPS, OVERLAYS, Doc, local, named, of_kind, pod_spec, render

SETTINGS = {"chat": ChatSettings(), "memory": MemorySettings()}
RUN_FILE = RunFile.load()
OUTBOX_KEYS = (
    "outboxPublishPubsub",
    "outboxPublishTopic",
    "outboxDiscardWhenMissingState",
    "outboxPubsub",
)
# Metadata that changes how a component behaves (not where it connects): the same everywhere.
BEHAVIOUR_KEYS = (
    *OUTBOX_KEYS,
    "actorStateStore",
    "consumerID",
    "concurrency",
    "queueDepth",
    "processingTimeout",
    "redeliverInterval",
)
# daprd's handler for an internal outbox message holds a redis worker for 1 s, then polls up to
# ~10 s for the marker (dapr pkg/runtime/pubsub/outbox.go).
OUTBOX_HANDLER_SECONDS = 11


def essence(doc: Doc) -> dict[str, Any]:
    """What Dapr reads of a resource: no namespace, labels or comments."""
    return {"name": doc["metadata"]["name"], "spec": doc["spec"], "scopes": doc.get("scopes")}


def metadata(component: Doc) -> dict[str, Any]:
    return {m["name"]: m.get("value", m.get("secretKeyRef")) for m in component["spec"]["metadata"]}


def routes(app: FastAPI) -> dict[str, set[str]]:
    """Path -> HTTP methods the app serves (from its OpenAPI document, health included)."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {path: {m.upper() for m in ops} for path, ops in paths.items()}


APPS_BUILT = {
    "chat": create_chat(ChatSettings()),
    "memory": create_memory(MemorySettings(), embedder=None),
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_components_have_the_same_names_scopes_and_outbox_everywhere(overlay: str) -> None:
    k8s = {c["metadata"]["name"]: c for c in of_kind(render(overlay), "Component")}
    for resource_set in RESOURCE_SETS:
        here = {c["metadata"]["name"]: c for c in local("Component", resource_set)}
        assert set(here) == set(k8s), resource_set
        for name, component in here.items():
            assert component.get("scopes") == k8s[name].get("scopes"), name
            assert (
                component["spec"]["type"].split(".")[0] == k8s[name]["spec"]["type"].split(".")[0]
            )
            ours, theirs = metadata(component), metadata(k8s[name])
            assert {k: ours.get(k) for k in BEHAVIOUR_KEYS} == {
                k: theirs.get(k) for k in BEHAVIOUR_KEYS
            }, f"{resource_set}: {name}"
    # The Kubernetes set is the `redis` resource set's component types.
    redis = {c["metadata"]["name"]: c["spec"]["type"] for c in local("Component", "redis")}
    assert {n: c["spec"]["type"] for n, c in k8s.items()} == redis


# Every place the resources are described: the local resource sets and the rendered overlays.
EVERYWHERE = (*RESOURCE_SETS, *(f"k8s/{overlay}" for overlay in OVERLAYS))


def resources(where: str, kind: str) -> list[Doc]:
    if where.startswith("k8s/"):
        return of_kind(render(where.removeprefix("k8s/")), kind)
    return local(kind, where)


def components(where: str) -> dict[str, Doc]:
    return {c["metadata"]["name"]: c for c in resources(where, "Component")}


def seconds(duration: str) -> float:
    """A Dapr duration as the components use it ("60s", "500ms", "1m")."""
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match[1]) * {"ms": 0.001, "s": 1, "m": 60}[match[2]]


@pytest.mark.parametrize("where", EVERYWHERE)
def test_the_outbox_runs_on_its_own_pubsub_sized_for_its_handler(where: str) -> None:
    found = components(where)
    stores = {n: metadata(c) for n, c in found.items() if "outboxPublishPubsub" in metadata(c)}
    assert set(stores) == {s.state_store for s in SETTINGS.values()}
    for name, meta in stores.items():
        assert meta["outboxPubsub"] == "pubsub-outbox", name
        assert meta["outboxPublishPubsub"] == "pubsub", name
        assert meta["outboxDiscardWhenMissingState"] == "true", name
    outbox = found["pubsub-outbox"]
    meta = metadata(outbox)
    assert outbox["spec"]["type"] == found["pubsub"]["spec"]["type"] == "pubsub.redis"
    assert meta["redisHost"] == metadata(found["pubsub"])["redisHost"]  # the same broker
    # ~1 message per worker per second: 100 workers, and a pending message is reclaimed only
    # once its handler (1 s + ~10 s, plus a publish and a delete) must have given up.
    assert int(meta["concurrency"]) >= 100
    assert int(meta.get("queueDepth", 100)) >= int(meta["concurrency"])
    assert seconds(meta["processingTimeout"]) >= 4 * OUTBOX_HANDLER_SECONDS
    assert 0 < seconds(meta["redeliverInterval"]) <= seconds(meta["processingTimeout"])
    assert "consumerID" not in meta  # the app id: a sidecar's replicas share the internal topic
    assert sorted(outbox["scopes"]) == sorted(found[n]["scopes"][0] for n in stores)
    assert all(s["spec"]["pubsubname"] != "pubsub-outbox" for s in resources(where, "Subscription"))


@pytest.mark.parametrize("where", EVERYWHERE)
def test_state_stores_are_not_retried_and_the_outbox_pubsub_has_no_policy(where: str) -> None:
    (resiliency,) = resources(where, "Resiliency")
    targets = resiliency["spec"]["targets"]["components"]
    for settings in SETTINGS.values():
        policy = targets[settings.state_store]["outbound"]
        assert "retry" not in policy, settings.state_store
        assert {"timeout", "circuitBreaker"} <= set(policy), settings.state_store
    assert "pubsub-outbox" not in targets
    # A breaker is per component and both directions: never an inbound one on a broker.
    assert all("circuitBreaker" not in t.get("inbound", {}) for t in targets.values())


@pytest.mark.parametrize("where", EVERYWHERE)
def test_chat_gets_memory_events_as_a_broadcast(where: str) -> None:
    found = components(where)
    broadcast = found["pubsub-broadcast"]
    meta = metadata(broadcast)
    assert broadcast["spec"]["type"] == "pubsub.redis"
    assert meta["redisHost"] == metadata(found["pubsub"])["redisHost"]  # the same broker
    # One consumer group per replica: daprd fills {podName} from POD_NAME.
    assert meta["consumerID"] == "{appID}-{podName}"
    assert broadcast["scopes"] == ["chat"]
    # The app pubsub keeps the app id as its group: memory's replicas compete for turns.
    assert "consumerID" not in metadata(found["pubsub"])
    by_app = {s["scopes"][0]: s["spec"] for s in resources(where, "Subscription")}
    assert by_app["chat"]["pubsubname"] == "pubsub-broadcast"
    assert by_app["chat"]["topic"] == MemorySettings().memory_events_topic
    assert by_app["memory"]["pubsubname"] == "pubsub"


@pytest.mark.parametrize("where", EVERYWHERE)
def test_each_app_has_one_actor_state_store_of_its_own_without_an_outbox(where: str) -> None:
    found = components(where)
    actor_stores = {n: c for n, c in found.items() if metadata(c).get("actorStateStore") == "true"}
    assert sorted(actor_stores) == sorted(f"{app_id}-actors" for app_id in SETTINGS)
    for app_id, settings in SETTINGS.items():
        store = actor_stores[f"{app_id}-actors"]
        meta = metadata(store)
        # daprd accepts one actor state store per sidecar: scoped to one app each.
        assert store["scopes"] == [app_id]
        assert store["spec"]["type"] == found[settings.state_store]["spec"]["type"]
        assert not {k for k in meta if k.startswith("outbox")}, app_id
        if "connectionString" in meta:  # sqlite: a file of its own
            assert (
                meta["connectionString"]
                != metadata(found[settings.state_store])["connectionString"]
            )
            assert meta["connectionString"].endswith(f"/{app_id}-actors.db")


def test_sqlite_stores_relax_fsync_only_in_wal_mode() -> None:
    # synchronous=NORMAL is consistent after a power loss only with WAL (sqlite.org/pragma.html
    # #pragma_synchronous); Dapr's sqlite store uses WAL unless disableWAL is set.
    for name, component in components("embedded").items():
        meta = metadata(component)
        if component["spec"]["type"] != "state.sqlite":
            continue
        options = meta["connectionString"].partition("?")[2]
        if name in {s.state_store for s in SETTINGS.values()}:  # the outbox stores
            assert options == "_pragma=synchronous(NORMAL)", name
        if "synchronous" in options:
            assert meta.get("disableWAL", "false") == "false", name


@pytest.mark.parametrize("kind", ["Subscription", "Resiliency"])
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_subscriptions_and_resiliency_are_the_same_locally_and_on_kubernetes(
    overlay: str, kind: str
) -> None:
    here = sorted((essence(d) for d in local(kind)), key=lambda e: e["name"])
    there = sorted((essence(d) for d in of_kind(render(overlay), kind)), key=lambda e: e["name"])
    assert here == there


@pytest.mark.parametrize("where", EVERYWHERE)
def test_bulk_subscriptions_can_fill_a_batch(where: str) -> None:
    # pubsub.redis has no bulk reader: daprd's default bulk subscriber batches what the
    # component's workers hold at once (dapr pkg/runtime/pubsub/default_bulksub.go), so with
    # fewer workers than maxMessagesCount every batch waits out maxAwaitDurationMs.
    found = components(where)
    bulk = [s["spec"] for s in resources(where, "Subscription") if "bulkSubscribe" in s["spec"]]
    assert [s["topic"] for s in bulk] == ["memory-events"]
    for spec in bulk:
        config = spec["bulkSubscribe"]
        meta = metadata(found[spec["pubsubname"]])
        assert config["enabled"] is True
        assert int(meta["concurrency"]) >= 2 * config["maxMessagesCount"]
        assert int(meta["queueDepth"]) >= config["maxMessagesCount"]
        assert 0 < config["maxAwaitDurationMs"] <= 250  # a lone notification's extra wait


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_access_control_is_the_same_policy_in_the_overlays_namespace(overlay: str) -> None:
    (here,) = local("Configuration")
    there = named(render(overlay), "Configuration", "appconfig")
    ours, theirs = here["spec"]["accessControl"], there["spec"]["accessControl"]
    strip = [{k: v for k, v in p.items() if k != "namespace"} for p in ours["policies"]]
    assert strip == [{k: v for k, v in p.items() if k != "namespace"} for p in theirs["policies"]]
    assert {k: v for k, v in ours.items() if k != "policies"} == {
        k: v for k, v in theirs.items() if k != "policies"
    }
    assert ours["defaultAction"] == "deny"
    assert [p["appId"] for p in ours["policies"]] == ["chat"]
    assert "samplingRate" in there["spec"]["tracing"]


def test_chat_may_call_every_memory_route_and_nothing_else_is_open() -> None:
    (config,) = local("Configuration")
    (policy,) = config["spec"]["accessControl"]["policies"]
    allowed = [(op["name"], set(op["httpVerb"])) for op in policy["operations"]
               if op["action"] == "allow"]  # fmt: skip

    def permitted(path: str, verb: str) -> bool:
        # Dapr's '**' matches any number of segments, '*' one: fnmatch's '*' is close enough
        # for these patterns, which end in '/**'.
        return any(fnmatch.fnmatch(path, p.replace("/**", "/*")) and verb in verbs
                   for p, verbs in allowed)  # fmt: skip

    for path, methods in routes(APPS_BUILT["memory"]).items():
        if path.startswith("/memories/"):
            assert all(permitted(path, m) for m in methods), path
    assert not permitted("/openapi.json", "GET")
    assert not permitted("/events/conversation-turns", "POST")


def test_topics_and_routes_agree_with_the_code() -> None:
    subscriptions = {s["scopes"][0]: s["spec"] for s in local("Subscription")}
    stores = {c["metadata"]["name"]: metadata(c) for c in local("Component")}
    chat, memory = SETTINGS["chat"], SETTINGS["memory"]
    assert isinstance(chat, ChatSettings)
    assert isinstance(memory, MemorySettings)
    # chat's turn transaction publishes conversation-turns; memory subscribes to it.
    assert stores[chat.state_store]["outboxPublishTopic"] == chat.conversation_turns_topic
    assert subscriptions["memory"]["topic"] == memory.conversation_turns_topic
    assert chat.conversation_turns_topic == memory.conversation_turns_topic
    # memory's writes publish memory-events; chat subscribes to it.
    assert stores[memory.state_store]["outboxPublishTopic"] == memory.memory_events_topic
    assert subscriptions["chat"]["topic"] == memory.memory_events_topic
    # memory competes for conversation-turns on the app pubsub; chat's memory-events is a
    # broadcast on pubsub-broadcast (test_chat_gets_memory_events_as_a_broadcast).
    assert subscriptions["memory"]["pubsubname"] == memory.pubsub_name
    assert subscriptions["chat"]["pubsubname"] == "pubsub-broadcast"
    for app_id, spec in subscriptions.items():
        assert "POST" in routes(APPS_BUILT[app_id])[spec["routes"]["default"]], app_id
        assert spec["deadLetterTopic"] == f"{spec['topic']}-dlq"
    assert chat.memory_app_id == "memory"


def test_ports_commands_and_health_paths_agree() -> None:
    run_apps = {a["appID"]: a for a in RUN_FILE.data["apps"]}
    docs = render("dev")
    for app_id in APPS:
        port = run_apps[app_id]["appPort"]
        deployment = named(docs, "Deployment", app_id)
        (container,) = pod_spec(deployment)["containers"]
        assert container["ports"][0]["containerPort"] == port
        assert container["image"].split(":")[0].endswith(f"agent-{app_id}")
        dockerfile = (ROOT / "services" / app_id / "Dockerfile").read_text()
        assert re.search(rf"^EXPOSE {port}$", dockerfile, re.MULTILINE), app_id
        (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
        argv = yaml.safe_load(cmd)
        assert argv[:3] == ["uvicorn", f"{app_id}.main:create_app", "--factory"]
        assert argv[argv.index("--port") + 1] == str(port)
        # dapr.yaml runs the same app the same way.
        local_argv = run_apps[app_id]["command"]
        assert local_argv[local_argv.index("uvicorn") + 1] == argv[1]
        app_routes = routes(APPS_BUILT[app_id])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            path = container[probe]["httpGet"]["path"]
            assert "GET" in app_routes[path], f"{app_id} {probe} {path}"
    assert RUN_FILE.data["common"]["appHealthCheckPath"] == "/healthz"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_secret_is_one_make_k8s_secrets_creates(overlay: str) -> None:
    docs = render(overlay)
    created = {
        str(d["metadata"]["name"]): set(d["data"])  # type: ignore[index, arg-type]
        for d in k8s_secrets.manifests("ns", k8s_secrets.DEV_REDIS_HOST)
    }
    referenced: set[tuple[str, str]] = set()
    for deployment in of_kind(docs, "Deployment"):
        notes = deployment["spec"]["template"]["metadata"].get("annotations", {})
        for key in ("dapr.io/api-token-secret", "dapr.io/app-token-secret"):
            if key in notes:
                referenced.add((notes[key], "token"))
        for container in pod_spec(deployment)["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    referenced.add((ref["name"], ref["key"]))
    for component in of_kind(docs, "Component"):
        for item in component["spec"]["metadata"]:
            if "secretKeyRef" in item:
                referenced.add((item["secretKeyRef"]["name"], item["secretKeyRef"]["key"]))
    missing = {(name, key) for name, key in referenced if key not in created.get(name, set())}
    assert missing == set()


def test_generated_secrets_are_real_tokens_the_apps_accept() -> None:
    docs = k8s_secrets.manifests("agents-dev", k8s_secrets.DEV_REDIS_HOST)
    tokens = [
        base64.b64decode(d["data"]["token"]).decode()  # type: ignore[index]
        for d in docs
        if "token" in d["data"]  # type: ignore[operator]
    ]
    assert len(tokens) == len(set(tokens)) == 4
    for token in tokens:
        settings = ChatSettings(dapr_api_token=token, app_api_token=token, require_dapr_tokens=True)
        assert settings.dapr_api_token is not None
    # The dev Redis host is the dev overlay's Redis Service.
    redis = named(render("dev"), "Service", "redis")
    assert f"redis:{redis['spec']['ports'][0]['port']}" == k8s_secrets.DEV_REDIS_HOST


def test_every_route_that_takes_a_body_parses_it_strictly() -> None:
    # sidecar.strict_json works per router (route_class): a router added without it would
    # take NaN, lone surrogates and unbounded nesting again. daprd's actor callbacks parse
    # their own bodies (dapr-ext-fastapi) and are reached only through daprd.
    for app_id, app in APPS_BUILT.items():
        found = list(api_routes(app.routes))
        assert len(found) > 10, app_id  # the walk reaches the included routers
        lenient = [
            route.path
            for route in found
            if route.methods & {"POST", "PUT", "PATCH"}
            and not isinstance(route, StrictJSONRoute)
            and not route.path.startswith("/actors/")
        ]
        assert lenient == [], app_id
