"""SEARCH: full-text search over what the asker may read (issue 18), and feeding the
index after delivery.

The index (search.py) answers for the streams it is given: the rooms the session
is in (the default room as PUBLIC) and the session's own private stream, nothing
else, so no search can show a room the asker is not in or someone else's private
messages. The index is fed the events this broker numbered or received, after
the cycle that delivered them (the server calls `index_fresh` at the end of each
cycle: indexing never delays a delivery), and pruned with the history. A cluster's
broker also builds its index from what the shared history holds (cluster_index.py),
in the same slices, after the live events.

A search runs on the broker's loop in slices: it is queued, and each turn of the
loop gives each queued search one slice of at most SEARCH_SLICE seconds (the
index stops there and says where it got to; the next slice goes on from there),
until its page is full, the index is walked, or SEARCH_SLICES slices are spent
(then it answers with what it found, and ``more``). So no search holds the loop
for longer than a slice, whatever it matches: the others' messages go out between
slices. A search never waits for the index's writer thread on the loop either: a
search queued while the writer has commits to write waits for it a turn at a time
(up to WRITER_WAIT seconds, then it reads what is written). The broker spends at
most SEARCH_SHARE of its time on searches (a bucket of seconds charged what each
slice took): past it, searches are refused for a moment (RATE_LIMITED). A search
also costs a session SEARCH_COST messages (Flood control) and its answer's bytes.
(Figures: docs/PERFORMANCE.md, Search; benchmarks/search_load.py.)

A part of BrokerCore (core.py), like rooms.py.
"""

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

from zchat.protocol import Search, encode_events, event_item, name_key, name_problem
from zchat.protocol import constants as c
from zchat.protocol.rate import TokenBucket

from .store import PUBLIC, LinkDown, StoredEvent

if TYPE_CHECKING:
    from pathlib import Path

    from .actions import Action
    from .cluster_index import SharedIndex
    from .flood import Budgets
    from .roster import Roster, Session
    from .search import SearchIndex
    from .store import HistoryStore

#: Seconds of the broker's time searches may take, per second (and at once).
SEARCH_SHARE = 0.2
#: Messages (Flood control) a search costs.
SEARCH_COST = 5
#: The longest one slice of a search may hold the loop (seconds), how many slices one
#: search may take, the most a turn of the loop spends on slices, and how long a
#: search waits for the index's writer thread before it reads what is written.
SEARCH_SLICE = 0.002
SEARCH_SLICES = 500
SEARCH_TURN = 0.004
WRITER_WAIT = 1.0
#: Searches queued at once (more are refused for a moment, RATE_LIMITED).
MAX_QUEUED = 64
#: The widths of a range of the index one step of a search walks (in numbers).
MIN_SPAN = 64
MAX_SPAN = 1 << 20
#: Feeding the index: the share of a busy broker's time it may take (and the most it
#: may take at once), the events added per step, the slice taken at a time when the
#: broker is idle, how often a busy broker commits it (a search commits it first),
#: and how many events may wait for it.
INDEX_SHARE = 0.04
INDEX_BURST = 0.01
INDEX_CHUNK = 32
INDEX_SLICE = 0.005
INDEX_COMMIT_EVERY = 0.1
MAX_UNINDEXED = 50_000
_INDEXED = (c.MSG, c.PRIV)


@dataclass(slots=True)
class _Queued:
    """A search waiting for its next slice: who asked, what, and what it found so far."""

    identity: bytes
    ask: Search
    rooms: set[str]
    room: str | None
    since: float
    hits: list[StoredEvent] = field(default_factory=list)
    before: int | None = None
    slices: int = 0
    #: How many numbers the next range of the index spans (see SearchRules._slice).
    span: int = 4096
    #: A cluster's index may lack hits yet (cluster_index.py): its answer says ``more``.
    partial: bool = False


