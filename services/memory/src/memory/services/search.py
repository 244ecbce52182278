"""Ranking a user's memories for a query: cosine similarity of sentence embeddings blended with
keyword overlap; keyword overlap alone when no embedder is installed."""

from __future__ import annotations

import asyncio
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import orjson
import pybase64
from numpy.typing import NDArray

from memory.data.layout import MEMORY_PAGES, PAGE_OMITS, MemoryHead, is_page_vector, page_vectors
from memory.data.repository import LegacyLayout, MemoryRepository, PageMissing
from memory.models.memory import Memory, SearchHit, StoredEmbedding
from memory.services.embedding import TextEmbedder
from memory.services.facts import attribute_of
from sidecar.concurrency import KeyedLocks
from sidecar.errors import ConcurrencyConflict
from sidecar.paging import PageRef

T = TypeVar("T")

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOPWORDS = """
a an and are as at be but by do does did for from has have how i i'm in is it its me my of on or
our so that the their them they this to was we were what when where which who why will with you
your about any know tell he she him her his hers us
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


def encode_vector(vector: NDArray[np.float32], model: str) -> StoredEmbedding:
    data = np.asarray(vector, dtype="<f4").tobytes()
    return StoredEmbedding(model=model, vector=pybase64.b64encode(data).decode("ascii"))


@dataclass(frozen=True)
class Segment:
    """Memories ranked together: one sealed page (immutable, cached by its key) or a user's
    tail as of one head version, oldest first.

    Kept in columns of plain values (each memory's JSON as one ``bytes``, not a dict): a
    process caches up to 200,000 memories, and as dicts they made every full garbage
    collection walk millions of objects (~200 ms at 100,000 memories, measured), a pause any
    request could meet. ``postings`` maps each term to the rows whose content or tags have it.
    """

    ids: list[str]
    versions: list[int]
    positions: list[tuple[datetime, str]]  # (created_at, id): the list order
    kinds: list[str]
    tags: list[tuple[str, ...]]
    blobs: list[bytes]  # each memory's JSON, without its embedding
    vectors: NDArray[np.float32] | None  # (n, d), rows L2-normalised; None in keyword mode
    postings: dict[str, NDArray[np.int32]]
    version: int = 0  # for a tail: the head version it was built for
    #: Per row, when the memory expires (POSIX seconds; inf: never).
    expiry: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @cached_property
    def attributes(self) -> list[str | None]:
        """Per row, the attribute a fact sets (memory.services.facts; None for any other
        row). Read on first use, by consolidation only: at build time it cost searches after
        a restart ~25 µs a fact (2.5 s at 100,000)."""
        return [
            fact_attribute(orjson.loads(blob)) if kind == "semantic" else None
            for kind, blob in zip(self.kinds, self.blobs, strict=True)
        ]

    def rows_with(self, words: set[str]) -> set[int]:
        """The rows whose content or tags have every one of ``words`` (none for no words)."""
        postings = [self.postings.get(w) for w in words]
        if not postings or any(p is None for p in postings):
            return set()
        return set.intersection(*(set(p.tolist()) for p in postings if p is not None))

    @cached_property
    def by_attribute(self) -> dict[str, list[int]]:
        """attribute -> the rows of the facts that set it."""
        rows: dict[str, list[int]] = {}
        for row, attribute in enumerate(self.attributes):
            if attribute is not None:
                rows.setdefault(attribute, []).append(row)
        return rows

    def live(self, now: float) -> NDArray[np.bool_]:
        """Per row: not expired at ``now`` (POSIX seconds)."""
        if not len(self.expiry):
            return np.ones(len(self.ids), dtype=bool)
        return np.asarray(self.expiry > now, dtype=bool)

    def __len__(self) -> int:
        return len(self.ids)

    def memory(self, row: int) -> Memory:
        return Memory.model_validate_json(self.blobs[row])

    def weights(self, episode_weight: float) -> NDArray[np.float32]:
        """Per row: ``episode_weight`` for an episode, 1 for any other memory (computed once
        per weight: a ranking at 100,000 memories needs it for 781 segments)."""
        factors = self._factors
        if episode_weight not in factors:
            factors[episode_weight] = np.where(
                self.episodic, np.float32(episode_weight), np.float32(1.0)
            ).astype(np.float32)
        return factors[episode_weight]

    @cached_property
    def _factors(self) -> dict[float, NDArray[np.float32]]:
        return {}

    @cached_property
    def has_episodes(self) -> bool:
        return bool(self.episodic.any())

    @cached_property
    def expires(self) -> bool:
        """Whether any row has an expiry."""
        return bool(np.isfinite(self.expiry).any())

    @cached_property
    def episodic(self) -> NDArray[np.bool_]:
        """Per row: the memory is an episode."""
        return np.asarray([k == "episodic" for k in self.kinds], dtype=bool)

    @cached_property
    def rows_by_id(self) -> dict[str, tuple[int, int]]:
        """memory id -> (memory version, row)."""
        return {i: (v, row) for row, (i, v) in enumerate(zip(self.ids, self.versions, strict=True))}


def decode_vectors(
    stored: Sequence[dict[str, Any] | None], embedder: TextEmbedder
) -> tuple[NDArray[np.float32], list[int]]:
    """The stored vectors as one (n, d) matrix, and the rows without a usable one (none
    stored, or stored by another model). Two forms: a memory's own float32 ``vector`` and a
    page's 8-bit ``q8`` (memory.data.layout.page_item); each form decodes as one string (one
    base64 call, not one per row: a float32 vector of d = 384 is 1,536 bytes, whose base64
    has no padding), with pybase64 (SIMD; the standard library's decoder took 110 ms for
    10,000 vectors)."""
    d = embedder.dimension
    matrix = np.zeros((len(stored), d), dtype=np.float32)
    ours = [
        (i, e) for i, e in enumerate(stored)
        if e is not None and e.get("model") == embedder.model_name
    ]  # fmt: skip
    floats = [i for i, e in ours if len(e.get("vector") or "") == 4 * ((4 * d + 2) // 3)]
    bytes_ = [i for i, e in ours if is_page_vector(e, d)]
    if floats and (4 * d) % 3 == 0:
        joined = "".join(stored[i]["vector"] for i in floats)  # type: ignore[index]
        matrix[floats] = np.frombuffer(pybase64.b64decode(joined), dtype="<f4").reshape(-1, d)
    else:
        for i in floats:
            matrix[i] = np.frombuffer(pybase64.b64decode(stored[i]["vector"]), dtype="<f4")  # type: ignore[index]
    if bytes_:
        matrix[bytes_] = page_vectors(stored, bytes_, d)
    usable = {*floats, *bytes_}
    return matrix, [i for i in range(len(stored)) if i not in usable]


def fact_attribute(memory: dict[str, Any]) -> str | None:
    """The attribute a stored fact sets: as stored, else read from its content (facts stored
    before attributes were kept); None for an episode or a procedure."""
    if memory.get("kind") != "semantic":
        return None
    if "attribute" in memory:  # written by a version that keeps it (null: none)
        return None if memory["attribute"] is None else str(memory["attribute"])
    parsed = attribute_of(memory.get("content", ""))
    return None if parsed is None else parsed[0]


def build_segment(
    memories: Sequence[dict[str, Any]],
    embedder: TextEmbedder | None,
    *,
    version: int = 0,
    vectors: NDArray[np.float32] | None = None,
) -> Segment:
    """A segment from memories' JSON (as stored, with embeddings; the dicts are consumed: their
    ``embedding`` is taken out). Vectors stored by another model, or none (written while
    embeddings were not installed), are embedded in memory; ``vectors`` given (rows of these
    memories) are used as they are."""
    columns: dict[str, list[Any]] = {k: [] for k in ("ids", "versions", "positions", "kinds")}
    tags: list[tuple[str, ...]] = []
    expiry: list[float] = []
    blobs: list[bytes] = []
    stored: list[dict[str, Any] | None] = []
    postings: dict[str, list[int]] = {}
    for row, memory in enumerate(memories):
        memory_id = str(memory["id"])
        columns["ids"].append(memory_id)
        columns["versions"].append(int(memory["version"]))
        columns["positions"].append((datetime.fromisoformat(memory["created_at"]), memory_id))
        columns["kinds"].append(memory["kind"])
        expires = memory.get("expires_at")
        expiry.append(math.inf if not expires else datetime.fromisoformat(expires).timestamp())
        tags.append(tuple(memory.get("tags", ())))
        stored.append(memory.pop("embedding", None))
        for omitted in PAGE_OMITS:
            memory.pop(omitted, None)
        blobs.append(orjson.dumps(memory))
        for term in terms(memory["content"]) | terms(" ".join(tags[-1])):
            postings.setdefault(term, []).append(row)
    index = {t: np.asarray(rows, dtype=np.int32) for t, rows in postings.items()}
    if embedder is not None and vectors is None:
        vectors, missing = decode_vectors(stored, embedder)
        if missing:
            texts = [orjson.loads(blobs[row])["content"] for row in missing]
            vectors[missing] = embedder.embed(texts)
    return Segment(
        **columns, tags=tags, blobs=blobs, vectors=vectors, postings=index, version=version,
        expiry=np.asarray(expiry, dtype=np.float64),
    )  # fmt: skip


def refresh_tail(
    previous: Segment | None,
    version: int,
    wanted: Sequence[tuple[str, int]],
    loaded: Sequence[dict[str, Any]],
    embedder: TextEmbedder | None,
) -> Segment:
    """The tail segment for head ``version``: ``wanted`` (id, version) in order, rows of
    ``previous`` reused where current, ``loaded`` (the stored JSON of the others) for the
    rest."""
    rows = previous.rows_by_id if previous is not None else {}
    fresh = {str(m["id"]): m for m in loaded}
    memories: list[dict[str, Any]] = []
    reused: list[int | None] = []
    for memory_id, memory_version in wanted:
        old = rows.get(memory_id)
        if previous is not None and old is not None and old[0] == memory_version:
            memories.append(orjson.loads(previous.blobs[old[1]]))
            reused.append(old[1])
        elif memory_id in fresh:
            memories.append(fresh[memory_id])
            reused.append(None)
    if embedder is None or previous is None or previous.vectors is None:
        return build_segment(memories, embedder, version=version)
    todo = [i for i, r in enumerate(reused) if r is None]
    built = build_segment([memories[i] for i in todo], embedder)
    matrix = np.zeros((len(memories), embedder.dimension), dtype=np.float32)
    kept = [(i, r) for i, r in enumerate(reused) if r is not None]
    if kept:
        matrix[[i for i, _ in kept]] = previous.vectors[[r for _, r in kept]]
    if todo and built.vectors is not None:
        matrix[todo] = built.vectors
    return build_segment(memories, embedder, version=version, vectors=matrix)


class SegmentCache:
    """Segments in process, least recently used dropped first once they hold more than
    ``capacity`` memories in all. Page segments are keyed by their page key, which names one
    immutable generation, so a cached page is never stale; a user's tail segment is used only
    for the head version it was built for. Builds are single-flight per user."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, Segment] = OrderedDict()
        self._size = 0
        self.lock = KeyedLocks()  # single-flight segment builds, per user

    def get(self, key: str) -> Segment | None:
        segment = self._entries.get(key)
        if segment is not None:
            self._entries.move_to_end(key)
        return segment

    def put(self, key: str, segment: Segment) -> None:
        if self._capacity == 0:
            return
        old = self._entries.pop(key, None)
        self._size -= 0 if old is None else len(old)
        self._entries[key] = segment
        self._size += len(segment)
        while self._size > self._capacity and len(self._entries) > 1:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped)


