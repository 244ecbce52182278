"""Settings of the chat service, read once in create_app()."""

from __future__ import annotations

from pydantic import Field

from sidecar.settings import SidecarSettings


class ChatSettings(SidecarSettings):
    app_id: str = "chat"
    state_store: str = "chat-state"
    memory_app_id: str = Field(default="memory", min_length=1)
    # Budget for one call to the memory service through Dapr; past it the reply is degraded.
    memory_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
