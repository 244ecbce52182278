"""HTTP mapping of the chat service's errors."""

from __future__ import annotations

from fastapi import FastAPI

from sidecar.http_errors import install_error_handlers


def install(app: FastAPI) -> None:
    install_error_handlers(app)
