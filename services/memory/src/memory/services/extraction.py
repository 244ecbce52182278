"""Deriving memories from a finished conversation turn.

A turn yields an episodic memory of what the user said about themselves or their world (not
the assistant's reply, whose boilerplate would repeat word for word across episodes; and none
for a message that says nothing about the user: a question to the assistant, a greeting,
thanks, small talk or a command to the assistant, memory.services.episodes), a procedural
memory per tool the agent used that changed something (not the read-only ones,
``READ_ONLY_TOOLS``), and the semantic facts the user stated about themselves: by rules when
the offline model is configured, by an LLM when a real model is. Ids are derived from the turn
id and the memory's slot, so a redelivered turn derives the same ids and changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from typing import Protocol

import httpx

from memory.models.events import ConversationTurn
from memory.models.memory import MAX_CONTENT, MemoryKind
from memory.services.episodes import informative_text
from memory.services.facts import Reading, RuleFactExtractor, canonical_fact, normalise

__all__ = [
    "EXTRACTION_INSTRUCTIONS",
    "Derived",
    "FactExtractor",
    "LLMFactExtractor",
    "MalformedAnswer",
    "Reading",
    "RuleFactExtractor",
    "derive",
]

logger = logging.getLogger(__name__)

#: Tools of chat's agent that only read (docs/chat.md, "A turn"): using them teaches nothing
#: about how the user's requests get done, so they leave no procedural memory.
READ_ONLY_TOOLS = frozenset({"get_current_time", "recall_memories"})

#: The tag of facts the rules found because the configured LLM extractor failed for that turn.
FALLBACK_TAG = "rules-fallback"

# A fixed namespace: the same turn and slot always give the same memory id, on every replica.
DERIVED_NAMESPACE = uuid.UUID("6b0f6f2e-9b8a-4c55-8f0f-4d7a2d0c1e5a")


@dataclass(frozen=True)
class Derived:
    """A memory a turn teaches (or, with ``retract``, one it takes back), before
    consolidation decides what becomes of it."""

    slot: str
    kind: MemoryKind
    content: str
    tags: tuple[str, ...]
    attribute: str | None = None
    value: str | None = None
    retract: bool = False
    forget: bool = False

    def memory_id(self, turn_id: str) -> uuid.UUID:
        return uuid.uuid5(DERIVED_NAMESPACE, f"{turn_id}/{self.slot}")


class FactExtractor(Protocol):
    name: str

    async def read(self, user_text: str) -> Reading: ...


#: What the configured model is told for each message (the system message): the same rule
#: for episodes as the offline path's (memory.services.episodes).
EXTRACTION_INSTRUCTIONS = (
    "You read one message a user sent to an assistant and keep what it says about the user. "
    'Answer with JSON {"facts": [...], "retractions": [...], "episode": <string or null>}. '
    '"facts": the facts the user states about themselves (name, preferences, circumstances), '
    'each as one short sentence in the third person ("The user lives in Porto."). '
    '"retractions": the facts the user takes back ("forget that I like tea", "I don\'t live in '
    'Lisbon any more"), as the sentence to delete ("The user likes tea."). '
    '"episode": the clauses of the message that say something about the user or their world '
    "(a statement about themselves, an event, a plan, a preference, a fact about their family, "
    "pets, job or places), copied word for word. A question to the assistant, a greeting, "
    "thanks, an acknowledgement, small talk and a command to the assistant (with any text it "
    "gives to work on) say nothing about the user and are not memories: leave them out of the "
    "episode unless another clause of the message says something about the user, and answer "
    '"episode": null when no clause does ("What do you know about me?", "Hi!", "thanks, that '
    'helped", "Write me a haiku about autumn", "lol ok"). A standing instruction on how to '
    'treat the user ("Please always answer in Norwegian") and a request to forget something '
    "about them do say something about the user. "
    "Empty lists when there are none. Never invent facts."
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class LLMFactExtractor:
    """Facts and the episode by an OpenAI-compatible chat model, asked for JSON: a list of
    short statements, and the clauses of the message that say something about the user."""

    name = "llm"

    def __init__(self, http: httpx.AsyncClient, *, model: str) -> None:
        self._http = http
        self._model = model

    async def read(self, user_text: str) -> Reading:
        """The facts the model finds, those it says the user took back (``retractions``,
        optional), and the episode: the model's, when it is the user's own words, else the
        offline rules' (``informative_text``). Raises httpx.HTTPError, MalformedAnswer."""
        response = await self._http.post(
            "/chat/completions",
            json={
                "model": self._model,
                "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [
                    {"role": "system", "content": EXTRACTION_INSTRUCTIONS},
                    {"role": "user", "content": user_text},
                ],
            },
        )
        response.raise_for_status()
        try:
            content = response.json()["choices"][0]["message"]["content"]
            answer = json.loads(content)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MalformedAnswer(f"not a chat completion with JSON content: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise MalformedAnswer(f'expected {{"facts": [...]}}, got {str(content)[:200]!r}')
        facts, retractions = answer.get("facts"), answer.get("retractions", [])
        if not isinstance(facts, list) or not isinstance(retractions, list):
            raise MalformedAnswer(f'expected {{"facts": [...]}}, got {str(content)[:200]!r}')
        stated = [_clip(f, 500) for f in facts if isinstance(f, str) and f.strip()][:10]
        taken_back = [_clip(f, 500) for f in retractions if isinstance(f, str) and f.strip()][:10]
        found = [canonical_fact(f) for f in stated] + [
            replace(canonical_fact(f), retract=True) for f in taken_back
        ]
        return Reading(tuple(found), _episode(answer, user_text))


def _episode(answer: dict[str, object], user_text: str) -> str | None:
    """The model's episode when it answered one made of the message's words (or null: the
    message says nothing about the user); else, the key missing or the words its own, the
    offline rules decide."""
    if "episode" in answer:
        episode = answer["episode"]
        if episode is None or (isinstance(episode, str) and not episode.strip()):
            return None
        if isinstance(episode, str) and set(normalise(episode).split()) <= set(
            normalise(user_text).split()
        ):
            return episode.strip()
        logger.warning("the extraction model's episode is not the user's words: %.200r", episode)
    return informative_text(user_text)


class MalformedAnswer(ValueError):
    """The model answered, but not with ``{"facts": [<string>, ...]}``."""


async def derive(turn: ConversationTurn, extractor: FactExtractor) -> list[Derived]:
    """What a turn teaches: an episode (when the message says something about the user), the
    tools used that changed something, and the user's stated facts."""
    tags: tuple[str, ...] = ("fact",)
    try:
        reading = await extractor.read(turn.user_text)
    except (httpx.HTTPError, ValueError) as exc:
        # An extractor that fails (unreachable, an error, an answer of the wrong shape) does
        # not cost the turn its facts: the rules take over, and the facts say so in a tag.
        logger.warning(
            "fact extraction (%s) failed for turn %s, falling back to the rules: %s",
            extractor.name,
            turn.turn_id,
            exc,
        )
        reading = await RuleFactExtractor().read(turn.user_text)
        tags = ("fact", FALLBACK_TAG)
    episode = reading.episode
    derived: list[Derived] = []
    if episode is not None and episode.strip():
        derived.append(
            Derived(
                slot="episode",
                kind=MemoryKind.episodic,
                content=_clip(
                    f'The user said: "{_clip(episode, 600)}"'
                    + (" (the reply was interrupted)" if turn.interrupted else ""),
                    MAX_CONTENT,
                ),
                tags=("conversation",),
            )
        )
    for position, tool in enumerate(turn.tools_used):  # the slot keeps the tool's position
        if tool.name in READ_ONLY_TOOLS:
            continue
        detail = f" with {_clip(tool.arguments, 300)}" if tool.arguments else ""
        derived.append(
            Derived(
                slot=f"tool/{position}",
                kind=MemoryKind.procedural,
                content=f"Used the tool {tool.name}{detail} to answer the user.",
                tags=("tool", tool.name),
            )
        )
    derived += [
        Derived(
            slot=f"fact/{i}" if not fact.retract else f"retraction/{i}",
            kind=MemoryKind.semantic,
            content=_clip(fact.content, MAX_CONTENT),
            tags=tags,
            attribute=fact.attribute,
            value=fact.value,
            retract=fact.retract,
            forget=fact.forget,
        )
        for i, fact in enumerate(reading.facts)
    ]
    return derived
