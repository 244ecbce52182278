"""Settings of the chat service, read once in create_app()."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from sidecar.settings import SidecarSettings, refuse_placeholder


class ChatSettings(SidecarSettings):
    app_id: str = "chat"
    state_store: str = "chat-state"
    conversation_turns_topic: str = Field(default="conversation-turns", min_length=1)
    memory_app_id: str = Field(default="memory", min_length=1)
    # Budget for one call to the memory service through Dapr; past it the reply is degraded.
    memory_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # How many memories personalise a turn.
    recall_k: int = Field(default=5, ge=0, le=50)
    # chat-state has Dapr's transactional outbox configured: the turn's history write publishes
    # conversation.turn.completed. Turn off only with a store configured without it.
    outbox_enabled: bool = True
    # The model: any OpenAI-compatible endpoint when a key is set; the offline model otherwise.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    model_name: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    # Export of traces to outside services (the Agents SDK's tracing) is off unless asked for.
    tracing_export: bool = False
    max_message_chars: int = Field(default=8000, ge=1, le=100_000)
    # Past messages of the session given to the model each turn.
    history_window: int = Field(default=20, ge=0, le=500)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)

    @field_validator("openai_api_key", mode="after")
    @classmethod
    def _refuse_placeholder_key(cls, value: SecretStr | None) -> SecretStr | None:
        return refuse_placeholder(value)
