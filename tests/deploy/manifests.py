"""The Kubernetes manifests as the checks see them: rendered by the pinned kustomize."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from scripts.stack import COMPONENTS, ROOT

K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agent-dapr"
DAPR_GROUP = "dapr.io/"
APPS = ("chat", "memory")

Doc = dict[str, Any]


def kustomize_bin() -> Path:
    """The kustomize scripts/install-kustomize.sh installs (`make k8s-tools`)."""
    return Path(os.environ.get("KUSTOMIZE_BIN", CACHE_DIR / "bin" / "kustomize"))


@functools.cache
def render(overlay: str) -> tuple[Doc, ...]:
    binary = kustomize_bin()
    if not binary.exists():
        raise FileNotFoundError(f"{binary} missing: run `make k8s-tools`")
    result = subprocess.run(
        [binary, "build", K8S / "overlays" / overlay],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize build overlays/{overlay} failed:\n{result.stderr}")
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(docs: tuple[Doc, ...] | list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: tuple[Doc, ...] | list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def is_dapr(doc: Doc) -> bool:
    return str(doc["apiVersion"]).startswith(DAPR_GROUP)


def local_resources() -> list[tuple[Path, Doc]]:
    """Every Dapr resource under components/ (all resource sets, config, sentry config)."""
    found = []
    for path in sorted(COMPONENTS.rglob("*.yaml")):
        found += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def local(kind: str, resource_set: str = "embedded") -> list[Doc]:
    """The resources of ``kind`` a local run of ``resource_set`` loads (and its config)."""
    docs = []
    for folder in ("common", resource_set):
        for path in sorted((COMPONENTS / folder).glob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    if kind == "Configuration":
        docs.append(yaml.safe_load((COMPONENTS / "config.yaml").read_text()))
    return docs


def pod_spec(deployment: Doc) -> Doc:
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def annotations(deployment: Doc) -> dict[str, str]:
    found: dict[str, str] = deployment["spec"]["template"]["metadata"].get("annotations", {})
    return found
