"""Domain errors of the memory service (no web framework here: data and services raise them,
core.errors maps them to HTTP)."""

from __future__ import annotations


class MemoryLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"a user may keep at most {limit} memories; delete some first")
        self.limit = limit
