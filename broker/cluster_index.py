"""A clustered broker's search index (issue 18): built from what the shared history in
Redis still holds, then fed from the shared log the broker reads anyway.

**Where it lives: in memory**, one per broker. Redis holds the cluster's one history,
bounded by --retain; the index is a view of it that any broker can make again from
Redis at any time, so it is not kept on disk: a file would be state of each broker's
own that must be matched to the Redis it came from (its epoch and key prefix, a Redis
that lost its data or was flushed), with a directory and a lock for each broker on a
host, where today a cluster's brokers need no --data-dir at all; and it would only
save a rebuild that costs a quiet broker about 3 s at the default --retain
(100,000 messages; it then holds about 26 MB: PERFORMANCE.md, Search).

**How it is built.** A new index is empty: it takes the cluster's last number as its
own (`SearchIndex.reach`), so that what the shared log brings from then on is fed as on
a single broker (finding.py: each event once it was delivered, in slices), and a
catch-up reads back what came before from the streams Redis keeps: the public log, then
every room's stream (the rooms listed in ``rfirst``), each from the index's bound (the
last --retain numbers, and nothing Redis trimmed) up to that number, CHUNK entries per
Redis call; `SearchIndex.fill` passes over what the index holds already. The
catch-up is fed after the live events, under the same rules: 5 ms slices when the
broker is quiet, within the index's share of a busy broker's time, and a slice before
each search (whose answer says ``more`` until the catch-up is done); it waits while the
cluster link is down.

**When it is rebuilt.** At each start (the index is in memory: empty). The live log
cannot leave it behind otherwise: the reader goes on from where it was after an outage,
and what was trimmed meanwhile is out of the index's bound anyway. Two things can:

- a flood that outruns the index: past MAX_UNINDEXED events waiting for it
  (finding.py), they are let go and read back from their streams in the same way
  (`dropped`), rather than indexed at once whatever the load;
- private messages, which reach a broker only through its inbox, for the sessions it
  holds when they are numbered: a session that was on another broker, or here before
  this broker started, has some the index never saw. So each search first reads the
  searcher's own private stream past the last entry read back there (`private`): one
  Redis call, what came since, mostly indexed already and passed over.

**Bounded.** The index keeps what is numbered within the last --retain numbers (`floor`;
finding.py prunes it at each tick), so it holds at most --retain messages, as the
history does.
"""

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from zchat.protocol import constants as c

from .store import IN_USE, PUBLIC, StoredEvent

if TYPE_CHECKING:
    from .search import SearchIndex

log = logging.getLogger(__name__)

#: Entries read per Redis call (one step of the catch-up).
CHUNK = 200
#: Rooms listed per Redis call.
ROOMS_PAGE = 100
#: A searcher's private messages read back at one search (its stream keeps about
#: 1,000: cluster_script.PRIV_RETAIN); the rest at its next.
PRIVATE_CHUNK = 1000
#: Private streams whose mark is remembered; past it the marks start over (a stream
#: without one is read again, and what the index holds of it passed over).
MAX_PRIVATE_MARKS = 100_000


class SharedHistory(Protocol):
    """What the catch-up reads: RedisCluster (cluster.py)."""

    retain: int
    up: bool

    def last_seq(self) -> int: ...
    def pruned_upto(self) -> int: ...
    def stream_after(self, stream: str, after: int, upto: int, count: int
                     ) -> list[StoredEvent]: ...
    def rooms_after(self, first: int, upto: int, count: int) -> list[tuple[str, int]]: ...


@dataclass(slots=True)
class _Range:
    """Numbers above ``low`` and at most ``upto`` that the index lacks, and the streams
    that hold them: ``streams`` still to read (the first from ``cursor``), and with
    ``rooms`` every room's, listed from ``rfirst`` past ``listed`` as it goes."""

    low: int
    upto: int
    streams: deque[str]
    rooms: bool
    cursor: int = 0
    listed: int = 0
    built: bool = False  # the start's: logged when done
    read: int = 0


