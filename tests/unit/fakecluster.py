"""A stand-in for RedisCluster in memory, for the core's cluster unit tests.

`FakeRedis` is what the redis-server holds (the numbered history, the token
bindings and the read state in a MemoryStore, the names and their holders, the
shared log, each broker's inbox); each `FakeCluster` on it is one broker's view, as
a RedisCluster is. Its `hold`, `release` and `heal` follow the Lua script
(broker/cluster_script.py) step by step, and it passes the same contract suites as
RedisCluster (test_backplane_contract.py, test_history_contract.py,
test_ownership_contract.py, test_rooms_contract.py, test_read_contract.py), so the
core's tests run against the behaviour production has. Who is in a room now is
worked out from the memberships and the held names (the script keeps an index of
it). A private message goes to the inbox of the broker holding each of its two
readers, as `batch` puts it, not to the log. What it leaves out: expiry (TOKEN_TTL,
PRIV_TTL), leases and sweeps, the reader thread (the tests hand the core what
`unread` and `inbox` return), and the script's refusal to record one message twice
in a conversation (the core's tests count on seeing it if the core did).
"""

from collections.abc import Iterable, Mapping

from zchat.broker.backplane import CLAIMED, RESUMED, TAKEN
from zchat.broker.roster import Session
from zchat.broker.store import (
    PARTED_DEFAULT,
    PUBLIC,
    Conversation,
    LinkDown,
    MemoryStore,
    Sanction,
    StoredEvent,
)
from zchat.protocol import constants as c
from zchat.protocol import name_key
from zchat.protocol.constants import DEFAULT_RETAIN


class FakeRedis:
    """The cluster's shared state. ``reachable`` False: as if the server were down."""

    def __init__(self, retain: int = DEFAULT_RETAIN) -> None:
        self.history = MemoryStore(retain)
        #: name key -> (broker, stream, user, name as shown): the script's `names` hash.
        self.names: dict[str, tuple[str, str, str, str]] = {}
        self.log: list[StoredEvent] = []
        #: broker -> what its inbox holds: (a private message, the reader's stream).
        self.inboxes: dict[str, list[tuple[StoredEvent, str]]] = {}
        self.reachable = True


