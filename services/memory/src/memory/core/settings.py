"""Settings of the memory service, read once in create_app()."""

from __future__ import annotations

from pydantic import Field

from sidecar.settings import SidecarSettings


class MemorySettings(SidecarSettings):
    app_id: str = "memory"
    state_store: str = "memory-state"
    memory_events_topic: str = Field(default="memory-events", min_length=1)
    max_memories_per_user: int = Field(default=10_000, ge=1, le=1_000_000)
