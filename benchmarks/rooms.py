"""The rooms benchmark (issue 16): R rooms of 10 members, one sender in each, side by side.

    python benchmarks/rooms.py --quick                     # seconds: R=1,10, zchat only
    python benchmarks/rooms.py --r 1,100,1000 --reps 2     # relay, zchat, zchat-pub, ngircd

Each measurement starts the system afresh (systems.py: a free loopback port,
stopped by PID), then connects R*10 clients: in every room ``#rNNNNN`` nine
receivers and one sender. A zchat client JOINs, ENTERs its room (waits for
ENTERED) and PARTs the default room, so that it is in its room only, as an IRC
client that JOINs one channel is; an IRC client registers and JOINs its channel
(waits for the end of NAMES); a client of the bare relay (relay.py --rooms, the
ZeroMQ floor for this layout) sends ``ROOM N`` and waits for ``OK``. The
receivers live in helper processes (``rooms.py recv``, at most ``--per-process``
receivers each: a ZeroMQ client costs two descriptors, four with a feed, and the
hard RLIMIT_NOFILE here is 20,000); the R senders are the R connections of one sender process
(``rooms.py send``: the same one process at every R, so R changes the layout,
not the generator).

The sender sends flat out, round robin over its rooms (message k to room
k mod R), ``--deliveries`` / 9 messages in all (so about the same number of
deliveries at every R); run.py measures the same way: the maximum sustained rate.
Every text carries its room's number, so a receiver counts, per frame, the
messages of its own room and those of any other. A run ends when every
receiver has every message of its room, or after ``--idle-timeout`` of silence.

Figures: aggregate deliveries per second (own-room deliveries over first send
to last receipt), broker CPU seconds per million deliveries (utime + stime of
the broker from /proc over the run), loss (own-room messages that never came;
a zchat receiver that lagged catches up from history, counted as recovered),
foreign messages (of a room the receiver is not in: must be 0) and bytes per
receiver of frames that carried its own room's messages against those that
carried other rooms' (the issue's "a client gets no bytes from rooms it is not
in", shown by a number). See benchmarks/README.md (Rooms).

zchat-pub: until the broker offers rooms with ``--fanout pub`` it refuses ENTER
(``UNAVAILABLE``, ref ``rooms``); the run then records the system as
unavailable and goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import select
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import loadgen
import report
import run
import systems
import zmq

try:
    from zchat.protocol import (
        Ack,
        Enter,
        Entered,
        Error,
        Events,
        Fetch,
        Join,
        Joined,
        Left,
        Msg,
        Part,
        Parted,
        Ping,
        Say,
        Welcome,
        decode_broker,
        encode,
        room_key,
        room_topic,
    )
    from zchat.protocol import constants as zc
except Exception:  # zchat missing or broken mid-edit: ngircd still runs
    zc = None  # type: ignore[assignment]

#: The systems this benchmark knows how to lay out in rooms.
ROOM_SYSTEMS = ("relay", "zchat", "zchat-memory", "zchat-pub", "ngircd")
DEFAULT_SYSTEMS = "relay,zchat,zchat-pub,ngircd"
#: What the other systems' rates are set against within each repetition: the bare
#: ROUTER relay (the ZeroMQ floor; its CPU per delivery too) and ngircd.
YARDSTICKS = ("relay", "ngircd")
#: Members of every room: one sender and this many minus one receivers.
MEMBERS = 10
RECEIVERS = MEMBERS - 1
MARK = loadgen.MARK
TEXT_BYTES = loadgen.TEXT_BYTES
#: Text: MARK, 5-digit room, space, 8-digit sequence, space, 19-digit send time, space, pad.
_PAD = b"x" * (TEXT_BYTES - (len(MARK) + 5 + 1 + 8 + 1 + 19 + 1))
#: Seconds of silence that end a run once the sender has given up (a server busy with
#: a backlog can be silent longer than this: a complete send waits for --idle-timeout).
AFTER_SENDER_IDLE = 2.0
#: A send that waits this long (a full queue to a broker that stopped reading) fails.
SEND_TIMEOUT_MS = 30_000
#: A zchat receiver short of its room's messages after this long with nothing received
#: asks for what follows its cursor, as a client does when a broker PING shows heads
#: above its cursors (the run's heartbeat is too long to wait for it).
IDLE_FETCH_S = 1.0
#: A FETCH unanswered this long is sent again (its answer may have been missed too).
FETCH_RETRY_S = 1.0
#: How a FETCH's answer starts (replays come on the DEALER only).
REPLAY = b'ZCHAT/1 EVENTS {"kind":"replay"'
Record = dict[str, Any]


def room_name(r: int) -> str:
    return f"#r{r:05d}"


def room_mark(r: int) -> bytes:
    """What every text of room ``r`` starts with (and no other room's)."""
    return b"%s%05d " % (MARK, r)


def text(r: int, seq: int, now_ns: int) -> bytes:
    return b"%s%05d %08d %019d %s" % (MARK, r, seq, now_ns, _PAD)


def feed_room_subscriptions(room: str) -> list[bytes]:
    """Feed subscriptions a member of ``room`` adds once it is in it (``--fanout pub``):
    the room's topic (protocol/feed.py), as client/app.py subscribes after ENTERED."""
    return [room_topic(room_key(room))]


# ---- receivers: a helper process holding the receivers of a range of rooms -------------

class RunBounds:
    """When a receivers' counting loop ends short of complete: past ``deadline_s``,
    or ``idle_s`` without a frame (shortened once the orchestrator says the sender is
    done); it also stamps the first and last frame's times into ``counts``."""

    def __init__(self, counts: Counts, control: Callable[[], str], deadline_s: float,
                 idle_s: float) -> None:
        now = time.monotonic_ns()
        self.counts, self.control = counts, control
        self.deadline_s = deadline_s
        self.deadline = now + int(deadline_s * 1e9)
        self.idle = int(idle_s * 1e9)
        self.last_activity = self.last_check = now

    def after(self, received: bool) -> str:
        """After one poll: why the loop must end ("" to go on)."""
        now = time.monotonic_ns()
        if received:
            counts = self.counts
            if not counts.first_ns:
                counts.first_ns = now
            counts.last_ns = now
            self.last_activity = now
        if now > self.deadline:
            return f"deadline of {self.deadline_s:.0f}s"
        if now - self.last_activity > self.idle:
            return f"nothing received for {self.idle / 1e9:.0f}s"
        if now - self.last_check > 50_000_000:
            self.last_check = now
            if self.control() == "END":
                self.idle = min(self.idle, int(AFTER_SENDER_IDLE * 1e9))
        return ""


class Counts:
    """Per receiver: own-room and foreign messages, and the bytes of the frames that
    brought them (a frame with both is split in proportion), and of frames with none."""

    def __init__(self, n: int) -> None:
        self.own = [0] * n
        self.foreign = [0] * n
        self.own_bytes = [0] * n
        self.foreign_bytes = [0] * n
        self.other_bytes = [0] * n
        self.feed_bytes = [0] * n
        #: Own messages a zchat receiver took from history (FETCH) after missing them live.
        self.recovered = [0] * n
        self.first_ns = 0
        self.last_ns = 0

    def add(self, i: int, unit: bytes, mark: bytes, feed: bool = False) -> int:
        """Count one frame (or run of complete lines) for receiver ``i``; own messages."""
        size = len(unit)
        if feed:
            self.feed_bytes[i] += size
        n = unit.count(MARK)
        if not n:
            self.other_bytes[i] += size
            return 0
        own = unit.count(mark)
        self.own[i] += own
        if own == n:
            self.own_bytes[i] += size
        else:
            self.foreign[i] += n - own
            part = size * own // n
            self.own_bytes[i] += part
            self.foreign_bytes[i] += size - part
        return own

    def result(self) -> dict[str, Any]:
        return {"own": self.own, "foreign": self.foreign, "own_bytes": self.own_bytes,
                "foreign_bytes": self.foreign_bytes, "other_bytes": self.other_bytes,
                "feed_bytes": self.feed_bytes, "recovered": self.recovered,
                "first_recv_ns": self.first_ns,
                "last_recv_ns": self.last_ns}


class Unavailable(Exception):
    """The system refused the rooms layout (zchat-pub before it offers rooms)."""


class ZchatRoomClients:
    """ZeroMQ clients of zchat: JOIN, ENTER its room, PART the default room; a feed
    SUB in pub mode. One poller; used by the receivers' helper and by the sender."""

    def __init__(self, endpoint: str, names: list[str], rooms: list[int],
                 want_feed: bool) -> None:
        self.endpoint = endpoint
        self.host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
        self.names = names
        self.rooms = rooms
        self.want_feed = want_feed
        self.n = len(names)
        self.ctx = zmq.Context(io_threads=1)
        self.ctx.set(zmq.MAX_SOCKETS, 2 * self.n + 64)
        self.socks: list[zmq.Socket[bytes]] = []
        self.feeds: dict[int, zmq.Socket[bytes]] = {}
        self.index: dict[zmq.Socket[bytes], int] = {}
        self.poller = zmq.Poller()
        self.fanout = "router"
        self._ping = encode(Ping()) if zc is not None else b""
        self._epoll: Any = None  # select.epoll over the sockets' ZMQ_FDs (see _ready)
        self._by_fd: dict[int, zmq.Socket[bytes]] = {}
        # Each receiver follows its room's stream as a client does (PROTOCOL.md: Resume,
        # gaps and history), so a frame the broker could not queue for it (it lagged) is
        # fetched from history, not lost: its cursor, the live frames held while it
        # catches up (None: it is not), when its last FETCH went, WELCOME's heads.
        self.chain = True
        self.keys = [room_key(room_name(r)) for r in rooms] if zc is not None else []
        self._tags = [b'"room":"%s"' % k.encode() for k in self.keys]
        self.cursor = [0] * self.n
        self.held: list[list[tuple[bytes, bool]] | None] = [None] * self.n
        self.catching: set[int] = set()
        self.asked = [0.0] * self.n
        self.pub = [0] * self.n
        self.priv = [0] * self.n
        #: Test (--drop-every): drop every k-th live frame of a room, as a full queue would.
        self.drop_every = 0
        #: Sockets sent to outside their read loop, to be read at the next poll (see _ready).
        self._recheck: set[zmq.Socket[bytes]] = set()

    def connect(self, timeout: float) -> float:
        """Every client joined, in its room and out of the default one; seconds taken."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        state = [0] * self.n  # 0 JOIN sent, 1 ENTER sent, 2 PART sent, 3 ready
        default_room = [""] * self.n
        ready = 0
        for start in range(0, self.n, loadgen.CONNECT_BATCH):
            stop = min(self.n, start + loadgen.CONNECT_BATCH)
            for i in range(start, stop):
                s = self.ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)  # a send never blocks for good
                s.connect(self.endpoint)
                s.send(encode(Join(self.names[i])))
                self.socks.append(s)
                self.index[s] = i
                self.poller.register(s, zmq.POLLIN)
            asked = time.monotonic()
            while ready < stop:
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(f"{ready}/{self.n} clients in their rooms in {timeout}s")
                if now - asked > loadgen.JOIN_RETRY_S:
                    for i in range(start, stop):
                        if state[i] == 0:
                            self.socks[i].send(encode(Join(self.names[i])))
                    asked = now
                for s, _ in self.poller.poll(100):
                    i = self.index[s]
                    for frame in loadgen._drain(s):
                        if state[i] >= 2:
                            self._seen(i, frame)
                        if s is not self.socks[i]:
                            continue  # a feed, before the run: nothing to do
                        if frame.startswith(b"ZCHAT/1 PING"):
                            s.send(self._ping, zmq.NOBLOCK)
                            continue
                        if state[i] == 3 or not frame.startswith(
                                (b"ZCHAT/1 WELCOME", b"ZCHAT/1 ENTERED", b"ZCHAT/1 PARTED",
                                 b"ZCHAT/1 ERROR")):
                            continue
                        msg = decode_broker(frame)
                        if isinstance(msg, Error):
                            if msg.code == zc.E_UNAVAILABLE:
                                raise Unavailable(f"{msg.code} {msg.ref}: {msg.detail}")
                            raise RuntimeError(f"{self.names[i]}: {msg.code} {msg.ref} "
                                               f"{msg.detail}")
                        if state[i] == 0 and isinstance(msg, Welcome):
                            default_room[i] = getattr(msg, "room", "")
                            self.pub[i], self.priv[i] = msg.pub, msg.priv
                            if getattr(msg, "fanout", "router") == "pub":
                                self.fanout = "pub"
                                if self.want_feed:
                                    self._open_feed(i, msg)
                            # Also sent to a broker without rooms: its refusal is the answer.
                            s.send(encode(Enter(room_name(self.rooms[i]))))
                            state[i] = 1
                        elif state[i] == 1 and isinstance(msg, Entered):
                            self.cursor[i] = msg.head
                            feed = self.feeds.get(i)
                            if feed is not None:
                                for topic in feed_room_subscriptions(msg.room):
                                    feed.setsockopt(zmq.SUBSCRIBE, topic)
                            if default_room[i]:
                                s.send(encode(Part(default_room[i])))
                                state[i] = 2
                            else:
                                state[i], ready = 3, ready + 1
                        elif state[i] == 2 and isinstance(msg, Parted):
                            state[i], ready = 3, ready + 1
        return time.monotonic() - t0

    def _open_feed(self, i: int, welcome: Any) -> None:
        """Subscribe receiver ``i`` to the feed as zchat's client does (client/app.py)."""
        feeds = [f.replace("tcp://*:", f"tcp://{self.host}:") for f in welcome.feeds]
        feed = next((f for f in feeds if f.startswith(f"tcp://{self.host}:")), None)
        if feed is None:
            return
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.SUBSCRIBE, zc.FEED_TOPIC + welcome.session.encode())
        sub.connect(feed)
        self.feeds[i] = sub
        self.index[sub] = i
        self.poller.register(sub, zmq.POLLIN)

    def sync_feeds(self, timeout: float) -> None:
        """A PUB drops what it publishes before a subscription reaches it: the first
        member of each room says 'sync' in it until every member has heard one (on
        its feed, or on its DEALER if the room's events do not take the feed)."""
        if not self.feeds:
            return
        deadline = time.monotonic() + timeout
        heard = [False] * self.n
        firsts: dict[int, int] = {}
        for i, r in enumerate(self.rooms):
            firsts.setdefault(r, i)
        left = self.n
        k = 0
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.n - left}/{self.n} feeds live in {timeout}s")
            k += 1
            quiet = {self.rooms[i] for i in range(self.n) if not heard[i]}
            for r in quiet:
                self.socks[firsts[r]].send(encode(Say(f"sync {k}", cid=10**12 + k,
                                                      room=room_name(r))))
            end = time.monotonic() + 0.2
            while time.monotonic() < end and left:
                for s, _ in self.poller.poll(20):
                    i = self.index[s]
                    for frame in loadgen._drain(s):
                        self._seen(i, frame)
                        if frame.startswith(b"ZCHAT/1 PING") and s is self.socks[i]:
                            s.send(self._ping, zmq.NOBLOCK)
                        elif b"sync " in frame and not heard[i]:
                            heard[i] = True
                            left -= 1

    def _ready(self, timeout_ms: int) -> list[zmq.Socket[bytes]]:
        """Sockets that may have frames to read: an epoll over their ZMQ_FDs, which
        costs by the sockets ready, where zmq_poll costs by the sockets held (6.7 ms a
        call over 4,500 here). A ZMQ_FD signals that the socket's state may have
        changed: every socket returned is read until EAGAIN, after which new frames
        signal it again. The first call returns them all (a signal may have been
        consumed by an earlier read). So can a send: it may take in the signal of a frame
        that came meanwhile, which no later frame signals again (libzmq signals a
        pipe's first unread frame only), so a socket sent to outside its read loop (a
        FETCH) is read at the next call whatever the epoll says."""
        if self._epoll is None:
            self._epoll = select.epoll()
            for s in self.index:
                fd = cast(int, s.getsockopt(zmq.FD))
                self._by_fd[fd] = s
                self._epoll.register(fd, select.EPOLLIN)
            return list(self.index)
        by_fd = self._by_fd
        recheck = self._recheck
        if not recheck:
            return [by_fd[fd] for fd, _ in self._epoll.poll(timeout_ms / 1000)]
        ready = [by_fd[fd] for fd, _ in self._epoll.poll(0)]
        ready += recheck.difference(ready)
        recheck.clear()
        return ready

    def count(self, counts: Counts, marks: list[bytes], control: Callable[[], str],
              expected: int, deadline_s: float, idle_s: float) -> str:
        """Count deliveries until every receiver has ``expected`` of its room (live, or
        from history after a gap), or a bound; ``control()`` returns "END" when the
        orchestrator says the run is over (it is polled every 50 ms). Returns why it
        ended ("" when complete)."""
        n = self.n
        own, recovered = counts.own, counts.recovered
        index = self.index
        socks = self.socks
        poll = self._ready
        noblock, again = zmq.NOBLOCK, zmq.Again
        ping = self._ping
        add = counts.add
        chain, cursor, held, take = self.chain, self.cursor, self.held, self._take
        drop, seen = self.drop_every, [0] * n
        done = 0
        bounds = RunBounds(counts, control, deadline_s, idle_s)
        swept = time.monotonic_ns()
        while done < n:
            events = poll(20)
            for s in events:
                i = index[s]
                feed = s is not socks[i]
                mark = marks[i]
                before = own[i] + recovered[i]
                recv = s.recv
                while True:
                    try:
                        frame = recv(noblock)
                    except again:
                        break
                    if not feed:
                        if frame.startswith(b"ZCHAT/1 PING"):
                            s.send(ping, noblock)
                            continue
                        if frame.startswith(REPLAY):
                            self._replayed(i, frame, counts, mark)
                            continue
                    if chain:
                        # The first event's prev and the last one's seq: a live frame is
                        # a run of consecutive events of the room (Live batches).
                        p = frame.find(b'"prev":')
                        if p >= 0:
                            if drop:
                                seen[i] += 1
                                if not seen[i] % drop:
                                    continue
                            try:
                                if held[i] is not None or \
                                        int(frame[p + 7:frame.index(b",", p)]) != cursor[i]:
                                    take(i, frame, feed, counts, mark)
                                    continue
                                k = frame.rfind(b'"seq":')
                                cursor[i] = int(frame[k + 6:frame.index(b",", k)])
                            except ValueError:  # not a room event: the slow path decides
                                take(i, frame, feed, counts, mark)
                                continue
                    add(i, frame, mark, feed)
                if before < expected <= own[i] + recovered[i]:
                    done += 1
            why = bounds.after(bool(events))
            if why:
                return why
            if chain and bounds.last_check - swept > 250_000_000:
                swept = bounds.last_check
                self._sweep(counts, expected, bounds.last_activity)
        return ""

    # ---- following a room's stream (the slow paths) ---------------------------------

    def _seen(self, i: int, frame: bytes) -> None:
        """Before the run: move receiver ``i``'s cursor past any event of its room in
        ``frame`` (nothing of the run is missed by skipping what came before it)."""
        if self.chain and self._tags[i] in frame and not frame.startswith(REPLAY):
            k = frame.rfind(b'"seq":')
            if k >= 0:
                with contextlib.suppress(ValueError):
                    seq = int(frame[k + 6:frame.index(b",", k)])
                    self.cursor[i] = max(self.cursor[i], seq)

    def _room_events(self, i: int, frame: bytes) -> list[Any] | None:
        """The numbered events of receiver ``i``'s room in a live frame; None if it has
        none (the frame is then counted as it is)."""
        try:
            msg = decode_broker(frame)
        except Exception:  # a topic frame of the feed, or something else: not an event
            return None
        if isinstance(msg, Events):
            found: Sequence[Any] = msg.events
        elif isinstance(msg, (Msg, Joined, Left, Ack)):
            found = (msg,)
        else:
            return None
        key = self.keys[i]
        events = [ev for ev in found if getattr(ev, "room", "") == key and ev.seq]
        return events or None

    def _take(self, i: int, frame: bytes, feed: bool, counts: Counts, mark: bytes) -> None:
        """A live frame off the fast path: held while catching up; a gap before it
        starts a catch-up; its events at or below the cursor are dropped (they came
        from history), the others counted."""
        held = self.held[i]
        if held is not None:
            held.append((frame, feed))
            return
        events = self._room_events(i, frame)
        if events is None:
            counts.add(i, frame, mark, feed)
            return
        cursor = self.cursor[i]
        if events[0].seq > cursor and events[0].prev != cursor:
            self.held[i] = [(frame, feed)]
            self.catching.add(i)
            self._fetch(i)
            return
        fresh = [ev for ev in events if ev.seq > cursor]
        if not fresh:
            return
        self.cursor[i] = fresh[-1].seq
        if len(fresh) == len(events):
            counts.add(i, frame, mark, feed)
            return
        own, foreign = _own_and_foreign(fresh, mark)
        counts.own[i] += own
        counts.foreign[i] += foreign

    def _fetch(self, i: int) -> None:
        """Ask for receiver ``i``'s room after its cursor (a missed send is retried)."""
        self.asked[i] = time.monotonic()
        ask = Fetch(self.pub[i], self.priv[i], rooms=((self.keys[i], self.cursor[i]),))
        with contextlib.suppress(zmq.Again):
            self.socks[i].send(encode(ask), zmq.NOBLOCK)
        self._recheck.add(self.socks[i])

    def _replayed(self, i: int, frame: bytes, counts: Counts, mark: bytes) -> None:
        """A FETCH's answer: count its own-room messages past the cursor as recovered;
        FETCH on while it says there is more, then take the held frames again."""
        try:
            msg = decode_broker(frame)
        except Exception:
            return
        if not isinstance(msg, Events):
            return
        key, cursor = self.keys[i], self.cursor[i]
        fresh = sorted((ev for ev in msg.events
                        if getattr(ev, "room", "") == key and ev.seq > cursor),
                       key=lambda ev: ev.seq)
        if fresh:
            self.cursor[i] = fresh[-1].seq
            own, foreign = _own_and_foreign(fresh, mark)
            counts.recovered[i] += own
            counts.foreign[i] += foreign
        held = self.held[i]
        if held is None:
            return  # a late answer: its events are taken, nothing waits for it
        if msg.more and msg.events:
            self._fetch(i)
            return
        self.held[i] = None
        self.catching.discard(i)
        for again, feed in held:
            self._take(i, again, feed, counts, mark)

    def _sweep(self, counts: Counts, expected: int, last_activity_ns: int) -> None:
        """FETCH again where an answer is overdue; after IDLE_FETCH_S of silence, every
        receiver still short of ``expected`` catches up (its last frames may be what
        it missed, with nothing after them to show the gap)."""
        now = time.monotonic()
        for i in list(self.catching):
            if now - self.asked[i] > FETCH_RETRY_S:
                self._fetch(i)
        if time.monotonic_ns() - last_activity_ns < IDLE_FETCH_S * 1e9:
            return
        own, recovered = counts.own, counts.recovered
        for i in range(self.n):
            if own[i] + recovered[i] < expected and self.held[i] is None \
                    and now - self.asked[i] > FETCH_RETRY_S:
                self.held[i] = []
                self.catching.add(i)
                self._fetch(i)

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        for s in [*self.socks, *self.feeds.values()]:
            s.close(linger=0)
        self.ctx.term()