class FakeCluster:
    """One broker's HistoryStore, Ownership, RoomState, ReadState and Backplane on a
    FakeRedis."""

    shared = True

    def __init__(self, redis: FakeRedis | None = None, me: str = "broker-1") -> None:
        self.redis = redis if redis is not None else FakeRedis()
        self.me = me
        self.up = True
        self.epoch = self.redis.history.epoch
        self._read = 0
        #: Every stream_after and rooms_after call: (stream or "rooms", after, upto, count).
        self.reads: list[tuple[str, int, int, int]] = []

    def _call(self) -> MemoryStore:
        """The shared state, for one operation; LinkDown (and `up` False until `heal`)
        when the server cannot be reached or an earlier call failed."""
        if not self.up or not self.redis.reachable:
            self.up = False
            raise LinkDown
        return self.redis.history

    def unread(self) -> list[StoredEvent]:
        """What this broker's log reader would bring next."""
        events = self.redis.log[self._read:]
        self._read = len(self.redis.log)
        return events

    def inbox(self) -> list[tuple[StoredEvent, str]]:
        """What this broker's inbox holds, taken: (a private message, the stream of the
        reader whose session this broker held when it was numbered)."""
        return self.redis.inboxes.pop(self.me, [])

    # ---- HistoryStore: reads answer from the shared history (never LinkDown) ----------

    def last_seq(self) -> int:
        return self.redis.history.last_seq()

    def head(self, key: str) -> int:
        return self.redis.history.head(key)

    def add(self, event: StoredEvent) -> StoredEvent:
        self.add_many([event])
        return event

    def add_many(self, events: list[StoredEvent]) -> None:
        history = self._call()
        for event in events:
            history.add(event)
        history.commit()  # (the log trims itself as it grows)
        self.redis.log += [event for event in events if event.kind != c.PRIV]
        for event in events:  # (the script's `tell`)
            if event.kind != c.PRIV:
                continue
            readers = [(name_key(event.to), event.to_key)]
            if event.to_key != event.origin:
                readers.append((name_key(event.name), event.origin))
            for key, stream in readers:
                held = self.redis.names.get(key)
                if held is not None and held[1] == stream:
                    self.redis.inboxes.setdefault(held[0], []).append((event, stream))

    def commit(self) -> None:
        """Each add is in the shared store already."""

    def find(self, origin: str, cid: int) -> StoredEvent | None:
        return self.redis.history.find(origin, cid)

    def since(self, pub: int, priv: int, reader_key: str, limit: int, *,
              rooms: Mapping[str, int] | None = None) -> list[StoredEvent]:
        return self.redis.history.since(pub, priv, reader_key, limit, rooms=rooms)

    def recent_public(self, count: int, upto: int | None = None) -> list[StoredEvent]:
        return self.redis.history.recent_public(count, upto)

    def recent_room(self, room: str, count: int, upto: int | None = None
                    ) -> list[StoredEvent]:
        return self.redis.history.recent_room(room, count, upto)

    def page(self, stream: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        return self.redis.history.page(stream, limit, before=before, after=after)

    def pruned_upto(self) -> int:
        return self.redis.history.pruned_upto()

    # ---- what a cluster's search index is built from (cluster_index.py) ----------------

    @property
    def retain(self) -> int:
        return self.redis.history._retain

    def stream_after(self, stream: str, after: int, upto: int, count: int
                     ) -> list[StoredEvent]:
        """As RedisCluster's (the log, a room's stream, a private stream): one read."""
        history = self._call()
        if stream == PUBLIC:
            events = history._public
        elif stream.startswith(c.ROOM_PREFIX):
            events = history._rooms.get(stream, ())
        else:
            events = history._private.get(stream, ())
        self.reads.append((stream, after, upto, count))
        return [e for e in events if after < e.seq <= upto][:max(0, count)]

    def rooms_after(self, first: int, upto: int, count: int) -> list[tuple[str, int]]:
        history = self._call()
        self.reads.append(("rooms", first, upto, count))
        firsts = sorted((events[0].seq, room) for room, events in history._rooms.items()
                        if events)
        return [(room, seq) for seq, room in firsts if first < seq <= upto][:max(0, count)]

    def pruned_events(self, low: int, high: int) -> int:
        return self.redis.history.pruned_events(low, high)

    def close(self) -> None:
        pass

    # ---- Ownership --------------------------------------------------------------------

    def owner(self, name_key: str) -> str | None:
        return self._call().owner(name_key)

    def claim(self, name_key: str, key: str) -> None:
        try:
            self._call().claim(name_key, key)
        except LinkDown:
            pass  # the next join under this key claims it

    def bind(self, stream: str, name_key: str, user: str) -> bool:
        return self._call().bind(stream, name_key, user)

    def unbind(self, stream: str, retire: bool) -> None:
        # As in Redis: only a LEAVE needs the cluster (release starts the binding's expiry).
        history = self._call() if retire else self.redis.history
        history.unbind(stream, retire)

    # ---- RoomState ---------------------------------------------------------------------

    def rooms_of(self, stream: str) -> dict[str, str]:
        return self._call().rooms_of(stream)

    def enter(self, stream: str, room: str, shown: str) -> None:
        self._call().enter(stream, room, shown)

    def part(self, stream: str, room: str) -> None:
        self._call().part(stream, room)

    def part_all(self, stream: str) -> None:
        self._call().part_all(stream)

    def topic(self, room: str) -> str:
        return self._call().topic(room)

    def set_topic(self, room: str, text: str) -> None:
        self._call().set_topic(room, text)

    # ---- ReadState -----------------------------------------------------------------------

    def marks(self, reader: str) -> dict[str, int]:
        return self._call().marks(reader)

    def mark(self, reader: str, marks: Mapping[str, int]) -> None:
        self._call().mark(reader, marks)

    def converse(self, reader: str, peer: str, name: str, seq: int, ts: float,
                 incoming: bool) -> None:
        self._call().converse(reader, peer, name, seq, ts, incoming)

    def conversations(self, reader: str, limit: int) -> list[Conversation]:
        return self._call().conversations(reader, limit)

    def talk(self, reader: str, peer: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        return self._call().talk(reader, peer, limit, before=before, after=after)

    def forget(self, reader: str) -> None:
        self._call().forget(reader)

    # ---- Backplane: the script's hold and release --------------------------------------

    def _hold(self, key: str, stream: str, user: str, name: str) -> str:
        held = self.redis.names.get(key)
        status = CLAIMED
        if held is not None:
            if held[1] != stream or held[2] != user:
                return TAKEN
            status = RESUMED
        self.redis.names[key] = (self.me, stream, user, name)
        return status

    def _release(self, key: str, stream: str) -> bool:
        held = self.redis.names.get(key)
        if held is not None and held[0] == self.me and held[1] == stream:
            del self.redis.names[key]
            return True
        return False

    def hold(self, name: str, stream: str, user: str) -> str:
        self._call()
        return self._hold(name_key(name), stream, user, name)

    def release(self, name: str, stream: str) -> bool:
        self._call()
        return self._release(name_key(name), stream)

    def locate(self, name: str) -> tuple[str, str] | None:
        self._call()
        held = self.redis.names.get(name_key(name))
        return (held[3], held[1]) if held is not None else None

    def names(self) -> list[str]:
        self._call()
        return sorted((held[3] for held in self.redis.names.values()), key=name_key)

    def some_names(self, count: int, but: str) -> list[str]:
        return [n for n in self.names() if name_key(n) != name_key(but)][:count]

    def count(self) -> int:
        self._call()
        return len(self.redis.names)

    def _inside(self) -> list[tuple[str, dict[str, str]]]:
        """(name as shown, rooms) of every session whose name is held."""
        history = self._call()
        return [(held[3], history.rooms_of(held[1])) for held in self.redis.names.values()]

    def members(self, room: str) -> list[str]:
        return sorted((name for name, rooms in self._inside() if room in rooms), key=name_key)

    def rooms(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, rooms in self._inside():
            for room in rooms:
                if room != PARTED_DEFAULT:
                    counts[room] = counts.get(room, 0) + 1
        return counts

    def share_topic(self, room: str, text: str, by: str) -> None:
        self._call()
        self.redis.log.append(StoredEvent(0, c.TOPIC, 0.0, by, text, room=room))

    def share_moderation(self, told: str, room: str, by: str) -> None:
        self._call()
        self.redis.log.append(StoredEvent(0, c.MOD, 0.0, by, told, room=room))

    # ---- ModerationState: the shared MemoryStore's ------------------------------------

    def sanction(self, sanction: Sanction) -> None:
        self._call().sanction(sanction)

    def lift(self, target: str, room: str) -> bool:
        return self._call().lift(target, room)

    def sanction_of(self, targets: Iterable[str], room: str, now: float) -> Sanction | None:
        return self._call().sanction_of(targets, room, now)

    def sanctions(self, now: float, limit: int) -> list[Sanction]:
        return self._call().sanctions(now, limit)

    def expire(self, now: float) -> None:
        self._call().expire(now)

    def rules(self) -> dict[str, tuple[int, bool]]:
        return self._call().rules()

    def set_rules(self, room: str, slow: int, locked: bool) -> None:
        self._call().set_rules(room, slow, locked)

    def heal(self, sessions: list[Session], left: dict[str, tuple[str, str, str]]
             ) -> tuple[list[Session], list[Session], list[tuple[str, str]]]:
        if not self.redis.reachable:
            raise LinkDown
        held = [self._hold(s.key, s.stream, s.user, s.name) for s in sessions]
        gone = list(left.values())
        released = [(name, reason) for name, stream, reason in gone
                    if self._release(name_key(name), stream)]
        for _, stream, reason in gone:
            if reason == c.R_QUIT:  # (its LEAVE came during the outage)
                self.redis.history.unbind(stream, retire=True)
        self.up = True
        claimed = [s for s, r in zip(sessions, held, strict=True) if r == CLAIMED]
        taken = [s for s, r in zip(sessions, held, strict=True) if r == TAKEN]
        return claimed, taken, released
