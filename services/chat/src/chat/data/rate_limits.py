"""Per-user limits on turns: how many a user may start in a moving window.

The counting is the ``limits`` package's moving window over its in-process storage
(https://limits.readthedocs.io/en/stable/strategies.html#moving-window). What makes one count
per user hold across replicas is where it runs: inside the ``ChatRateLimit`` actor (actor id =
the user id, chat.data.actors), which Dapr places on one replica at a time and calls one after
another. Dapr's own rate-limit middleware (``middleware.http.ratelimit``) would not do: it keys
on the client's IP, counts per sidecar (so N replicas allow N times the limit), and chat's
public routes do not pass through daprd at all (docs/security.md#rate-limits).

The window lives in the replica's memory: if Dapr moves the user's actor (a replica joins or
leaves) or deactivates it after an idle hour, that user's window starts empty again, which
errs on the side of serving.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


@dataclass
class TurnRateLimiter:
    """Counts turns per user against every limit; one per process, shared by the user actors
    this replica hosts (each actor's calls run one at a time, so check-then-hit is exact)."""

    limits: Sequence[RateLimitItem]
    _strategy: MovingWindowRateLimiter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._strategy = MovingWindowRateLimiter(MemoryStorage())

    def take(self, user_id: str) -> float:
        """Count one turn for ``user_id`` if every limit allows it → 0.0; otherwise count
        nothing and return the seconds until one more turn is allowed (> 0)."""
        refused = [item for item in self.limits if not self._strategy.test(item, user_id)]
        if not refused:
            for item in self.limits:
                self._strategy.hit(item, user_id)
            return 0.0
        now = time.time()  # the storage's clock
        reset = max(self._strategy.get_window_stats(item, user_id).reset_time for item in refused)
        return max(reset - now, 0.001)
