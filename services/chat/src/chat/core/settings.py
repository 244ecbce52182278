"""Settings of the chat service, read once in create_app()."""

from __future__ import annotations

from typing import Literal, Self

from limits import RateLimitItem, parse_many
from pydantic import Field, SecretStr, field_validator, model_validator

from sidecar.settings import SidecarSettings, refuse_placeholder


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """``"10/second;60/minute"`` (the ``limits`` notation, ``;``-separated) → the limits; an
    empty text → none (no limit). Raises ValueError for anything else."""
    if not text.strip():
        return ()
    try:
        return tuple(parse_many(text))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a rate limit such as '60/minute' or '10/second;300/hour'"
        ) from exc


class ChatSettings(SidecarSettings):
    app_id: str = "chat"
    state_store: str = "chat-state"
    required_components: tuple[str, ...] = ("pubsub-outbox", "pubsub-broadcast", "chat-actors")
    conversation_turns_topic: str = Field(default="conversation-turns", min_length=1)
    memory_app_id: str = Field(default="memory", min_length=1)
    # Budget for one call to the memory service through Dapr; past it the reply is degraded.
    memory_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # After this many calls in a row found memory down (unreachable, timed out, 5xx), calls to
    # it fail at once (a degraded reply, no wait) for MEMORY_BREAKER_RECOVERY_SECONDS; then one
    # call is tried and its success closes the breaker. One breaker per chat process.
    memory_breaker_failures: int = Field(default=5, ge=1, le=1000)
    memory_breaker_recovery_seconds: float = Field(default=10.0, gt=0, le=600)
    # How many memories personalise a turn.
    recall_k: int = Field(default=5, ge=0, le=50)
    # chat-state has Dapr's transactional outbox configured: the turn's history write publishes
    # conversation.turn.completed. Turn off only with a store configured without it.
    outbox_enabled: bool = True
    # The model: any OpenAI-compatible endpoint when a key is set; the offline model otherwise.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    model_name: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    # One model call's budget, and how often the client tries it again after a connection
    # error, a 408/409/429 or a 5xx (the openai client's own retries; its defaults are 600 s
    # and 2). Past it the turn ends with 504 model_timeout (a stream: an `error` event) and
    # nothing is saved.
    model_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    model_max_retries: int = Field(default=1, ge=0, le=5)
    # The offline model's pace: a pause before each streamed word (0: as fast as it can).
    offline_token_delay_seconds: float = Field(default=0.0, ge=0, le=5)
    # Export of traces to outside services (the Agents SDK's tracing) is off unless asked for.
    tracing_export: bool = False
    # Turns one user may start (POST /chat, /chat/stream, a WebSocket message), in the
    # `limits` notation: "60/minute", or several as "10/second;300/hour"; empty: no limit.
    # Counted once per user across replicas (the ChatRateLimit actor); past it, 429 with
    # Retry-After before anything is written or the model is called (docs/security.md).
    turn_rate_limit: str = Field(default="30/minute;300/hour", max_length=200)
    # Model calls the agent may make in one turn (the Agents SDK's max_turns; its default is
    # 10): each tool round trip is one.
    agent_max_turns: int = Field(default=10, ge=1, le=50)
    # Past messages of the session given to the model each turn.
    history_window: int = Field(default=20, ge=0, le=500)
    # A session holds at most this many messages (two per turn); past it, 409 session_full.
    # Bounds the session head's list of page sizes (~8 KB at 100,000).
    max_messages_per_session: int = Field(default=100_000, ge=2, le=1_000_000)
    # A user has at most this many sessions; past it, 409 session_limit_reached. Bounds the
    # session list's head (~150 bytes per 128 sessions).
    max_sessions_per_user: int = Field(default=10_000, ge=1, le=1_000_000)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # Double texting: what a message does when the session is busy with another turn, unless
    # the request says (`multitask_strategy`): "enqueue" runs after it, "reject" answers 409,
    # "interrupt" cancels the running turn (saved, marked interrupted) and runs next.
    multitask_strategy: Literal["enqueue", "reject", "interrupt"] = "enqueue"
    # A turn holds its session's lease (the ChatSession actor) while it runs and renews it
    # every turn_lease_renew_seconds; a replica that dies mid-turn frees it after
    # turn_lease_seconds. The renewal is also how a turn on another replica learns that it was
    # interrupted or that its session was deleted.
    turn_lease_seconds: float = Field(default=15.0, ge=2, le=600)
    turn_lease_renew_seconds: float = Field(default=1.0, gt=0, le=60)
    # How long an enqueued message may wait for its turn before answering 409 session_busy.
    turn_queue_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    # Memory notifications older than this are not pushed to streams (a new replica's
    # consumer group starts at the beginning of the memory-events stream).
    notification_max_age_seconds: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _renewal_inside_the_lease(self) -> Self:
        if self.turn_lease_renew_seconds * 2 > self.turn_lease_seconds:
            raise ValueError("TURN_LEASE_RENEW_SECONDS must be at most half of TURN_LEASE_SECONDS")
        return self

    @field_validator("turn_rate_limit", mode="after")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        parse_limits(value)
        return value.strip()

    @property
    def turn_rate_limits(self) -> tuple[RateLimitItem, ...]:
        """TURN_RATE_LIMIT, parsed (empty: no limit)."""
        return parse_limits(self.turn_rate_limit)

    @field_validator("openai_api_key", mode="after")
    @classmethod
    def _refuse_placeholder_key(cls, value: SecretStr | None) -> SecretStr | None:
        return refuse_placeholder(value)
