"""The storage interfaces, their errors and event record, and the in-memory store.

The broker core writes every chat event here before anyone sees it, and reads
back what a client missed. Four narrow interfaces: `HistoryStore` (numbering and
history, per stream: the public one, which is the default room, each other room,
each session's private one), `Ownership` (which key owns a name, which session a
token opens), `RoomState` (which rooms a session is in, each room's topic) and
`ReadState` (how far each reader has read, its private conversations).
The in-memory store needs nothing and forgets on exit, `SqliteStore`
(sqlite_store.py) survives restarts, `RedisCluster` (cluster.py) is shared by a
cluster; each passes the contract tests of the interfaces it implements
(tests/unit/test_history_contract.py, test_ownership_contract.py,
test_rooms_contract.py, test_read_contract.py).
The errors they may raise are `StoreError` (fatal) and `LinkDown` (the cluster
is out of reach for now), declared on each interface.
"""

import bisect
import hashlib
import heapq
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import Protocol, runtime_checkable

from zchat.protocol import Event, Joined, Left, Msg, Priv
from zchat.protocol import constants as c
from zchat.protocol.constants import DEFAULT_RETAIN

#: The key under which the public stream's head is kept beside users' private heads.
#: (The public stream is the default room's; another room's stream key is the room's
#: own key, which starts with "#", and a private stream's starts with "t:".)
PUBLIC = "*"
#: Kept among a session's rooms (RoomState) when it parted the default room.
PARTED_DEFAULT = "-"
#: A token binding's ``until`` while its session is on (no event of it can be pruned yet).
IN_USE = 2**63 - 1  # (stored, never sent: above every seq, and what stores hold already)


_SEQ = attrgetter("seq")
#: A history past its bound is pruned once it holds a tenth more, at most PRUNE_CHUNK
#: more (`over_bound`): each prune holds the broker's loop, and a tenth of 100,000 rows
#: at once held it 19-27 ms (docs/PERFORMANCE.md, Issue 17, session 15).
PRUNE_CHUNK = 1000


