"""Consolidation by an LLM: one structured call that sees a turn's facts and the user's nearest
memories and answers the operations (ADD, UPDATE, DELETE, NOOP; mem0's design, Chhikara et al.
2025, section 2.1). Used when an OpenAI-compatible endpoint is configured; the rules
(memory.services.consolidation.decide) decide whenever this fails.

The answer is constrained by a JSON schema (``response_format`` ``json_schema``, strict), read
strictly, and checked again against the memories in the user's actor
(``consolidation.planned``): an operation on a memory that was not shown, or on one that
changed since, is never applied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from memory.models.memory import MemoryKind
from memory.services.consolidation import (
    Candidate,
    CandidateMemory,
    Known,
    PlannedOperation,
    similarity,
)
from memory.services.embedding import TextEmbedder
from memory.services.extraction import MalformedAnswer

logger = logging.getLogger(__name__)

#: Nearest memories shown to the model per fact (by embedding, plus every memory holding the
#: fact's attribute).
NEAREST = 5
#: Calls per turn: a malformed answer is asked once more, then the rules decide.
ATTEMPTS = 2

SYSTEM = (
    "You keep a user's long-term memory consistent. You get the user's existing memories "
    "(id, text) and new facts from the latest message (index, text, and whether the user took "
    "the fact back). For each new fact answer one operation: "
    '"add" (new information, target null); '
    '"update" (it replaces an existing memory: a new value of the same thing, or the same '
    "thing said more precisely; target that memory's id); "
    '"noop" (an existing memory already says it; target its id); '
    '"delete" (the user took back or contradicted an existing memory; target its id). '
    "A fact taken back can only delete. Never invent ids."
)

SCHEMA: dict[str, Any] = {
    "name": "memory_operations",
    "strict": True,
    "schema": {
        "type": "object",
        "additionalProperties": False,
        "required": ["operations"],
        "properties": {
            "operations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["operation", "candidate", "target"],
                    "properties": {
                        "operation": {"enum": ["add", "update", "delete", "noop"]},
                        "candidate": {"type": "integer"},
                        "target": {"type": ["string", "null"]},
                    },
                },
            }
        },
    },
}


def nearest_memories(
    candidates: Sequence[Candidate], known: Sequence[Known], *, k: int = NEAREST
) -> list[Known]:
    """The memories to show the model: for each fact, the ``k`` most similar live facts and
    every fact with its attribute (each memory once, in the order found)."""
    facts = [m for m in known if m.kind is MemoryKind.semantic]
    shown: dict[str, Known] = {}
    for candidate in candidates:
        scored = sorted(
            facts, key=lambda m: similarity(candidate.vector, m.vector) or 0.0, reverse=True
        )
        for memory in scored[:k]:
            shown.setdefault(memory.id, memory)
        for memory in facts:
            if candidate.attribute is not None and memory.attribute == candidate.attribute:
                shown.setdefault(memory.id, memory)
    return list(shown.values())


class LLMPlanner:
    """Operations by an OpenAI-compatible chat model (``/chat/completions``)."""

    name = "llm"

    def __init__(
        self, http: httpx.AsyncClient, *, model: str, embedder: TextEmbedder | None
    ) -> None:
        self._http = http
        self._model = model
        self._embedder = embedder

    def candidates(self, requested: Sequence[CandidateMemory]) -> list[Candidate]:
        """The facts of ``requested`` as consolidation compares them (with their vectors)."""
        return [
            c.compared(self._embedder) for c in requested if c.memory.kind is MemoryKind.semantic
        ]

    async def plan(
        self, requested: Sequence[CandidateMemory], known: Sequence[Known]
    ) -> list[PlannedOperation]:
        """The operations for the facts of ``requested`` (indexes into it), against the
        nearest of ``known``. Raises httpx.HTTPError, MalformedAnswer (after ``ATTEMPTS``)."""
        facts = [(i, c) for i, c in enumerate(requested) if c.memory.kind is MemoryKind.semantic]
        if not facts:
            return []
        shown = nearest_memories(self.candidates(requested), known)
        question = {
            "memories": [{"id": m.id, "text": m.content} for m in shown],
            "new_facts": [
                {"index": i, "text": c.memory.content, "taken_back": c.retract} for i, c in facts
            ],
        }
        error: MalformedAnswer | None = None
        for _ in range(ATTEMPTS):
            try:
                return self._read(await self._ask(question), {i for i, _ in facts})
            except MalformedAnswer as exc:
                error = exc
                logger.warning("the consolidation model answered off its schema: %s", exc)
        assert error is not None
        raise error

    async def _ask(self, question: dict[str, Any]) -> str:
        response = await self._http.post(
            "/chat/completions",
            json={
                "model": self._model,
                "temperature": 0,
                "response_format": {"type": "json_schema", "json_schema": SCHEMA},
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": json.dumps(question, ensure_ascii=False)},
                ],
            },
        )
        response.raise_for_status()
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MalformedAnswer(f"not a chat completion: {exc!r}") from exc
        if not isinstance(content, str):
            raise MalformedAnswer("the completion has no text content")
        return content

    @staticmethod
    def _read(content: str, indexes: set[int]) -> list[PlannedOperation]:
        try:
            answer = json.loads(content)
            operations = answer["operations"] if isinstance(answer, dict) else None
            if not isinstance(operations, list):
                raise MalformedAnswer(f'expected {{"operations": [...]}}, got {content[:200]!r}')
            planned = [PlannedOperation.model_validate(op) for op in operations]
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise MalformedAnswer(f"not the operations asked for: {exc!s:.300}") from exc
        stray = [op.candidate for op in planned if op.candidate not in indexes]
        if stray:
            raise MalformedAnswer(f"operations for facts that were not asked about: {stray}")
        return planned


__all__ = ["LLMPlanner", "nearest_memories"]
