"""scripts/dev_token.py signs what chat's jwt mode, configured as in k8s/, accepts."""

from __future__ import annotations

import secrets

from chat.core.settings import ChatSettings
from scripts import dev_token
from sidecar.auth import Authenticator
from tests.deploy.manifests import named, pod_spec, render


def test_a_dev_token_is_accepted_by_chat_configured_like_the_deployment() -> None:
    (container,) = pod_spec(named(render("dev"), "Deployment", "chat"))["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    key = secrets.token_hex(32)
    settings = ChatSettings(
        auth_mode=env["AUTH_MODE"],
        auth_jwt_key=key,
        auth_jwt_algorithm=env["AUTH_JWT_ALGORITHM"],
        auth_jwt_audience=env["AUTH_JWT_AUDIENCE"],
    )
    signed = dev_token.sign("alice", key=key, audience="agent-chat", issuer=None, ttl=60)
    assert Authenticator(settings).caller(signed) == "alice"
    assert env["AUTH_JWT_AUDIENCE"] == "agent-chat"


def test_memory_checks_the_forwarded_token_exactly_as_chat_does() -> None:
    """chat forwards the client's token to memory, which checks it again: the two must agree
    on every AUTH_* setting, or every memory call of a deployment fails."""
    rendered = render("prod")

    def auth_env(app: str) -> dict[str, object]:
        (container,) = pod_spec(named(rendered, "Deployment", app))["containers"]
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]
                if e["name"].startswith("AUTH_")}  # fmt: skip

    assert auth_env("chat") == auth_env("memory")
    assert auth_env("memory")["AUTH_MODE"] == "jwt"
