"""Create the Secrets the Kubernetes manifests reference, with freshly generated values.

    uv run python scripts/k8s_secrets.py --namespace agents-dev   # `make k8s-secrets`
    uv run python scripts/k8s_secrets.py --namespace agents --redis-host my-redis:6380
    uv run python scripts/k8s_secrets.py --namespace agents-dev --dry-run  # print, apply nothing

Secrets that exist already are left alone (rotating one is a deliberate act: delete it, run
this again, restart the pods). Values are never written to disk; `--dry-run` prints the
manifests with the values redacted. `model-credentials` (OPENAI_API_KEY, OPENAI_BASE_URL) is
optional and not created here: without it the services use the built-in offline model.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence

APPS = ("chat", "memory")
REDIS_SECRET = "redis-auth"  # noqa: S105 (a Secret name)
DEV_REDIS_HOST = "redis:6379"  # the dev overlay's in-cluster Redis Service
AUTH_SECRET, AUTH_KEY = "chat-auth", "jwt-key"


def token_secret_names() -> list[str]:
    """The names k8s/base annotates (dapr.io/api-token-secret, dapr.io/app-token-secret)."""
    return [f"{app}-{kind}-api-token" for app in APPS for kind in ("dapr", "app")]


def manifests(namespace: str, redis_host: str) -> list[dict[str, object]]:
    def secret(name: str, data: dict[str, str]) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "agent-services"},
            },
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }

    found = [secret(name, {"token": secrets.token_hex(32)}) for name in token_secret_names()]
    found.append(secret(REDIS_SECRET, {"host": redis_host, "password": secrets.token_hex(24)}))
    # The shared key chat verifies bearer tokens with (HS256); `make k8s-token` signs with it.
    found.append(secret(AUTH_SECRET, {AUTH_KEY: secrets.token_hex(32)}))
    return found


def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("kubectl")
    if binary is None:
        raise SystemExit("kubectl not found: install it and point it at your cluster")
    return subprocess.run(
        [binary, *args], input=stdin, capture_output=True, text=True, check=False, timeout=60
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--namespace", required=True)
    parser.add_argument(
        "--redis-host", default=DEV_REDIS_HOST, help="host:port of Redis (default: dev's)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print redacted manifests only")
    args = parser.parse_args(argv)
    wanted = manifests(args.namespace, args.redis_host)
    if args.dry_run:
        for doc in wanted:
            redacted = {**doc, "data": dict.fromkeys(doc["data"], "<redacted>")}  # type: ignore[call-overload]
            print(json.dumps(redacted))
        return 0
    if kubectl("get", "namespace", args.namespace).returncode != 0:
        created = kubectl("create", "namespace", args.namespace)
        if created.returncode != 0:
            raise SystemExit(created.stderr.strip())
    for doc in wanted:
        name = str(doc["metadata"]["name"])  # type: ignore[index]
        if kubectl("get", "secret", name, "-n", args.namespace).returncode == 0:
            print(f"secret/{name} exists: kept")
            continue
        result = kubectl("create", "-f", "-", stdin=json.dumps(doc))
        if result.returncode != 0:
            raise SystemExit(f"secret/{name}: {result.stderr.strip()}")
        print(f"secret/{name} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
