"""The shape both services' apps share: a lifespan that opens the sidecar clients, the error
mapping, and the app-token guard when a token is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from sidecar.connection import open_sidecar
from sidecar.http_errors import install_error_handlers
from sidecar.logs import configure_logging
from sidecar.security import AppTokenGuard
from sidecar.settings import SidecarSettings


def create_service_app(
    *,
    settings: SidecarSettings,
    title: str,
    summary: str,
    router: APIRouter,
    guarded: Callable[[str], bool],
    install_errors: Callable[[FastAPI], None] = install_error_handlers,
) -> FastAPI:
    """Build a service app; ``guarded`` says which paths must carry the app token."""
    configure_logging(settings.log_level, app_id=settings.app_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_sidecar(settings) as sidecar:
            app.state.sidecar = sidecar
            yield

    app = FastAPI(title=title, summary=summary, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(router)
    install_errors(app)
    if settings.app_api_token is not None:
        app.add_middleware(
            AppTokenGuard, token=settings.app_api_token.get_secret_value(), guarded=guarded
        )
    return app
