"""Several brokers as one chat, over Redis: the history, ownership, rooms and backplane.

`RedisCluster` is the broker's HistoryStore, Ownership, RoomState and Backplane
when it runs with ``--cluster redis://...``: one object, one connection, passed
to the core for each, and closed once, by whoever made it (the CLI). The server
starts and stops its reader (`start`, `stop`), which lives on the server's
ZeroMQ context.

Sequence numbers, the public log, private streams, duplicate checks and who
holds which name live in Redis, changed by one Lua script (cluster_script.py)
so that each change is atomic for all brokers.

Only the broker's main thread calls it. Events come back to every broker
through `ClusterReader` (cluster_reader.py), a thread of its own that reads
the log, the room log and this broker's inbox and keeps its lease; `take()` hands what it
read to the main loop, woken through an inproc PAIR socket.

When Redis cannot be reached, every call raises LinkDown (reads fall back to
what is known), and the core serves this broker's users alone until
`heal` succeeds. The log and the rooms' streams trim themselves (XTRIM in the
script: the log to about --retain entries, each room's stream to its events
numbered within the last --retain) and numbering is the script's, so this store
has no `append` or `prune` (LocalStore's).

Rooms (docs/ROOMS.md) are cluster-wide: each room other than the default one is
a stream of its own (`r:<room>`, head `rh:<room>`), numbered by the same script
and carried to every broker on the room log (`rlog`); it is the RoomState too
(memberships per session stream, kept and ended with the token binding; topics),
and as the Backplane it says who is in which room now, on any broker.
"""

import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import redis
import zmq
from redis.backoff import NoBackoff
from redis.retry import Retry

from zchat.protocol import constants as c
from zchat.protocol import name_key

from .backplane import DOWN, EVENT, UP
from .cluster_reader import ClusterReader
from .cluster_script import (
    CID_TTL,
    INBOX_RETAIN,
    LOG_RETAIN,
    PREFIX,
    PRIV_RETAIN,
    PRIV_TTL,
    RESEED_GAP,
    ROOM_TOPIC,
    SCRIPT,
    SEQ_END,
    Entry,
    batch_args,
    entry_event,
)
from .roster import Session
from .store import (
    IN_USE,
    PARTED_DEFAULT,
    PUBLIC,
    Conversation,
    LinkDown,
    Sanction,
    StoredEvent,
    StoreError,
)

log = logging.getLogger(__name__)

#: A Redis call from the main loop waits at most this long (seconds): the loop
#: must not stall for long when Redis hangs.
CALL_TIMEOUT = 0.5
#: A broker not heard from for this many heartbeat intervals is dead to the others.
#: More than a client's liveness (3): its clients move to another broker first,
#: and their sessions move silently instead of leaving and joining again.
LEASE_INTERVALS = 5
#: Events numbered per script call (a long call would hold Redis up for everyone).
BATCH = 200



def connect(url: str, timeout: float) -> redis.Redis:
    """A client that fails fast instead of retrying: the broker decides what a
    failure means (serve local users, reconnect with backoff)."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0), health_check_interval=0)


def shown_url(url: str) -> str:
    """The Redis URL as it may be logged: without its password."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return url
    return url if password is None else url.replace(f":{password}@", ":***@", 1)


