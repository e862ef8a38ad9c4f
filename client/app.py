"""The client loop: one DEALER socket and a poller over it and stdin.

States: connecting (JOIN sent, no WELCOME yet) and joined. Liveness follows
the Paranoid Pirate pattern: any frame from the broker counts as a heartbeat,
we PING after one idle interval, and a broker silent for HEARTBEAT_LIVENESS
intervals is lost. Then the socket is closed (stale queued frames die with
it) and a new one sends JOIN again with the same session token, so the broker
replaces our stale session instead of refusing the name as taken.

Given several endpoints, every such new start dials the next one, round robin:
the session token, the resent outbox and the FETCH from our cursors are the
same, so once the brokers share history the move loses nothing.

A broker that dies on a live host does not go silent: its kernel resets our
connection, and the socket monitor reports the drop within milliseconds. A
drop is not yet a death, though: the same broker may be restarting, or the
network blinked. So a dropped joined connection gets a short grace
(RESUME_GRACE): JOIN again at once, on a new socket, at the same endpoint;
a WELCOME within the grace resumes there, and only then, once the grace has
passed, is the broker lost (said, and the next endpoint dialled).
"""

import codecs
import os
import secrets
import signal
import time
from collections import OrderedDict
from collections.abc import Sequence
from enum import Enum
from typing import TextIO

import zmq
from zmq.utils.monitor import recv_monitor_message

from zchat.common.curve import Curve
from zchat.common.i18n import Catalogue
from zchat.common.safetext import sanitize
from zchat.common.wakeup import SignalWakeup
from zchat.protocol import (
    DEFAULT_TOPIC,
    Ack,
    Acks,
    Bye,
    ClientMessage,
    DmList,
    Enter,
    Entered,
    Error,
    Events,
    History,
    Join,
    Joined,
    Leave,
    Left,
    ListDms,
    ListRooms,
    Moderate,
    Moderated,
    Msg,
    Notice,
    Part,
    Parted,
    Ping,
    Priv,
    ProtocolError,
    RoomList,
    Say,
    Search,
    SetTopic,
    Tell,
    TopicSet,
    UnreadList,
    Users,
    Welcome,
    Who,
    adopted_name,
    decode_broker,
    encode,
    name_key,
    room_key,
    room_problem,
    room_topic,
)
from zchat.protocol import constants as c
from zchat.protocol.rate import TokenBucket

from .commands import (
    EVERYONE,
    Around,
    EnterRoom,
    Find,
    ListUsers,
    Moderation,
    Nothing,
    PartRoom,
    Private,
    Public,
    Quit,
    RoomSay,
    ScrollBack,
    ShowDms,
    ShowHelp,
    ShowRooms,
    Topic,
    UnknownCommand,
    Usage,
    parse_line,
)
from .lineedit import Eof, LineEditor, Submit
from .outbox import Outbox
from .reading import ReadTracker, peer_key
from .render import Renderer
from .rooms import Rooms
from .screen import PlainScreen, TtyScreen
from .timeline import HISTORY, Shown, Step, Timeline

#: How long leaving waits for LEAVE to be flushed to the broker.
LEAVE_LINGER_MS = 1000
#: Share of the broker's announced rates the client allows itself.
PACE_MARGIN = 0.9
#: Failed handshakes in a row (no success between) that mean a key mismatch.
HANDSHAKE_FAILURES = 3
#: Leaves of the chat remembered to show one notice per person, though a leaver
#: in several rooms leaves each of them (one LEFT per room, with one ts).
LEAVES_REMEMBERED = 256
#: Lines typed before the first WELCOME that wait for it (more are handled at once).
EARLY_LINES = 100
#: Events a /history without a count asks for: about a screenful.
SCROLL_PAGE = 20
#: Lines /around shows: the result and about five on each side.
AROUND_LINES = 11
#: The wait between JOIN attempts grows by half each time up to this (or the
#: first wait, if that is already longer).
MAX_RETRY = 5.0
#: How long (seconds) a dropped joined connection may take to be welcomed back at
#: the same endpoint before the broker counts as lost. A crashed broker's port
#: refuses at once, but so does a broker being restarted, and only time tells the
#: two apart: this is the time a broker restarted at once, or a network blip, is
#: given. It is what a move after a crash costs (benchmarks/failover.py), so it is
#: kept well under a second; and never longer than liveness would have taken.
RESUME_GRACE = 0.3
#: Meanwhile the grace's socket redials this often (ms, plus up to as much again at
#: random: libzmq's jitter), without backing off, so a broker back listening early
#: in the grace is found within it.
RESUME_REDIAL_MS = 50
#: What the DEALER's monitor reports: failed handshakes (a key mismatch is visible
#: nowhere else; libzmq would retry it forever) and a dropped connection.
LINK_EVENTS = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
               | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED
               | zmq.EVENT_DISCONNECTED)


def resume_grace(interval: float) -> float:
    """The grace a dropped connection gets at heartbeat ``interval``: RESUME_GRACE,
    but never more than the HEARTBEAT_LIVENESS intervals liveness would take."""
    return min(RESUME_GRACE, interval * c.HEARTBEAT_LIVENESS)