def over_bound(count: int, retain: int) -> bool:
    """Whether a history of ``count`` events is due to be pruned down to ``retain``."""
    return count > retain + min(PRUNE_CHUNK, retain // 10)


def stream_key(token: str) -> str:
    """The key of one session's private stream and of its messages' duplicate check.

    Derived from the session token, not the name: whoever joins later under the
    same name (with another token) cannot read these private messages, and the
    store never holds a token that could take over a live session.
    """
    return "t:" + hashlib.sha256(token.encode()).hexdigest()[:32]


class StoreError(Exception):
    """The store cannot be opened, read or written: the broker must not go on silently."""


class LinkDown(Exception):
    """What the cluster shares (its history, names and tokens) cannot be reached now:
    the broker serves its own users alone until the link heals. A store of this one
    broker never raises it."""


@dataclass(slots=True)  # not frozen: made for every message, and frozen init is slow
class StoredEvent:
    """One chat event as stored: enough to rebuild what each reader was sent.
    Treat it as immutable."""

    seq: int
    kind: str  # MSG, PRIV, JOINED or LEFT
    ts: float
    name: str  # the sender, or who joined or left
    text: str = ""
    to: str = ""  # PRIV: the target
    reason: str = ""  # LEFT: why
    origin: str = ""  # the sender's stream key: its private stream, and with cid, dedup
    cid: int = 0
    prev: int = 0  # the previous event of its room's stream, or of the sender's private one
    to_key: str = ""  # PRIV: the target's stream key
    prev_to: int = 0  # PRIV: the previous event of the target's private stream
    #: MSG, JOINED, LEFT: the room's key (e.g. "#sala"), "" for the default room (the
    #: public stream). Last, so that every positional construction means what it did.
    room: str = ""

    def keys(self) -> tuple[str, ...]:
        """The heads this event moves: its room's (the public one for the default
        room), or both sessions' private ones."""
        if self.kind == c.PRIV:
            return (self.origin, self.to_key)
        return (self.room or PUBLIC,)

    def for_reader(self, reader_key: str) -> Event:
        """The protocol event as sent to the stream ``reader_key`` (its chain's ``prev``)."""
        if self.kind == c.MSG:
            return Msg(self.name, self.text, self.ts, self.seq, self.prev, self.room)
        if self.kind == c.PRIV:
            prev = self.prev_to if self.to_key == reader_key else self.prev
            return Priv(self.name, self.to, self.text, self.ts, self.seq, prev)
        if self.kind == c.JOINED:
            return Joined(self.name, self.ts, self.seq, self.prev, self.room)
        return Left(self.name, self.reason, self.ts, self.seq, self.prev, self.room)


@dataclass(slots=True)
class Binding:
    """What a session token opens: the private stream of the session that first used it,
    for that name (key) and CURVE key ("" in plaintext) only, until it LEAVEs."""

    name_key: str
    user: str
    #: Its session ended with LEAVE: the token opens nothing any more.
    retired: bool = False
    #: The newest event its session may have made (IN_USE while the session is on): once
    #: history is pruned past it, nothing of the stream is left and the binding goes too.
    until: int = IN_USE

    def admits(self, name_key: str, user: str) -> bool:
        return not self.retired and (self.name_key, self.user) == (name_key, user)


class HistoryStore(Protocol):
    """History and sequencing: what the core and its FETCH pages need from storage.

    Writes are grouped: `add` any number of events, then `commit` once per poll
    cycle; reads see added events at once, commits make them durable. The store
    prunes itself to its retain bound; `pruned_upto` and `pruned_events` say how
    far, so a reader can be told what it can no longer fetch.

    The store is the sequencer: `add` gives an event its sequence number and the
    `prev` links of the streams it joins, so that a store shared by several
    brokers (the cluster) numbers events for all of them. One number for every
    stream; each stream its own `prev` chain and `head` (by its key: PUBLIC, a
    room's key, a private stream's key).

    Reads: `since` is a reader's missed events, from a cursor per stream (the
    public one, its private one, and those of the rooms in ``rooms``: room key ->
    cursor), in seq order, at most ``limit``; `recent_public` and `recent_room` are a
    newcomer's history of the default room and of another room; `page` is a page of
    one room's stream, either way from a given number (a history query).

    Raises:
        StoreError: from any method, when the store cannot be read or written (a
            broken file or database): the broker stops rather than go on without it.
        LinkDown: from `add` and `add_many` only, when a store shared by the cluster
            cannot be reached now (the event was not numbered). Reads never raise
            it: they answer from what this broker last knew, or with nothing.
    """

    epoch: str

    def last_seq(self) -> int: ...
    def head(self, key: str) -> int: ...
    def add(self, event: StoredEvent) -> StoredEvent: ...
    def add_many(self, events: list[StoredEvent]) -> None: ...
    def commit(self) -> None: ...
    def find(self, origin: str, cid: int) -> StoredEvent | None: ...
    def since(self, pub: int, priv: int, reader_key: str, limit: int, *,
              rooms: Mapping[str, int] | None = None) -> list[StoredEvent]: ...
    def recent_public(self, count: int, upto: int | None = None) -> list[StoredEvent]: ...
    def recent_room(self, room: str, count: int, upto: int | None = None
                    ) -> list[StoredEvent]: ...

    def page(self, stream: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        """A page of a room's stream for a history query (issue 18): ``stream`` is PUBLIC
        (the default room) or a room's key ("#sala"). Its events (MSG, JOINED, LEFT of
        that stream only; never a PRIV, never another room's) still retained, oldest first:
        with ``after`` given, the oldest ``limit`` numbered above ``after`` (and below
        ``before`` if also given); otherwise the newest ``limit`` numbered below ``before``
        (None: the latest). The bool: whether more such events lie beyond the page in
        the direction read (further back when reading backwards, further on when reading
        forwards, within the before/after range)."""
        ...

    def pruned_upto(self) -> int: ...
    def pruned_events(self, low: int, high: int) -> int: ...
    def close(self) -> None: ...


@runtime_checkable
class Ownership(Protocol):
    """Who may use what: names owned by CURVE keys, session tokens bound to a session.

    A name belongs to the first CURVE key that `claim`s it (a later claim changes
    nothing); `owner` says which, if any.

    Session tokens: a token opens its private stream (``stream``, its stream_key)
    only for the name key and CURVE key ("" in plaintext) that first used it, and
    never after its session LEAVEs. `bind` says whether a JOIN may use it (True:
    unknown until now and bound to them from now on, or bound to them already;
    False: retired, or another name's or key's, and the JOIN gets a fresh token).
    From a True `bind` to the `unbind` that ends the session the stream is in use;
    `unbind` with ``retire`` (a LEAVE) makes the token open nothing from then on.
    A stream's head and its token's binding are pruned once history holds no event
    of it (its head, or the end of its session, is at or below the pruned mark) and
    it is not in use; a token whose binding went opens an empty stream, as a fresh
    one would. (The cluster bounds them in time instead: cluster_script.TOKEN_TTL.)

    Raises:
        StoreError: from any method, when the store cannot be read or written.
        LinkDown: from `owner`, `bind` and `unbind`, when ownership shared by the
            cluster cannot be checked or changed now. Never from `claim`: a claim
            that cannot be made now is made by the next join under that key.
    """

    def owner(self, name_key: str) -> str | None: ...
    def claim(self, name_key: str, key: str) -> None: ...
    def bind(self, stream: str, name_key: str, user: str) -> bool: ...
    def unbind(self, stream: str, retire: bool) -> None: ...


@runtime_checkable
class RoomState(Protocol):
    """Rooms as state, not events: which rooms each session is in, and their topics.

    Memberships belong to the session, by its private stream key (``stream``), kept
    beside its token binding (Ownership): `enter` adds one (``room``: the room's key,
    ``shown``: its name as shown, e.g. "#sala" and "#Sala"; entering again keeps the
    first name), `part` ends one, `part_all` every one of the stream, and `rooms_of`
    says which (room key -> name as shown; empty for a stream in none). They last
    across reconnects and restarts until the token's binding is retired
    (`Ownership.unbind` with ``retire``: a LEAVE) or pruned with history: its
    memberships go with it. Keys are compared as given (the core's, the default
    room's included).

    Topics: `topic` is a room's ("" when none), `set_topic` replaces it ("" clears it).
    They last until changed, whoever is in the room.

    Raises:
        StoreError: from any method, when the store cannot be read or written.
        LinkDown: from any method, when the state shared by the cluster cannot be
            reached now (the core refuses the room command).
    """

    def rooms_of(self, stream: str) -> dict[str, str]: ...
    def enter(self, stream: str, room: str, shown: str) -> None: ...
    def part(self, stream: str, room: str) -> None: ...
    def part_all(self, stream: str) -> None: ...
    def topic(self, room: str) -> str: ...
    def set_topic(self, room: str, text: str) -> None: ...


@dataclass(slots=True)
class Conversation:
    """One user's private conversation with another (ReadState): the other's name key
    and name as last seen, its last event and when, and how many messages from the
    other came after what the user last marked read."""

    peer: str
    name: str
    last: int
    ts: float
    unread: int = 0


@runtime_checkable
class ReadState(Protocol):
    """How far each reader has read, and its private conversations (issue 18).

    A reader is a CURVE key ("k:" and the key: it follows the key across sessions and
    devices) or, for a name without a key, a session ("t:...", its stream key: it lasts
    as long as the session's memberships do, see RoomState, and goes with them).
    `marks` are its read marks (a room's stream key, PUBLIC for the default room, or
    "@" and a name key -> the last event read); `mark` raises them (a lower number
    changes nothing), and a conversation's mark at or past its last event clears its
    unread count. `converse` records a private message in the reader's conversation
    with ``peer`` (``incoming``: from the peer, so one more unread); `conversations`
    lists them, most recent first, and `talk` pages back through one of them (its
    messages still in history, as `HistoryStore.page` reads a room's). `forget` drops
    a reader's state (a session that LEFT). What history prunes goes from the pages,
    and a conversation whose last event is pruned goes from the list.

    Raises:
        StoreError: from any method, when the store cannot be read or written.
        LinkDown: from any method, when state shared by the cluster cannot be reached.
    """

    def marks(self, reader: str) -> dict[str, int]: ...
    def mark(self, reader: str, marks: Mapping[str, int]) -> None: ...
    def converse(self, reader: str, peer: str, name: str, seq: int, ts: float,
                 incoming: bool) -> None: ...
    def conversations(self, reader: str, limit: int) -> list[Conversation]: ...
    def talk(self, reader: str, peer: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]: ...
    def forget(self, reader: str) -> None: ...


@dataclass(slots=True)
class Sanction:
    """A ban (``room`` "") or a mute in ``room`` (issue 19), of ``target``: "k:" and a
    CURVE key, or "n:" and a name key; ``until`` a wall-clock time (0: until lifted);
    who imposed it and why, and the name as it was shown."""

    target: str
    room: str
    until: float
    by: str
    reason: str
    name: str

    def live(self, now: float) -> bool:
        return not self.until or self.until > now


@runtime_checkable
class ModerationState(Protocol):
    """Bans, mutes and rooms' rules (slow mode, a locked topic), as operators set them.

    `sanction` imposes one (replacing the same target's in the same room), `lift` ends
    it (whether there was one), `sanction_of` is the live one of any of ``targets`` in
    ``room`` (None: none), `sanctions` the live ones, soonest to end last. A sanction
    past its ``until`` is as good as lifted; `expire` drops those. `rules` are the rooms
    with rules (room -> (slow seconds, locked)), `set_rules` changes a room's (neither:
    it has none). All of it survives restarts.

    Raises:
        StoreError: from any method, when the store cannot be read or written.
        LinkDown: from any method, when state shared by the cluster cannot be reached.
    """

    def sanction(self, sanction: Sanction) -> None: ...
    def lift(self, target: str, room: str) -> bool: ...
    def sanction_of(self, targets: Iterable[str], room: str, now: float
                    ) -> Sanction | None: ...
    def sanctions(self, now: float, limit: int) -> list[Sanction]: ...
    def expire(self, now: float) -> None: ...
    def rules(self) -> dict[str, tuple[int, bool]]: ...
    def set_rules(self, room: str, slow: int, locked: bool) -> None: ...


class LocalStore:
    """Numbering for the stores that live in this one process: `add` gives an event
    the number after the last one and links it to its streams' heads, then
    `append`s it. (Subclasses keep ``_last``, ``_heads``, ``_pruned``, ``_recent``
    and ``_in_use`` and define `append` and `prune`.) Both are the HistoryStore,
    the Ownership and the RoomState of a broker alone, and never raise LinkDown."""

    _last: int
    _heads: dict[str, int]
    #: Streams whose sessions are on (see Ownership); none survives a restart.
    _in_use: set[str]
    #: The newest event pruned (0: none).
    _pruned: int
    #: The latest messages of the default room (at most MAX_FETCH), appended by `append`:
    #: the WELCOME's history, found without a query or a walk past joins and leaves.
    _recent: deque[StoredEvent]

    def append(self, event: StoredEvent) -> None:
        """Store ``event`` as numbered (by `add`, or by a test)."""
        raise NotImplementedError

    def prune(self, retain: int) -> None:
        """Keep the newest ``retain`` events (`commit` calls it past the retain bound)."""
        raise NotImplementedError

    def last_seq(self) -> int:
        return self._last

    def head(self, key: str) -> int:
        return self._heads.get(key, 0)

    def add(self, event: StoredEvent) -> StoredEvent:
        event.seq = self._last + 1
        if event.kind == c.PRIV:
            event.prev = self.head(event.origin)
            event.prev_to = self.head(event.to_key)
        else:
            event.prev = self.head(event.room or PUBLIC)
        self.append(event)
        return event

    def add_many(self, events: list[StoredEvent]) -> None:
        for event in events:
            self.add(event)

    def recent_public(self, count: int, upto: int | None = None) -> list[StoredEvent]:
        """The newest ``count`` (at most MAX_FETCH, the --history bound) messages of the
        default room, numbered at most ``upto`` when given."""
        if count <= 0:
            return []
        return [event for event in self._recent
                if event.seq > self._pruned and (upto is None or event.seq <= upto)][-count:]

    def pruned_upto(self) -> int:
        return self._pruned

    def _stale_heads(self, cutoff: int) -> list[str]:
        """Private heads with nothing left once history is pruned up to ``cutoff`` (a head
        is its stream's newest event) and whose sessions are not on. (Rooms' heads, the
        public one among them, are never dropped: a room's members keep cursors on it,
        and its next event must link past them, as it does when nothing is pruned.)

        What a client that comes back later with a cursor on such a stream sees: WELCOME's
        `priv` is 0, below its cursor. The reference client (client/timeline.Timeline.
        welcome) does not take that for a reset history, which would skip the public events
        it missed that are still held: it fetches from its cursors, shows each retained
        event once, and is told by the page's `lost` how much may be gone (core `_lost`: a
        private chain that no longer reaches back to the cursor counts as pruned from the
        cursor to the pruned mark, a bound); then it starts its private cursor again at 0,
        where the stream's next event links (`prev` 0, its head being gone). Nothing is
        shown twice (a replay skips what is at or below the cursors), and nothing waits for
        an event that cannot come (the catch-up ends with the last page).
        """
        return [key for key, seq in self._heads.items()
                if seq <= cutoff and not _is_room(key) and key not in self._in_use]


def _is_room(key: str) -> bool:
    """Whether a stream key is a room's: the public stream's or another room's."""
    return key == PUBLIC or key.startswith("#")


def _tail(events: deque[StoredEvent], start: int) -> Iterable[StoredEvent]:
    """``events[start:]`` in order, walking in from the nearer end of the deque."""
    after = len(events) - start
    if after >= start:
        return islice(events, start, None)
    return reversed(list(islice(reversed(events), after)))


class MemoryStore(LocalStore):
    """History in memory: sequence numbers, ACKs and resume within one broker run."""

    def __init__(self, retain: int = DEFAULT_RETAIN) -> None:
        self.epoch = secrets.token_hex(8)
        self._events: deque[StoredEvent] = deque()
        self._recent: deque[StoredEvent] = deque(maxlen=c.MAX_FETCH)
        self._by_origin: dict[tuple[str, int], StoredEvent] = {}
        #: Each private stream's events, in seq order (a reader's resume reads only these).
        self._private: dict[str, deque[StoredEvent]] = {}
        #: Each room's events (the default room's aside), in seq order, and its messages
        #: alone (a newcomer's history, found without a walk past joins and leaves).
        self._rooms: dict[str, deque[StoredEvent]] = {}
        self._room_msgs: dict[str, deque[StoredEvent]] = {}
        #: The default room's events, in seq order: its history pages (`page`) are found
        #: by bisection, not by a walk past private and other rooms' events.
        self._public: deque[StoredEvent] = deque()
        #: RoomState: stream -> {room: name as shown}, and room -> topic.
        self._members: dict[str, dict[str, str]] = {}
        self._topics: dict[str, str] = {}
        #: ReadState: reader -> {key: seq}, and reader -> {peer: Conversation}.
        self._marks: dict[str, dict[str, int]] = {}
        self._talks: dict[str, dict[str, Conversation]] = {}
        #: ModerationState: (target, room) -> Sanction, and room -> (slow, locked).
        self._sanctions: dict[tuple[str, str], Sanction] = {}
        self._rules: dict[str, tuple[int, bool]] = {}
        #: (reader, peer) -> its conversation's events, in seq order (`talk`'s pages).
        self._talked: dict[tuple[str, str], deque[StoredEvent]] = {}
        self._heads: dict[str, int] = {}
        self._owners: dict[str, str] = {}
        self._tokens: dict[str, Binding] = {}
        self._in_use: set[str] = set()
        self._last = 0
        self._pruned = 0
        self._prunes: deque[tuple[int, int]] = deque(maxlen=1000)  # (upto, events)
        self._retain = retain

    def append(self, event: StoredEvent) -> None:
        self._events.append(event)
        if event.room:
            self._rooms.setdefault(event.room, deque()).append(event)
            if event.kind == c.MSG:
                self._room_msgs.setdefault(event.room, deque()).append(event)
        elif event.kind != c.PRIV:
            self._public.append(event)
            if event.kind == c.MSG:
                self._recent.append(event)
        self._last = event.seq
        for key in event.keys():
            self._heads[key] = event.seq
        if event.kind == c.PRIV:
            for key in {event.origin, event.to_key}:
                self._private.setdefault(key, deque()).append(event)
        if event.cid:
            self._by_origin[(event.origin, event.cid)] = event

    def commit(self) -> None:
        if over_bound(len(self._events), self._retain):
            self.prune(self._retain)

    def find(self, origin: str, cid: int) -> StoredEvent | None:
        return self._by_origin.get((origin, cid))

    def since(self, pub: int, priv: int, reader_key: str, limit: int, *,
              rooms: Mapping[str, int] | None = None) -> list[StoredEvent]:
        # Each stream from its own cursor (found by bisection, not a walk), merged
        # in seq order: the public events from the history (past the private and
        # room events among them), the reader's private ones and each room's from
        # their own lists, so no cursor of theirs makes another stream be walked.
        events = self._events
        public = (event for event in _tail(events, bisect.bisect_right(events, pub, key=_SEQ))
                  if event.kind != c.PRIV and not event.room)
        streams: list[Iterable[StoredEvent]] = [public]
        mine = self._private.get(reader_key)
        if mine:
            streams.append(_after(mine, priv))
        for room, cursor in (rooms or {}).items():
            held = self._rooms.get(room)
            if held:
                streams.append(_after(held, cursor))
        if len(streams) == 1:
            return list(islice(public, limit))
        return list(islice(heapq.merge(*streams, key=_SEQ), limit))

    def recent_room(self, room: str, count: int, upto: int | None = None
                    ) -> list[StoredEvent]:
        """The newest ``count`` messages of ``room``, numbered at most ``upto`` when
        given, oldest first."""
        msgs = self._room_msgs.get(room)
        if count <= 0 or not msgs:
            return []
        end = len(msgs) if upto is None else bisect.bisect_right(msgs, upto, key=_SEQ)
        start = max(0, end - count)
        return list(islice(_tail(msgs, start), end - start))

    def page(self, stream: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        """See HistoryStore.page: the range's ends found by bisection in the stream's
        own list (pruned events have left it)."""
        return _range(self._public if stream == PUBLIC else self._rooms.get(stream), limit,
                      before, after)

    def pruned_events(self, low: int, high: int) -> int:
        """Events pruned with a sequence number in (low, high] (whole batches: a bound)."""
        total = 0
        for upto, events in self._prunes:
            if upto > low:
                total += events
                if upto >= high:
                    break
        return total

    def prune(self, retain: int) -> None:
        """Keep the newest ``retain`` events."""
        deleted = 0
        while len(self._events) > retain:
            event = self._events.popleft()
            self._pruned = event.seq
            deleted += 1
            if event.cid:
                self._by_origin.pop((event.origin, event.cid), None)
            if event.kind == c.PRIV:
                for key in {event.origin, event.to_key}:
                    _pop_oldest(self._private, key)
            elif event.room:
                _pop_oldest(self._rooms, event.room)
                if event.kind == c.MSG:
                    _pop_oldest(self._room_msgs, event.room)
            else:
                self._public.popleft()
        if deleted:
            self._prunes.append((self._pruned, deleted))
            for key in self._stale_heads(self._pruned):
                del self._heads[key]
            for ended in [k for k, b in self._tokens.items() if b.until <= self._pruned]:
                del self._tokens[ended]
                self._members.pop(ended, None)
                self.forget(ended)
            for reader, talks in self._talks.items():
                for peer in [p for p, talk in talks.items() if talk.last <= self._pruned]:
                    del talks[peer]
                    self._marks.get(reader, {}).pop(c.PEER_PREFIX + peer, None)
            for pair, said in list(self._talked.items()):
                while said and said[0].seq <= self._pruned:
                    said.popleft()
                if not said:
                    del self._talked[pair]

    def owner(self, name_key: str) -> str | None:
        """The CURVE key that owns a name, if a key has claimed it."""
        return self._owners.get(name_key)

    def claim(self, name_key: str, key: str) -> None:
        self._owners.setdefault(name_key, key)

    def bind(self, stream: str, name_key: str, user: str) -> bool:
        binding = self._tokens.get(stream)
        if binding is None:
            self._tokens[stream] = Binding(name_key, user)
        elif binding.admits(name_key, user):
            binding.until = IN_USE
        else:
            return False
        self._in_use.add(stream)
        return True

    def unbind(self, stream: str, retire: bool) -> None:
        self._in_use.discard(stream)
        binding = self._tokens.get(stream)
        if binding is None:
            if not retire:
                return
            binding = self._tokens[stream] = Binding("", "", retired=True)
        binding.until = self._last
        binding.retired = binding.retired or retire
        if retire:
            self._members.pop(stream, None)
            self.forget(stream)

    # ---- RoomState --------------------------------------------------------------------

    def rooms_of(self, stream: str) -> dict[str, str]:
        return dict(self._members.get(stream, {}))

    def enter(self, stream: str, room: str, shown: str) -> None:
        self._members.setdefault(stream, {}).setdefault(room, shown)

    def part(self, stream: str, room: str) -> None:
        rooms = self._members.get(stream)
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self._members[stream]

    def part_all(self, stream: str) -> None:
        self._members.pop(stream, None)

    def topic(self, room: str) -> str:
        return self._topics.get(room, "")

    def set_topic(self, room: str, text: str) -> None:
        if text:
            self._topics[room] = text
        else:
            self._topics.pop(room, None)

    # ---- ReadState ----------------------------------------------------------------------

    def marks(self, reader: str) -> dict[str, int]:
        return dict(self._marks.get(reader, {}))

    def mark(self, reader: str, marks: Mapping[str, int]) -> None:
        held = self._marks.setdefault(reader, {})
        talks = self._talks.get(reader, {})
        for key, seq in marks.items():
            if seq > held.get(key, -1):
                held[key] = seq
            talk = talks.get(key[1:]) if key.startswith(c.PEER_PREFIX) else None
            if talk is not None and seq >= talk.last:
                talk.unread = 0

    def converse(self, reader: str, peer: str, name: str, seq: int, ts: float,
                 incoming: bool) -> None:
        talks = self._talks.setdefault(reader, {})
        talk = talks.get(peer)
        if talk is None:
            talk = talks[peer] = Conversation(peer, name, seq, ts)
        talk.name, talk.last, talk.ts = name, seq, ts
        talk.unread += incoming
        said = self._talked.setdefault((reader, peer), deque())
        events = self._events
        at = len(events) - 1 if events and events[-1].seq == seq else \
            bisect.bisect_left(events, seq, key=_SEQ)  # (the core's: the newest message)
        if at < len(events) and events[at].seq == seq and (not said or said[-1].seq < seq):
            said.append(events[at])

    def conversations(self, reader: str, limit: int) -> list[Conversation]:
        talks = self._talks.get(reader, {}).values()
        return [Conversation(t.peer, t.name, t.last, t.ts, t.unread)
                for t in heapq.nlargest(limit, talks, key=attrgetter("last"))]

    def forget(self, reader: str) -> None:
        self._marks.pop(reader, None)
        for peer in self._talks.pop(reader, {}):
            self._talked.pop((reader, peer), None)

    def talk(self, reader: str, peer: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        """See ReadState.talk: the range's ends found by bisection in the conversation's
        own list, as `page` does in a room's."""
        return _range(self._talked.get((reader, peer)), limit, before, after)

    # ---- ModerationState ------------------------------------------------------------

    def sanction(self, sanction: Sanction) -> None:
        self._sanctions[(sanction.target, sanction.room)] = sanction

    def lift(self, target: str, room: str) -> bool:
        return self._sanctions.pop((target, room), None) is not None

    def sanction_of(self, targets: Iterable[str], room: str, now: float) -> Sanction | None:
        for target in targets:
            held = self._sanctions.get((target, room))
            if held is not None and held.live(now):
                return held
        return None

    def sanctions(self, now: float, limit: int) -> list[Sanction]:
        live = [held for held in self._sanctions.values() if held.live(now)]
        return sorted(live, key=_ending)[:limit]

    def expire(self, now: float) -> None:
        for pair in [pair for pair, held in self._sanctions.items() if not held.live(now)]:
            del self._sanctions[pair]

    def rules(self) -> dict[str, tuple[int, bool]]:
        return dict(self._rules)

    def set_rules(self, room: str, slow: int, locked: bool) -> None:
        if slow or locked:
            self._rules[room] = (slow, locked)
        else:
            self._rules.pop(room, None)

    def close(self) -> None:
        pass


def _ending(sanction: Sanction) -> tuple[bool, float]:
    """Sanctions in the order they end: the soonest first, those until lifted last."""
    return (not sanction.until, sanction.until)


def _range(events: deque[StoredEvent] | None, limit: int, before: int | None,
           after: int | None) -> tuple[list[StoredEvent], bool]:
    """A page of one stream's list (in seq order), as HistoryStore.page reads it."""
    if limit <= 0 or not events:
        return [], False
    low = 0 if after is None else bisect.bisect_right(events, after, key=_SEQ)
    high = len(events) if before is None else bisect.bisect_left(events, before, key=_SEQ)
    if after is None:
        start, end = max(low, high - limit), high
        more = start > low
    else:
        start, end = low, min(high, low + limit)
        more = end < high
    if start >= end:
        return [], False
    return list(islice(_tail(events, start), end - start)), more


def _after(events: deque[StoredEvent], cursor: int) -> Iterable[StoredEvent]:
    """The events of one stream (in seq order) numbered after ``cursor``."""
    return _tail(events, bisect.bisect_right(events, cursor, key=_SEQ))


def _pop_oldest(streams: dict[str, deque[StoredEvent]], key: str) -> None:
    """Prune a stream's oldest event (the oldest of the history is the oldest of its
    streams), and the stream once it is empty."""
    stream = streams[key]
    stream.popleft()
    if not stream:
        del streams[key]
