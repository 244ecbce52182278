"""The broker's journal is bounded by design (scripts/broker_bounds.py): every stream and every
event has a bound, every resource set applies the same ones, and the docs say what they are."""

from __future__ import annotations

import pytest

from scripts.broker_bounds import (
    MEASURED_JOURNAL_BYTES,
    STREAMS,
    max_journal_bytes,
    max_lengths,
    report,
)
from scripts.stack import COMPONENTS, ROOT

PUBSUB_FILES = [
    COMPONENTS / "embedded" / "pubsub.yaml",
    COMPONENTS / "redis" / "pubsub.yaml",
    ROOT / "k8s" / "base" / "dapr" / "pubsub.yaml",
]


@pytest.mark.parametrize("path", PUBSUB_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_stream_of_every_resource_set_is_trimmed(path: object) -> None:
    lengths = max_lengths(path)  # type: ignore[arg-type]
    assert lengths == max_lengths(PUBSUB_FILES[0])
    assert {stream.component for stream in STREAMS} <= set(lengths)


def test_the_journal_stays_within_what_was_measured_to_restart_in_time() -> None:
    bound = max_journal_bytes(max_lengths(PUBSUB_FILES[0]))
    assert bound <= MEASURED_JOURNAL_BYTES, (
        f"the bounds now allow a {bound / 1e6:.0f} MB journal: measure its restart "
        "(bench/broker_restart.py) before raising MEASURED_JOURNAL_BYTES"
    )


def test_the_docs_say_the_bounds_the_code_has() -> None:
    documented = (ROOT / "docs" / "brokers.md").read_text()
    for line in report(max_lengths(PUBSUB_FILES[0])):
        assert line in documented, line
