"""Settings of the memory service, read once in create_app()."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from sidecar.settings import SidecarSettings, refuse_placeholder


class MemorySettings(SidecarSettings):
    app_id: str = "memory"
    state_store: str = "memory-state"
    required_components: tuple[str, ...] = ("pubsub-outbox", "memory-actors")
    memory_events_topic: str = Field(default="memory-events", min_length=1)
    conversation_turns_topic: str = Field(default="conversation-turns", min_length=1)
    max_memories_per_user: int = Field(default=10_000, ge=1, le=1_000_000)
    # memory-state has Dapr's transactional outbox configured (components/*/state.yaml): every
    # committed write publishes its event. Turn off only with a store configured without it.
    outbox_enabled: bool = True
    # How long a deleted memory's tombstone stays (it blocks a redelivered turn from recreating it).
    tombstone_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # Memories (with their vectors, ~2 KB each) that search and list keep in process, in all
    # users' cached pages and tails together; least recently used pages go first.
    search_cache_memories: int = Field(default=200_000, ge=0, le=10_000_000)
    # Weight of semantic similarity in the blended search score (the rest is keyword overlap).
    search_semantic_weight: float = Field(default=0.75, ge=0, le=1)
    # Multiplies an episode's search score: facts rank before the episodes they came from
    # (the quality suite's hit@1, docs/memory-quality.md).
    search_episode_weight: float = Field(default=0.7, ge=0, le=1)
    # Semantic facts from turns: rules with the offline model; an LLM extractor when set.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    extraction_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)

    @field_validator("openai_api_key", mode="after")
    @classmethod
    def _refuse_placeholder_key(cls, value: SecretStr | None) -> SecretStr | None:
        return refuse_placeholder(value)
