"""Lists that grow by bounded pages instead of one document (docs/architecture.md#storage).

A list is a small *head* document (written by the list's one writer, an actor) that names its
sealed *pages*, oldest first, and keeps the newest items itself (its *tail*). Items are ordered
by *position* ``(created_at, id)``; the writer makes ``created_at`` strictly grow
(``next_times``), so each page holds a contiguous range of positions (``first`` .. ``last`` in
its ``PageRef``) and the page of any item is found from its position alone (``page_of``).

Pages are copy-on-write: a change writes the page's next generation ``gen + 1`` under a new key
*before* the transaction that switches the head to it and deletes the old key, so a reader
that follows a head always finds what it names, and the transaction carries one upsert to
hide from the outbox (the head's). A crash between the two leaves at most a ``gen + 1`` per
page or new pages from ``next_page`` on, which the next write reuses and erasure sweeps
(``orphan_keys``). Pages that become small are merged with a neighbour, pages that grow past
their byte limit are split (``rewrite``): no two neighbours could be one page, so the head is
bounded by the number of items, whatever was deleted.

Everything here is pure except ``rewrite``, which reads neighbour pages through a callback.
Used by memory (a user's memories) and chat (a user's session list).
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel

Json = dict[str, Any]
Position = tuple[datetime, str]
#: Step that keeps ``created_at`` strictly growing within one list.
TICK = timedelta(microseconds=1)


def json_size(value: object) -> int:
    """Bytes of ``value`` as the JSON the services send (orjson, UTF-8)."""
    return len(orjson.dumps(value))


def next_times(times: Sequence[datetime], after: datetime | None) -> list[datetime]:
    """``times`` made strictly growing from ``after`` (each at least ``TICK`` later)."""
    stamped = []
    for time in times:
        if after is not None and time <= after:
            time = after + TICK
        stamped.append(time)
        after = time
    return stamped


class PageRef(BaseModel):
    """A sealed page as the head names it: its number, generation, size and range."""

    no: int
    gen: int
    count: int
    first: datetime
    first_id: str
    last: datetime
    last_id: str

    @property
    def first_position(self) -> Position:
        return (self.first, self.first_id)

    @property
    def last_position(self) -> Position:
        return (self.last, self.last_id)


def page_of(pages: Sequence[PageRef], position: Position) -> int | None:
    """Index in ``pages`` of the page whose range holds ``position`` (None: in no page)."""
    at = bisect.bisect_left([p.last_position for p in pages], position)
    if at < len(pages) and pages[at].first_position <= position:
        return at
    return None


class PageChange(BaseModel):
    """What a write does to the sealed pages: the head's new page list and ``next_page``, the
    page documents to write first, the keys to delete in the transaction."""

    pages: list[PageRef]
    next_page: int
    saves: list[Json] = []
    deletes: list[str] = []


@dataclass(frozen=True)
class PagedLayout:
    """How one kind of list is paged: its key prefix (``<prefix>:<owner>:<no>:<gen>``), where
    an item's position is, and the page bounds."""

    prefix: str
    position: Callable[[Json], Position]
    max_entries: int
    max_bytes: int
    #: A page under this many items is merged with a neighbour when both fit in one page.
    merge_below: int
    #: How many new pages one write may add at most (bounds what erasure sweeps).
    max_new_pages: int = 64

    def key(self, owner: str, no: int, gen: int) -> str:
        return f"{self.prefix}:{owner}:{no}:{gen}"

    def ref_key(self, owner: str, ref: PageRef) -> str:
        return self.key(owner, ref.no, ref.gen)

    def page(self, owner: str, no: int, gen: int, items: list[Json]) -> Json:
        """A page document: ``{"schema_version": "2", "owner", "no", "gen", "items"}``."""
        return {"schema_version": "2", "owner": owner, "no": no, "gen": gen, "items": items}

    def save_key(self, page: Json) -> str:
        return self.key(page["owner"], page["no"], page["gen"])

    def ref(self, page: Json) -> PageRef:
        """The head's entry for a page document."""
        items = page["items"]
        (first, first_id), (last, last_id) = self.position(items[0]), self.position(items[-1])
        return PageRef(
            no=page["no"], gen=page["gen"], count=len(items),
            first=first, first_id=first_id, last=last, last_id=last_id,
        )  # fmt: skip

    def fits(self, items: Sequence[Json]) -> bool:
        """Whether these items fit in one page."""
        return len(items) <= self.max_entries and json_size(items) <= self.max_bytes - 256

    def paginate(self, owner: str, items: Iterable[Json], *, first_no: int) -> Iterator[Json]:
        """Seal ``items`` (oldest first) into page documents numbered from ``first_no``, each
        within ``max_entries`` and ``max_bytes`` (an item larger than a page gets one alone)."""
        chunk: list[Json] = []
        size = 0
        no = first_no
        for item in items:
            bytes_ = json_size(item) + 1
            full = len(chunk) == self.max_entries or size + bytes_ > self.max_bytes - 256
            if chunk and full:
                yield self.page(owner, no, 1, chunk)
                no, chunk, size = no + 1, [], 0
            chunk.append(item)
            size += bytes_
        if chunk:
            yield self.page(owner, no, 1, chunk)

    def seal(
        self, owner: str, items: Sequence[Json], *, pages: list[PageRef], next_page: int
    ) -> tuple[PageChange, list[Json]]:
        """Seal a tail's ``items`` into full pages; the remainder (a last page not full) stays
        in the tail. Returns the change and the items left in the tail."""
        sealed = list(self.paginate(owner, items, first_no=next_page))
        left: list[Json] = []
        if sealed and len(sealed[-1]["items"]) < self.max_entries:
            left = sealed.pop()["items"]
        change = PageChange(
            pages=[*pages, *map(self.ref, sealed)],
            next_page=next_page + len(sealed),
            saves=sealed,
        )
        return change, left

    async def rewrite(
        self,
        owner: str,
        pages: list[PageRef],
        next_page: int,
        at: int,
        items: list[Json],
        read: Callable[[PageRef], Awaitable[Json]],
    ) -> PageChange:
        """Replace page ``pages[at]`` by ``items`` (its items after a change): dropped when
        empty, merged with a neighbour when either is small and both fit in one page, else
        its next generation, split when it grew past its byte limit. ``read`` loads a
        neighbour's page document."""
        ref = pages[at]
        before, after = pages[:at], pages[at + 1 :]
        deletes = [self.ref_key(owner, ref)]
        if not items:
            return PageChange(pages=[*before, *after], next_page=next_page, deletes=deletes)
        for neighbour, older in ((before[-1:], True), (after[:1], False)):
            if not neighbour:
                continue
            other_ref = neighbour[0]
            small = min(len(items), other_ref.count) < self.merge_below
            if not small or len(items) + other_ref.count > self.max_entries:
                continue
            theirs = (await read(other_ref))["items"]
            merged = [*theirs, *items] if older else [*items, *theirs]
            if not self.fits(merged):
                continue
            page = self.page(owner, other_ref.no, other_ref.gen + 1, merged)
            around = [*before[:-1], self.ref(page), *after] if older else [
                *before, self.ref(page), *after[1:]
            ]  # fmt: skip
            return PageChange(
                pages=around,
                next_page=next_page,
                saves=[page],
                deletes=[*deletes, self.ref_key(owner, other_ref)],
            )
        if self.fits(items):
            page = self.page(owner, ref.no, ref.gen + 1, items)
            return PageChange(
                pages=[*before, self.ref(page), *after],
                next_page=next_page,
                saves=[page],
                deletes=deletes,
            )
        split = list(self.paginate(owner, items, first_no=next_page))
        return PageChange(
            pages=[*before, *map(self.ref, split), *after],
            next_page=next_page + len(split),
            saves=split,
            deletes=deletes,
        )

    def orphan_keys(self, owner: str, pages: Sequence[PageRef], next_page: int) -> list[str]:
        """Keys a crashed write may have left that a head with these pages does not name:
        erasure deletes them along with the pages it names."""
        keys = [self.key(owner, p.no, p.gen + 1) for p in pages]
        return keys + [self.key(owner, next_page + i, 1) for i in range(self.max_new_pages)]
