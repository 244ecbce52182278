"""Every Dapr resource, local and rendered for Kubernetes, against Dapr's own CRD schemas
(vendored from the pinned runtime, tests/deploy/crds), as strictly as the API server applies
them: unknown fields are errors unless the schema preserves them."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.deploy.manifests import OVERLAYS, Doc, is_dapr, local_resources, render

CRDS = Path(__file__).parent / "crds"


def strict(schema: Any) -> Any:
    """OpenAPI v3 structural schema -> JSON Schema that refuses unknown properties."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        if "properties" in schema and "additionalProperties" not in schema and not preserve:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def validators() -> dict[tuple[str, str], Draft7Validator]:
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            # metadata is validated by the API server itself: name and namespace suffice here.
            schema["properties"]["metadata"] = {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                    "namespace": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "additionalProperties": False,
            }
            found[(f"{group}/{version['name']}", kind)] = Draft7Validator(schema)
    return found


def errors(doc: Doc) -> list[str]:
    validator = validators().get((doc["apiVersion"], doc["kind"]))
    if validator is None:
        return [f"no CRD schema for {doc['apiVersion']} {doc['kind']}"]
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def test_the_vendored_crds_cover_every_kind_the_project_uses() -> None:
    assert {k for _, k in validators()} >= {"Component", "Configuration", "Resiliency",
                                             "Subscription"}  # fmt: skip


@pytest.mark.parametrize(
    ("where", "doc"),
    [(str(p.relative_to(p.parents[1])), d) for p, d in local_resources()],
)
def test_local_resources_match_the_dapr_schemas(where: str, doc: Doc) -> None:
    assert errors(doc) == [], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_dapr_resources_match_the_dapr_schemas(overlay: str) -> None:
    dapr_docs = [d for d in render(overlay) if is_dapr(d)]
    assert len(dapr_docs) >= 7
    problems = {f"{d['kind']}/{d['metadata']['name']}": errors(d) for d in dapr_docs}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_strict_check_catches_a_misplaced_field() -> None:
    """The trap from dapr-notes §6: `targets` outside `spec` is not a Resiliency field."""
    bad = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": {"name": "r"},
        "spec": {"policies": {}},
        "targets": {"apps": {}},
    }
    assert any("targets" in e for e in errors(bad))
    typo = {
        "apiVersion": "dapr.io/v2alpha1",
        "kind": "Subscription",
        "metadata": {"name": "s"},
        "spec": {"pubsubname": "pubsub", "topic": "t", "routes": {"default": "/x"},
                 "deadLetterTopc": "t-dlq"},
    }  # fmt: skip
    assert any("deadLetterTopc" in e for e in errors(typo))
