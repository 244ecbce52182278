"""Commit-to-delivery lag of the events an app consumes, and the stall rule readiness uses.

Each pub/sub handler reports when a delivered event's change was committed (a time inside the
payload, set by the producer just before its outbox transaction: a turn's ``completed_at``, a
memory's ``updated_at``; the CloudEvent ``time`` daprd stamps has whole-second precision only).
The lag is kept two ways:

- a Prometheus histogram ``event_delivery_lag_seconds{topic}`` on the app's ``/metrics``;
- a sliding window of recent deliveries per topic, summarised (count, p50, p99, max) in
  ``/readyz`` details. When the median lag of the window is over the stall threshold, or the
  lag keeps growing across the window (a backlog that does not shrink), readiness fails with
  the reason, until fresh deliveries bring the lag back down.

Dapr's outbox adds a floor of about one second to every event: its internal handler sleeps
1 s before it looks for the committed marker (docs/dapr-runtime.md).
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Histogram

__all__ = ["DeliveryLag", "TopicLag"]

# Histogram buckets (seconds): the outbox's ~1 s floor, up to a stall.
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_MIN_SAMPLES_FOR_TREND = 20


@dataclass(frozen=True)
class TopicLag:
    """Lag over the recent window of one topic (seconds)."""

    topic: str
    count: int
    p50: float
    p99: float
    max: float
    growing: bool

    def describe(self) -> str:
        trend = ", growing" if self.growing else ""
        return (
            f"{self.topic}: p50 {self.p50:.2f} s, p99 {self.p99:.2f} s, max {self.max:.2f} s "
            f"over {self.count} deliveries{trend}"
        )


@dataclass
class DeliveryLag:
    """Per-topic delivery lag of one app (one instance per app: its registry is its own)."""

    window_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    #: When this app began to consume. The stall rule counts an event committed before it
    #: from here: a backlog left while the app was down (delivered on restart, hours old) is
    #: not a stall of the event plane; draining it slower than the threshold still is.
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _samples: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._histogram = Histogram(
            "event_delivery_lag_seconds",
            "Seconds from a change's commit (its time in the event) to its delivery here.",
            ["topic"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def observe(self, topic: str, committed_at: datetime, *, now: datetime | None = None) -> float:
        """Record one delivery of ``topic`` whose change was committed at ``committed_at``;
        return the lag in seconds (never negative: clocks of two hosts may disagree). The
        histogram gets this lag; the stall window counts it from ``started_at`` at the
        earliest."""
        if committed_at.tzinfo is None:
            committed_at = committed_at.replace(tzinfo=UTC)
        now = now or datetime.now(UTC)
        lag = max(0.0, (now - committed_at).total_seconds())
        self._histogram.labels(topic=topic).observe(lag)
        window = self._samples.setdefault(topic, deque())
        since = max(committed_at, self.started_at)
        window.append((self.clock(), max(0.0, (now - since).total_seconds())))
        self._trim(window)
        return lag

    def summary(self) -> list[TopicLag]:
        """Each topic's lag over the window (topics without recent deliveries are left out)."""
        summaries = []
        for topic, window in sorted(self._samples.items()):
            self._trim(window)
            lags = [lag for _, lag in window]
            if not lags:
                continue
            ordered = sorted(lags)
            p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
            summaries.append(
                TopicLag(
                    topic=topic,
                    count=len(lags),
                    p50=statistics.median(lags),
                    p99=p99,
                    max=ordered[-1],
                    growing=_growing(lags),
                )
            )
        return summaries

    def stalled(self, threshold_seconds: float) -> list[str]:
        """Reasons the event plane looks stalled (empty when it does not)."""
        reasons = []
        for lag in self.summary():
            if lag.p50 > threshold_seconds:
                reasons.append(f"{lag.describe()}: median over {threshold_seconds:.0f} s")
            elif lag.growing and lag.max > threshold_seconds:
                reasons.append(f"{lag.describe()}: a backlog that is not shrinking")
        return reasons

    def _trim(self, window: deque[tuple[float, float]]) -> None:
        horizon = self.clock() - self.window_seconds
        while window and window[0][0] < horizon:
            window.popleft()


def _growing(lags: list[float]) -> bool:
    """Whether the lag rose steadily across the window: each quarter's median above the one
    before (needs enough samples to say)."""
    if len(lags) < _MIN_SAMPLES_FOR_TREND:
        return False
    quarter = len(lags) // 4
    medians = [statistics.median(lags[i * quarter : (i + 1) * quarter]) for i in range(4)]
    return all(later > earlier for earlier, later in itertools.pairwise(medians))
