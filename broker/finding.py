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

A search runs on the broker's loop, bounded twice: the index stops one search
after SEARCH_BUDGET seconds (search.py), and the broker spends at most
SEARCH_SHARE of its time on searches (a bucket of seconds that each search is
charged what it took): past it, searches are refused for a moment
(RATE_LIMITED), and nothing else waits. A search also costs a session
SEARCH_COST messages (Flood control) and its answer's bytes.

A part of BrokerCore (core.py), like rooms.py.
"""

import time
from collections.abc import Callable, Iterator
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
    from .roster import Session
    from .search import SearchIndex
    from .store import HistoryStore

#: Seconds of the broker's time searches may take, per second (and at once).
SEARCH_SHARE = 0.2
#: Messages (Flood control) a search costs.
SEARCH_COST = 5
#: The longest one search may run (seconds): it returns what it found by then.
SEARCH_BUDGET = 0.02
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
        if not self._search_time.take(now, SEARCH_BUDGET):
            return self._refuse(session.identity, session, c.E_RATE_LIMITED,
                                "the broker is busy with searches: try again", "search")
        self.index_fresh(idle=True)  # (what waits, a slice of it: a search sees it)
        started = time.perf_counter()
        try:
            # A cluster's index may still be reading the shared history back, and lack
            # private messages that went to another broker: older hits may exist.
            partial = False
            if self._shared is not None:
                partial = (room is None and not self._private_in(session)) \
                    or self._shared.building
            if ask.peer:
                hits, more = self._conversation(session, ask)
            else:
                found = self.index.search(ask.words, rooms=rooms, private={session.stream},
                                          sender=ask.sender, room=room, before=ask.before,
                                          limit=ask.limit)
                hits, more = list(found.hits), found.more or not found.complete
            more = more or partial
        except ValueError as exc:
            return self._refuse(session.identity, session, c.E_BAD_SEARCH, str(exc), "")
        finally:  # (charged what it took beyond the budget reserved above)
            self._search_time.tokens -= max(0.0, time.perf_counter() - started - SEARCH_BUDGET)
        items = [event_item(hit.for_reader(session.stream if hit.kind == c.PRIV
                                           else hit.room or PUBLIC)) for hit in hits]
        return self._paid(session, encode_events(c.K_FOUND, items, more), now)

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
                                      before=ask.before, limit=ask.limit)
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
    # (A cluster's, in memory, writes on a thread of its own at a lower priority: its
    # brokers may share the cores they deliver on.)
    index = SearchIndex(path, background=hasattr(store, "stream_after"))
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
