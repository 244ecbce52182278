"""The memory quality suite on the offline path (rules, the bundled embedding model, the real
app over the fake sidecar): every scripted conversation is played turn by turn, as chat would
publish it, then each user's live facts are compared with the script's, and every turn's
episode (kept or not) with the message's label: chatter or informative
(docs/memory-quality.md has the definitions and the latest figures).

Run ``pytest services/memory/tests/quality -s`` to see the table."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from memory.core.settings import MemorySettings
from memory.main import create_app
from memory.services.facts import normalise
from sidecar.testing import FakeDaprSidecar, asgi_client, attach_fake_sidecar

from .conversations import CONVERSATIONS, Chatter, Conversation  # noqa: TID252
from .episodes import EPISODES  # noqa: TID252
from .heldout import HELDOUT, HELDOUT2, HELDOUT3  # noqa: TID252

#: The targets of the issue that introduced consolidation (issue 12), offline path.
TARGETS = {"recall": 0.95, "precision": 0.9, "duplicates": 0.0, "stale": 0.0, "hit@1": 0.9}
#: Episodes: ``share``, the stored episodes whose message is informative / stored episodes (the
#: issue that made questions and chatter leave no episode asked for 1.0); ``kept``, the
#: informative messages that left an episode / informative messages.
EPISODE_TARGETS = {"share": 1.0, "kept": 1.0}


@dataclass
class Tally:
    expected: int = 0
    found: int = 0
    live: int = 0
    correct: int = 0
    duplicates: int = 0
    superseded: int = 0
    stale: int = 0
    questions: int = 0
    hits: int = 0
    episodes: int = 0  # stored
    informative_episodes: int = 0  # stored, of an informative message
    informative: int = 0  # messages
    chatter: int = 0  # messages
    misses: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("expected", "found", "live", "correct", "duplicates", "superseded", "stale",
                     "questions", "hits", "episodes", "informative_episodes", "informative",
                     "chatter"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.misses += other.misses

    def metrics(self) -> dict[str, float]:
        return {
            "recall": self.found / self.expected if self.expected else 1.0,
            "precision": self.correct / self.live if self.live else 1.0,
            "duplicates": self.duplicates / self.live if self.live else 0.0,
            "stale": self.stale / self.superseded if self.superseded else 0.0,
            "hit@1": self.hits / self.questions if self.questions else 1.0,
            "share": self.informative_episodes / self.episodes if self.episodes else 1.0,
            "kept": self.informative_episodes / self.informative if self.informative else 1.0,
        }


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(MemorySettings())
    attach_fake_sidecar(
        app, FakeDaprSidecar(stores={"memory-state"}, outbox={"memory-state": "memory-events"})
    )
    async with asgi_client(app, "http://memory") as client:
        yield client


async def play(client: httpx.AsyncClient, conversation: Conversation) -> Tally:
    """Send every turn; count, right after each, whether it left an episode."""
    tally = Tally()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for s, session in enumerate(conversation.sessions):
        for t, (user, text) in enumerate(session):
            data = {
                "schema_version": "1.0",
                "turn_id": f"{conversation.name}-s{s}-t{t}",
                "session_id": f"{conversation.name}-{user}-s{s}",
                "user_id": user,
                "user_text": text,
                "reply": "Noted.",
                "tools_used": [],
                "model": "offline",
                "completed_at": (start + timedelta(days=s, minutes=t)).isoformat(),
            }
            event = {"id": data["turn_id"], "specversion": "1.0", "source": "chat",
                     "type": "conversation.turn.completed", "data": data}  # fmt: skip
            response = await client.post(
                "/events/conversation-turns",
                json=event,
                headers={"content-type": "application/cloudevents+json"},
            )
            assert response.json() == {"status": "SUCCESS"}, response.text
            newest = await client.get(f"/memories/{user}", params={"kind": "episodic", "limit": 1})
            items = newest.json()["items"]
            stored = bool(items) and items[0]["source"]["turn_id"] == data["turn_id"]
            informative = not isinstance(text, Chatter)
            tally.informative += informative
            tally.chatter += not informative
            tally.episodes += stored
            tally.informative_episodes += stored and informative
            if stored and not informative:
                tally.misses.append(f"{conversation.name}: an episode of chatter {text!r}")
            elif informative and not stored:
                tally.misses.append(f"{conversation.name}: no episode of {text!r}")
    return tally


async def score(client: httpx.AsyncClient, conversation: Conversation) -> Tally:
    tally = Tally()
    for user, expected in conversation.facts.items():
        page = await client.get(f"/memories/{user}", params={"kind": "semantic", "limit": 200})
        live: list[dict[str, Any]] = page.json()["items"]
        contents = [normalise(m["content"]) for m in live]
        wanted = {normalise(f) for f in expected}
        stale = {normalise(f) for f in conversation.stale.get(user, [])}
        tally.expected += len(wanted)
        tally.found += len(wanted & set(contents))
        tally.live += len(live)
        tally.correct += sum(c in wanted for c in contents)
        attributes = Counter(m["attribute"] for m in live if m["attribute"])
        texts = Counter(contents)
        tally.duplicates += sum(
            texts[c] > 1 or (m["attribute"] is not None and attributes[m["attribute"]] > 1)
            for c, m in zip(contents, live, strict=True)
        )
        tally.superseded += len(stale)
        tally.stale += len(stale & set(contents))
        for fact in wanted - set(contents):
            tally.misses.append(f"{conversation.name}/{user}: missing {fact!r}")
        for c in set(contents) - wanted:
            tally.misses.append(f"{conversation.name}/{user}: unexpected {c!r}")
        for question, answer in conversation.questions.get(user, []):
            hits = (
                await client.get(f"/memories/{user}/search", params={"q": question, "k": 1})
            ).json()["hits"]
            tally.questions += 1
            top = hits[0]["memory"]["content"] if hits else None
            if top is not None and normalise(top) == normalise(answer):
                tally.hits += 1
            else:
                tally.misses.append(f"{conversation.name}/{user}: {question!r} found {top!r}")
    return tally


async def run_suite(
    client: httpx.AsyncClient, conversations: list[Conversation], *, facts: bool = True
) -> tuple[dict[str, float], Tally]:
    """Play and score every conversation (its facts too, unless ``facts`` is False); print
    the table; the overall metrics."""
    total = Tally()
    by_category: dict[str, Tally] = {}
    for conversation in conversations:
        tally = await play(client, conversation)
        if facts:
            tally.add(await score(client, conversation))
        total.add(tally)
        by_category.setdefault(conversation.category, Tally()).add(tally)
    metrics = total.metrics()
    columns = [*(TARGETS if facts else []), *EPISODE_TARGETS]
    print(f"\n{'category':<18} " + " ".join(f"{m:>10}" for m in columns))
    for category, tally in sorted(by_category.items()):
        values = tally.metrics()
        print(f"{category:<18} " + " ".join(f"{values[m]:>10.3f}" for m in columns))
    print(f"{'all':<18} " + " ".join(f"{metrics[m]:>10.3f}" for m in columns))
    if facts:
        print(f"facts expected {total.expected}, live {total.live}, "
              f"superseded {total.superseded}, questions {total.questions}")  # fmt: skip
    messages = total.informative + total.chatter
    print(f"messages {messages} (chatter {total.chatter}), episodes {total.episodes} "
          f"(of informative ones {total.informative_episodes})")  # fmt: skip
    for miss in total.misses:
        print("  ", miss)
    return metrics, total


async def test_the_offline_path_meets_the_quality_targets(client: httpx.AsyncClient) -> None:
    assert len(CONVERSATIONS) >= 40
    metrics, total = await run_suite(client, CONVERSATIONS)
    targets = TARGETS | EPISODE_TARGETS
    failed = {
        m: round(v, 3) for m, v in metrics.items()
        if (v > targets[m] if m in ("duplicates", "stale") else v < targets[m])
    }  # fmt: skip
    assert not failed, (failed, total.misses)


#: Floors for the held-out sets, a little under their figures (docs/memory-quality.md): the
#: offline rules read only the phrasings they know, so recall is far from the targets on text
#: they were not written for; these catch a regression, and what is stored is never
#: duplicated.
HELDOUT_FLOORS = {
    "first": {"recall": 0.85, "precision": 0.85, "share": 1.0, "kept": 0.95},
    "second": {"recall": 0.55, "precision": 0.65, "share": 1.0, "kept": 0.95},
    "third": {"recall": 0.33, "precision": 0.55, "share": 1.0, "kept": 0.9},
}


@pytest.mark.parametrize(
    ("name", "conversations"),
    [("first", HELDOUT), ("second", HELDOUT2), ("third", HELDOUT3)],
)
async def test_the_held_out_conversations(
    client: httpx.AsyncClient, name: str, conversations: list[Conversation]
) -> None:
    metrics, total = await run_suite(client, conversations)
    assert metrics["duplicates"] == 0, total.misses
    low = {
        m: round(metrics[m], 3) for m, floor in HELDOUT_FLOORS[name].items() if metrics[m] < floor
    }
    assert not low, (low, total.misses)


async def test_questions_greetings_commands_and_small_talk(client: httpx.AsyncClient) -> None:
    """The episode set: chatter, and informative messages that look like it."""
    metrics, total = await run_suite(client, EPISODES, facts=False)
    assert total.chatter >= 50
    assert total.informative >= 25
    assert {m: metrics[m] for m in EPISODE_TARGETS} == EPISODE_TARGETS, total.misses
