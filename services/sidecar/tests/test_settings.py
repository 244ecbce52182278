from __future__ import annotations

import pytest
from pydantic import ValidationError

from sidecar.settings import SidecarSettings


def test_reads_the_variables_dapr_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPR_HTTP_PORT", "3601")
    monkeypatch.setenv("DAPR_GRPC_PORT", "5601")
    monkeypatch.setenv("DAPR_API_TOKEN", "a-real-token")
    settings = SidecarSettings()
    assert settings.dapr_http_endpoint == "http://127.0.0.1:3601"
    assert settings.dapr_grpc_address == "127.0.0.1:5601"
    assert settings.dapr_api_token is not None
    assert settings.dapr_api_token.get_secret_value() == "a-real-token"


@pytest.mark.parametrize("placeholder", ["changeme", "CHANGEME", "placeholder", "secret"])
def test_placeholder_tokens_are_refused(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        SidecarSettings(app_api_token=placeholder)


def test_blank_token_means_no_token() -> None:
    assert SidecarSettings(dapr_api_token="  ").dapr_api_token is None


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError):
        SidecarSettings(dapr_http_port=70000)
