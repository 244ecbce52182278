"""scripts/dev_token.py signs what chat's jwt mode, configured as in k8s/, accepts."""

from __future__ import annotations

import secrets

from chat.core.auth import Authenticator
from chat.core.settings import ChatSettings
from scripts import dev_token
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
