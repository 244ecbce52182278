"""Ranking a user's memories for a query: cosine similarity of sentence embeddings blended with
keyword overlap; keyword overlap alone when no embedder is installed."""

from __future__ import annotations

import base64
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from memory.models.memory import SearchHit, StoredEmbedding, StoredMemory
from memory.services.embedding import TextEmbedder
from sidecar.concurrency import KeyedLocks

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOPWORDS = """
a an and are as at be but by do does did for from has have how i i'm in is it its me my of on or
our so that the their them they this to was we were what when where which who why will with you
your about any know tell
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def terms(text: str) -> set[str]:
    """Lower-cased words without stop words, with a plural 's' folded away."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return found


def keyword_score(query_terms: set[str], memory: StoredMemory) -> float:
    if not query_terms:
        return 0.0
    found = terms(memory.content) | terms(" ".join(memory.tags))
    return len(query_terms & found) / len(query_terms)


def encode_vector(vector: NDArray[np.float32], model: str) -> StoredEmbedding:
    data = np.asarray(vector, dtype="<f4").tobytes()
    return StoredEmbedding(model=model, vector=base64.b64encode(data).decode("ascii"))


def decode_vector(embedding: StoredEmbedding) -> NDArray[np.float32]:
    return np.frombuffer(base64.b64decode(embedding.vector), dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class UserCorpus:
    """A user's live memories and their vectors, as of one index version."""

    version: int
    memories: list[StoredMemory]
    vectors: NDArray[np.float32] | None  # (n, d), rows L2-normalised; None in keyword mode

    @cached_property
    def rows_by_id(self) -> dict[str, tuple[int, int]]:
        """memory id -> (memory version, row); built once per corpus."""
        return {str(m.id): (m.version, row) for row, m in enumerate(self.memories)}


class CorpusCache:
    """The last few users' corpora, in process. A corpus is used only for the index version it
    was built from, so a write anywhere (any replica) is seen; refreshing it reloads only the
    memories whose version changed (see ``refresh_corpus``). Builds are single-flight per user."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, UserCorpus] = OrderedDict()
        self.lock = KeyedLocks()  # single-flight corpus builds, per user

    def peek(self, user_id: str) -> UserCorpus | None:
        corpus = self._entries.get(user_id)
        if corpus is not None:
            self._entries.move_to_end(user_id)
        return corpus

    def put(self, user_id: str, corpus: UserCorpus) -> None:
        if self._capacity == 0:
            return
        self._entries[user_id] = corpus
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


def stale_ids(previous: UserCorpus | None, wanted: dict[str, int]) -> list[str]:
    """Ids in the index (``wanted``: id -> version) that ``previous`` lacks or holds older."""
    rows = previous.rows_by_id if previous is not None else {}
    return [i for i, version in wanted.items() if rows.get(i, (0, 0))[0] != version]


def refresh_corpus(
    previous: UserCorpus | None,
    version: int,
    wanted: dict[str, int],
    loaded: list[StoredMemory],
    embedder: TextEmbedder | None,
) -> UserCorpus:
    """The corpus for index ``version``: rows of ``previous`` still current, plus ``loaded``."""
    kept_memories: list[StoredMemory] = []
    kept_rows: list[int] = []
    if previous is not None:
        for memory_id, (memory_version, row) in previous.rows_by_id.items():
            if wanted.get(memory_id) == memory_version:
                kept_memories.append(previous.memories[row])
                kept_rows.append(row)
    fresh = build_corpus(version, loaded, embedder)
    memories = kept_memories + fresh.memories
    if embedder is None:
        return UserCorpus(version=version, memories=memories, vectors=None)
    parts = [m for m in (
        previous.vectors[kept_rows] if previous is not None and previous.vectors is not None
        and kept_rows else None,
        fresh.vectors,
    ) if m is not None]  # fmt: skip
    vectors = (
        np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)
    )
    return UserCorpus(version=version, memories=memories, vectors=vectors)


def build_corpus(
    version: int, memories: list[StoredMemory], embedder: TextEmbedder | None
) -> UserCorpus:
    """Decode stored vectors; embed (in memory only) those stored without one or by another
    model, e.g. written while embeddings were not installed."""
    if embedder is None or not memories:
        vectors = None if embedder is None else np.zeros((0, embedder.dimension), np.float32)
        return UserCorpus(version=version, memories=memories, vectors=vectors)
    vectors = np.zeros((len(memories), embedder.dimension), dtype=np.float32)
    missing: list[int] = []
    for row, memory in enumerate(memories):
        stored = memory.embedding
        if stored is not None and stored.model == embedder.model_name:
            vectors[row] = decode_vector(stored)
        else:
            missing.append(row)
    if missing:
        vectors[missing] = embedder.embed([memories[row].content for row in missing])
    return UserCorpus(version=version, memories=memories, vectors=vectors)


def rank(
    query: str,
    corpus: UserCorpus,
    *,
    embedder: TextEmbedder | None,
    k: int,
    semantic_weight: float,
) -> list[SearchHit]:
    query_terms = terms(query)
    keyword = np.array([keyword_score(query_terms, m) for m in corpus.memories], dtype=np.float32)
    semantic: NDArray[np.float32] | None = None
    if embedder is not None and corpus.vectors is not None and len(corpus.memories):
        semantic = (corpus.vectors @ embedder.embed([query])[0]).astype(np.float32)
        scores = semantic_weight * np.clip(semantic, 0, 1) + (1 - semantic_weight) * keyword
    else:
        scores = keyword
    order = np.argsort(-scores, kind="stable")[:k]
    hits = []
    for row in order:
        if semantic is None and keyword[row] == 0:
            break  # keyword mode: only memories sharing a term with the query
        hits.append(
            SearchHit(
                memory=corpus.memories[row].public(),
                score=round(float(scores[row]), 6),
                semantic=None if semantic is None else round(float(semantic[row]), 6),
                keyword=round(float(keyword[row]), 6),
            )
        )
    return hits


def embed_contents(
    embedder: TextEmbedder | None, contents: Sequence[str]
) -> list[StoredEmbedding | None]:
    if embedder is None or not contents:
        return [None] * len(contents)
    return [encode_vector(v, embedder.model_name) for v in embedder.embed(list(contents))]