class RedisCluster:
    """HistoryStore, Ownership, RoomState, ReadState and Backplane on a Redis server
    shared by the brokers."""

    shared = True

    def __init__(self, url: str, heartbeat: float, retain: int = LOG_RETAIN,
                 prefix: str = PREFIX) -> None:
        """Connect (or raise StoreError); the reader starts with `start`."""
        self.url = url
        self.p = prefix
        self.retain = retain
        self.heartbeat = heartbeat
        #: This run of this broker, as the cluster knows it (no tabs: a field separator).
        self.me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.up = False
        self.reader_up = True
        self._heads: dict[str, int] = {}
        self._last = 0
        self.reader: ClusterReader | None = None
        self.wake: zmq.Socket[bytes] | None = None
        try:
            self.r = connect(url, CALL_TIMEOUT)
            self.lua = self.r.register_script(SCRIPT)
            self.epoch = self._reseed(secrets.token_hex(8))
            self._lease()
            last = cast("list[Entry]", self.r.xrevrange(self.p + "log", count=1))
            self._start_id = last[0][0] if last else b"0-0"
            last = cast("list[Entry]", self.r.xrevrange(self.p + "rlog", count=1))
            self._room_start_id = last[0][0] if last else b"0-0"
            self._last = int(self.r.get(self.p + "seq") or 0)
        except redis.RedisError as exc:
            raise StoreError(f"cannot use the cluster at {shown_url(url)}: {exc}") from None
        self.up = True

    # ---- plumbing ------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One Redis operation; any failure takes the link down (LinkDown). (Replies
        are bytes, or lists and dicts of them: typed where they are read.)"""
        if not self.up:
            raise LinkDown
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("cluster link down: %s", exc)
        except redis.RedisError:
            log.exception("cluster operation failed")
        self.up = False
        raise LinkDown

    def _op(self, *args: object) -> Any:
        return self._call(self.lua, args=[args[0], self.p, *args[1:]])

    def _reseed(self, epoch: str) -> str:
        head = self._heads.get(PUBLIC, 0)
        got = self.lua(args=["reseed", self.p, epoch, self._last, head, RESEED_GAP])
        return got.decode() if isinstance(got, bytes) else str(got)

    def _lease(self) -> None:
        self.lua(args=["lease", self.p, self.me, int(self.lease_ms)])

    @property
    def lease_ms(self) -> float:
        """A broker silent for this long is dead to the others."""
        return self.heartbeat * LEASE_INTERVALS * 1000

    def start(self, ctx: zmq.Context[Any]) -> zmq.Socket[bytes]:
        """Start the reader thread; returns the socket that wakes the main loop."""
        endpoint = f"inproc://zchat-cluster-{id(self)}"
        self.wake = ctx.socket(zmq.PAIR)
        self.wake.bind(endpoint)
        self.reader = ClusterReader(self.url, self.p, self.me, self.heartbeat, self.lease_ms,
                                    self._start_id, ctx, endpoint, self.retain,
                                    self._room_start_id)
        self.reader.start()
        return self.wake

    def take(self) -> list[tuple[str, StoredEvent | None, str]]:
        """What the reader has read: (EVENT, event, reader key) and link news (DOWN, UP,
        RESYNC). The link flags are updated here, on the main thread."""
        assert self.wake is not None and self.reader is not None
        while True:
            try:
                self.wake.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        items = self.reader.take()
        for kind, event, _ in items:
            if kind == EVENT:
                assert event is not None
                if event.seq:  # (not a topic change)
                    self._seen(event)
            elif kind == DOWN:
                self.reader_up = self.up = False
            elif kind == UP:
                self.reader_up = True
        return items

    def _seen(self, event: StoredEvent) -> None:
        if event.seq > self._last:
            self._last = event.seq
        for key in event.keys():
            if event.seq > self._heads.get(key, 0):
                self._heads[key] = event.seq

    # ---- HistoryStore ------------------------------------------------------------

    def last_seq(self) -> int:
        try:
            self._last = max(self._last, int(self._call(self.r.get, self.p + "seq") or 0))
        except LinkDown:
            pass
        return self._last

    def head(self, key: str) -> int:
        """The stream's head in Redis; what this broker last knew when it is unreachable."""
        name = self.p + ("head" if key == PUBLIC else
                         ("rh:" if key.startswith(c.ROOM_PREFIX) else "ph:") + key)
        try:
            self._heads[key] = int(self._call(self.r.get, name) or 0)
        except LinkDown:
            pass
        return self._heads.get(key, 0)

    def add(self, event: StoredEvent) -> StoredEvent:
        """Number, link and log ``event`` in one atomic step for the whole cluster."""
        self.add_many([event])
        return event

    def add_many(self, events: list[StoredEvent]) -> None:
        """Number, link and log ``events`` in order: one script call per BATCH, each
        atomic, so the log's order is the numbering's. (Sets seq, prev, prev_to.)"""
        for start in range(0, len(events), BATCH):
            chunk = events[start:start + BATCH]
            senders = [name_key(e.name) if e.kind == c.PRIV else "" for e in chunk]
            targets = [name_key(e.to) if e.kind == c.PRIV else "" for e in chunk]
            got = self._op("batch", self.retain, PRIV_RETAIN, PRIV_TTL, INBOX_RETAIN, CID_TTL,
                           batch_args(chunk, senders, targets))
            for i, event in enumerate(chunk):
                event.seq, event.prev, event.prev_to = (int(got[3 * i]), int(got[3 * i + 1]),
                                                        int(got[3 * i + 2]))
                self._seen(event)

    def commit(self) -> None:
        """Nothing to do: each add() is already in Redis (durable as Redis is configured)."""

    def find(self, origin: str, cid: int) -> StoredEvent | None:
        try:
            raw: bytes | None = self._call(self.r.hget, self.p + "c:" + origin, str(cid))
        except LinkDown:
            return None  # cannot tell: the message is taken as new
        if not raw:
            return None
        seq, prev, kind = raw.decode().split(" ")
        return StoredEvent(int(seq), kind, 0.0, "", prev=int(prev), origin=origin, cid=cid)

    def since(self, pub: int, priv: int, reader_key: str, limit: int, *,
              rooms: Mapping[str, int] | None = None) -> list[StoredEvent]:
        """Public events after ``pub``, the reader's private ones after ``priv`` and
        each room's in ``rooms`` after its cursor, in seq order, at most ``limit``."""
        try:
            pipe = self.r.pipeline(transaction=False)
            pipe.xrange(self.p + "log", f"{pub + 1}-0", "+", count=limit)
            pipe.xrange(self.p + "p:" + reader_key, f"{priv + 1}-0", "+", count=limit)
            for room, cursor in (rooms or {}).items():
                pipe.xrange(self.p + "r:" + room, f"{cursor + 1}-0", "+", count=limit)
            streams: list[list[Entry]] = self._call(pipe.execute)
        except LinkDown:
            return []  # asked again after the link is back (the heads in PING say so)
        events = [entry_event(i, f) for entries in streams for i, f in entries]
        events.sort(key=lambda e: e.seq)
        return events[:limit]

    def recent_public(self, count: int, upto: int | None = None) -> list[StoredEvent]:
        """The newest ``count`` messages among the last 4 x ``count`` log entries
        numbered at most ``upto``. Bounded by a head read earlier, it is the log as it
        was then: the script logs an event and moves the head in one step, so every
        entry up to that head was there, and what came since is above it."""
        if upto is not None and upto <= 0:
            return []
        high = "+" if upto is None else f"{upto}-0"
        try:
            entries: list[Entry] = self._call(self.r.xrevrange, self.p + "log", high, "-",
                                              count=count * 4)
        except LinkDown:
            return []
        events = [e for e in (entry_event(i, f) for i, f in entries) if e.kind == c.MSG]
        return events[:count][::-1]

    def recent_room(self, room: str, count: int, upto: int | None = None
                    ) -> list[StoredEvent]:
        """The newest ``count`` messages of ``room`` numbered at most ``upto``, oldest
        first: read back from the room's stream a page at a time, past its joins and
        leaves (the stream holds only events numbered within about the last --retain)."""
        if count <= 0 or (upto is not None and upto <= 0):
            return []
        high = "+" if upto is None else f"{upto}-0"
        found: list[StoredEvent] = []
        page = max(4 * count, 100)
        try:
            while len(found) < count:
                entries: list[Entry] = self._call(self.r.xrevrange, self.p + "r:" + room,
                                                  high, "-", count=page)
                found += [e for e in (entry_event(i, f) for i, f in entries)
                          if e.kind == c.MSG]
                if len(entries) < page:
                    break
                high = "(" + entries[-1][0].decode()
        except LinkDown:
            return []
        return found[:count][::-1]

    def page(self, stream: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        """See HistoryStore.page: one XRANGE (forwards) or XREVRANGE of the stream, one
        entry past the page (whether it came is whether there is more). No entry needs
        filtering: the log holds the default room's events alone (the script's `publish`;
        private ones go to p: streams, other rooms' to their r: streams), and a room's
        stream that room's alone; trimmed entries are gone from both."""
        low = 0 if after is None else max(0, min(after, IN_USE))
        high = IN_USE if before is None else max(0, min(before, IN_USE))
        if limit <= 0 or high - low <= 1:  # (no number between: no exclusive range either)
            return [], False
        key = self.p + ("log" if stream == PUBLIC else "r:" + stream)
        start, end = f"({low}-0", f"({high}-0"
        try:
            if after is None:
                entries: list[Entry] = self._call(self.r.xrevrange, key, end, start,
                                                  count=limit + 1)
            else:
                entries = self._call(self.r.xrange, key, start, end, count=limit + 1)
        except LinkDown:
            return [], False
        events = [entry_event(i, f) for i, f in entries[:limit]]
        return (events[::-1] if after is None else events), len(entries) > limit

    def stream_after(self, stream: str, after: int, upto: int, count: int
                     ) -> list[StoredEvent]:
        """The events of one stream numbered above ``after`` and at most ``upto``, oldest
        first, at most ``count`` (one XRANGE): ``stream`` is PUBLIC (the log), a room's
        key (its stream) or a session's private stream key. What the search index is
        built from (cluster_index.py). Raises LinkDown."""
        low, high = max(0, after), max(0, min(upto, IN_USE))
        if count <= 0 or high <= low:
            return []
        key = self.p + ("log" if stream == PUBLIC else
                        ("r:" if stream.startswith(c.ROOM_PREFIX) else "p:") + stream)
        entries: list[Entry] = self._call(self.r.xrange, key, f"{low + 1}-0", f"{high}-0",
                                          count=count)
        return [entry_event(i, f) for i, f in entries]

    def rooms_after(self, first: int, upto: int, count: int) -> list[tuple[str, int]]:
        """Rooms with a stream whose oldest event is numbered above ``first`` and at most
        ``upto``, with that number, by it, at most ``count`` (`rfirst`, whose scores are
        unique: each an event of its own room's). Raises LinkDown."""
        if count <= 0 or upto <= first:
            return []
        found: list[tuple[bytes, float]] = self._call(
            self.r.zrangebyscore, self.p + "rfirst", f"({first}", upto, start=0, num=count,
            withscores=True)
        return [(room.decode(), int(score)) for room, score in found]

    def pruned_upto(self) -> int:
        """The highest number trimmed from the log or any room's stream (0: none).
        (Not the private streams: they are bounded by count and time, not --retain.)"""
        try:
            return int(self._call(self.r.get, self.p + "pruned") or 0)
        except LinkDown:
            return 0

    def pruned_events(self, low: int, high: int) -> int:
        """A bound: the events trimmed from the log and the rooms' streams in all, and at
        most the numbers in between (Redis keeps no count per range)."""
        try:
            trimmed = int(self._call(self.r.get, self.p + "pruned_n") or 0)
        except LinkDown:
            trimmed = high - low
        return max(0, min(trimmed, high - low))

    # ---- Ownership -------------------------------------------------------------------

    def owner(self, name_key: str) -> str | None:
        raw: bytes | None = self._call(self.r.hget, self.p + "owners", name_key)
        return raw.decode() if raw else None

    def claim(self, name_key: str, key: str) -> None:
        """The first CURVE key to take a name owns it, cluster-wide."""
        try:
            self._call(self.r.hsetnx, self.p + "owners", name_key, key)
        except LinkDown:
            pass  # the next join under this key claims it

    def bind(self, stream: str, name_key: str, user: str) -> bool:
        """Whether this JOIN may use the token of ``stream``, cluster-wide (Ownership).
        While its name is held (`hold`) the binding lasts; TOKEN_TTL after that."""
        return bool(self._op("bind", stream, name_key, user))

    def unbind(self, stream: str, retire: bool) -> None:
        """`release` (or a sweep) already set the binding to expire; a LEAVE retires it."""
        if retire:
            self._op("retire", stream)

    # ---- RoomState: memberships (kept with the token binding) and topics -----------
    # (With the link down each raises LinkDown: the core refuses the room command.)

    def rooms_of(self, stream: str) -> dict[str, str]:
        raw: dict[bytes, bytes] = self._call(self.r.hgetall, self.p + "rm:" + stream)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def enter(self, stream: str, room: str, shown: str) -> None:
        """A membership; the session is in the room now, for every broker, if its
        name is held."""
        self._call(self.lua, args=["enter", self.p, stream, room, shown])

    def part(self, stream: str, room: str) -> None:
        self._call(self.lua, args=["part", self.p, stream, room])

    def part_all(self, stream: str) -> None:
        self._call(self.lua, args=["part", self.p, stream, ""])

    def topic(self, room: str) -> str:
        raw: bytes | None = self._call(self.r.hget, self.p + "topics", room)
        return raw.decode() if raw else ""

    def set_topic(self, room: str, text: str) -> None:
        if text:
            self._call(self.r.hset, self.p + "topics", room, text)
        else:
            self._call(self.r.hdel, self.p + "topics", room)

    # ---- ReadState: marks and conversations, per reader (a CURVE key or a session) ----
    # (The script's `mark`, `converse`, `conversations` and `talk`; a session's state
    # lasts as its token binding does, a key's as long as it is used, conversations and
    # their pages while their messages are numbered within the last --retain.)

    def marks(self, reader: str) -> dict[str, int]:
        raw: dict[bytes, bytes] = self._call(self.r.hgetall, self.p + "mk:" + reader)
        return {k.decode(): int(v) for k, v in raw.items()}

    def mark(self, reader: str, marks: Mapping[str, int]) -> None:
        """Raise the marks, atomically: a lower number changes nothing."""
        if marks:
            self._op("mark", reader, *(x for key, seq in marks.items()
                                       for x in (key, max(0, min(seq, c.MAX_SEQ)))))

    def converse(self, reader: str, peer: str, name: str, seq: int, ts: float,
                 incoming: bool) -> None:
        """Record message ``seq`` in the reader's conversation with ``peer``, once."""
        self._op("converse", reader, peer, name, seq, repr(ts), int(incoming), self.retain)

    def conversations(self, reader: str, limit: int) -> list[Conversation]:
        flat: list[bytes] = self._op("conversations", reader, limit, self.retain)
        talks = []
        for i in range(0, len(flat), 3):
            unread, ts, name = flat[i + 2].decode().split("\t", 2)
            talks.append(Conversation(flat[i].decode(), name, int(float(flat[i + 1])),
                                      float(ts), int(unread)))
        return talks

    def talk(self, reader: str, peer: str, limit: int, *, before: int | None = None,
             after: int | None = None) -> tuple[list[StoredEvent], bool]:
        """See ReadState.talk: one range of the reader's talk index (`tl:<reader>`), each
        message then by its number from the private messages' log (`dlog`)."""
        if limit <= 0:
            return [], False
        low = 0 if after is None else max(0, min(after, SEQ_END))
        high = SEQ_END if before is None else max(0, min(before, SEQ_END))
        got: list[Any] = self._op("talk", reader, peer, limit, low, high,
                                  int(after is not None), self.retain)
        events = [entry_event(entry_id, dict(zip(fields[::2], fields[1::2], strict=True)))
                  for entry_id, fields in got[1:]]
        return (events if after is not None else events[::-1]), bool(got[0])

    def forget(self, reader: str) -> None:
        self._call(self.r.delete, *(self.p + kind + reader for kind in ("mk:", "cv:", "ci:",
                                                                      "tl:")))

    def stop(self) -> None:
        """Stop the reader and close its wake-up socket (`start`'s undoing, by the
        server, before it ends the context); nothing if it never started."""
        if self.reader is not None:
            self.reader.stop()
            self.reader = None
        if self.wake is not None:
            self.wake.close(0)
            self.wake = None

    def close(self) -> None:
        """Let go of Redis, by the one who made this object (the reader too, if the
        server did not stop it)."""
        self.stop()
        self.r.close()

    # ---- Backplane ------------------------------------------------------------------

    def hold(self, name: str, stream: str, user: str) -> str:
        """Take ``name`` cluster-wide for the session ``stream`` (CLAIMED, RESUMED, TAKEN)."""
        status = self._op("hold", name_key(name), self.me, stream, user, name)
        return status.decode() if isinstance(status, bytes) else str(status)

    def release(self, name: str, stream: str) -> bool:
        """Give up ``name``; False if another broker holds it now (the user moved)."""
        return bool(self._op("release", name_key(name), self.me, stream))

    def locate(self, name: str) -> tuple[str, str] | None:
        raw: bytes | None = self._call(self.r.hget, self.p + "names", name_key(name))
        if not raw:
            return None
        _, stream, _, shown = raw.decode().split("\t", 3)
        return shown, stream

    def _holders(self) -> list[str]:
        values: list[bytes] = self._call(self.r.hvals, self.p + "names")
        return [v.decode().split("\t", 3)[3] for v in values]

    def names(self) -> list[str]:
        return sorted(self._holders(), key=name_key)

    def some_names(self, count: int, but: str) -> list[str]:
        found: dict[bytes, bytes]
        _, found = self._call(self.r.hscan, self.p + "names", 0, count=count + 1)
        names = [v.decode().split("\t", 3)[3] for v in found.values()]
        return sorted((n for n in names if name_key(n) != name_key(but)), key=name_key)[:count]

    def count(self) -> int:
        return int(self._call(self.r.hlen, self.p + "names"))

    def members(self, room: str) -> list[str]:
        """Who is in ``room`` now, on any broker (PARTED_DEFAULT: who parted the default
        room), sorted."""
        values: list[bytes] = self._call(self.r.hvals, self.p + "ro:" + room)
        return sorted((v.decode() for v in values), key=name_key)

    def rooms(self) -> dict[str, int]:
        """Every room someone is in now, on any broker, and how many are."""
        flat: list[bytes | int] = self._op("rooms")
        return {cast("bytes", flat[i]).decode(): int(flat[i + 1])
                for i in range(0, len(flat), 2)}

    def share_topic(self, room: str, text: str, by: str) -> None:
        """Put a topic change on the room log: every broker shows it to its members of
        ``room`` when its reader brings it."""
        self._call(self.r.xadd, self.p + "rlog",
                   {"s": 0, "k": ROOM_TOPIC, "n": by, "x": text, "rm": room},
                   maxlen=self.retain, approximate=True)

    def share_moderation(self, told: str, room: str, by: str) -> None:
        """Put what an operator did on the room log: every broker applies it (its
        in-memory mirrors, its users concerned) when its reader brings it."""
        self._call(self.r.xadd, self.p + "rlog",
                   {"s": 0, "k": c.MOD, "n": by, "x": told, "rm": room},
                   maxlen=self.retain, approximate=True)

    # ---- ModerationState: bans, mutes and rooms' rules, shared by every broker -------

    def sanction(self, sanction: Sanction) -> None:
        self._call(self.r.hset, self.p + "mod:s", f"{sanction.target}|{sanction.room}",
                   json.dumps([sanction.until, sanction.by, sanction.reason, sanction.name]))

    def lift(self, target: str, room: str) -> bool:
        return bool(self._call(self.r.hdel, self.p + "mod:s", f"{target}|{room}"))

    def sanction_of(self, targets: Iterable[str], room: str, now: float) -> Sanction | None:
        keys = [f"{target}|{room}" for target in targets]
        for key, raw in zip(keys, self._call(self.r.hmget, self.p + "mod:s", keys), strict=True):
            if raw:
                held = _sanction(key, raw)
                if held.live(now):
                    return held
        return None

    def sanctions(self, now: float, limit: int) -> list[Sanction]:
        raw: dict[bytes, bytes] = self._call(self.r.hgetall, self.p + "mod:s")
        held = [_sanction(key.decode(), value) for key, value in raw.items()]
        live = [s for s in held if s.live(now)]
        return sorted(live, key=lambda s: (not s.until, s.until))[:limit]

    def expire(self, now: float) -> None:
        raw: dict[bytes, bytes] = self._call(self.r.hgetall, self.p + "mod:s")
        ended = [key for key, value in raw.items() if not _sanction(key.decode(), value).live(now)]
        if ended:
            self._call(self.r.hdel, self.p + "mod:s", *ended)

    def rules(self) -> dict[str, tuple[int, bool]]:
        raw: dict[bytes, bytes] = self._call(self.r.hgetall, self.p + "mod:r")
        rules = {}
        for room, value in raw.items():
            slow, locked = json.loads(value)
            rules[room.decode()] = (int(slow), bool(locked))
        return rules

    def set_rules(self, room: str, slow: int, locked: bool) -> None:
        if slow or locked:
            self._call(self.r.hset, self.p + "mod:r", room, json.dumps([slow, locked]))
        else:
            self._call(self.r.hdel, self.p + "mod:r", room)

    def heal(self, sessions: list[Session], left: dict[str, tuple[str, str, str]]
             ) -> tuple[list[Session], list[Session], list[tuple[str, str]]]:
        """Hand the cluster this broker's users again, once Redis answers.

        Returns the sessions whose names had lapsed (to announce as joined),
        those whose names someone else took meanwhile (to end), and the
        (name, reason) of users who left while the link was down."""
        if not self.reader_up:
            raise LinkDown  # events would not come back: stay on this broker's own
        try:
            self.epoch = self._reseed(self.epoch)
            self._lease()
            pipe = self.r.pipeline(transaction=False)
            for s in sessions:
                self.lua(args=["hold", self.p, s.key, self.me, s.stream, s.user, s.name],
                         client=pipe)
            gone = list(left.values())
            for name, stream, _ in gone:
                self.lua(args=["release", self.p, name_key(name), self.me, stream], client=pipe)
            for _, stream, reason in gone:
                if reason == c.R_QUIT:  # (its LEAVE came during the outage)
                    self.lua(args=["retire", self.p, stream], client=pipe)
            for s in sessions:  # (their rooms again, in case Redis lost them: no change if not)
                for room in sorted(s.rooms) + ([] if s.in_default else [PARTED_DEFAULT]):
                    shown = "" if room == PARTED_DEFAULT else room
                    self.lua(args=["enter", self.p, s.stream, room, shown], client=pipe)
            results = pipe.execute()
        except redis.RedisError as exc:
            log.warning("cluster link still down: %s", exc)
            raise LinkDown from None
        self.up = True
        held = results[:len(sessions)]
        claimed = [s for s, r in zip(sessions, held, strict=True) if r == b"claimed"]
        taken = [s for s, r in zip(sessions, held, strict=True) if r == b"taken"]
        released = [(name, reason) for (name, _, reason), r
                    in zip(gone, results[len(sessions):len(sessions) + len(gone)], strict=True)
                    if r]
        return claimed, taken, released



def _sanction(key: str, raw: bytes) -> Sanction:
    """A sanction as the cluster keeps it ("target|room" -> [until, by, reason, name])."""
    target, _, room = key.rpartition("|")
    until, by, reason, name = json.loads(raw)
    return Sanction(target, room, float(until), str(by), str(reason), str(name))
