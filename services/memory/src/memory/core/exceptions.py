"""Domain errors of the memory service (no web framework here: data and services raise them,
core.errors maps them to HTTP)."""

from __future__ import annotations


class MemoryLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this user already has the maximum of {limit} memories; delete some before adding more"
        )
        self.limit = limit


class IdempotencyKeyReused(Exception):
    """An ``Idempotency-Key`` already used for a different memory, or for one since deleted."""