def _keyword_rows(
    query_terms: set[str], segments: Sequence[Segment], starts: list[int]
) -> dict[str, NDArray[np.int32]]:
    """For each query term, the rows of ``segments`` (numbered across them, ``starts`` being
    each segment's first row) whose memory has it: one array per term, gathered once, so
    that scoring is one vectorised step per term instead of one per term and segment (at
    100,000 memories, 781 segments: 23 of the 31 ms a ranking took)."""
    found = {}
    for term in sorted(query_terms):
        parts = [
            rows + start
            for segment, start in zip(segments, starts, strict=False)
            if (rows := segment.postings.get(term)) is not None
        ]
        found[term] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return found


def _idf(df: int, total: int) -> float:
    """The IDF of a term that ``df`` of ``total`` memories have: ln(1 + (N - df + 0.5) /
    (df + 0.5)), positive for any document frequency."""
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


def rank(
    query: str,
    segments: Sequence[Segment],
    *,
    query_vector: NDArray[np.float32] | None,
    k: int,
    semantic_weight: float,
    episode_weight: float = 1.0,
    now: float | None = None,
) -> list[SearchHit]:
    """The ``k`` best memories of ``segments`` for ``query``: cosine similarity with
    ``query_vector`` (the query's embedding) blended with keyword overlap; keyword overlap
    alone, and only memories sharing a term, without a vector. Ties keep the segments'
    order.

    Keyword overlap is the share of the query's terms a memory has, each term weighted by its
    inverse document frequency over the user's memories (BM25's IDF, Robertson and Zaragoza,
    "The Probabilistic Relevance Framework", 2009): a word that thousands of the user's
    memories share ("birthday", "bought") counts for little, a rare one for much.

    An episode's score is multiplied by ``episode_weight`` (below 1: a fact ranks before the
    episode it was distilled from, which says the same in the user's words, and may say a
    value the user has since changed; docs/memory.md#search)."""
    query_terms = terms(query)
    sizes = [len(s) for s in segments]
    total = sum(sizes)
    if total == 0:
        return []
    starts = np.cumsum([0, *sizes]).tolist()  # Python ints: numpy scalars are slow in loops
    keyword = np.zeros(total, dtype=np.float32)
    weights = {}
    for term, rows in _keyword_rows(query_terms, segments, starts).items():
        weights[term] = _idf(len(rows), total)
        keyword[rows] += weights[term]  # a term's rows are distinct: no lost updates
    if weights:
        keyword /= sum(weights.values())
    semantic: NDArray[np.float32] | None = None
    if query_vector is not None and all(s.vectors is not None for s in segments):
        semantic = np.empty(total, dtype=np.float32)
        q = np.asarray(query_vector, dtype=np.float32)
        for segment, start in zip(segments, starts, strict=False):
            if segment.vectors is not None and len(segment):
                np.dot(segment.vectors, q, out=semantic[start : start + len(segment)])
        scores = semantic_weight * np.clip(semantic, 0, 1) + (1 - semantic_weight) * keyword
    else:
        scores = keyword
    scores = np.array(scores, dtype=np.float32)  # a copy, changed in place below
    expired: NDArray[np.bool_] | None = None
    # Both per segment, and only where it has an episode or an expiry: at 100,000 memories
    # (781 segments) concatenating a per-row array for each took 14 of a ranking's 46 ms.
    for segment, start in zip(segments, starts, strict=False):
        end = start + len(segment)
        if episode_weight != 1.0 and segment.has_episodes:  # facts before their episodes
            scores[start:end] *= segment.weights(episode_weight)
        if now is not None and segment.expires:  # expired memories are never found
            gone = ~segment.live(now)
            if gone.any():
                if expired is None:
                    expired = np.zeros(total, dtype=bool)
                expired[start:end] = gone
                scores[start:end][gone] = -np.inf
    if k < total:
        top = np.argpartition(-scores, k - 1)[:k]
        order = top[np.lexsort((top, -scores[top]))]
    else:
        order = np.argsort(-scores, kind="stable")
    hits = []
    for flat in order:
        if expired is not None and expired[flat]:
            continue
        if semantic is None and keyword[flat] == 0:
            break  # keyword mode: only memories sharing a term with the query
        at = int(np.searchsorted(starts, flat, side="right")) - 1
        hits.append(
            SearchHit(
                memory=segments[at].memory(int(flat - starts[at])),
                score=round(float(scores[flat]), 6),
                semantic=None if semantic is None else round(float(semantic[flat]), 6),
                keyword=round(float(keyword[flat]), 6),
            )
        )
    return hits


