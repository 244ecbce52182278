"""The broker's journal is bounded by design: what bounds it, computed from the components and
the event models (docs/brokers.md#the-journal-is-bounded).

Every stream keeps its entries until an ``XADD ... MAXLEN ~ n`` trims it (``pubsub.redis``'s
``maxLenApprox``: Dapr never deletes an acknowledged entry), so a stream holds at most ``n``
entries (plus one radix-tree node, at most 100, of ``~``), each at most the largest event its
topic carries as daprd writes it: the record with every character escaped the way Go's
``encoding/json`` escapes the worst of them (6 bytes), plus the CloudEvent envelope. The append-only
file is rewritten once it grows by ``AOF_REWRITE_PERCENT`` over its last rewrite; while a rewrite
runs, the old file and its increment stay, so the journal stays under ``JOURNAL_FACTOR`` times
the retained data.

    uv run python scripts/broker_bounds.py    # prints the bound of each stream and the total
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from memory.models.events import IndexUpdated, UserForgotten
from memory.models.memory import StoredMemory
from scripts.stack import ROOT
from sidecar.body_limits import GO_JSON_CHAR_BYTES, max_json_bytes
from sidecar.turn_events import ConversationTurn, SessionDeletedEvent

#: The CloudEvent attributes daprd adds around a record (id, source, type, topic, pubsubname,
#: traceid, traceparent, time, ...): about 1 KB measured on the embedded stack; twice that.
ENVELOPE_BYTES: Final = 2048
#: Entries an approximate trim may leave over ``maxLenApprox``: one radix-tree node
#: (``stream-node-max-entries``, 100 by default).
TRIM_SLACK_ENTRIES: Final = 100
#: The journal at its largest, as a multiple of the retained data: the last rewrite's base,
#: its increment grown to AOF_REWRITE_PERCENT, and the increment a running rewrite starts.
JOURNAL_FACTOR: Final = 2.0
#: What a restart at the worst case must stay under (10 s on the 2-core machine).
RESTART_BUDGET_SECONDS: Final = 10.0
#: The largest journal whose restart bench/broker_restart.py measured within that budget
#: (docs/brokers.md): bounds that allow more must be measured again before they are raised.
MEASURED_JOURNAL_BYTES: Final = 2_147_000_000


def record_bytes(*records: Any) -> int:
    """The largest entry of a topic that carries ``records`` (pydantic models), in bytes."""
    return ENVELOPE_BYTES + max(
        max_json_bytes(r, char_bytes=GO_JSON_CHAR_BYTES, whitespace=0) for r in records
    )


#: Topic -> the records it carries. The outbox's internal topics carry what their app
#: publishes (``<namespace><app id><topic>outbox``; locally the namespace is "default").
TURNS = record_bytes(ConversationTurn, SessionDeletedEvent)
MEMORY = record_bytes(StoredMemory, IndexUpdated, UserForgotten)


@dataclass(frozen=True)
class Stream:
    name: str
    component: str
    entry_bytes: int

    def max_entries(self, max_len: dict[str, int]) -> int:
        return max_len[self.component] + TRIM_SLACK_ENTRIES

    def max_bytes(self, max_len: dict[str, int]) -> int:
        return self.max_entries(max_len) * self.entry_bytes


STREAMS: Final[Sequence[Stream]] = (
    Stream("conversation-turns", "pubsub", TURNS),
    Stream("conversation-turns-dlq", "pubsub", TURNS),
    Stream("memory-events", "pubsub", MEMORY),
    Stream("memory-events-dlq", "pubsub-broadcast", MEMORY),
    Stream("defaultchatconversation-turnsoutbox", "pubsub-outbox", TURNS),
    Stream("defaultmemorymemory-eventsoutbox", "pubsub-outbox", MEMORY),
)


def max_lengths(path: Path) -> dict[str, int]:
    """Each pub/sub component's ``maxLenApprox`` in a components file."""
    found = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "Component" and doc["spec"]["type"] == "pubsub.redis":
            for item in doc["spec"]["metadata"]:
                if item["name"] == "maxLenApprox":
                    found[doc["metadata"]["name"]] = int(item["value"])
    return found


def retained_bytes(max_len: dict[str, int]) -> int:
    """The most the streams can hold at once, in bytes."""
    return sum(stream.max_bytes(max_len) for stream in STREAMS)


def max_journal_bytes(max_len: dict[str, int]) -> int:
    """The largest the broker's append-only files can grow, in bytes."""
    return int(retained_bytes(max_len) * JOURNAL_FACTOR)


def report(max_len: dict[str, int]) -> Iterator[str]:
    for stream in STREAMS:
        yield (
            f"{stream.name:<38} {stream.component:<17} {stream.max_entries(max_len):>6} entries"
            f" x {stream.entry_bytes / 1e3:6.1f} KB = {stream.max_bytes(max_len) / 1e6:7.1f} MB"
        )
    yield f"{'retained at most':<38} {retained_bytes(max_len) / 1e6:>49.1f} MB"
    yield f"{'journal at most':<38} {max_journal_bytes(max_len) / 1e6:>49.1f} MB"


if __name__ == "__main__":
    for line in report(max_lengths(ROOT / "components" / "embedded" / "pubsub.yaml")):
        print(line)
