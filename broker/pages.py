"""Answers from history: FETCH pages, a newcomer's history, and what a reader lost.

A FETCH waits in a queue (the latest of a session replaces its earlier one) and
is answered after the cycle's messages, oldest first, as far as the budgets
allow: the time pages take for everyone together (PAGES_SHARE of the broker's
time, PAGES_BURST at once) and each session's reply bytes (REPLY_RATE); never
to a connection whose queue is backed up (`ready`). A page holds at most
`limit` events and MAX_PAGE_BYTES of them, read from the store a few rows at a
time. The store's reads are the only I/O here (SQLite or Redis), and one log
line per page.
"""

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from zchat.common.i18n import Catalogue
from zchat.common.safetext import sanitize
from zchat.protocol import Event, Fetch, Priv, encode_events, event_item, room_key, room_problem
from zchat.protocol import constants as c
from zchat.protocol.rate import TokenBucket

from .actions import Send
from .flood import Budgets, replies_left
from .roster import Roster, Session
from .store import PUBLIC, HistoryStore, StoredEvent

log = logging.getLogger(__name__)

#: Seconds between looks at FETCHes waiting for a budget.
FETCH_RETRY = 0.02
#: The share of the broker's time spent building FETCH pages, for everyone together,
#: and the most at once (seconds): catch-ups wait their turn, live chat never waits
#: long for them (a page of short events is mostly SQLite rows).
PAGES_SHARE = 0.5
PAGES_BURST = 0.03
#: The bytes of an EVENTS frame around its events (header, kind, flags, brackets).
_PAGE_HEAD = 96
#: Rows a page is first read with (more follow while it has room).
PAGE_ROWS = 32


