"""Dependencies every service shares, as Annotated aliases (tests override them through
``app.dependency_overrides``, or set ``app.state.sidecar`` to a fake)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from sidecar.connection import Sidecar
from sidecar.state import StateStore


def get_sidecar(request: HTTPConnection) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar


SidecarDep = Annotated[Sidecar, Depends(get_sidecar)]


def get_state_store(sidecar: SidecarDep) -> StateStore:
    """The app's own state store (``settings.state_store``) through its sidecar."""
    return StateStore(sidecar.http, sidecar.settings.state_store)


StateStoreDep = Annotated[StateStore, Depends(get_state_store)]
