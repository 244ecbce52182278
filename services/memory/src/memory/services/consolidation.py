"""Consolidation: what becomes of each memory a turn (or a client) brings, against the user's
nearest memories: ADD, UPDATE, DELETE or NOOP (the operations of mem0, Chhikara et al., "Mem0:
Building Production-Ready AI Agents with Scalable Long-Term Memory", 2025, section 2.1).

``decide`` is the deterministic rule set (docs/memory.md#consolidation):

- an episode is always added (it is an event, kept once per turn by its id);
- a retraction deletes the live facts it names: by attribute (and value, when given), else the
  one most similar to its text;
- a fact equal to a live memory of its kind, or a near-duplicate of a live fact (see
  ``near_duplicate``), is a NOOP (the memory's mentions counted); a near-duplicate that says
  strictly more replaces the shorter one (UPDATE);
- a fact setting an attribute a live fact already sets: the same value is a NOOP, another value
  an UPDATE of that memory (the old value stays in its history), and further facts of that
  attribute (left by earlier versions) are deleted as superseded;
- anything else is added.

Facts are decided before retractions, so "I moved from Lisbon to Porto" updates the home to
Porto (keeping Lisbon in its history) and then finds no live Lisbon to delete.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from memory.data.repository import Change, MemoryRepository
from memory.models.memory import (
    MAX_TAGS,
    MemoryKind,
    MemoryOperation,
    StoredEmbedding,
    StoredMemory,
)
from memory.services.embedding import TextEmbedder
from memory.services.facts import attribute_of, normalise, same_value
from memory.services.search import (
    Segment,
    SegmentReader,
    decode_vectors,
    fact_attribute,
    terms,
)
from sidecar.errors import ETagMismatch
from sidecar.state import retry_on_conflict

logger = logging.getLogger(__name__)

#: Cosine similarity (MiniLM-L6 sentence embeddings) from which two facts can be duplicates;
#: measured: "likes hiking" / "enjoys hiking" 0.97, "likes tea" / "dislikes tea" 0.85,
#: "flight leaves on Friday" / "... Saturday" 0.97 (which ``near_duplicate`` tells apart by
#: their names and numbers).
DUPLICATE_SIMILARITY = 0.9
#: Share of terms two near-duplicates have in common at least (Jaccard).
DUPLICATE_OVERLAP = 0.5
#: Cosine similarity from which a retraction given as text ("forget that my sister visits on
#: Sundays") deletes the most similar live fact.
RETRACT_SIMILARITY = 0.75

_VALUE_TOKEN = re.compile(r"\d+|(?<!^)(?<![.!?] )\b[A-Z][\w'-]*")


@dataclass
class Known:
    """A live memory of the user, as consolidation compares with it."""

    id: str
    kind: MemoryKind
    content: str
    attribute: str | None
    value: str | None
    vector: NDArray[np.float32] | None
    version: int = 0
    #: When its current value was stated (its ``last_seen_at``, else ``created_at``).
    stated_at: datetime | None = None


@dataclass
class Candidate:
    """A memory to consolidate: ``id`` is the one it gets if added (derived from the turn and
    slot, or from the Idempotency-Key)."""

    id: str
    kind: MemoryKind
    content: str
    attribute: str | None = None
    value: str | None = None
    retract: bool = False
    vector: NDArray[np.float32] | None = None
    #: A retraction the user asked to be forgotten: the episodes that said it go too.
    forget: bool = False
    #: When the user said it (the turn's time; None: now).
    said_at: datetime | None = None

    def said_before(self, known: Known) -> bool:
        """Whether this was said before ``known``'s current value was: a late delivery of
        an older turn, which must not undo what a newer one stated."""
        return (
            self.said_at is not None
            and known.stated_at is not None
            and self.said_at < known.stated_at
        )


@dataclass
class Decision:
    """``operation`` for ``candidate``; ``target`` is the existing memory changed (None for
    an add). ``reason`` is for the logs."""

    operation: MemoryOperation
    candidate: Candidate
    target: str | None = None
    reason: str = ""
    #: An update to another value of the attribute (its mentions start again at 1).
    new_value: bool = False


def value_tokens(text: str) -> set[str]:
    """Names and numbers in ``text`` (capitalised words not starting it, digits): two facts
    that differ in these say different things however similar they read."""
    return set(_VALUE_TOKEN.findall(text.strip()))


def similarity(a: NDArray[np.float32] | None, b: NDArray[np.float32] | None) -> float | None:
    if a is None or b is None:
        return None
    return float(np.dot(a, b))


def near_duplicate(candidate: Candidate, known: Known) -> bool:
    """Whether ``candidate`` says what ``known`` says: the same names and numbers, terms
    mostly shared, and (with embeddings) a cosine similarity of at least
    ``DUPLICATE_SIMILARITY``; without embeddings, the same terms."""
    if value_tokens(candidate.content) != value_tokens(known.content):
        return False
    ours, theirs = terms(candidate.content), terms(known.content)
    if not ours or not theirs:
        return False
    score = similarity(candidate.vector, known.vector)
    if score is None:
        return ours == theirs
    return score >= DUPLICATE_SIMILARITY and len(ours & theirs) / len(ours | theirs) >= (
        DUPLICATE_OVERLAP
    )


def _compatible(candidate: Candidate, known: Known) -> bool:
    """Facts about different attributes are never duplicates ("lives in Porto" and "is from
    Porto" read alike)."""
    return candidate.attribute is None or known.attribute in (None, candidate.attribute)


def decide(candidates: Sequence[Candidate], known: Sequence[Known]) -> list[Decision]:
    """The operation for each candidate (facts before retractions; see the module's
    docstring), each decided against the memories as the earlier decisions left them."""
    live: dict[str, Known] = {k.id: k for k in known}
    decisions: list[Decision] = []
    ordered = sorted(candidates, key=lambda c: c.retract)
    for candidate in ordered:
        if candidate.kind is MemoryKind.episodic:
            decisions.append(Decision(MemoryOperation.add, candidate, reason="an episode"))
            live[candidate.id] = _as_known(candidate)
            continue
        if candidate.retract:
            for target in _retracted(candidate, live.values()):
                if candidate.said_before(target):
                    continue
                decisions.append(
                    Decision(MemoryOperation.delete, candidate, target.id, reason="retracted")
                )
                live.pop(target.id)
            continue
        decision = _decide_fact(candidate, live)
        if decision is None:
            continue
        decisions.append(decision)
        if decision.operation is MemoryOperation.add:
            live[candidate.id] = _as_known(candidate)
        elif decision.operation is MemoryOperation.update and decision.target is not None:
            live[decision.target] = replace(_as_known(candidate), id=decision.target)
        superseded = [
            k for k in live.values()
            if candidate.attribute is not None and k.attribute == candidate.attribute
            and k.id not in (decision.target, candidate.id)
        ]  # fmt: skip
        for stale in superseded:  # a second value of the attribute, left by earlier versions
            decisions.append(
                Decision(MemoryOperation.delete, candidate, stale.id, reason="superseded")
            )
            live.pop(stale.id)
    return decisions


def _decide_fact(candidate: Candidate, live: dict[str, Known]) -> Decision | None:
    """The decision for a fact or procedure; None when it was said before the value that
    replaced it (nothing changes)."""
    same_kind = [k for k in live.values() if k.kind is candidate.kind]
    wanted = normalise(candidate.content)
    for k in same_kind:
        if normalise(k.content) == wanted:
            return Decision(MemoryOperation.noop, candidate, k.id, reason="the same text")
    if candidate.attribute is not None:
        holders = [k for k in same_kind if k.attribute == candidate.attribute]
        for k in holders:
            if same_value(k.value, candidate.value):
                if len(normalise(candidate.value or "")) > len(normalise(k.value or "")):
                    # "Berlin" → "Berlin, Germany", "Lee" → "Lee Min": said more precisely
                    return Decision(MemoryOperation.update, candidate, k.id, reason="more precise")
                return Decision(MemoryOperation.noop, candidate, k.id, reason="the same value")
        if holders and candidate.said_before(holders[0]):
            return None
        if holders:
            return Decision(
                MemoryOperation.update,
                candidate,
                holders[0].id,
                reason=f"a new value of {candidate.attribute}",
                new_value=True,
            )
    if candidate.kind is not MemoryKind.semantic:
        return Decision(MemoryOperation.add, candidate, reason="new")
    similar = [k for k in same_kind if _compatible(candidate, k) and near_duplicate(candidate, k)]
    if similar:
        k = max(similar, key=lambda k: similarity(candidate.vector, k.vector) or 0.0)
        ours, theirs = terms(candidate.content), terms(k.content)
        if ours > theirs:
            return Decision(MemoryOperation.update, candidate, k.id, reason="says more")
        return Decision(MemoryOperation.noop, candidate, k.id, reason="a near-duplicate")
    return Decision(MemoryOperation.add, candidate, reason="new")


def _retracted(candidate: Candidate, live: Iterable[Known]) -> list[Known]:
    """The live facts a retraction names."""
    facts = [k for k in live if k.kind is MemoryKind.semantic]
    if candidate.attribute is not None:
        return [
            k for k in facts
            if k.attribute == candidate.attribute
            and (candidate.value is None or same_value(k.value, candidate.value))
        ]  # fmt: skip
    wanted = normalise(candidate.content)
    exact = [k for k in facts if normalise(k.content) == wanted]
    if exact:
        return exact[:1]
    named = terms(candidate.content)  # "forget the shellfish thing": the fact that says it
    holding = [k for k in facts if named and named <= terms(k.content)]
    if len(holding) == 1:
        return holding
    scored = [(similarity(candidate.vector, k.vector), k) for k in facts]
    best = max(
        ((s, k) for s, k in scored if s is not None and s >= RETRACT_SIMILARITY),
        key=lambda pair: pair[0],
        default=None,
    )
    return [] if best is None else [best[1]]


def _as_known(candidate: Candidate) -> Known:
    return Known(
        id=candidate.id,
        kind=candidate.kind,
        content=candidate.content,
        attribute=candidate.attribute,
        value=candidate.value,
        vector=candidate.vector,
    )


# -- applying decisions (in the user's actor) -----------------------------------------------------
class CandidateMemory(BaseModel):
    """A memory to consolidate, as it crosses the actor boundary: the memory it would be if
    added (its id derived from the turn and slot, or the Idempotency-Key), and for a fact the
    value ``attribute_of`` read, or, with ``retract``, what to delete."""

    memory: StoredMemory
    value: str | None = None
    retract: bool = False
    forget: bool = Field(
        default=False, description="A retraction to forget (its episodes deleted too)."
    )
    said_at: datetime | None = Field(
        default=None, description="When the user said it (a turn's time; null: now)."
    )

    def compared(self, embedder: TextEmbedder | None) -> Candidate:
        """This memory as consolidation compares it (with its unit vector)."""
        return Candidate(
            id=str(self.memory.id), kind=self.memory.kind, content=self.memory.content,
            attribute=self.memory.attribute, value=self.value, retract=self.retract,
            vector=candidate_vector(self.memory.embedding, embedder), forget=self.forget,
            said_at=self.said_at,
        )  # fmt: skip


class PlannedOperation(BaseModel):
    """An operation an LLM planned (memory.services.planner): for candidate ``candidate``
    (its index), on existing memory ``target`` (for update, delete and noop)."""

    operation: MemoryOperation
    candidate: int = Field(ge=0)
    target: str | None = None


class ConsolidationRequest(BaseModel):
    """What the user's actor consolidates in one transaction. ``marker``: the id whose
    document existing means this request was applied already (a turn's episode).
    ``plan`` (with the head version ``based_on`` it was made on) replaces the rules when the
    memories have not changed since."""

    candidates: list[CandidateMemory]
    marker: str | None = None
    not_after_forget_of: datetime | None = None
    plan: list[PlannedOperation] | None = None
    based_on: int | None = None


class Outcome(BaseModel):
    """What became of one candidate: the operation, and the memory added, changed or kept
    (for a delete, the memory as it was). ``replayed``: the candidate was consolidated by an
    earlier request already (same turn or Idempotency-Key); nothing changed now."""

    candidate: str
    operation: MemoryOperation
    memory: StoredMemory | None = None
    replayed: bool = False


class ConsolidationResult(BaseModel):
    """The outcomes of one request, in the order of the decisions; ``applied`` is False when
    nothing was written (a replayed turn, or the user forgotten after it)."""

    applied: bool
    outcomes: list[Outcome] = Field(default_factory=list)
    decided_by: str = "rules"


#: Words of the canonical sentences themselves: what is left of a fact without them is what it
#: says ("tea", "Lisbon", "Dana").
_FRAME = frozenset(
    ["user", "user's", "like", "dislike", "live", "work", "name", "allergic", "favourite",
     "called", "old", "year", "partner", "from"]
)  # fmt: skip


def forgotten_episodes(
    decisions: Sequence[Decision],
    known: Sequence[Known],
    segments: Sequence[Segment],
    now: float,
) -> tuple[list[Decision], dict[str, int]]:
    """Deletions of the episodes that said what the user asked to forget, and those episodes'
    versions (by id): for each fact a
    ``forget`` retraction deletes, the live episodes with every word the fact says beyond its
    frame ("forget that I like tea": the episodes with "tea"). The turn's own episode, which
    asks to forget, is not among them (it is not stored yet)."""
    by_id = {k.id: k for k in known}
    found: list[Decision] = []
    seen: dict[str, int] = {}
    for decision in decisions:
        target = by_id.get(decision.target or "")
        if decision.operation is not MemoryOperation.delete or not decision.candidate.forget:
            continue
        if target is None:
            continue
        words = terms(target.content) - _FRAME
        if not words:
            continue
        for segment in segments:
            live = segment.live(now)
            for row in sorted(segment.rows_with(words)):
                memory_id = segment.ids[row]
                if segment.kinds[row] != MemoryKind.episodic or not live[row] or memory_id in seen:
                    continue
                seen[memory_id] = segment.versions[row]
                found.append(
                    Decision(
                        MemoryOperation.delete, decision.candidate, memory_id,
                        reason="an episode that said what is forgotten",
                    )
                )  # fmt: skip
    return found, seen


def expiries(segments: Sequence[Segment], now: float) -> tuple[list[str], datetime | None]:
    """The ids of the memories expired at ``now`` (POSIX seconds), and the earliest expiry of
    the others (None: none expires)."""
    expired: list[str] = []
    later = math.inf
    for segment in segments:
        for row, at in enumerate(segment.expiry.tolist()):
            if at <= now:
                expired.append(segment.ids[row])
            elif at < later:
                later = at
    return expired, None if later == math.inf else datetime.fromtimestamp(later, UTC)


def known_memories(
    segments: Sequence[Segment],
    now: float | None = None,
    candidates: Sequence[Candidate] | None = None,
) -> list[Known]:
    """The live facts and procedures of the user, from their segments, with their vectors
    (not those expired at ``now``, POSIX seconds). With ``candidates``, only those that can
    bear on them (``relevant_rows``): a user's 10,000 memories cost a matrix product and a
    few dozen parses, not 10,000."""
    found: list[Known] = []
    chosen = None if candidates is None else relevant_rows(segments, candidates)
    for at, segment in enumerate(segments):
        live = segment.live(now) if now is not None else None
        rows = range(len(segment)) if chosen is None else chosen[at]
        for row in rows:
            kind = segment.kinds[row]
            if kind not in (MemoryKind.semantic, MemoryKind.procedural):
                continue
            if live is not None and not live[row]:
                continue
            memory = orjson.loads(segment.blobs[row])
            content = memory["content"]
            attribute = fact_attribute(memory)
            parsed = attribute_of(content) if attribute is not None else None
            found.append(
                Known(
                    id=segment.ids[row],
                    kind=MemoryKind(kind),
                    content=content,
                    attribute=attribute,
                    value=parsed[1] if parsed and parsed[0] == attribute else None,
                    vector=None if segment.vectors is None else segment.vectors[row],
                    version=segment.versions[row],
                    stated_at=datetime.fromisoformat(
                        memory.get("last_seen_at") or memory["created_at"]
                    ),
                )
            )
    return found


#: Facts and procedures compared with each candidate at most (the most similar): what any
#: rule needs is the nearest few (a duplicate is at 0.9 or more, a retraction by text takes the
#: best at 0.75 or more); memories with its attribute or a retraction's words come on top.
NEAREST_KNOWN = 32


def relevant_rows(
    segments: Sequence[Segment], candidates: Sequence[Candidate]
) -> list[list[int]] | None:
    """Per segment, the rows that can bear on ``candidates``: for each, its ``NEAREST_KNOWN``
    most similar facts and procedures at a cosine of at least ``RETRACT_SIMILARITY`` (the
    lowest any rule uses), every fact with its attribute, and for a retraction given as text
    the memories with all its words. None when every row must be read (a candidate without a
    vector: keyword mode)."""
    candidates = [c for c in candidates if c.kind is not MemoryKind.episodic]
    if any(c.vector is None for c in candidates):
        return None
    chosen: list[set[int]] = [set() for _ in segments]
    vectors = [c.vector for c in candidates if c.vector is not None]
    sized = [(at, s) for at, s in enumerate(segments) if len(s) and s.vectors is not None]
    if vectors and sized:
        matrix = np.vstack(vectors)
        scores = np.concatenate(
            [np.where(s.episodic[:, None], -1.0, s.vectors @ matrix.T) for _, s in sized]  # type: ignore[operator]
        )
        where = np.concatenate([np.full(len(s), at) for at, s in sized])
        rows = np.concatenate([np.arange(len(s)) for _, s in sized])
        for column in scores.T:
            near = np.flatnonzero(column >= RETRACT_SIMILARITY)
            best = near[np.argsort(-column[near])[:NEAREST_KNOWN]]
            for i in best.tolist():
                chosen[int(where[i])].add(int(rows[i]))
    attributes = {c.attribute for c in candidates if c.attribute is not None}
    texts = [terms(c.content) for c in candidates if c.retract and c.attribute is None]
    for at, segment in enumerate(segments):
        for attribute in attributes:
            chosen[at].update(segment.by_attribute.get(attribute, ()))
        for words in texts:
            chosen[at] |= segment.rows_with(words)
    return [sorted(rows) for rows in chosen]


def candidate_vector(
    embedding: StoredEmbedding | None, embedder: TextEmbedder | None
) -> NDArray[np.float32] | None:
    """A candidate's unit vector, from its float32 embedding as the embedder wrote it (None
    without one of the embedder's model)."""
    if embedding is None or embedder is None:
        return None
    matrix, missing = decode_vectors([embedding.model_dump()], embedder)
    return None if missing else matrix[0]


class Consolidator:
    """Consolidates candidates for one user at a time (called by the user's actor, so no
    other write of that user runs meanwhile): reads the user's memories, decides, and
    commits the decisions in one transaction, deciding again if a writer outside the actor
    got in between."""

    def __init__(
        self,
        repository: MemoryRepository,
        reader: SegmentReader,
        embedder: TextEmbedder | None,
    ) -> None:
        self._repository = repository
        self._reader = reader
        self._embedder = embedder

    async def consolidate(self, user_id: str, request: ConsolidationRequest) -> ConsolidationResult:
        """Raises MemoryLimitReached, ConcurrencyConflict, StateStoreUnavailable."""
        return await retry_on_conflict(lambda: self._attempt(user_id, request))

    async def run(self, user_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """``consolidate`` over JSON, as the ``MemoryUser`` actor calls it."""
        result = await self.consolidate(user_id, ConsolidationRequest.model_validate(request))
        return result.model_dump(mode="json")

    async def _attempt(self, user_id: str, request: ConsolidationRequest) -> ConsolidationResult:
        ids = [str(c.memory.id) for c in request.candidates]
        marker = [] if request.marker is None or request.marker in ids else [request.marker]
        stored_before = await self._repository.read_stored(user_id, [*ids, *marker])
        if request.marker is not None and request.marker in stored_before:
            return ConsolidationResult(applied=False)  # this turn was applied already
        head, segments = await self._reader.everything(user_id)
        now = datetime.now(UTC)
        candidates = [
            c.compared(self._embedder)
            for c in request.candidates
            if str(c.memory.id) not in stored_before
        ]
        known = await self._reader.on_cpu(known_memories, segments, now.timestamp(), candidates)
        due = head.next_expiry is not None and head.next_expiry <= now
        expired, next_expiry = expiries(segments, now.timestamp()) if due else ([], None)
        if not request.candidates and not due:
            return ConsolidationResult(applied=False)
        fresh = [c for c in request.candidates if str(c.memory.id) not in stored_before]
        decided_by = "rules"
        decisions = None
        if request.plan is not None and request.based_on == head.version:
            decisions = planned(request.plan, request.candidates, candidates, known)
            decided_by = "llm" if decisions is not None else "rules (the plan did not fit)"
            if decisions is None:
                logger.warning("the LLM's plan for %s did not fit its memories", user_id)
        elif request.plan is not None:
            decided_by = "rules (the memories changed since the plan)"
        if decisions is None:
            decisions = decide(candidates, known)
        versions = {k.id: k.version for k in known}
        said, said_versions = forgotten_episodes(decisions, known, segments, now.timestamp())
        decisions += said
        versions.update(said_versions)
        targets = {d.target for d in decisions if d.target is not None} - set(ids)
        docs = await self._repository.read_for_change(user_id, sorted(targets | set(expired)))
        if any(t not in docs or docs[t][0].version != versions.get(t) for t in targets):
            raise ETagMismatch(f"memories of {user_id} changed since they were read")
        by_id = {str(c.memory.id): c for c in fresh}
        adds: dict[str, StoredMemory] = {}
        working = {t: doc for t, (doc, _) in docs.items()}
        outcomes: list[Outcome] = [
            Outcome(
                candidate=i,
                operation=MemoryOperation.noop,
                memory=None if stored_before[i].deleted_at else stored_before[i],
                replayed=True,
            )
            for i in ids
            if i in stored_before
        ]
        replays: set[str] = set()
        for d in decisions:
            requested = by_id[d.candidate.id]
            c = requested.memory
            if requested.said_at is not None:  # the value holds from when it was said
                c = c.model_copy(update={"last_seen_at": requested.said_at})
            if d.operation is MemoryOperation.add:
                adds[d.candidate.id] = c
            elif d.target in adds:  # a memory this same request adds: change what is added
                if d.operation is MemoryOperation.delete:
                    del adds[d.target]
                elif d.operation is MemoryOperation.update:
                    adds[d.target] = adds[d.target].model_copy(
                        update={"content": c.content, "embedding": c.embedding,
                                "attribute": c.attribute, "history": []},
                    ).with_history()  # fmt: skip
            elif d.target is not None:
                current = working[d.target]
                same_turn = (
                    d.operation is MemoryOperation.noop
                    and c.source.turn_id is not None
                    and current.source.turn_id == c.source.turn_id
                )  # the turn's `remember` stored it already: one statement, counted once
                if d.candidate.id in current.absorbed or same_turn:
                    replays.add(d.candidate.id)
                else:
                    working[d.target] = changed(current, d.operation, c, now, new_value=d.new_value)
        for memory_id in expired:  # the sweep: expired memories are deleted with the rest
            if memory_id in working and working[memory_id] is docs[memory_id][0]:
                working[memory_id] = changed(working[memory_id], MemoryOperation.delete, None, now)
        changes = [
            Change(before=docs[t][0], after=after, etag=docs[t][1])
            for t, after in working.items()
            if after is not docs[t][0]
        ]
        if not adds and not changes and not due:
            # Nothing to write (a replay, a retraction of what is not there): no transaction,
            # so the head and the caches built on it stay as they are.
            added: list[StoredMemory] | None = []
        else:
            added = await self._repository.apply(
                user_id,
                adds=list(adds.values()),
                changes=changes,
                expected_version=head.version,
                not_after_forget_of=request.not_after_forget_of,
                next_expiry=next_expiry,
                swept=due,
            )
        if expired:
            logger.info("swept %d expired memories of %s", len(expired), user_id)
        if added is None:
            return ConsolidationResult(applied=False)
        final: dict[str, StoredMemory | None] = {str(m.id): m for m in added}
        final.update(working)
        for d in decisions:
            if d.operation is MemoryOperation.delete and d.target is not None:
                final[d.target] = docs[d.target][0] if d.target in docs else None
            memory = final.get(d.target if d.target is not None else d.candidate.id)
            outcomes.append(
                Outcome(
                    candidate=d.candidate.id,
                    operation=d.operation,
                    memory=memory,
                    replayed=d.candidate.id in replays,
                )
            )
            logger.info(
                "%s of %s: %s %s (%s)", d.candidate.kind, user_id, d.operation.value,
                d.target or d.candidate.id, d.reason,
            )  # fmt: skip
        return ConsolidationResult(applied=True, outcomes=outcomes, decided_by=decided_by)


def changed(
    memory: StoredMemory,
    operation: MemoryOperation,
    candidate: StoredMemory | None,
    now: datetime,
    *,
    new_value: bool = False,
) -> StoredMemory:
    """``memory`` after ``operation`` for ``candidate``: mentioned once more (noop), its
    content replaced, the old one kept in its history and the candidate's tags added
    (update), or a tombstone (delete:
    content, tags, history emptied, as ``MemoryRepository.delete`` leaves it)."""
    memory = memory.with_history()  # written out before the version moves on
    bumped: dict[str, object] = {"version": memory.version + 1, "updated_at": now}
    if operation is MemoryOperation.delete:
        return memory.model_copy(
            update={
                **bumped, "content": "", "tags": [], "embedding": None, "history": [],
                "absorbed": [], "attribute": None, "deleted_at": now,
            }
        )  # fmt: skip
    assert candidate is not None, "only a deletion needs no candidate"
    said = candidate.last_seen_at or now
    last = max(said, memory.last_seen_at) if memory.last_seen_at else said
    mentions = 1 if new_value else memory.mentions + 1  # a new value: stated once so far
    seen = {**bumped, "mentions": mentions, "last_seen_at": last}
    if operation is MemoryOperation.noop:
        return memory.model_copy(update=seen).absorbing(str(candidate.id))
    tags = list(dict.fromkeys([*memory.tags, *candidate.tags]))[:MAX_TAGS]
    new = memory.model_copy(
        update={
            **seen, "content": candidate.content, "embedding": candidate.embedding,
            "attribute": candidate.attribute, "tags": tags,
        }
    )  # fmt: skip
    return memory.succeeded_by(new, MemoryOperation.update, candidate.source).absorbing(
        str(candidate.id)
    )


def planned(
    plan: Sequence[PlannedOperation],
    requested: Sequence[CandidateMemory],
    candidates: Sequence[Candidate],
    known: Sequence[Known],
) -> list[Decision] | None:
    """An LLM's plan as decisions, or None when it does not fit the memories (a target that
    is not a live memory of the user, a candidate that is not one of this request's, an add
    with a target): the rules decide then. Episodes and candidates the plan leaves out are
    added; a plan may not delete for a fact that is not a retraction."""
    by_index = {i: str(c.memory.id) for i, c in enumerate(requested)}
    fresh = {c.id: c for c in candidates}
    live = {k.id for k in known}
    decisions: list[Decision] = []
    covered: set[str] = set()
    for op in plan:
        candidate = fresh.get(by_index.get(op.candidate, ""))
        if candidate is None:
            if op.candidate in by_index:  # a candidate stored already (a replay): skip it
                continue
            return None
        if (op.operation is MemoryOperation.add) != (op.target is None):
            return None
        if op.target is not None and op.target not in live:
            return None
        if candidate.kind is MemoryKind.episodic and op.operation is not MemoryOperation.add:
            return None
        if candidate.retract and op.operation in (MemoryOperation.add, MemoryOperation.update):
            return None  # a retraction is never stored
        decisions.append(Decision(op.operation, candidate, op.target, reason="planned"))
        covered.add(candidate.id)
    for candidate in candidates:
        if candidate.id not in covered and not candidate.retract:
            decisions.append(Decision(MemoryOperation.add, candidate, reason="not planned"))
    return decisions