def embed_contents(
    embedder: TextEmbedder | None, contents: Sequence[str]
) -> list[StoredEmbedding | None]:
    if embedder is None or not contents:
        return [None] * len(contents)
    return [encode_vector(v, embedder.model_name) for v in embedder.embed(list(contents))]


#: How often a read starts again when a writer replaced a page it was about to read.
READ_ATTEMPTS = 4


class SegmentReader:
    """A user's memories as segments, for ranking, listing and consolidation: the head, then
    only what changed since the segments cached (pages by key, the tail by version). Used by
    the service (reads) and by the user's actor (consolidation reads what it then changes)."""

    def __init__(
        self,
        repository: MemoryRepository,
        *,
        embedder: TextEmbedder | None,
        segments: SegmentCache,
        cpu: Executor,
        migrate: Callable[[str], Awaitable[object]],
    ) -> None:
        self._repository = repository
        self._embedder = embedder
        self._segments = segments
        self._cpu = cpu
        self._migrate = migrate

    async def on_cpu(self, work: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound ``work(*args)`` on the process's CPU pool."""
        return await asyncio.get_running_loop().run_in_executor(self._cpu, work, *args)

    async def everything(self, user_id: str) -> tuple[MemoryHead, list[Segment]]:
        """The head and every segment of the user as of that head, tail first (newest first
        for ties). Raises ConcurrencyConflict when pages keep being replaced meanwhile."""
        for _ in range(READ_ATTEMPTS):
            head = await self.head(user_id)
            try:
                return head, [
                    await self.tail_segment(user_id, head),
                    *reversed(await self.page_segments(user_id, head.pages)),
                ]
            except PageMissing:
                continue
        raise ConcurrencyConflict("memories kept changing while they were read")

    async def head(self, user_id: str) -> MemoryHead:
        """The user's head, converting memories of an earlier version's layout first."""
        try:
            head, _ = await self._repository.read_head(user_id)
        except LegacyLayout:
            await self._migrate(user_id)
            head, _ = await self._repository.read_head(user_id)
        return head

    async def page_segments(self, user_id: str, refs: Sequence[PageRef]) -> list[Segment]:
        """The segments of these pages: from the cache, or read and built (on the CPU pool)
        once per process, whoever asks first. Raises PageMissing (see the repository)."""
        cache = self._segments
        keys = [MEMORY_PAGES.ref_key(user_id, r) for r in refs]
        if all(cache.get(k) is not None for k in keys):
            return [s for s in (cache.get(k) for k in keys) if s is not None]
        async with cache.lock(user_id):
            missing = [r for r, k in zip(refs, keys, strict=True) if cache.get(k) is None]
            values = await self._repository.read_pages(user_id, missing)
            built = await self.on_cpu(self._build_pages, values)
            for ref, segment in zip(missing, built, strict=True):
                cache.put(MEMORY_PAGES.ref_key(user_id, ref), segment)
            found = {
                MEMORY_PAGES.ref_key(user_id, ref): s for ref, s in zip(missing, built, strict=True)
            }
            segments = [found.get(k) or cache.get(k) for k in keys]
        return [s for s in segments if s is not None]

    def _build_pages(self, values: list[dict[str, Any]]) -> list[Segment]:
        return [build_segment(v["items"], self._embedder) for v in values]

    async def tail_segment(self, user_id: str, head: MemoryHead) -> Segment:
        """The tail's segment for this head version, reloading only the memories that
        changed since the one cached."""
        cache = self._segments
        key = f"tail:{user_id}"
        previous = cache.get(key)
        if previous is not None and previous.version == head.version:
            return previous
        async with cache.lock(user_id):
            previous = cache.get(key)
            if previous is not None and previous.version == head.version:
                return previous
            wanted = [(e.id, e.version) for e in head.tail]
            rows = previous.rows_by_id if previous is not None else {}
            stale = [i for i, v in wanted if rows.get(i, (0, 0))[0] != v]
            loaded = await self._repository.get_many_values(user_id, stale)
            segment = await self.on_cpu(
                refresh_tail, previous, head.version, wanted, loaded, self._embedder
            )
            cache.put(key, segment)
            return segment