def _own_and_foreign(events: Sequence[Any], mark: bytes) -> tuple[int, int]:
    """How many of ``events`` are the run's messages of the room ``mark`` names, and
    of another room."""
    own = foreign = 0
    for ev in events:
        if isinstance(ev, Msg):
            text_ = ev.text.encode()
            if text_.startswith(mark):
                own += 1
            elif MARK in text_:
                foreign += 1
    return own, foreign


class RelayRoomClients(ZchatRoomClients):
    """DEALERs of the bare relay in its rooms mode (relay.py --rooms): each sends
    ``ROOM N`` and waits for ``OK``; then frames are the texts themselves. Counting
    (and the poller) are ZchatRoomClients'; there is no PING, no feed and no history
    (a frame the relay drops is lost)."""

    def __init__(self, endpoint: str, names: list[str], rooms: list[int]) -> None:
        super().__init__(endpoint, names, rooms, want_feed=False)
        self.chain = False

    def connect(self, timeout: float) -> float:
        """Every client in its room (its OK came); seconds taken."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        joined = [False] * self.n
        ready = 0
        for start in range(0, self.n, loadgen.CONNECT_BATCH):
            stop = min(self.n, start + loadgen.CONNECT_BATCH)
            for i in range(start, stop):
                s = self.ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
                s.connect(self.endpoint)
                s.send(b"ROOM %d" % self.rooms[i])  # queued by libzmq until connected
                self.socks.append(s)
                self.index[s] = i
                self.poller.register(s, zmq.POLLIN)
            while ready < stop:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{ready}/{self.n} clients in their rooms in {timeout}s")
                for s, _ in self.poller.poll(100):
                    i = self.index[s]
                    for frame in loadgen._drain(s):
                        if frame == b"OK" and not joined[i]:
                            joined[i] = True
                            ready += 1
        return time.monotonic() - t0


class IrcRoomClients:
    """TCP clients of an IRC server: NICK, USER, JOIN its channel (end of NAMES);
    a sender also becomes an operator with user mode +F (no flood throttling)."""

    def __init__(self, endpoint: str, names: list[str], rooms: list[int], oper: bool) -> None:
        host, _, port = endpoint.rpartition(":")
        self.addr = (host, int(port))
        self.names = names
        self.rooms = rooms
        self.oper = oper
        self.n = len(names)
        self.socks: list[socket.socket] = []
        self.pending: list[bytes] = []
        self.sel = selectors.DefaultSelector()

    def connect(self, timeout: float) -> float:
        t0 = time.monotonic()
        deadline = t0 + timeout
        joined = [False] * self.n
        # A sender is unthrottled once +F is set and ngircd's 1 s penalty for the MODE
        # is over: a PING sent on seeing the MODE is answered only then.
        synced = [not self.oper] * self.n
        ready = 0
        for start in range(0, self.n, loadgen.CONNECT_BATCH):
            stop = min(self.n, start + loadgen.CONNECT_BATCH)
            for i in range(start, stop):
                left = max(1.0, deadline - time.monotonic())
                s = socket.create_connection(self.addr, timeout=left)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                nick = self.names[i].encode()
                hello = b"NICK %s\r\nUSER %s 0 * :bench\r\nJOIN %s\r\n" % (
                    nick, nick, room_name(self.rooms[i]).encode())
                if self.oper:
                    hello += b"OPER bench bench\r\nMODE %s +F\r\n" % nick
                s.sendall(hello)
                s.setblocking(False)
                self.socks.append(s)
                self.pending.append(b"")
                self.sel.register(s, selectors.EVENT_READ, i)
                # ngircd listens with a backlog of 10; a dropped SYN costs a 1 s retransmit.
                time.sleep(loadgen.CONNECT_PAUSE)
            while ready < stop:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{ready}/{self.n} IRC clients joined in {timeout}s")
                for key, _ in self.sel.select(0.1):
                    i = key.data
                    for line in self._lines(i):
                        self._pong(i, line)
                        if joined[i] and synced[i]:
                            continue
                        if b" 366 " in line:
                            joined[i] = True
                        elif b" MODE " in line and b"+F" in line:
                            self.socks[i].sendall(b"PING :bench-sync\r\n")
                        elif b"PONG" in line and b"bench-sync" in line:
                            synced[i] = True
                        elif line.split(b" ", 2)[1:2] in ([b"491"], [b"464"], [b"481"]):
                            raise RuntimeError(f"IRC oper/mode refused: {line!r}")
                        if joined[i] and synced[i]:
                            ready += 1
        return time.monotonic() - t0

    def _lines(self, i: int) -> list[bytes]:
        try:
            data = self.socks[i].recv(262144)
        except BlockingIOError:
            return []
        if not data:
            raise ConnectionError(f"{self.names[i]}: the server closed the connection")
        data = self.pending[i] + data
        *lines, self.pending[i] = data.split(b"\n")
        return lines

    def _pong(self, i: int, line: bytes) -> None:
        if line.startswith(b"PING "):
            self.socks[i].sendall(b"PONG " + line[5:].rstrip(b"\r") + b"\r\n")

    def count(self, counts: Counts, marks: list[bytes], control: Callable[[], str],
              expected: int, deadline_s: float, idle_s: float) -> str:
        n = self.n
        own = counts.own
        socks = self.socks
        pending = self.pending
        select_ = self.sel.select
        add = counts.add
        done = 0
        bounds = RunBounds(counts, control, deadline_s, idle_s)
        while done < n:
            events = select_(0.02)
            for key, _ in events:
                i = key.data
                try:
                    data = socks[i].recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    return f"the server closed {self.names[i]}'s connection"
                if pending[i]:
                    data = pending[i] + data
                cut = data.rfind(b"\n") + 1
                pending[i] = data[cut:]
                before = own[i]
                add(i, data[:cut], marks[i])
                if before < expected <= own[i]:
                    done += 1
                if b"PING " in data[:cut]:
                    for line in data[:cut].split(b"\n"):
                        self._pong(i, line)
            why = bounds.after(bool(events))
            if why:
                return why
        return ""

    def close(self) -> None:
        self.sel.close()
        for s in self.socks:
            s.close()


def _clients(protocol: str, endpoint: str, names: list[str], rooms: list[int],
             sender: bool) -> ZchatRoomClients | IrcRoomClients:
    if protocol == "relay":
        return RelayRoomClients(endpoint, names, rooms)
    if protocol == "zchat":
        if zc is None:
            raise RuntimeError("zchat is not importable in this Python")
        # The sender reads no feed: in either mode its messages reach 9 receivers.
        return ZchatRoomClients(endpoint, names, rooms, want_feed=not sender)
    if protocol == "irc":
        return IrcRoomClients(endpoint, names, rooms, oper=sender)
    raise ValueError(f"no rooms layout for protocol {protocol!r}")


class _Stdin:
    """Non-blocking lines from the orchestrator on stdin (os.read on the fd)."""

    def __init__(self) -> None:
        self.buf = b""
        self.last = ""
        self.poll = select.poll()
        self.poll.register(0, select.POLLIN)

    def read(self, timeout_ms: int = 0) -> str:
        if self.poll.poll(timeout_ms):
            chunk = os.read(0, 4096)
            self.buf += chunk if chunk else b"EXIT\n"
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.last = line.decode(errors="replace").strip()
        return self.last



def _connected(clients: Any, timeout: float, feeds: bool = False) -> float | None:
    """Connect ``clients`` (with ``feeds``: and wait for a zchat feed's subscriptions);
    the seconds it took, or None once the orchestrator is told why not."""
    try:
        setup = clients.connect(timeout)
        if feeds and isinstance(clients, ZchatRoomClients):
            clients.sync_feeds(timeout)
    except Unavailable as exc:
        _say({"ready": False, "unavailable": str(exc)})
        return None
    except (TimeoutError, RuntimeError, OSError, zmq.ZMQError) as exc:
        _say({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return None
    return float(setup)

def _say(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def _recv_main(args: argparse.Namespace) -> None:
    """Hold the receivers of rooms [first, first + rooms), count a run, report."""
    rooms = [args.first_room + k // RECEIVERS for k in range(args.rooms * RECEIVERS)]
    names = [f"r{r:05d}m{k % RECEIVERS}" for k, r in enumerate(rooms)]
    clients = _clients(args.protocol, args.endpoint, names, rooms, sender=False)
    stdin = _Stdin()
    try:
        setup = _connected(clients, args.timeout, feeds=True)
        if setup is None:
            return
        feeds = len(clients.feeds) if isinstance(clients, ZchatRoomClients) else 0
        _say({"ready": True, "setup_s": setup, "feeds": feeds})
        # Until GO, drain what comes (the senders' joins), answering pings.
        while stdin.read(0) not in ("GO", "EXIT"):
            clients.count(Counts(clients.n), [b"\0"] * clients.n, lambda: "", 1, 0.05, 0.05)
        if stdin.last == "EXIT":
            return
        _say({"counting": True})
        counts = Counts(clients.n)
        cpu0 = _self_cpu()
        if isinstance(clients, ZchatRoomClients):
            clients.drop_every = args.drop_every
        why = clients.count(counts, [room_mark(r) for r in rooms], stdin.read, args.messages,
                            args.deadline, args.idle_timeout)
        out = counts.result()
        out.update(ended_by=why, cpu_s=_self_cpu() - cpu0,
                   caught_up=[names[k] for k, c in enumerate(counts.recovered) if c])
        _say(out)
        while stdin.read(100) != "EXIT":
            pass
    finally:
        clients.close()


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---- the sender: one process, one connection per room ------------------------------

def _send_main(args: argparse.Namespace) -> None:
    rooms = list(range(args.rooms))
    names = [f"s{r:05d}" for r in rooms]
    clients = _clients(args.protocol, args.endpoint, names, rooms, sender=True)
    stdin = _Stdin()
    result: dict[str, Any] = {"sent": 0}
    try:
        if _connected(clients, args.timeout) is None:
            return
        _say({"ready": True})
        while stdin.read(50) not in ("GO", "EXIT"):
            _sender_drain(clients)
        if stdin.last == "EXIT":
            return
        result = _send_flat_out(clients, args.messages)
        _say(result)
        while stdin.read(50) != "EXIT":
            _sender_drain(clients)
    finally:
        clients.close()


def _sender_drain(clients: ZchatRoomClients | IrcRoomClients) -> None:
    if isinstance(clients, ZchatRoomClients):
        for s in clients.socks:
            for frame in loadgen._drain(s):
                if frame.startswith(b"ZCHAT/1 PING"):
                    s.send(clients._ping, zmq.NOBLOCK)
    else:
        for key, _ in clients.sel.select(0):
            clients._lines(key.data)


def _send_flat_out(clients: ZchatRoomClients | IrcRoomClients, per_room: int) -> dict[str, Any]:
    """``per_room`` messages to every room, round robin over the rooms, as fast as the
    sockets take them; the broker's ACKs (zchat) are read every 64 sends to a socket."""
    r_count = clients.n
    mono = time.monotonic_ns
    sent = 0
    first = now = mono()
    cpu0 = _self_cpu()
    error = ""
    try:
        if isinstance(clients, RelayRoomClients):
            socks = clients.socks
            drain = loadgen._drain
            for seq in range(per_room):
                for r in range(r_count):
                    now = mono()
                    socks[r].send(text(r, seq, now))
                    sent += 1
                    if not seq & 63:
                        drain(socks[r])  # as for zchat (nothing comes back here)
        elif isinstance(clients, ZchatRoomClients):
            socks = clients.socks
            names = [room_name(r) for r in range(r_count)]
            drain = loadgen._drain
            for seq in range(per_room):
                for r in range(r_count):
                    now = mono()
                    socks[r].send(encode(Say(text(r, seq, now).decode(), cid=seq + 1,
                                             room=names[r])))
                    sent += 1
                    if not seq & 63:
                        drain(socks[r])
        else:
            tcp = clients.socks
            for s in tcp:
                s.setblocking(True)
            heads = [b"PRIVMSG %s :" % room_name(r).encode() for r in range(r_count)]
            for seq in range(per_room):
                for r in range(r_count):
                    now = mono()
                    tcp[r].sendall(heads[r] + text(r, seq, now) + b"\r\n")
                    sent += 1
            for s in tcp:
                s.setblocking(False)
    except (zmq.ZMQError, OSError) as exc:
        error = f"send failed after {sent}: {exc}"
    out: dict[str, Any] = {"sent": sent, "first_send_ns": first, "last_send_ns": now,
                           "cpu_s": _self_cpu() - cpu0}
    if error:
        out["error"] = error
    return out


# ---- the orchestrator ------------------------------------------------------------

def thread_cpu(pids: Sequence[int]) -> dict[str, float]:
    """utime + stime of every thread of ``pids`` by thread name, summed over the pids
    (a zchat broker: its Python thread, libzmq's I/O thread ``ZMQbg/IO/0``, ...)."""
    out: dict[str, float] = defaultdict(float)
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/stat") as f:
                    stat = f.read()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                out[name] += (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return dict(out)


_CLK_TCK = os.sysconf("SC_CLK_TCK")


class Helper:
    """A ``rooms.py recv`` or ``rooms.py send`` process, spoken to by lines."""

    def __init__(self, cmd: list[str], err_path: Path) -> None:
        self.err_path = err_path
        with open(err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err)
        self.buf = b""

    def line(self, deadline: float) -> dict[str, Any]:
        """The next JSON line it prints, or an error record at the deadline."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"error": "no answer in time"}
            if poller.poll(int(min(left, 0.2) * 1000)):
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    err = self.err_path.read_text(errors="replace")[-600:]
                    return {"error": f"exited ({self.proc.poll()}): {err}".strip()}
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            out: dict[str, Any] = json.loads(line)
        except ValueError:
            return {"error": f"said {line[:200]!r}"}
        return out

    def tell(self, word: str) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(word.encode() + b"\n")
            self.proc.stdin.flush()

    def stop(self) -> None:
        self.tell("EXIT")
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _feed_connections_fit(name: str, r: int) -> str:
    """Why a pub-mode broker could not hold this many connections here ("" if it can):
    with --fanout pub every receiver adds a feed connection, and the broker keeps its
    connections under the descriptor limit it can raise to (broker/watch.py)."""
    if name != "zchat-pub":
        return ""
    from zchat.broker.watch import connection_bound
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return ""
    need = r * MEMBERS + r * RECEIVERS
    bound = connection_bound(hard)
    if need <= bound:
        return ""
    return (f"{need} connections (a DEALER each and a feed per receiver) over the broker's "
            f"bound of {bound} under the hard descriptor limit {hard}")


def measure(name: str, r: int, per_room: int, rep: int, args: argparse.Namespace) -> Record:
    """One run: R rooms of 10, every sender flat out; see the module docstring."""
    proto = systems.PROTOCOL[name]
    rec: Record = {"kind": "rooms", "system": name, "r": r, "rep": rep,
                   "messages_per_room": per_room, "expected": r * RECEIVERS * per_room,
                   "loadavg": os.getloadavg()[0]}
    too_many = _feed_connections_fit(name, r)
    if too_many:
        rec["unavailable"] = too_many
        return rec
    me = str(Path(__file__).resolve())
    helpers: list[Helper] = []
    sender: Helper | None = None
    with run.running(name, args) as sysrun:
        try:
            t0 = time.monotonic()
            rooms_per = max(1, args.per_process // RECEIVERS)
            deadline = t0 + args.connect_timeout
            for first in range(0, r, rooms_per):
                count = min(rooms_per, r - first)
                helpers.append(Helper(
                    [sys.executable, me, "recv", "--protocol", proto,
                     "--endpoint", sysrun.receivers_endpoint, "--first-room", str(first),
                     "--rooms", str(count), "--messages", str(per_room),
                     "--timeout", str(args.connect_timeout), "--deadline", str(args.timeout),
                     "--idle-timeout", str(args.idle_timeout),
                     "--drop-every", str(args.drop_every)],
                    sysrun.workdir / f"recv-{first}.err"))
            for h in helpers:
                status = h.line(deadline + 10)
                if not status.get("ready"):
                    if status.get("unavailable"):
                        rec["unavailable"] = status["unavailable"]
                    else:
                        rec["error"] = f"receivers: {status.get('error')}"
                        sysrun.keep_log = True
                    return rec
            sender = Helper([sys.executable, me, "send", "--protocol", proto,
                             "--endpoint", sysrun.sender_endpoint, "--rooms", str(r),
                             "--messages", str(per_room),
                             "--timeout", str(args.connect_timeout)],
                            sysrun.workdir / "send.err")
            status = sender.line(time.monotonic() + args.connect_timeout + 10)
            if not status.get("ready"):
                if status.get("unavailable"):
                    rec["unavailable"] = status["unavailable"]
                else:
                    rec["error"] = f"sender: {status.get('error')}"
                    sysrun.keep_log = True
                return rec
            rec["setup_s"] = time.monotonic() - t0
            rec["rss_kb"] = sysrun.rss_kb()
            time.sleep(0.3)  # the senders' joins reach the receivers, who drain them
            for h in helpers:
                h.tell("GO")
            for h in helpers:  # counting before the first message is sent
                said = h.line(time.monotonic() + 10)
                if not said.get("counting"):
                    raise RuntimeError(f"receivers did not start counting: {said}")
            threads0 = thread_cpu(sysrun.broker_pids())
            cpu0, t1 = sysrun.cpu_seconds(), time.monotonic()
            sender.tell("GO")
            sres = sender.line(time.monotonic() + args.timeout)
            if sres.get("error") or int(sres.get("sent") or 0) < r * per_room:
                for h in helpers:
                    h.tell("END")  # nothing more is coming: a short silence ends the run
            results = [h.line(time.monotonic() + args.timeout + args.idle_timeout + 5)
                       for h in helpers]
            cpu1, t2 = sysrun.cpu_seconds(), time.monotonic()
            threads1 = thread_cpu(sysrun.broker_pids())
            rec["cpu_s_by_thread"] = {k: round(v - threads0.get(k, 0.0), 2)
                                      for k, v in threads1.items()
                                      if v - threads0.get(k, 0.0) > 0}
        finally:
            if sender is not None:
                sender.stop()
            for h in helpers:
                h.stop()
        if not sysrun.alive():
            rec["error"] = sysrun.exit_status()
            sysrun.keep_log = True
        if sres.get("error") or any(res.get("error") or res.get("ended_by")
                                    for res in results):
            sysrun.keep_log = True  # a run that did not complete keeps the server's output
        if any(res.get("caught_up") for res in results) and name.startswith("zchat"):
            rec["lagging"] = _lagging_in_log(sysrun)
    _tally(rec, sres, results, per_room, cpu1 - cpu0, t2 - t1)
    return rec


def _lagging_in_log(sysrun: systems.Running) -> list[str]:
    """The receivers a zchat broker said were lagging (broker/texts.py, log.lagging;
    the benchmark's brokers log in English)."""
    found: set[str] = set()
    for _, path in sysrun.log_files():
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                at = line.find("lagging ")
                if at >= 0 and ": its queue is full" in line:
                    found.add(line[at + len("lagging "):line.index(": its queue is full")])
    return sorted(found)


def _tally(rec: Record, sres: dict[str, Any], results: list[dict[str, Any]], per_room: int,
           cpu_s: float, wall_s: float) -> None:
    errors = [f"sender: {sres['error']}"] if sres.get("error") else []
    errors += [f"receivers: {res['error']}" for res in results if res.get("error")]
    ended = [res["ended_by"] for res in results if res.get("ended_by")]
    # Per receiver: live and from history (a zchat receiver that lagged caught up).
    own = [c + h for res in results if "own" in res
           for c, h in zip(res["own"], res.get("recovered") or [0] * len(res["own"]),
                           strict=True)]
    delivered = sum(min(c, per_room) for c in own)
    rec.update(sent=sres.get("sent", 0), delivered=delivered,
               loss=rec["expected"] - delivered,
               recovered=sum(sum(res.get("recovered", [])) for res in results),
               caught_up=sorted(name for res in results for name in res.get("caught_up", [])),
               duplicates=sum(max(0, c - per_room) for c in own),
               foreign=sum(c for res in results for c in res.get("foreign", [])),
               broker_cpu_s=cpu_s, broker_cpu_util=cpu_s / max(1e-9, wall_s),
               gen_cpu_s=sum(res.get("cpu_s", 0.0) for res in results),
               sender_cpu_s=sres.get("cpu_s", 0.0))
    n = max(1, len(own))
    for key in ("own_bytes", "foreign_bytes", "other_bytes", "feed_bytes"):
        rec[f"{key}_per_receiver"] = sum(c for res in results for c in res.get(key, [])) / n
    rec["max_foreign_bytes"] = max((c for res in results for c in res.get("foreign_bytes", [])),
                                   default=0)
    first = int(sres.get("first_send_ns") or 0)
    last = max((int(res.get("last_recv_ns") or 0) for res in results), default=0)
    if first and last > first:
        elapsed = (last - first) / 1e9
        rec.update(elapsed_s=elapsed, rate=delivered / elapsed)
        send_s = (int(sres.get("last_send_ns") or first) - first) / 1e9
        rec["sender_msgs_per_s"] = rec["sent"] / max(1e-9, send_s)
    if delivered:
        rec["cpu_per_m"] = cpu_s / delivered * 1e6
    if ended:
        rec["timed_out"] = "; ".join(sorted(set(ended)))
    if errors:
        rec["error"] = "; ".join(errors)


# ---- the table -------------------------------------------------------------------

def _ok(rec: Record) -> bool:
    return not rec.get("error") and not rec.get("unavailable") and rec.get("loss") == 0 \
        and rec.get("foreign") == 0 and "rate" in rec


def _per_rep_ratio(records: list[Record], name: str, r: int, base_r: int,
                   key: str) -> list[float]:
    """``key`` at R=r over ``key`` at R=base_r, within each repetition where both ran clean."""
    by_rep: dict[int, dict[int, float]] = defaultdict(dict)
    for rec in records:
        if rec["system"] == name and _ok(rec) and rec.get(key):
            by_rep[rec["rep"]][rec["r"]] = rec[key]
    return [v[r] / v[base_r] for v in by_rep.values() if r in v and base_r in v]


def _versus(records: list[Record], name: str, yard: str, r: int, key: str) -> list[float]:
    """``key`` of ``name`` over ``key`` of ``yard`` at R=r, within each repetition
    where both ran clean."""
    per_rep: dict[int, dict[str, float]] = defaultdict(dict)
    for rec in records:
        if rec["r"] == r and rec["system"] in (name, yard) and _ok(rec) and rec.get(key):
            per_rep[rec["rep"]][rec["system"]] = rec[key]
    return [v[name] / v[yard] for v in per_rep.values() if name in v and yard in v]


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    records = [rec for rec in results["records"] if rec.get("kind") == "rooms"]
    names = [s for s in meta["systems"] if any(rec["system"] == s for rec in records)]
    rs = meta["r"]
    base = rs[0]
    cell = report.fmt_cell

    def ratio(x: float) -> str:
        return f"{x:.2f}x"

    def secs(x: float) -> str:
        return f"{x:.2f}"

    head = ["system", "R", "clients", "deliveries/s", f"rate / R={base}",
            "broker CPU s / M", f"CPU / R={base}", "lost", "foreign msgs",
            "own / foreign bytes per receiver", "setup s"]
    rows = []
    for name in names:
        for r in rs:
            recs = [rec for rec in records if rec["system"] == name and rec["r"] == r]
            if not recs:
                continue
            na = [rec["unavailable"] for rec in recs if rec.get("unavailable")]
            if na and len(na) == len(recs):
                rows.append([name, str(r), f"{r * MEMBERS:,}", f"unavailable: {na[0]}",
                             *["-"] * (len(head) - 4)])
                continue
            good = [rec for rec in recs if _ok(rec)]
            bad = [rec for rec in recs if not _ok(rec)]
            rate = cell(report.summary(rec["rate"] for rec in good))
            if bad:
                why = "; ".join(sorted({str(rec.get("error") or rec.get("timed_out")
                                            or rec.get("unavailable")
                                            or ("got other rooms' messages"
                                                if rec.get("foreign") else "lost"))[:120]
                                        for rec in bad}))
                rate += f" ⚠ {len(bad)}/{len(recs)} runs failed or lost ({why})"
            rows.append([
                name, str(r), f"{r * MEMBERS:,}", rate,
                cell(report.summary(_per_rep_ratio(records, name, r, base, "rate")), ratio)
                if r != base else "",
                cell(report.summary(rec["cpu_per_m"] for rec in good if "cpu_per_m" in rec),
                     secs),
                cell(report.summary(_per_rep_ratio(records, name, r, base, "cpu_per_m")),
                     ratio) if r != base else "",
                _lost_cell(recs),
                str(sum(rec.get("foreign", 0) for rec in recs if "foreign" in rec)),
                _bytes_cell(recs),
                cell(report.summary(rec["setup_s"] for rec in recs if "setup_s" in rec),
                     lambda x: f"{x:.1f}"),
            ])
    out = [f"Rooms of {MEMBERS} (one sender, {RECEIVERS} receivers), every sender flat out; "
           f"median (min-max) of {meta['reps']} repetitions; ratios within each repetition.",
           "", report._table(head, rows)]
    if meta.get("unavailable"):
        out += ["", "Not run: " + "; ".join(f"{k}: {v}" for k, v in meta["unavailable"].items())]
    gen = []
    for name in names:
        for r in rs:
            recs = [rec for rec in records if rec["system"] == name and rec["r"] == r
                    and "elapsed_s" in rec]
            if recs:
                util = statistics.median(rec["broker_cpu_util"] for rec in recs)
                genu = statistics.median(rec["gen_cpu_s"] / rec["elapsed_s"] for rec in recs)
                snd = statistics.median(rec.get("sender_msgs_per_s", 0) for rec in recs)
                gen.append([name, str(r), f"{util:.2f}", f"{genu:.2f}", report.fmt_rate(snd)])
    if gen:
        out += ["", "Cores busy (median): the broker, and the receivers' processes together; "
                "the sender's offered rate in messages/s.", "",
                report._table(["system", "R", "broker", "receivers", "sender msgs/s"], gen)]
    versus = []
    yards = [y for y in YARDSTICKS if y in names]
    for yard in yards:
        keys = [("rate", "deliveries/s")]
        if yard == "relay":  # the floor: its CPU per delivery is a floor too
            keys.append(("cpu_per_m", "CPU / M"))
        for name in names:
            if name in YARDSTICKS:
                continue
            for key, label in keys:
                row = [f"{name} / {yard}, {label}"]
                for r in rs:
                    row.append(cell(report.summary(_versus(records, name, yard, r, key)),
                                    ratio))
                versus.append(row)
    if versus:
        out += ["", f"Against {' and '.join(yards)}, within each repetition:", "",
                report._table(["", *[f"R={r}" for r in rs]], versus)]
    threads = []
    for name in names:
        for r in rs:
            recs = [rec for rec in records if rec["system"] == name and rec["r"] == r
                    and rec.get("cpu_s_by_thread") and rec.get("delivered")]
            per: dict[str, list[float]] = defaultdict(list)
            for rec in recs:
                for thread, secs_ in rec["cpu_s_by_thread"].items():
                    per[thread].append(secs_ / rec["delivered"] * 1e6)
            if per:
                top = sorted(per, key=lambda t: -statistics.median(per[t]))[:3]
                threads.append([name, str(r), ", ".join(
                    f"`{t}` {statistics.median(per[t]):.2f}" for t in top)])
    if threads:
        out += ["", "Broker CPU s / M by thread (median; the busiest three): the Python "
                "thread, and libzmq's I/O thread (`ZMQbg/IO/0`).", "",
                report._table(["system", "R", "threads"], threads)]
    out += ["", f"Machine: {meta['machine'].get('cpu')}, {meta['machine'].get('nproc')} cores, "
            f"load {', '.join(f'{x:.2f}' for x in meta['machine'].get('loadavg', ()))} at start; "
            f"zchat {meta['machine'].get('zchat', '?')}; "
            f"{meta['machine'].get('ngircd', 'no ngircd')}. Command: `{meta['command']}`"]
    return "\n".join(out)


def _lost_cell(recs: list[Record]) -> str:
    """Deliveries lost, and how many of the others came from history (receivers that
    lagged and caught up: not lost, but not delivered live either)."""
    cell = str(sum(rec.get("loss", 0) for rec in recs if "loss" in rec))
    recovered = sum(rec.get("recovered", 0) for rec in recs)
    return f"{cell} ({recovered:,} from history)" if recovered else cell


def _bytes_cell(recs: list[Record]) -> str:
    good = [rec for rec in recs if "own_bytes_per_receiver" in rec]
    if not good:
        return "-"
    own = statistics.median(rec["own_bytes_per_receiver"] for rec in good)
    foreign = statistics.median(rec["foreign_bytes_per_receiver"] for rec in good)
    cell = f"{own / 1024:,.0f} KiB / {foreign / 1024:,.0f} KiB"
    feed = statistics.median(rec.get("feed_bytes_per_receiver", 0) for rec in good)
    if feed:  # pub mode: what came on the feed, all of it
        cell += f" (feed: {feed / 1024:,.0f} KiB)"
    return cell


# ---- the whole run -------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    for word in ("recv", "send"):
        h = sub.add_parser(word, help=f"helper process ({word}): started by the run itself")
        h.add_argument("--protocol", required=True, choices=["relay", "zchat", "irc"])
        h.add_argument("--endpoint", required=True)
        h.add_argument("--rooms", type=int, required=True)
        h.add_argument("--first-room", type=int, default=0)
        h.add_argument("--messages", type=int, required=True, help="messages per room")
        h.add_argument("--timeout", type=float, default=120.0)
        h.add_argument("--deadline", type=float, default=120.0)
        h.add_argument("--idle-timeout", type=float, default=3.0)
        h.add_argument("--drop-every", type=int, default=0)
    p.add_argument("--systems", default=DEFAULT_SYSTEMS,
                   help="comma list from: " + ", ".join(ROOM_SYSTEMS))
    p.add_argument("--r", default="1,100,1000", help="room counts (R rooms of 10 clients)")
    p.add_argument("--deliveries", type=int, default=900_000,
                   help="deliveries per run: R*9*M with M = this / (9 R) messages per room")
    p.add_argument("--min-per-room", type=int, default=20,
                   help="the least messages per room, whatever --deliveries says")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--per-process", type=int, default=4500,
                   help="receivers per helper process (descriptors: 2 each, 4 with a feed)")
    p.add_argument("--heartbeat", type=float, default=60.0, help="zchat --heartbeat")
    p.add_argument("--timeout", type=float, default=120.0, help="hard bound on one run's traffic")
    p.add_argument("--idle-timeout", type=float, default=10.0,
                   help="a run with nothing received for this long ends (loss reported)")
    p.add_argument("--connect-timeout", type=float, default=300.0,
                   help="bound on connecting every client of one run")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: R=1,10, zchat only, 1 rep, 20,000 deliveries")
    p.add_argument("--drop-every", type=int, default=0, metavar="K",
                   help="test: zchat receivers drop every K-th live frame of their room, "
                        "as a full queue makes them miss it, and catch up from history")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default results/)")
    p.set_defaults(relay_rooms=True)  # systems.start: the relay in its rooms mode
    args = p.parse_args(argv)
    if args.quick and args.cmd is None:
        args.r = "1,10" if args.r == "1,100,1000" else args.r
        args.systems = "zchat" if args.systems == DEFAULT_SYSTEMS else args.systems
        args.reps = 1 if args.reps == 2 else args.reps
        args.deliveries = 20_000 if args.deliveries == 900_000 else args.deliveries
        args.timeout = min(args.timeout, 30.0)
        args.connect_timeout = min(args.connect_timeout, 30.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cmd == "recv":
        _recv_main(args)
        return 0
    if args.cmd == "send":
        _send_main(args)
        return 0
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in wanted:
        if s not in ROOM_SYSTEMS:
            sys.exit(f"unknown system {s!r}; choose from {', '.join(ROOM_SYSTEMS)}")
    rs = run._ints(args.r)
    per_room = {r: max(args.min_per_room, math.ceil(args.deliveries / (RECEIVERS * r)))
                for r in rs}
    # This process holds no client, but the servers it starts inherit its limit.
    fds = run.raise_fd_limit(2 * max(rs) * MEMBERS + 2048)
    unavailable = {}
    run_systems = []
    for s in wanted:
        ok, why = systems.available(s)
        if ok:
            run_systems.append(s)
        else:
            unavailable[s] = why
            print(f"# skipping {s}: {why}", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run.RESULTS_DIR.mkdir(exist_ok=True)
    out = args.out or run.RESULTS_DIR / f"rooms-{stamp}.json"
    args.log_prefix = out.with_suffix("")
    meta = {"command": " ".join([Path(sys.executable).name, "benchmarks/rooms.py",
                                 *(argv if argv is not None else sys.argv[1:])]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "systems": wanted, "r": rs,
            "messages_per_room": per_room, "reps": args.reps, "unavailable": unavailable,
            "machine": run.machine(), "fd_limit": fds, "zchat_heartbeat": args.heartbeat}
    results: dict[str, Any] = {"meta": meta, "records": []}
    records: list[Record] = results["records"]
    t_all = time.monotonic()
    refused: dict[str, str] = {}  # systems that refused rooms: not started again
    try:
        for rep in range(args.reps):
            for r in rs:
                for name in run_systems:
                    if name in refused:
                        rec = {"kind": "rooms", "system": name, "r": r, "rep": rep,
                               "unavailable": refused[name]}
                    else:
                        try:
                            rec = measure(name, r, per_room[r], rep, args)
                        except (TimeoutError, RuntimeError, OSError, zmq.ZMQError) as exc:
                            rec = {"kind": "rooms", "system": name, "r": r, "rep": rep,
                                   "error": f"{type(exc).__name__}: {exc}"}
                    if rec.get("unavailable", "").startswith(zc.E_UNAVAILABLE if zc else "-"):
                        refused[name] = rec["unavailable"]
                    records.append(rec)
                    brief = {k: (round(v, 3) if isinstance(v, float) else v)
                             for k, v in rec.items()
                             if k in ("system", "r", "rep", "rate", "cpu_per_m", "loss",
                                      "recovered", "foreign", "setup_s", "error", "unavailable",
                                      "timed_out", "foreign_bytes_per_receiver",
                                      "loadavg")}
                    print(json.dumps(brief), flush=True)
                    out.write_text(json.dumps(results, indent=1))
    except KeyboardInterrupt:
        print("# interrupted: writing what was measured", flush=True)
    finally:
        systems.kill_all()
        meta["wall_s"] = time.monotonic() - t_all
        out.write_text(json.dumps(results, indent=1))
    md = render(results)
    out.with_suffix(".md").write_text(md + "\n")
    print()
    print(md)
    print(f"raw results: {out}  ({meta['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