class Pages:
    """The FETCHes waiting for their page, and how pages are made."""

    def __init__(self, store: HistoryStore, roster: Roster, budgets: Budgets,
                 catalogue: Catalogue, work_clock: Callable[[], float] = time.perf_counter
                 ) -> None:
        """``work_clock`` measures the time pages take (PAGES_SHARE)."""
        self.store = store
        self.roster = roster
        self.budgets = budgets
        self._t = catalogue.t
        self._work_clock = work_clock
        #: Whether a connection can be sent a page now (the server says: its queue is
        #: not backed up); a page for one that cannot waits.
        self.ready: Callable[[bytes], bool] = lambda identity: True
        self._waiting: OrderedDict[bytes, Fetch] = OrderedDict()
        self._share = TokenBucket(PAGES_SHARE, PAGES_BURST)  # seconds of work
        self._retry = 0.0
        #: Pages answered so far (the metrics read it).
        self.served = 0

    def ask(self, identity: bytes, fetch: Fetch, now: float) -> list[Send]:
        """A FETCH from ``identity``: it waits its turn (a newer one replaces its own)."""
        self._waiting[identity] = fetch
        return self.serve(now)

    def serve(self, now: float) -> list[Send]:
        """Answer the waiting FETCHes, oldest first, as far as the budgets allow. One
        that cannot be answered now keeps its place; call again (see `retry_at`)."""
        sent: list[Send] = []
        self._retry = now + FETCH_RETRY
        for identity in list(self._waiting):
            if not replies_left(self._share, now):
                break  # (the last page may have left the budget in debt)
            session = self.roster.by_identity(identity)
            if session is None:
                del self._waiting[identity]  # it left meanwhile
                continue
            replies = self.budgets.of(session)[3]
            if not replies_left(replies, now) or not self.ready(identity):
                continue  # over its budget, or its queue is full: later
            fetch = self._waiting.pop(identity)
            started = self._work_clock()
            # (Out of the default room, its stream is not the session's to read.)
            pub = fetch.pub if session.in_default else c.MAX_SEQ
            frame = self.page(session, pub, fetch.priv, fetch.limit, _rooms(session, fetch))
            # Paid after it is built (its cost is known then); a debt delays the next.
            replies.tokens -= len(frame)
            self._share.tokens -= self._work_clock() - started
            sent.append(Send(identity, frame))
        self.served += len(sent)
        return sent

    def retry_at(self) -> float | None:
        """When waiting FETCHes should be looked at again (None: none waits)."""
        return self._retry if self._waiting else None

    def page(self, session: Session, pub: int, priv: int, limit: int,
             rooms: dict[str, int] | None = None) -> bytes:
        """The EVENTS replay frame answering a FETCH: at most ``limit`` events and, past
        the first, MAX_PAGE_BYTES (``more`` says there are others). ``rooms``: the
        cursors of the session's other rooms."""
        batch, items, more = self._read(session.stream, pub, priv, limit, rooms or {})
        lost = self._lost(session, pub, priv, batch, more, rooms)
        log.info(self._t("log.replay", name=sanitize(session.name), count=len(batch), pub=pub,
                         priv=priv, more=" ..." if more else ""))
        return encode_events(c.K_REPLAY, items, more, lost)

    @staticmethod
    def history(recent: list[StoredEvent], reader: str) -> bytes:
        """A newcomer's history frame: the newest of ``recent`` that fit a page."""
        page = _Page()
        page.fill(event.for_reader(reader) for event in reversed(recent))
        return encode_events(c.K_HISTORY, page.items[::-1])

    def _read(self, reader: str, pub: int, priv: int, limit: int,
              rooms: dict[str, int]) -> tuple[tuple[Event, ...], list[bytes], bool]:
        """The events after the cursors that fit a page (see `_Page`), their encoded
        items, and whether there are more. Read from the store a few rows at a time
        as the page fills: 200 rows of long texts cost SQLite more than the page."""
        page = _Page()
        want = min(limit, PAGE_ROWS)
        while True:
            events = self.store.since(pub, priv, reader, want + 1, rooms=rooms or None)
            if not page.fill(stored.for_reader(reader) for stored in events[:want]):
                return tuple(page.events), page.items, True
            if len(events) <= want or len(page.events) >= limit:
                return tuple(page.events), page.items, len(events) > want
            # Past what was read, in both streams: the rows came in seq order.
            last = page.events[-1].seq
            pub, priv = max(pub, last), max(priv, last)
            rooms = {room: max(cursor, last) for room, cursor in rooms.items()}
            average = (c.MAX_PAGE_BYTES - _PAGE_HEAD - page.room) // len(page.events) + 1
            want = min(limit - len(page.events), max(PAGE_ROWS, page.room // average + 1))

    def _lost(self, session: Session, pub: int, priv: int, batch: tuple[Event, ...],
              more: bool, rooms: dict[str, int] | None = None) -> int:
        """How many pruned events may be missing after this reader's cursors (a bound).

        A stream (public, private, each room asked for) lost events when the first
        event returned (or, on a last page with none, the stream's head) links back
        past the cursor into the pruned range; the events pruned in those ranges,
        taken together, are counted.
        """
        rooms = rooms or {}
        pruned = self.store.pruned_upto()
        if pruned <= min(pub, priv, *rooms.values()):
            return 0
        streams = [(PUBLIC, pub, self.store.head(PUBLIC)),
                   (PRIVATE, priv, self.store.head(session.stream)),
                   *((room, cursor, self.store.head(room)) for room, cursor in rooms.items())]
        firsts: dict[str, Event] = {}
        for event in batch:
            firsts.setdefault(_stream(event), event)
        ranges = []
        for stream, cursor, head in streams:
            first = firsts.get(stream)
            if first is None and more:
                continue  # the page ended before this stream's first event: cannot tell
            link = first.prev if first is not None else head
            if link < cursor:
                # The chain no longer reaches back to the cursor: the stream's head went
                # with all its events while its session was away (pruned; in a cluster,
                # expired), so what followed the cursor, up to the pruned mark, may be lost.
                link = pruned
            link = min(link, pruned)
            if link > cursor:
                ranges.append((cursor, link))
        merged: list[list[int]] = []
        for low, high in sorted(ranges):  # overlapping or touching ranges counted once
            if merged and low <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        return sum(self.store.pruned_events(low, high) for low, high in merged)


#: The private stream among `_lost`'s streams (no room key is "@").
PRIVATE = "@"


def _stream(event: Event) -> str:
    """The stream a replayed event belongs to: PUBLIC, PRIVATE or its room's key."""
    if isinstance(event, Priv):
        return PRIVATE
    return event.room or PUBLIC


def _rooms(session: Session, fetch: Fetch) -> dict[str, int]:
    """A FETCH's room cursors for rooms the session is in (others are ignored)."""
    cursors = {}
    for room, cursor in fetch.rooms:
        if room_problem(room) is None and (key := room_key(room)) in session.rooms:
            cursors[key] = cursor
    return cursors


class _Page:
    """Events taken in order while their EVENTS frame stays within MAX_PAGE_BYTES (the
    first is taken whatever its size), each encoded once, as it is taken."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.items: list[bytes] = []
        self.room = c.MAX_PAGE_BYTES - _PAGE_HEAD

    def fill(self, events: Iterable[Event]) -> bool:
        """Take ``events`` in order; False when one did not fit (the page is full)."""
        for event in events:
            item = event_item(event)
            if len(item) + 1 > self.room and self.events:
                return False
            self.room -= len(item) + 1
            self.events.append(event)
            self.items.append(item)
        return True