class SharedIndex:
    """A cluster broker's index: its catch-up from the shared history, and its bound.
    Only the broker's loop calls it (finding.py)."""

    def __init__(self, history: SharedHistory, index: "SearchIndex") -> None:
        self.history = history
        self.index = index
        self._ranges: deque[_Range] = deque()
        #: Private stream -> the number up to which the index holds all its messages.
        self._private: dict[str, int] = {}
        #: Messages the catch-ups added to the index so far (not the live ones).
        self.added = 0
        self._started = time.monotonic()
        upto = history.last_seq()
        low = max(index.last_seq(), history.pruned_upto(), upto - history.retain)
        if upto > low:
            self._behind(low, upto, deque([PUBLIC]), rooms=True, built=True)
        else:
            index.reach(upto)

    def floor(self) -> int:
        """The index keeps nothing numbered at or below this: the last --retain numbers."""
        return self.index.last_seq() - self.history.retain

    @property
    def pending(self) -> bool:
        """Whether a catch-up has work it can do now (not while the link is down)."""
        return bool(self._ranges) and self.history.up

    @property
    def building(self) -> bool:
        """Whether the index may still lack messages of the log or the rooms."""
        return bool(self._ranges)

    def _behind(self, low: int, upto: int, streams: deque[str], rooms: bool,
                built: bool = False) -> None:
        self.index.reach(upto)
        self._ranges.append(_Range(low, upto, streams, rooms, cursor=low, built=built))

    def dropped(self, events: list[StoredEvent]) -> None:
        """``events`` (in seq order, every message that arrived after the index's last
        number) waited too long and are let go: read back from their streams when the
        index has time (private messages: at their readers' searches)."""
        upto = max((event.seq for event in events), default=0)
        low = self.index.last_seq()
        if upto <= low:
            return
        streams = {event.room or PUBLIC for event in events if event.kind == c.MSG}
        self._behind(low, upto, deque(sorted(streams)), rooms=False)

    def step(self) -> int:
        """One Redis call of the catch-up (CHUNK entries at most), what it read added to
        the index: how many entries or rooms it read, at least 1 while work is left (0:
        none). Raises LinkDown (the link is then down: `pending` is False until it is
        back)."""
        if not self._ranges:
            return 0
        count = CHUNK
        todo = self._ranges[0]
        if todo.streams:
            stream = todo.streams[0]
            after = max(todo.cursor, self.floor())  # (the bound moves up as events come)
            events = self.history.stream_after(stream, after, todo.upto, count)
            self.added += self.index.fill(events)
            todo.read += len(events)
            if len(events) < count:
                todo.streams.popleft()
                todo.cursor = todo.low
            else:
                todo.cursor = events[-1].seq
            return max(1, len(events))
        if todo.rooms:
            rooms = self.history.rooms_after(todo.listed, todo.upto, ROOMS_PAGE)
            todo.streams.extend(room for room, _ in rooms)
            if len(rooms) < ROOMS_PAGE:
                todo.rooms = False
            else:
                todo.listed = rooms[-1][1]
            return max(1, len(rooms))
        self._ranges.popleft()
        if todo.built:
            log.info("search index built from the cluster's history: %d entries read, "
                     "%d messages indexed, numbered %d to %d, in %.1f s", todo.read,
                     self.added, todo.low + 1, todo.upto, time.monotonic() - self._started)
        return 1

    def private(self, stream: str) -> bool:
        """Fill in the private messages of ``stream`` (a searcher's own) that the index
        may lack: those its stream holds past the last one read back (or the index's
        bound), at most PRIVATE_CHUNK, up to the newest (one that is still on its way
        here is passed over when it comes); whether none are left. Raises LinkDown."""
        known = max(self._private.get(stream, 0), self.floor())
        events = self.history.stream_after(stream, known, IN_USE, PRIVATE_CHUNK)
        self.added += self.index.fill(e for e in events if e.kind == c.PRIV)
        if events:  # (every later one is numbered after it: read next time if not here)
            if len(self._private) >= MAX_PRIVATE_MARKS and stream not in self._private:
                self._private.clear()
            self._private[stream] = events[-1].seq
        return len(events) < PRIVATE_CHUNK


def shared_index(store: object, index: "SearchIndex | None") -> SharedIndex | None:
    """The catch-up of ``index`` when ``store`` is a cluster's shared history (it can read
    its streams back: RedisCluster.stream_after); None otherwise."""
    if index is None or not hasattr(store, "stream_after"):
        return None
    return SharedIndex(store, index)  # type: ignore[arg-type]
