"""Ranking a user's memories for a query: cosine similarity of sentence embeddings blended with
keyword overlap; keyword overlap alone when no embedder is installed."""

from __future__ import annotations

import base64
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from memory.models.memory import SearchHit, StoredEmbedding, StoredMemory
from memory.services.embedding import TextEmbedder

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


class CorpusCache:
    """The last few users' corpora, in process; an entry is used only for the index version it
    was built from, so a write anywhere (any replica) invalidates it."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, UserCorpus] = OrderedDict()

    def get(self, user_id: str, version: int) -> UserCorpus | None:
        corpus = self._entries.get(user_id)
        if corpus is None or corpus.version != version:
            return None
        self._entries.move_to_end(user_id)
        return corpus

    def put(self, user_id: str, corpus: UserCorpus) -> None:
        if self._capacity == 0:
            return
        self._entries[user_id] = corpus
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


def build_corpus(
    version: int, memories: list[StoredMemory], embedder: TextEmbedder | None
) -> UserCorpus:
    """Decode stored vectors; embed (in memory only) those stored without one or by another
    model, e.g. written while embeddings were not installed."""
    if embedder is None or not memories:
        return UserCorpus(version=version, memories=memories, vectors=None)
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
