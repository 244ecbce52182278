"""The shape both services' apps share: a lifespan that opens the sidecar clients, the error
mapping, and the app-token guard when a token is configured."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from dapr.actor import Actor
from dapr.ext.fastapi import DaprActor
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from sidecar.actors import ActorClient, ActorFactory, register_actors
from sidecar.body_limits import RequestBodyLimit, request_body_limit
from sidecar.connection import Sidecar, open_sidecar
from sidecar.event_lag import DeliveryLag
from sidecar.http_errors import install_error_handlers
from sidecar.logs import configure_logging
from sidecar.security import AppTokenGuard
from sidecar.settings import DAPR_MAX_BODY_BYTES, SidecarSettings

#: The actor types an app hosts, each with its factory, given the open sidecar.
ActorHosting = Callable[[Sidecar], Mapping[type[Actor], ActorFactory]]


def create_service_app(
    *,
    settings: SidecarSettings,
    title: str,
    summary: str,
    router: APIRouter,
    guarded: Callable[[str], bool],
    install_errors: Callable[[FastAPI], None] = install_error_handlers,
    actors: ActorHosting | None = None,
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    """Build a service app; ``guarded`` says which paths must carry the app token.

    ``actors`` gives the actor types the app hosts, each with a factory built from the open
    sidecar: their callback routes are added now and the types registered once the sidecar
    answers (``app.state.register_actors`` does it; unit tests call it against a fake).
    ``on_shutdown`` runs before the sidecar clients close (to drain the app's own work)."""
    configure_logging(settings.log_level, app_id=settings.app_id)

    async def register(sidecar: Sidecar) -> None:
        if actors is not None:
            await register_actors(ActorClient(sidecar.http), actors(sidecar))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_sidecar(settings) as sidecar:
            app.state.sidecar = sidecar
            await register(sidecar)
            freeze_startup_objects()
            try:
                yield
            finally:
                if on_shutdown is not None:
                    await on_shutdown(app)

    # A body larger than any legal request of the router's routes gets 413 (their models'
    # limits decide: sidecar.body_limits), on every route but daprd's callbacks (pub/sub
    # routes declare DAPR_MAX_BODY_BYTES, and so do the actor routes below).
    app = FastAPI(title=title, summary=summary, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.register_actors = register
    app.state.delivery_lag = DeliveryLag()
    app.include_router(router)
    if actors is not None:
        install_actor_routes(app)
    install_errors(app)
    app.state.max_request_bytes = request_body_limit(app.routes, ceiling=DAPR_MAX_BODY_BYTES)
    app.add_middleware(RequestBodyLimit, max_body_size=app.state.max_request_bytes)
    if settings.app_api_token is not None:
        app.add_middleware(
            AppTokenGuard, token=settings.app_api_token.get_secret_value(), guarded=guarded
        )
    return app


def freeze_startup_objects() -> None:
    """Move every object alive once the app has started (its modules, classes, pydantic and
    FastAPI schemas, the SDKs, the embedding model's tables) out of the garbage collector's
    reach (``gc.freeze``, Python 3.7+: they live as long as the process anyway).

    Without it each full collection walked all of them: 100-225 ms per gen-2 collection in
    both apps on the 2-core machine (timed with ``gc.callbacks`` under the memory benchmark),
    a pause that landed on whichever request was running and made most p99s there. The
    collector then only walks what requests create."""
    gc.collect()
    gc.freeze()


def install_actor_routes(app: FastAPI) -> None:
    """Add the routes daprd calls on an actor host (dapr.ext.fastapi.DaprActor), except its own
    ``GET /healthz``: the app's liveness probe already answers there."""

    class _Capture:
        """Takes the router DaprActor would include, so that it can be filtered first."""

        router: APIRouter | None = None

        def include_router(self, router: APIRouter) -> None:
            self.router = router

    capture = _Capture()
    DaprActor(capture)  # type: ignore[arg-type]  # it only calls include_router
    assert capture.router is not None
    capture.router.routes[:] = [
        route
        for route in capture.router.routes
        if not (isinstance(route, APIRoute) and route.path == "/healthz")
    ]
    for route in capture.router.routes:  # daprd's callbacks, not part of the app's API
        if isinstance(route, APIRoute):
            route.include_in_schema = False
    app.include_router(capture.router, max_body_size=DAPR_MAX_BODY_BYTES)
