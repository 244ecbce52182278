"""Settings every service reads to reach its Dapr sidecar."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: daprd's limit on a request body it takes or forwards (``--max-body-size``, default 4 MiB:
#: docs.dapr.io "Dapr arguments and annotations"): the most any daprd callback can carry.
DAPR_MAX_BODY_BYTES = 4 * 1024 * 1024

# Values that must never reach a deployed sidecar or app: copied from a template and not replaced.
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "changethis", "placeholder", "secret", "token", "password",
     "replace-me", "replaceme", "todo", "xxx", "dummy", "example", "test"}
)  # fmt: skip
_TEMPLATE_MARKERS = re.compile(r"^<.*>$|^\$\{.*\}$|^\$\(.*\)$|^{{.*}}$|replace|changeme|change-me")
MIN_TOKEN_CHARS = 16
# Signature algorithms a bearer token may use ("none" is not one of them).
JWT_ALGORITHMS = r"^(HS|RS|ES|PS)(256|384|512)$|^EdDSA$"
MIN_HS_KEY_CHARS = 32


def refuse_placeholder(value: SecretStr | None, *, min_chars: int = 1) -> SecretStr | None:
    """None for an empty value; an error for a template placeholder or a too-short secret."""
    if value is None:
        return None
    secret = value.get_secret_value().strip()
    if not secret:
        return None
    if secret.lower() in PLACEHOLDER_SECRETS or _TEMPLATE_MARKERS.search(secret.lower()):
        raise ValueError("is a placeholder: generate a real secret (e.g. `openssl rand -hex 32`)")
    if len(secret) < min_chars:
        raise ValueError(f"is too short to be a real token (at least {min_chars} characters)")
    return SecretStr(secret)


class SidecarSettings(BaseSettings):
    """How the app reaches its sidecar and how the sidecar proves itself to the app.

    Field names match the environment variables `dapr run` and the Kubernetes injector set
    (`DAPR_HTTP_PORT`, `DAPR_GRPC_PORT`, `DAPR_API_TOKEN`, `APP_API_TOKEN`, ...).
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    app_id: str = Field(default="app", min_length=1, max_length=64)
    # The app's own state store and the shared broker (component names, see components/).
    state_store: str = Field(default="statestore", min_length=1)
    pubsub_name: str = Field(default="pubsub", min_length=1)
    # Other components the app relies on, checked by /readyz: the outbox's own broker
    # component and the actor state store (docs/architecture.md, "The event plane").
    required_components: tuple[str, ...] = ("pubsub-outbox",)
    dapr_runtime_host: str = "127.0.0.1"
    dapr_http_port: int = Field(default=3500, ge=1, le=65535)
    dapr_grpc_port: int = Field(default=50001, ge=1, le=65535)
    dapr_api_token: SecretStr | None = None
    app_api_token: SecretStr | None = None
    # Deployed (Kubernetes, `make run`): refuse to start without both tokens, instead of
    # running with an unauthenticated sidecar channel.
    require_dapr_tokens: bool = False
    # How long start-up waits for the sidecar before giving up.
    dapr_health_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Upper bound for any single call to the sidecar (state, publish, readiness probes).
    dapr_call_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # Readiness fails while the events this app consumes arrive later than this after their
    # commit (median of the last minute), or their lag keeps growing past it (sidecar.event_lag).
    event_lag_stall_seconds: float = Field(default=30.0, gt=0, le=3600)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    # End-user authentication (sidecar.auth). "open": a request may act for any user id (local
    # runs, trusted networks). "jwt": a request carries `Authorization: Bearer <JWT>` whose
    # `sub` is the user id it acts for; the key is a shared secret (HS*) or the issuer's PEM
    # public key (RS*, ES*, ...). chat checks the client's token; memory checks the same token,
    # which chat forwards, against the user id of every /memories/{user_id} route. Both services
    # take the same settings.
    auth_mode: Literal["open", "jwt"] = "open"
    auth_jwt_key: SecretStr | None = None
    auth_jwt_algorithm: str = Field(default="HS256", pattern=JWT_ALGORITHMS)
    auth_jwt_audience: str | None = None
    auth_jwt_issuer: str | None = None

    @field_validator("dapr_api_token", "app_api_token", mode="after")
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        return refuse_placeholder(value, min_chars=MIN_TOKEN_CHARS)

    @field_validator("auth_jwt_key", mode="after")
    @classmethod
    def _refuse_placeholder_jwt_key(cls, value: SecretStr | None) -> SecretStr | None:
        return refuse_placeholder(value)

    @model_validator(mode="after")
    def _jwt_key_fits_the_mode(self) -> Self:
        if self.auth_mode != "jwt":
            return self
        if self.auth_jwt_key is None:
            raise ValueError("AUTH_MODE=jwt needs AUTH_JWT_KEY (a shared secret or a public key)")
        key = self.auth_jwt_key.get_secret_value()
        if self.auth_jwt_algorithm.startswith("HS"):
            if len(key) < MIN_HS_KEY_CHARS:
                raise ValueError(
                    f"AUTH_JWT_KEY for {self.auth_jwt_algorithm} must have at least "
                    f"{MIN_HS_KEY_CHARS} characters (e.g. `openssl rand -hex 32`)"
                )
        elif "-----BEGIN PUBLIC KEY-----" not in key:
            raise ValueError(f"AUTH_JWT_KEY for {self.auth_jwt_algorithm} must be a PEM public key")
        return self

    @model_validator(mode="after")
    def _tokens_when_required(self) -> Self:
        if self.require_dapr_tokens:
            missing = [
                name
                for name, value in (
                    ("DAPR_API_TOKEN", self.dapr_api_token),
                    ("APP_API_TOKEN", self.app_api_token),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    f"REQUIRE_DAPR_TOKENS is on but {' and '.join(missing)} not set: give the "
                    "app the same tokens as its sidecar (dapr.io/api-token-secret, "
                    "dapr.io/app-token-secret)"
                )
        return self

    @property
    def dapr_http_endpoint(self) -> str:
        return f"http://{self.dapr_runtime_host}:{self.dapr_http_port}"

    @property
    def dapr_grpc_address(self) -> str:
        return f"{self.dapr_runtime_host}:{self.dapr_grpc_port}"