class SearchRules:
    """The SEARCH command and the index's feeding, over the core's state."""

    if TYPE_CHECKING:  # what it uses of BrokerCore (core.py) and RoomRules (rooms.py)
        store: HistoryStore
        budgets: Budgets
        default_room: str
        index: SearchIndex | None
        _unindexed: list[StoredEvent]
        _index_pruned: int
        _index_time: TokenBucket
        _index_committed: float
        _index_written: float
        _from_store: Callable[[int, int], Iterator[StoredEvent]] | None
        _indexed_upto: int
        _committed: int
        _search_time: TokenBucket
        _searches: deque[_Queued]
        roster: Roster
        _shared: SharedIndex | None

        def _room_of(self, session: Session, room: str, cid: int = 0,
                     member: bool = True) -> tuple[str, list[Action]]: ...
        def _paid(self, session: Session, frame: bytes, now: float) -> list[Action]: ...
        def _refuse(self, identity: bytes, session: Session | None, code: str, detail: str,
                    ref: str = "", cid: int = 0) -> list[Action]: ...
        def _throttle(self, session: Session, cid: int) -> list[Action]: ...

    def _fresh(self, event: StoredEvent) -> None:
        """``event`` was numbered or arrived here: index it once delivered. (A store that
        lists its messages feeds the index itself: nothing is held here then.)"""
        if self.index is not None and event.seq and event.kind in _INDEXED \
                and self._from_store is None:
            self._unindexed.append(event)

    def _feed(self, count: int) -> int:
        """Give the index up to ``count`` waiting events; how many it took (0: none
        waited). From a store: read from its history, after what was fed last."""
        if self._from_store is None:
            chunk = self._unindexed[:count]
            del self._unindexed[:count]
            if chunk:
                assert self.index is not None
                self.index.add(chunk)
                return len(chunk)
            if self._shared is not None and self._shared.pending:  # (then what came before)
                try:
                    return self._shared.step()
                except LinkDown:  # (noticed at the next tick; the catch-up waits for it)
                    return 0
            return 0
        head = self._committed  # (what is durable, and so delivered or on its way)
        if head <= self._indexed_upto:
            return 0
        assert self.index is not None
        chunk = [event for event in islice(self._from_store(self._indexed_upto, count), count)
                 if event.seq <= head]
        self.index.add(chunk)
        self._indexed_upto = chunk[-1].seq if len(chunk) == count else head
        return max(1, len(chunk))

    def index_fresh(self, idle: bool = False) -> None:
        """Index what was delivered (called once its frames went out): while the broker
        is busy, only as much as its share of the time allows (a bucket of seconds:
        light traffic is indexed at once, a flood waits); when it would wait for
        frames, INDEX_SLICE seconds at a time until nothing is left (`index_pending`
        says the server should not wait meanwhile). Past MAX_UNINDEXED waiting,
        the excess is indexed whatever the load, so what waits stays bounded (in a
        cluster, what waits is let go instead, and read back from the shared history
        when there is time: cluster_index.py). The index is committed every
        INDEX_COMMIT_EVERY seconds at most (its writes are FTS5's work: fewer, bigger
        ones cost less), and by each search first."""
        if self.index is None or not self.index_pending():
            return
        clock = time.perf_counter
        started = clock()
        if idle:
            budget = INDEX_SLICE
        else:
            self._index_time.take(started, 0.0)  # (refilled up to now)
            budget = self._index_time.tokens
        # (Events held in memory are bounded: past MAX_UNINDEXED, fed whatever the load.
        # A store's wait on disk, for a quiet moment, however many.)
        forced = len(self._unindexed) - MAX_UNINDEXED
        if forced > 0 and self._shared is not None:
            self._shared.dropped(self._unindexed)
            self._unindexed.clear()
            forced = 0
        done = 0
        while done < forced or clock() - started < budget:
            took = self._feed(INDEX_CHUNK)
            if not took:
                break
            done += took
        if clock() - self._index_committed >= INDEX_COMMIT_EVERY:
            self.index.commit()
            self._index_committed = clock()
        # A busy broker's share pays for the writer thread's work too (the same cores).
        written = self.index.write_seconds()
        if not idle:
            self._index_time.tokens -= clock() - started + written - self._index_written
        self._index_written = written

    def index_pending(self) -> bool:
        """Whether delivered events still wait for the index (the server then feeds it
        in slices once no frame came for a moment)."""
        if self.index is None:
            return False
        if self._from_store is not None:
            return self._committed > self._indexed_upto
        return bool(self._unindexed) or (self._shared is not None and self._shared.pending)

    def prune_index(self) -> None:
        """Drop from the index what the history no longer holds (at each tick)."""
        if self.index is None:
            return
        upto = self.store.pruned_upto()
        if self._shared is not None:  # (a cluster's: the last --retain numbers)
            upto = max(upto, self._shared.floor())
        if upto > self._index_pruned:
            self._index_pruned = upto
            self.index.prune(upto)

    def _search(self, session: "Session", ask: Search, now: float) -> "list[Action]":
        """Check a SEARCH and queue it: `serve_searches` answers it, a slice at a time."""
        if self.index is None:
            return self._refuse(session.identity, session, c.E_UNAVAILABLE,
                                "this broker keeps no search index", "search")
        rooms = ({PUBLIC} if session.in_default else set()) | set(session.rooms)
        room: str | None = None
        if ask.room:
            key, refused = self._room_of(session, ask.room)
            if not key:
                return refused
            room = PUBLIC if key == self.default_room else key
        for who in (ask.sender, ask.peer):
            if who and (problem := name_problem(who)) is not None:
                return self._refuse(session.identity, session, c.E_BAD_NAME, problem, who)
        messages = self.budgets.of(session)[0]
        if not messages.take(now, SEARCH_COST - 1):  # (one was taken as for any command)
            return self._throttle(session, 0)
        if len(self._searches) >= MAX_QUEUED or not self._search_time.take(now, 0.0) \
                or self._search_time.tokens < SEARCH_SLICE:
            return self._refuse(session.identity, session, c.E_RATE_LIMITED,
                                "the broker is busy with searches: try again", "search")
        self.index_fresh(idle=True)  # (what waits, a slice of it: a search sees it)
        # A cluster's index may still be reading the shared history back, and lack
        # private messages that went to another broker (read back first): hits may
        # be missing, and the answer says ``more``.
        partial = False
        if self._shared is not None:
            partial = (room is None and not self._private_in(session)) \
                or self._shared.building
        self._searches.append(_Queued(session.identity, ask, rooms, room, now,
                                      before=ask.before, partial=partial))
        return []

    def searches_pending(self) -> bool:
        """Whether searches wait for a slice (the server then turns the loop at once)."""
        return bool(self._searches)

    def serve_searches(self, now: float) -> "list[Action]":
        """One slice for each queued search, as long as this turn's SEARCH_TURN lasts;
        the answers of those that are done. (The server calls it each turn.)"""
        if not self._searches or self.index is None:
            return []
        clock = time.perf_counter
        started = clock()
        writing = self.index.writing()
        actions: list[Action] = []
        for _ in range(len(self._searches)):
            if clock() - started >= SEARCH_TURN:
                break
            queued = self._searches.popleft()
            session = self.roster.by_identity(queued.identity)
            if session is None:
                continue  # (gone: nobody to answer)
            if writing and now - queued.since < WRITER_WAIT:
                self._searches.append(queued)  # (the writer first: a turn at a time)
                continue
            began = clock()
            try:
                frame = self._slice(queued, session)
            except ValueError as exc:
                frame = None
                actions += self._refuse(session.identity, session, c.E_BAD_SEARCH,
                                        str(exc), "")
            finally:
                self._search_time.take(now, 0.0)
                self._search_time.tokens -= clock() - began
            if frame is None:
                continue
            if frame:
                actions += self._paid(session, frame, now)
            else:
                self._searches.append(queued)
        return actions

    def _slice(self, queued: _Queued, session: "Session") -> bytes | None:
        """One slice of ``queued``: its answer when it is done, else b"" (more slices).

        A slice walks the index a range of numbers at a time, newest first (``span``
        numbers below ``before``): a range it finishes is behind it for good, and the
        next is twice as wide; one it could not finish in time is tried again half as
        wide (from its last hit, if it had one). So every search moves on, however
        many of the matches it passes over are others' to read."""
        assert self.index is not None
        ask = queued.ask
        if ask.peer:  # (a conversation: two narrow searches, one slice each, in one go)
            hits, more = self._conversation(session, ask)
            return self._found(session, hits, more or queued.partial)
        clock = time.perf_counter
        ends = clock() + SEARCH_SLICE
        queued.slices += 1
        while True:
            top = self.index.newest() + 1 if queued.before is None else queued.before
            floor = max(0, top - queued.span)
            found = self.index.search(ask.words, rooms=queued.rooms, private={session.stream},
                                      sender=ask.sender, room=queued.room, before=top,
                                      after=floor, limit=ask.limit - len(queued.hits),
                                      wait=False)
            queued.hits += found.hits
            if len(queued.hits) >= ask.limit:
                return self._found(session, queued.hits, True)  # a full page
            if found.complete:  # (the range is walked)
                queued.before = floor + 1
                queued.span = min(queued.span * 2, MAX_SPAN)
                if floor <= self.index.pruned_upto():  # (the whole index)
                    return self._found(session, queued.hits, queued.partial)
            else:
                queued.span = max(queued.span // 2, MIN_SPAN)
                if found.hits:
                    queued.before = found.hits[-1].seq
            if queued.slices >= SEARCH_SLICES and clock() >= ends:
                return self._found(session, queued.hits, True)  # what it found in time
            if clock() >= ends:
                return b""

    def _found(self, session: "Session", hits: list[StoredEvent], more: bool) -> bytes:
        items = [event_item(hit.for_reader(session.stream if hit.kind == c.PRIV
                                           else hit.room or PUBLIC)) for hit in hits]
        return encode_events(c.K_FOUND, items, more)

    def _private_in(self, session: "Session") -> bool:
        """A cluster's index: the searcher's private messages it lacks, read back from
        its private stream first (cluster_index.py); whether all are in."""
        assert self._shared is not None
        try:
            return self._shared.private(session.stream)
        except LinkDown:  # (noticed at the next tick)
            return False

    def _conversation(self, session: "Session", ask: Search) -> tuple[list[StoredEvent], bool]:
        """``@name``: the private messages between the asker and ``ask.peer`` only: what
        the peer sent it, and what it sent anyone, kept when sent to the peer (so a
        page may come short, with ``more``); newest first, at most ``ask.limit``."""
        assert self.index is not None
        if ask.sender and name_key(ask.sender) not in (name_key(ask.peer),
                                                       name_key(session.name)):
            return [], False
        mine = {session.stream}
        pages = []
        for sender in (ask.peer, session.name):
            if ask.sender and name_key(ask.sender) != name_key(sender):
                continue
            found = self.index.search(ask.words, rooms=(), private=mine, sender=sender,
                                      before=ask.before, limit=ask.limit, wait=False)
            pages.append((found, sender))
        peer = name_key(ask.peer)
        hits = [hit for found, sender in pages for hit in found.hits
                if sender == ask.peer or name_key(hit.to) == peer]
        hits.sort(key=lambda hit: hit.seq, reverse=True)
        more = any(found.more or not found.complete for found, _ in pages)
        return hits[:ask.limit], more or len(hits) > ask.limit


def open_index(store: "HistoryStore", path: "Path | None") -> "tuple[SearchIndex | None, str]":
    """The index SEARCH reads, caught up with ``store`` (``path``: its file, None: in
    memory); or None and why there is none (this Python's SQLite has no FTS5).

    A store that can list its messages (SqliteStore.messages_after) brings a file
    index up to date at start, so an index that is missing, deleted or behind is made
    (again) from the history; one ahead of the history (a history started over) is
    made again from nothing. Other stores start with an empty index, fed from then on
    (the memory store's history starts empty too; a cluster's, in memory, is built
    from the shared history by the core, cluster_index.py, and fed from the shared
    log)."""
    from .search import SearchIndex, rebuild

    why = SearchIndex.available()
    if why is not None:
        return None, why
    index = SearchIndex(path)
    messages_after = getattr(store, "messages_after", None)
    if messages_after is None:
        return index, ""
    if index.last_seq() > store.last_seq() and path is not None:
        index.close()
        for stale in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        index = SearchIndex(path)
    rebuild(index, messages_after(index.last_seq()))
    index.prune(store.pruned_upto())  # (what the history pruned while it was not running)
    return index, ""
