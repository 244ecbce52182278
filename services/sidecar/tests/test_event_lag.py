"""The delivery-lag figures and the stall rule readiness uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sidecar.event_lag import DeliveryLag


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(hours=1)  # the app's start


def delivered(lag: DeliveryLag, topic: str, seconds: float) -> float:
    return lag.observe(topic, NOW - timedelta(seconds=seconds), now=NOW)


def test_figures_per_topic_over_the_window() -> None:
    clock = Clock()
    lag = DeliveryLag(clock=clock, window_seconds=60, started_at=STARTED)
    for seconds in [1.0] * 98 + [2.0, 3.0]:
        delivered(lag, "conversation-turns", seconds)
    delivered(lag, "memory-events", 1.2)
    turns, memory = lag.summary()
    assert (turns.topic, turns.count, turns.p50, turns.p99, turns.max) == (
        "conversation-turns", 100, 1.0, 3.0, 3.0
    )  # fmt: skip
    assert (memory.topic, memory.count) == ("memory-events", 1)
    assert lag.stalled(30) == []
    clock.now += 61  # the window moves on: old deliveries no longer count
    assert lag.summary() == []


def test_a_median_over_the_threshold_is_a_stall() -> None:
    lag = DeliveryLag(clock=Clock(), started_at=STARTED)
    for seconds in (40, 45, 50):
        delivered(lag, "conversation-turns", seconds)
    (reason,) = lag.stalled(30)
    assert "conversation-turns" in reason
    assert "median over 30 s" in reason


def test_a_lag_that_keeps_growing_past_the_threshold_is_a_stall() -> None:
    lag = DeliveryLag(clock=Clock(), started_at=STARTED)
    for i in range(40):  # a backlog: each delivery later than the one before
        delivered(lag, "memory-events", 1 + i)
    (reason,) = lag.stalled(30)
    assert "not shrinking" in reason


def test_clock_skew_never_makes_a_negative_lag() -> None:
    lag = DeliveryLag(clock=Clock(), started_at=STARTED)
    delivered(lag, "t", -2.0)
    assert lag.summary()[0].max == 0.0


def test_the_histogram_is_exported() -> None:
    from prometheus_client import generate_latest

    lag = DeliveryLag(clock=Clock(), started_at=STARTED)
    delivered(lag, "memory-events", 0.7)
    text = generate_latest(lag.registry).decode()
    assert 'event_delivery_lag_seconds_bucket{le="1.0",topic="memory-events"} 1.0' in text


def test_a_backlog_left_while_the_app_was_down_is_not_a_stall() -> None:
    """Events committed hours before the app started (delivered on its restart) count from
    the start for the stall rule; the histogram and the returned lag keep the true figure."""
    lag = DeliveryLag(clock=Clock(), started_at=NOW - timedelta(seconds=2))
    assert delivered(lag, "memory-events", 13_585) == 13_585
    delivered(lag, "memory-events", 13_580)
    assert lag.summary()[0].max == 2.0
    assert lag.stalled(30) == []
    slow = DeliveryLag(clock=Clock(), started_at=NOW - timedelta(seconds=45))
    delivered(slow, "memory-events", 13_585)  # still undelivered 45 s after the start
    assert slow.stalled(30) != []
