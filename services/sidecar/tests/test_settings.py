from __future__ import annotations

import pytest
from pydantic import ValidationError

from sidecar.settings import SidecarSettings


def test_reads_the_variables_dapr_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPR_HTTP_PORT", "3601")
    monkeypatch.setenv("DAPR_GRPC_PORT", "5601")
    monkeypatch.setenv("DAPR_API_TOKEN", "3f9c2a7d51e84b06a1c4")
    settings = SidecarSettings()
    assert settings.dapr_http_endpoint == "http://127.0.0.1:3601"
    assert settings.dapr_grpc_address == "127.0.0.1:5601"
    assert settings.dapr_api_token is not None
    assert settings.dapr_api_token.get_secret_value() == "3f9c2a7d51e84b06a1c4"


@pytest.mark.parametrize(
    "placeholder",
    ["changeme", "CHANGEME", "placeholder", "secret", "<your-token>", "${APP_API_TOKEN}",
     "replace-with-a-real-token", "REPLACE_ME_0123456789"],
)  # fmt: skip
def test_placeholder_tokens_are_refused(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        SidecarSettings(app_api_token=placeholder)


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="too short"):
        SidecarSettings(dapr_api_token="abc123")


def test_required_tokens_must_both_be_set() -> None:
    token = "0123456789abcdef0123"
    with pytest.raises(ValidationError, match="APP_API_TOKEN not set"):
        SidecarSettings(require_dapr_tokens=True, dapr_api_token=token)
    with pytest.raises(ValidationError, match="DAPR_API_TOKEN and APP_API_TOKEN"):
        SidecarSettings(require_dapr_tokens=True)
    both = SidecarSettings(require_dapr_tokens=True, dapr_api_token=token, app_api_token=token)
    assert both.app_api_token is not None


def test_blank_token_means_no_token() -> None:
    assert SidecarSettings(dapr_api_token="  ").dapr_api_token is None


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError):
        SidecarSettings(dapr_http_port=70000)