class State(Enum):
    CONNECTING = "connecting"
    JOINED = "joined"


class Fatal(Exception):
    """The chat cannot go on (name taken, protocol mismatch): exit non-zero."""


class ChatClient:
    """One user's session with a broker, from JOIN to leaving."""

    def __init__(self, name: str, endpoints: Sequence[str], heartbeat: float,
                 catalogue: Catalogue, screen: PlainScreen | TtyScreen, renderer: Renderer,
                 stdin_fd: int, editor: LineEditor | None = None,
                 show_acks: bool = False, curve: Curve | None = None) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.name = name
        #: Brokers to fail over to, in turn; ``endpoints[_dialled]`` is the current one.
        self.endpoints = tuple(endpoints)
        self._dialled = 0
        self.interval = heartbeat
        self.t = catalogue.t
        self.screen = screen
        self.render = renderer
        self.stdin_fd = stdin_fd
        self.editor = editor
        self.show_acks = show_acks
        self.curve = curve
        self.monitor: zmq.Socket[bytes] | None = None
        #: With --fanout pub, public events arrive on this SUB socket, not the DEALER.
        self.feed: zmq.Socket[bytes] | None = None
        self._handshake_failures = 0
        # Our own pace, set to the broker's limits from WELCOME, so that a paste
        # of many lines is sent smoothly instead of being refused.
        self._pace: tuple[TokenBucket, TokenBucket] | None = None
        self.token = secrets.token_hex(16)
        self.state = State.CONNECTING
        self.ever_joined = False
        self.timeline = Timeline(name)
        self.outbox = Outbox()
        self.rooms = Rooms()
        #: Rooms whose PART is on its way (the feed no longer follows them).
        self._parting: set[str] = set()
        #: The rooms' topics the feed is subscribed to.
        self._following: set[bytes] = set()
        self._leaves: OrderedDict[tuple[str, float, str], None] = OrderedDict()
        #: Per room key, the oldest event shown: /history asks for what came before it.
        self._oldest: dict[str, int] = {}
        #: The last /search (without its ``before``), its results so far (for /around,
        #: numbered from 1), and the rooms whose next page answers an /around.
        self._searched: Search | None = None
        self._hits: list[Msg | Priv] = []
        self._around: set[str] = set()
        #: What the user has read (MARKs to send) and where the "new" lines go.
        self.reading = ReadTracker()
        #: The heads of our rooms in the last WELCOME (what UNREAD counts up to).
        self._heads: dict[str, int] = {}
        self._told_queued = False
        #: Lines typed before the first WELCOME, handled once it came (EARLY_LINES).
        self._early: list[str] = []
        self.ctx = zmq.Context()
        self.sock: zmq.Socket[bytes] | None = None
        self.poller = zmq.Poller()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = b""  # plain mode: bytes of a line still arriving
        self._stop = False
        self._quit = False
        self._last_recv = 0.0
        self._last_send = 0.0
        self._join_sent = 0.0
        self._fetch_sent = 0.0
        self._retry = heartbeat * c.HEARTBEAT_LIVENESS
        #: While a dropped connection is given its grace: when the grace ends.
        self._resume_until: float | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint dialled now (or next, while connecting)."""
        return self.endpoints[self._dialled]

    # ---- socket lifecycle -----------------------------------------------------

    def _say_connecting(self) -> None:
        self.screen.show(self.render.notice(
            self.t("client.connecting", endpoint=sanitize(self.endpoint),
                   name=sanitize(self.name))))

    def _start_over(self) -> None:
        """Our broker is gone: JOIN again on a new socket, at the next endpoint if
        there are several (the one we had may be down for good), saying where."""
        if len(self.endpoints) > 1:
            self._dialled = (self._dialled + 1) % len(self.endpoints)
            self._say_connecting()
        self._open()

    def _open(self, redial_ms: int | None = None) -> None:
        """A fresh DEALER with a JOIN queued: it goes out as soon as we connect.
        ``redial_ms``: retry the connection that often, without backing off."""
        self._close_socket()
        self._resume_until = None
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, c.MAX_BROKER_FRAME_BYTES)
        if redial_ms is None:
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        else:
            sock.setsockopt(zmq.RECONNECT_IVL, redial_ms)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 0)  # (0: no backoff)
        if self.curve is not None:
            self.curve.apply(sock)
        # (The monitor before connect, or the first events are missed.)
        self.monitor = sock.get_monitor_socket(LINK_EVENTS)
        self.poller.register(self.monitor, zmq.POLLIN)
        sock.connect(self.endpoint)
        self.sock = sock
        self.poller.register(sock, zmq.POLLIN)
        self.state = State.CONNECTING
        now = time.monotonic()
        self._send(Join(self.name, self.token, self.timeline.joined_before, acks=True))
        self._join_sent = now
        self._last_recv = now

    def _open_feed(self, feeds: tuple[str, ...], token: str) -> None:
        """Subscribe to the broker's feed on the transport we dialled it by, as the
        session ``token``."""
        if self.feed is not None:
            return
        if self.endpoint.startswith("tcp://"):
            host = self.endpoint[len("tcp://"):].rsplit(":", 1)[0]
            # The feed bound beside the endpoint we dialled, else a wildcard one.
            choices = [f for f in feeds if f.startswith(f"tcp://{host}:")]
            choices += [f.replace("tcp://*:", f"tcp://{host}:", 1) for f in feeds
                        if f.startswith("tcp://*:")]
        else:
            choices = [f for f in feeds if f.startswith("ipc://")]
        feed = self.ctx.socket(zmq.SUB)
        feed.setsockopt(zmq.LINGER, 0)
        feed.setsockopt(zmq.MAXMSGSIZE, c.MAX_BROKER_FRAME_BYTES)
        if self.curve is not None:
            self.curve.apply(feed)
        # Everything (the empty prefix), our rooms' topics, and our session, without
        # which the broker gives this subscriber nothing (it gives it our rooms).
        feed.setsockopt(zmq.SUBSCRIBE, b"")
        self._following = {self._topic(key) for key in self.rooms.names}
        for topic in sorted(self._following):
            feed.setsockopt(zmq.SUBSCRIBE, topic)
        feed.setsockopt(zmq.SUBSCRIBE, c.FEED_TOPIC + token.encode("ascii", "replace"))
        for choice in choices:
            try:
                feed.connect(choice)
            except zmq.ZMQError:
                continue  # the broker named an endpoint libzmq cannot dial
            self.feed = feed
            self.poller.register(feed, zmq.POLLIN)
            return
        feed.close(0)  # no feed we can reach: gaps are filled through FETCH

    def _read_feed(self) -> None:
        assert self.feed is not None
        for _ in range(1000):
            try:
                # The default room's frames come alone, another room's after its topic.
                frame = self.feed.recv_multipart(zmq.NOBLOCK)[-1]
            except zmq.Again:
                return
            try:
                msg = decode_broker(frame)
            except ProtocolError:
                continue
            if isinstance(msg, Msg | Joined | Left):
                self._step(self.timeline.live(msg))
            elif isinstance(msg, Events) and msg.kind == c.K_LIVE:
                for event in msg.events:
                    self._step(self.timeline.live(event))
            elif isinstance(msg, Ping) and msg.rooms:  # a room's head
                self._step(self.timeline.heads(None, None, msg.rooms))

    def _close_socket(self, linger: int = 0) -> None:
        if self.feed is not None:
            self.poller.unregister(self.feed)
            self.feed.close(0)
            self.feed = None
        if self.monitor is not None:
            self.poller.unregister(self.monitor)
            if self.sock is not None:
                self.sock.disable_monitor()
            self.monitor.close(0)
            self.monitor = None
        if self.sock is not None:
            self.poller.unregister(self.sock)
            self.sock.close(linger=linger)
            self.sock = None

    def _link_event(self) -> None:
        """One event from the DEALER's monitor. A refused key is final; other
        handshake failures are final only when they repeat (a broker that stops
        mid-handshake also fails one). A drop: see _dropped."""
        assert self.monitor is not None
        event = recv_monitor_message(self.monitor)["event"]
        if event == zmq.EVENT_DISCONNECTED:
            self._dropped(time.monotonic())
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._handshake_failures = 0
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            raise Fatal(self.t("client.key_refused"))
        else:
            self._handshake_failures += 1
            if self._handshake_failures >= HANDSHAKE_FAILURES:
                raise Fatal(self.t("client.handshake_failed"))

    def _dropped(self, now: float) -> None:
        """Our connection dropped. Joined, we try the same endpoint first, on a new
        socket, for the grace: a broker restarted at once or a network blip is
        back within it and we rejoin there, saying nothing of a loss and never
        touching another broker; a crashed one is not, and _timers then says it
        is lost and moves on. Not joined, a drop changes nothing: libzmq redials, and a broker that
        closes us before WELCOME (too many connections, too slow to join) must
        not make us redial it faster than the JOIN retry."""
        if self.state is not State.JOINED:
            return
        # What the broker said before it went (a BYE) is queued before the drop is
        # reported: read it first, it may decide otherwise.
        self._read_broker()
        if self.state is not State.JOINED:
            return
        self._open(redial_ms=RESUME_REDIAL_MS)
        self._resume_until = now + resume_grace(self.interval)

    def _send(self, msg: ClientMessage) -> bool:
        """Queue one frame without blocking; False if the queue is full."""
        assert self.sock is not None
        try:
            self.sock.send(encode(msg), zmq.NOBLOCK)
        except zmq.Again:
            return False  # queue full while disconnected: liveness will reconnect
        self._last_send = time.monotonic()
        return True

    # ---- the loop -------------------------------------------------------------

    def run(self) -> int:
        """Chat until the user leaves (0) or a fatal refusal (1)."""
        with SignalWakeup((signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
                          self._on_signal) as wakeup:
            self.poller.register(self.stdin_fd, zmq.POLLIN)
            self.poller.register(wakeup.fd, zmq.POLLIN)
            self._say_connecting()
            self._open()
            try:
                return self._loop(wakeup)
            except Fatal as exc:
                self.screen.show(self.render.problem(str(exc)))
                return 1
            finally:
                self.screen.close()
                self._close_socket(linger=LEAVE_LINGER_MS)
                self.ctx.term()

    def _on_signal(self, *_: object) -> None:
        self._stop = True

    def _loop(self, wakeup: SignalWakeup) -> int:
        while True:
            if self._stop or self._quit:
                self._leave()
                return 0
            timeout = max(0.0, self._next_deadline() - time.monotonic())
            events = dict(self.poller.poll(int(timeout * 1000)))
            if wakeup.fd in events:
                wakeup.drain()
            if self.monitor is not None and self.monitor in events:
                self._link_event()
            if self.sock in events:
                self._read_broker()
            if self.feed is not None and self.feed in events:
                self._read_feed()
            if self.stdin_fd in events:
                self._read_stdin()
            self._timers(time.monotonic())

    def _next_deadline(self) -> float:
        if self.state is State.JOINED:
            deadline = min(self._last_send + self.interval,
                           self._last_recv + self.interval * c.HEARTBEAT_LIVENESS)
            return min(deadline, time.monotonic() + self._pace_wait())
        if self._resume_until is not None:
            return min(self._resume_until, self._join_sent + self._retry)
        return self._join_sent + self._retry

    def _timers(self, now: float) -> None:
        self._pump()
        if self.state is State.JOINED:
            if now - self._last_recv > self.interval * c.HEARTBEAT_LIVENESS:
                self.screen.show(self.render.notice(self.t("client.lost")))
                self._start_over()
            elif (self.timeline.catching_up
                  and now - self._fetch_sent > self.interval * c.HEARTBEAT_LIVENESS):
                # The reply to our FETCH never came (our queue at the broker was full).
                self._step(Step(fetch=self.timeline.refetch()))
            elif (mark := self.reading.due(now)) is not None:
                self._send(mark)
            elif now - self._last_send >= self.interval:
                self._send(Ping())
        elif self._resume_until is not None and now >= self._resume_until:
            # Not back within the grace: it crashed, or is down for longer.
            self.screen.show(self.render.notice(self.t("client.lost")))
            self._start_over()
        elif now - self._join_sent >= self._retry:
            # No WELCOME yet: start over on a new socket, backing off.
            self._retry = max(self._retry, min(self._retry * 1.5, MAX_RETRY))
            self._start_over()

    # ---- from the broker -----------------------------------------------------

    def _read_broker(self) -> None:
        assert self.sock is not None
        sock = self.sock
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._last_recv = time.monotonic()
            try:
                msg = decode_broker(frames[0]) if len(frames) == 1 else None
            except ProtocolError:
                msg = None
            if msg is not None:
                self._on_message(msg)
            if sock is not self.sock:
                return  # the message made us reconnect: the old socket is done

    def _on_message(self, msg: object) -> None:
        match msg:
            case Msg() | Priv() | Joined() | Left():
                self._step(self.timeline.live(msg))
            case Events(kind, events) if kind == c.K_HISTORY:
                for event in events:
                    self._show(Shown(event, HISTORY), msg.room)
            case Events(kind, events) if kind == c.K_PAGE:
                self._page(msg)
            case Events(kind, events) if kind == c.K_FOUND:
                self._found(msg)
            case Events(kind, events) if kind == c.K_LIVE:
                for event in events:  # events that happened together, each as if alone
                    self._step(self.timeline.live(event))
            case Events(kind) if kind == c.K_REPLAY:
                self._step(self.timeline.replay(msg))
            case Ack(cid, seq, prev):
                self._acked(cid, seq, prev)
            case Acks(acks):  # (several at once, in order: we said we take them)
                for ack in acks:
                    self._acked(ack.cid, ack.seq, ack.prev)
            case Ping(pub, priv, rooms):
                self._step(self.timeline.heads(pub, priv, rooms))
            case Users(names, room) if room:
                self.screen.show(self.render.room_members(room, names))
            case Users(names):
                self.screen.show(self.render.users(names))
            case Entered():
                self._entered(msg)
            case Parted(room):
                self._parted(room)
            case TopicSet():
                self.screen.show(self.render.topic(msg))
            case RoomList():
                for room_line in self.render.rooms(msg):
                    self.screen.show(room_line)
            case UnreadList(items):
                unread = self.reading.unread(items, self._heads)
                if line := self.render.unread(unread, lambda key: self.rooms.name(room_key(key))):
                    self.screen.show(line)
            case Moderated():
                self.screen.show(self.render.moderated(msg))
            case DmList(items):
                for dm_line in self.render.dms(items):
                    self.screen.show(dm_line)
            case Notice():
                if line := self.render.service_notice(msg):
                    self.screen.show(line)
            case Welcome():
                self._welcomed(msg)
            case Error():
                self._on_error(msg)
            case Bye(reason) if reason == c.R_FLOOD:
                raise Fatal(self.t("client.flooded"))
            case Bye(reason) if reason in (c.R_KICKED, c.R_BANNED):
                raise Fatal(self.t(f"client.{reason}"))  # (no reconnecting after it)
            case Bye(reason) if reason == c.R_SHUTDOWN:
                self.screen.show(self.render.notice(self.t("client.broker_gone")))
                self._retry = self.interval * c.HEARTBEAT_LIVENESS
                self._start_over()
            case _:
                pass  # a BYE we did not ask for: nothing to show

    def _step(self, step: Step) -> None:
        """Show what the timeline released, and ask for what it is missing."""
        if step.reset:
            self.screen.show(self.render.problem(self.t("client.history_reset")))
        if step.lost:
            self.screen.show(self.render.problem(self.t("client.lost_events", count=step.lost)))
        for shown in step.shown:
            self._show(shown)
        if step.fetch is not None and self.state is State.JOINED:
            self._send(step.fetch)
            self._fetch_sent = time.monotonic()

    def _show(self, shown: Shown, page_room: str = "") -> None:
        """One event on screen, marked with its room when that is not the current one.
        ``page_room``: the room of the history page it came in."""
        event = shown.event
        room = "" if isinstance(event, Priv) else event.room or page_room
        read, label = self._read_key(event, room)  # (a room's key, or a conversation's)
        if event.seq and event.seq < self._oldest.get(read, c.MAX_SEQ + 1):
            self._oldest[read] = event.seq
        if isinstance(event, Left) and event.reason != c.R_PART and self.rooms.enabled:
            seen = (name_key(event.name), event.ts, event.reason)
            if seen in self._leaves:
                return  # the same leave of the chat, from another of its rooms
            self._leaves[seen] = None
            if len(self._leaves) > LEAVES_REMEMBERED:
                self._leaves.popitem(last=False)
        parted = isinstance(event, Left) and event.reason == c.R_PART
        if event.seq and self.reading.new_line(read, event.seq):
            self.screen.show(self.render.new_line(label))
        self.screen.show(self.render.event(event, self.name, shown.tag,
                                           where=self.rooms.where(room),
                                           room=self.rooms.notice_room(room, parted)))
        if event.seq:
            self.reading.seen(read, event.seq)

    def _read_key(self, event: object, room: str) -> tuple[str, str]:
        """Where an event's read mark goes (its room, or the private conversation with
        the other user), and its name as shown."""
        if isinstance(event, Priv):
            mine = name_key(event.sender) == name_key(self.name)
            other = event.to if mine else event.sender
            return peer_key(other), c.PEER_PREFIX + other
        key = self.rooms.key(room)
        return key, self.rooms.name(key)

    def _page(self, msg: Events) -> None:
        """A /history page: older events, shown as history (no cursor moves: they
        were read before, or are older than what this session follows); or the
        lines around a search result (/around), which move no scroll position."""
        if msg.room.startswith(c.PEER_PREFIX):  # a private conversation's page
            for event in msg.events:
                self._show(Shown(event, HISTORY))
            text = "client.history_more" if msg.more else "client.history_start"
            self.screen.show(self.render.notice(self.t(text, room=sanitize(msg.room))))
            return
        key = self.rooms.key(msg.room)
        if key in self._around:
            self._around.discard(key)
            where = self.rooms.name(key)
            for event in msg.events:
                self.screen.show(self.render.event(event, self.name, "context", where=where,
                                                   room=self.rooms.notice_room(msg.room)))
            return
        for event in msg.events:
            self._show(Shown(event, HISTORY), msg.room)
        room = sanitize(self.rooms.name(key))
        text = "client.history_more" if msg.more else "client.history_start"
        self.screen.show(self.render.notice(self.t(text, room=room)))

    def _found(self, msg: Events) -> None:
        """SEARCH's results, newest first, numbered on from the last page's."""
        hits = [e for e in msg.events if isinstance(e, Msg | Priv)]
        if not hits and not self._hits:
            self.screen.show(self.render.notice(self.t("client.search_none")))
            return
        for hit in hits:
            self._hits.append(hit)
            where = "" if isinstance(hit, Priv) else self.rooms.name(self.rooms.key(hit.room))
            line = self.render.event(hit, self.name, "found", where=where)
            self.screen.show(f"[{len(self._hits)}] {line}")
        text = "client.search_more" if msg.more else "client.search_end"
        self.screen.show(self.render.notice(self.t(text)))

    def _find(self, find: Find) -> None:
        """/search: the same search again pages on, to older results."""
        if find.room and not self._room_ok(find.room):
            return
        ask = Search(find.words, find.sender, find.room, find.peer)
        before = None
        if ask == self._searched and self._hits:
            before = self._hits[-1].seq
        else:
            self._searched, self._hits = ask, []
        self._request(Search(ask.words, ask.sender, ask.room, ask.peer, before))

    def _around_hit(self, number: int) -> None:
        """/around N: the lines of result N's room around it."""
        if not 0 < number <= len(self._hits):
            self.screen.show(self.render.problem(self.t("client.around_unknown",
                                                        number=number)))
            return
        hit = self._hits[number - 1]
        if isinstance(hit, Priv):
            self.screen.show(self.render.problem(self.t("client.around_private",
                                                        number=number)))
            return
        key = self.rooms.key(hit.room)
        self._around.add(key)
        self._request(History(self.rooms.name(key), around=hit.seq, limit=AROUND_LINES))

    def _scroll_back(self, room: str, count: int, peer: str = "") -> None:
        """/history: the page of a room's events (or the private conversation's with
        ``peer``) before the oldest one shown."""
        if peer:
            self._request(History("", before=self._oldest.get(peer_key(peer)),
                                  limit=count or SCROLL_PAGE, peer=peer))
            return
        if room and not self._room_ok(room):
            return
        if not room and not self._rooms_enabled():
            return
        if not room and self.rooms.current is None:
            self.screen.show(self.render.problem(self.t("error.NO_ROOM")))
            return
        key = room_key(room) if room else self.rooms.current
        assert key is not None
        self._request(History(self.rooms.name(key), before=self._oldest.get(key),
                              limit=count or SCROLL_PAGE))

    def _topic(self, key: str) -> bytes:
        """The feed topic of the room ``key`` (the default room's, or another's)."""
        return DEFAULT_TOPIC if key == self.rooms.default else room_topic(key)

    def _follow(self, key: str, on: bool) -> None:
        """Subscribe the feed (if any) to the room ``key``, or unsubscribe it: the
        broker gives our subscriber a room's topic only when asked, once we are in
        the room, and takes our feed connection if we part a room it still has."""
        topic = self._topic(key)
        if self.feed is None or (topic in self._following) == on:
            return  # (once each way: libzmq sends an unsubscription only at count 0)
        self.feed.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, topic)
        if on:
            self._following.add(topic)
        else:
            self._following.discard(topic)

    def _entered(self, msg: Entered) -> None:
        self.rooms.entered(msg.room)
        self._follow(room_key(msg.room), True)
        self._parting.discard(room_key(msg.room))
        self._step(self.timeline.entered(msg.room, msg.head))
        self.screen.show(self.render.notice(self.t("client.entered", room=sanitize(msg.room))))
        if msg.topic:
            self.screen.show(self.render.notice(self.t(
                "client.room_topic", room=sanitize(msg.room), topic=sanitize(msg.topic))))
        # ENTERED names the others (``online`` counts them); the user is in it too.
        alone = not msg.users and msg.online == 0
        self.screen.show(self.render.room_members(
            msg.room, () if alone else (*msg.users, self.name), 0 if alone else msg.online + 1))
        self._prompt()

    def _parted(self, room: str) -> None:
        self._parting.discard(room_key(room))
        was = self.rooms.current
        self.rooms.parted(room)
        self.timeline.parted(room)
        self.screen.show(self.render.notice(self.t("client.parted", room=sanitize(room))))
        now = self.rooms.current
        if now is not None and now != was:
            self.screen.show(self.render.notice(self.t(
                "client.switched", room=sanitize(self.rooms.name(now)))))
        self._prompt()

    def _prompt(self) -> None:
        self.screen.set_prompt(self.rooms.prompt(sanitize(self.name)))

    def _acked(self, cid: int, seq: int, prev: int) -> None:
        msg = self.outbox.settle(cid)
        if isinstance(msg, Say):
            self.timeline.own_public(seq, prev, msg.room)
            self.reading.seen(self.rooms.key(msg.room), seq)
        if msg is not None and self.show_acks:
            self.screen.show(self.render.notice(
                self.t("client.delivered", text=sanitize(msg.text[:60]))))

    def _welcomed(self, msg: Welcome) -> None:
        self.name = adopted_name(self.name, msg.name)
        self.interval = msg.heartbeat  # the broker's interval rules both sides
        self.state = State.JOINED
        self._resume_until = None
        self._told_queued = False
        self._retry = self.interval * c.HEARTBEAT_LIVENESS
        shown = sanitize(self.name)
        if self.ever_joined:
            self.screen.show(self.render.notice(self.t("client.rejoined", name=shown)))
        else:
            self.screen.show(self.render.notice(self.t("client.welcome", name=shown)))
            if msg.users:
                self.screen.show(self.render.users(msg.users, "client.online",
                                                   total=max(msg.online, len(msg.users))))
            else:
                self.screen.show(self.render.notice(self.t("client.online_none")))
        self.ever_joined = True
        self.rooms.welcome(msg.room, msg.rooms)
        self._heads = {room_key(room): head for room, head in msg.rooms}
        self._prompt()
        if msg.fanout == c.FANOUT_PUB:
            self._open_feed(msg.feeds, msg.session)
        self._step(self.timeline.welcome(msg))
        self._pace = None
        if msg.rate > 0 and msg.byte_rate > 0:
            # A little under the broker's limits: its buckets and ours do not tick
            # together, and a line refused at the edge would cost a round trip.
            self._pace = (TokenBucket(msg.rate * PACE_MARGIN, max(1, msg.burst - 1)),
                          TokenBucket(msg.byte_rate * PACE_MARGIN,
                                      max(1, msg.byte_burst - c.MAX_TEXT_CHARS * 4)))
        self.outbox.requeue()  # the broker drops any it already stored
        self._pump()
        early, self._early = self._early, []
        for line in early:  # (lines typed before the first WELCOME, in order)
            self._command(line)

    def _on_error(self, err: Error) -> None:
        if err.code == c.E_NOT_JOINED and self.state is State.JOINED:
            # The broker restarted faster than our liveness noticed: join again.
            # A message it refused this way stays in the outbox and is resent.
            self.screen.show(self.render.notice(self.t("client.lost")))
            self._start_over()
            return
        if err.code in c.FATAL_ERRORS and self.state is State.CONNECTING:
            raise Fatal(self.render.error(err).split(" ! ", 1)[-1])
        if err.code == c.E_RATE_LIMITED and err.cid:
            # We outpaced the broker (its limits changed?): back off and send it again.
            self.outbox.again(err.cid)
            if self._pace is not None:
                self._pace[0].tokens = 0.0
            return
        if err.ref == "dms" and err.code == c.E_UNAVAILABLE:
            self.screen.show(self.render.problem(self.t("client.no_dms")))
            return
        if err.ref == "search" and err.code in (c.E_UNAVAILABLE, c.E_RATE_LIMITED):
            text = "client.no_search" if err.code == c.E_UNAVAILABLE else "client.search_busy"
            self.screen.show(self.render.problem(self.t(text)))
            return
        if err.code == c.E_UNAVAILABLE and self.state is State.JOINED:
            # A room command to a broker of a cluster cut off from the others.
            self.screen.show(self.render.problem(self.t("client.rooms_cut_off")))
            return
        if err.cid:
            self.outbox.settle(err.cid)  # refused for good: do not resend it
        if self._parting and err.code == c.E_RATE_LIMITED:
            for key in self._parting & set(self.rooms.names):  # a PART refused: still in
                self._follow(key, True)
            self._parting.clear()
        self.screen.show(self.render.error(err))

    # ---- from the user --------------------------------------------------------

    def _read_stdin(self) -> None:
        try:
            data = os.read(self.stdin_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # the terminal went away: same as EOF
        if not data:
            self._quit = True
            return
        if self.editor is not None:
            for event in self.editor.feed(self._decoder.decode(data)):
                if isinstance(event, Eof):
                    self._quit = True
                    return
                if isinstance(event, Submit):
                    self._command(event.line)
            self.screen.redraw()
            return
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._command(raw.decode("utf-8", "replace"))
            if self._quit:
                return

    def _command(self, line: str) -> None:
        typed = parse_line(line)
        if not self.ever_joined and len(self._early) < EARLY_LINES \
                and not isinstance(typed, Nothing | Quit | ShowHelp | Public | Private):
            # A command typed before the first WELCOME (a paste, a pipe): what it means
            # depends on what the broker offers (rooms, its default room), so it waits
            # for it. (Messages wait in the outbox, as they do whenever not connected.)
            self._early.append(line)
            return
        match typed:
            case Nothing():
                pass
            case Quit():
                self._quit = True
            case ShowHelp():
                self.screen.show(self.t("client.help"))
            case UnknownCommand(word):
                self.screen.show(self.render.problem(
                    self.t("client.unknown_command", command=sanitize(word))))
            case Usage(command):
                self.screen.show(self.render.problem(self.t(f"client.usage_{command}")))
            case ListUsers(room):
                self._who(room)
            case Public(text):
                if not self.rooms.enabled:
                    self._say(text, "")
                elif self.rooms.current is None:
                    self.screen.show(self.render.problem(self.t("error.NO_ROOM")))
                else:
                    self._say(text, self.rooms.current)
            case RoomSay(room, text):
                if self._room_ok(room):
                    self._say(text, room_key(room))
            case Private(to, text):
                self._queue(Tell(to, text))
            case EnterRoom(room):
                if not self._room_ok(room):
                    return
                key = room_key(room)
                if key in self.rooms.names:  # already in it: switch, nothing to send
                    self.rooms.switch(key)
                    self.screen.show(self.render.notice(self.t(
                        "client.switched", room=sanitize(self.rooms.name(key)))))
                    self._prompt()
                else:
                    self._request(Enter(room))
            case PartRoom(room):
                if not room and self.rooms.enabled and self.rooms.current is None:
                    self.screen.show(self.render.problem(self.t("error.NO_ROOM")))
                elif self._room_ok(room or self._current_name()):
                    self._part(room or self._current_name())
            case ScrollBack(room, count, peer):
                self._scroll_back(room, count, peer)
            case Moderation(op, name, room, seconds, reason):
                self._request(Moderate(op, name, room, seconds, reason))
            case ShowDms():  # (what was shown is marked read first: counts are current)
                if self.state is State.JOINED and (mark := self.reading.flush()) is not None:
                    self._send(mark)
                self._request(ListDms())
            case Find():
                self._find(typed)
            case Around(number):
                self._around_hit(number)
            case ShowRooms():
                if self._rooms_enabled():
                    self._request(ListRooms())
            case Topic(text):
                if not self._rooms_enabled():
                    return
                if self.rooms.current is None:
                    self.screen.show(self.render.problem(self.t("error.NO_ROOM")))
                else:
                    self._request(SetTopic(self._current_name(), text))

    def _current_name(self) -> str:
        return "" if self.rooms.current is None else self.rooms.name(self.rooms.current)

    def _rooms_enabled(self) -> bool:
        """Whether the broker has rooms; if not, say so."""
        if not self.rooms.enabled:
            self.screen.show(self.render.problem(self.t("client.no_rooms")))
        return self.rooms.enabled

    def _room_ok(self, room: str) -> bool:
        """Whether ``room`` can be asked for: the broker has rooms and the name is valid."""
        if not self._rooms_enabled():
            return False
        if (problem := room_problem(room)) is not None:
            self.screen.show(self.render.error(Error(c.E_BAD_ROOM, problem, room)))
            return False
        return True

    def _part(self, room: str) -> None:
        """PART, after the feed stops following the room (see _follow)."""
        key = room_key(room)
        if self.state is State.JOINED and key in self.rooms.names:
            self._follow(key, False)
            self._parting.add(key)
        self._request(Part(room))

    def _request(self, msg: ClientMessage) -> None:
        """Send a request that is not kept for later (ENTER, PART, WHO, ROOMS, TOPIC)."""
        if self.state is State.JOINED:
            self._send(msg)
        else:
            self.screen.show(self.render.problem(self.t("client.not_connected")))

    def _who(self, room: str) -> None:
        """/who: the current room's members; everyone online when asked (*), when the
        broker has no rooms, or for a user who never left the default room."""
        if room and room != EVERYONE:
            if self._room_ok(room):
                self._request(Who(room))
            return
        current = self.rooms.current
        if (room == EVERYONE or current is None or not self.rooms.enabled
                or (current == self.rooms.default and not self.rooms.chosen)):
            self._request(Who())
        else:
            self._request(Who(self.rooms.name(current)))

    def _say(self, text: str, key: str) -> None:
        """Text for the room ``key`` ("" on a broker without rooms), echoed in terminal
        mode marked with the room when it is not the current one."""
        if self._queue(Say(text, room=self.rooms.wire(key) if key else "")) \
                and self.screen.interactive:
            where = self.rooms.name(key) if key and key != self.rooms.current else ""
            self.screen.show(self.render.own(self.name, text, time.time(), where))

    def _queue(self, msg: Say | Tell) -> bool:
        """Put a message in the outbox and send it if joined; it stays until ACKed."""
        if len(msg.text) > c.MAX_TEXT_CHARS:
            self.screen.show(self.render.problem(
                self.t("client.too_long", length=len(msg.text), limit=c.MAX_TEXT_CHARS)))
            return False
        size = len(encode(msg))
        if size > c.MAX_FRAME_BYTES:  # e.g. '@' and a 20,000-character name
            self.screen.show(self.render.problem(
                self.t("client.too_long", length=size, limit=c.MAX_FRAME_BYTES)))
            return False
        queued = self.outbox.add(msg)
        if queued is None:
            self.screen.show(self.render.problem(self.t("client.outbox_full")))
            return False
        if self.state is State.JOINED:
            self._pump()
        elif not self._told_queued and self._resume_until is None:
            # (Within a dropped connection's grace we do not know yet that we are
            # not connected: a blip shows nothing.)
            self._told_queued = True
            self.screen.show(self.render.notice(self.t("client.queued")))
        return True

    def _pump(self) -> None:
        """Send waiting messages as fast as the broker's announced limits allow."""
        while self.state is State.JOINED and (msg := self.outbox.peek()) is not None:
            if self._pace is not None:
                now = time.monotonic()
                messages, octets = self._pace
                size = min(len(msg.text.encode("utf-8")), int(octets.burst))  # as the broker
                if messages.wait(now) > 0 or octets.wait(now, size) > 0:
                    return  # _next_deadline wakes us when there is room
                messages.take(now)
                octets.take(now, size)
            if not self._send(msg):
                return
            self.outbox.sent()

    def _pace_wait(self) -> float:
        msg = self.outbox.peek()
        if msg is None or self._pace is None:
            return 3600.0
        now = time.monotonic()
        messages, octets = self._pace
        size = min(len(msg.text.encode("utf-8")), int(octets.burst))
        return max(messages.wait(now), octets.wait(now, size))

    def _leave(self) -> None:
        if self.state is State.JOINED and self.sock is not None:
            self.sock.setsockopt(zmq.LINGER, LEAVE_LINGER_MS)
            if (mark := self.reading.flush()) is not None:
                self._send(mark)  # (what was read last: a key's next session starts there)
            if self._send(Leave()):
                self._await_bye()
        self.screen.show(self.render.notice(self.t("client.bye")))

    def _await_bye(self) -> None:
        """Wait (bounded) for the broker's BYE: closing at once could let the broker
        notice the closed connection before it reads LEAVE, and tell the others
        we were lost rather than that we left."""
        assert self.sock is not None
        deadline = time.monotonic() + LEAVE_LINGER_MS / 1000
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(remaining * 1000), zmq.POLLIN):
                return
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                continue
            if frame.startswith(c.HEADER + c.BYE.encode("ascii")):
                return


def make_screen(stdin_fd: int, out: TextIO) -> tuple[PlainScreen | TtyScreen, LineEditor | None]:
    """A TtyScreen with a line editor when stdin is a terminal, else plain lines."""
    if os.isatty(stdin_fd):
        editor = LineEditor(max_chars=c.MAX_TEXT_CHARS * 2)
        return TtyScreen(out, stdin_fd, editor), editor
    return PlainScreen(out), None
