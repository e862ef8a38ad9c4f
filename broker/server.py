"""The broker process: one ROUTER, one poller loop, signals and deadlines.

This is the only module that sends. It drains the ROUTER in bounded batches,
hands each message to BrokerCore and sends what the Batcher makes of the
actions it returns (batcher.py: batching and the order frames go out in).
The store is committed before anything is sent. Sends never block: a peer
that is gone (EHOSTUNREACH, thanks to ROUTER_MANDATORY) is dropped and
announced; one whose queue is full (EAGAIN) misses that event and is told to
catch up from history (BrokerCore.lagging).
"""

import errno
import logging
import signal
import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

import zmq

from zchat.common.addresses import loopback
from zchat.common.wakeup import SignalWakeup
from zchat.protocol import DEFAULT_TOPIC, room_topic
from zchat.protocol import constants as c

from . import netfd
from .actions import Action, StopFeed
from .admin_wire import MAX_REQUEST_BYTES
from .adminpath import AdminPathError, bind_owner_only, path_of, remove_if_ours
from .backplane import DOWN, EVENT
from .batcher import Batcher, OnFeed, Out, To, ToSome
from .core import BrokerCore
from .feedgate import FeedGate, Verdict
from .guard import Bounds
from .journal import Journal
from .keys import ZAP_DOMAIN, KeyFileError, KeyGate, load_secret
from .settle import settle
from .store import StoreError, stream_key
from .watch import Watch, connection_bound, open_monitor

if TYPE_CHECKING:
    from .admin import Admin
    from .cluster import RedisCluster
    from .metrics import Metrics

log = logging.getLogger(__name__)

#: Messages read per poll wake-up before timers get a turn.
BATCH = 500
#: Outbound queue bound per client, in frames; past it the client misses events and
#: catches up. A frame is one event, a live batch of up to LIVE_BYTES or a page.
SEND_HWM = 1_000
#: A live batch (see _perform) closes before it grows past this many bytes: with
#: SEND_HWM, a slow client's queue is bounded near SEND_HWM x LIVE_BYTES (one event
#: alone may be bigger).
LIVE_BYTES = c.MAX_FRAME_BYTES
#: Fan-out frames at least this big share one buffer among their recipients.
SHARE_BYTES = 1024
#: How long closing waits to flush BYE frames on shutdown.
LINGER_MS = 500
#: Batches read before the timers run, when frames are waiting (see run).
PRE_TICK_BATCHES = 20
#: Seconds between looks at the connections (unjoined ones expiring, backlogs).
WATCH_INTERVAL = 0.25
#: While searches wait for their slices, the loop waits at most this long for frames.
SEARCH_TURN_WAIT = 0.001
#: How long the ROUTER must have been quiet before the search index takes its slices.
INDEX_QUIET = 0.05
#: The feed's subscribers send subscriptions only, and their handshakes (CURVE's
#: INITIATE with its metadata is the biggest): anything larger ends the connection.
FEED_MAX_MESSAGE = 1024
#: Subscriptions libzmq may read from one feed connection before the broker has
#: judged them (each costs memory until it is judged).
FEED_RCVHWM = 8
#: Admin requests read per poll wake-up: the chat gets its turn between them.
ADMIN_BATCH = 16


class BindError(Exception):
    """An endpoint could not be bound: in use, malformed, or not permitted."""

    def __init__(self, endpoint: str, reason: str, in_use: bool) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason
        self.in_use = in_use


class BrokerServer:
    """Owns the context, the ROUTER socket and the loop around a BrokerCore."""

    def __init__(self, core: BrokerCore, endpoints: Sequence[str],
                 curve_secret: Path | None = None, allow_keys: Path | None = None,
                 journal: Journal | None = None, fanout: str = c.FANOUT_ROUTER,
                 cluster: "RedisCluster | None" = None) -> None:
        """Bind every endpoint; with ``curve_secret``, encrypt and authenticate (CURVE);
        with ``fanout`` "pub", also bind a feed (XPUB) beside each for public events;
        with ``cluster``, deliver the events its reader brings from the other brokers."""
        self.core = core
        self.cluster = cluster
        self.link: zmq.Socket[bytes] | None = None
        self.journal = journal
        self.feed: zmq.Socket[bytes] | None = None
        self.feed_monitor: zmq.Socket[bytes] | None = None
        self.ctx = zmq.Context()
        self.gate: KeyGate | None = None
        before, limit = netfd.raise_descriptor_limit()
        self.watch = Watch(Bounds(core.limits.max_per_address, connection_bound(limit),
                                  c.UNJOINED_SECONDS), encrypted=curve_secret is not None)
        t = core.catalogue.t
        log.info(t("log.descriptors", limit=limit,
                   raised=t("log.descriptors_raised", before=before) if limit > before else "",
                   connections=self.watch.guard.bounds.connections,
                   per_address=core.limits.max_per_address))
        # libzmq starts the ROUTER's id counter from rand(): seeded, it is no one's guess.
        netfd.seed_libc_rand()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, LINGER_MS)
        # Unroutable sends must raise, not vanish: that is how a gone peer is noticed.
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # Oversized frames are refused by libzmq before they reach Python.
        self.router.setsockopt(zmq.MAXMSGSIZE, c.MAX_FRAME_BYTES)
        self.router.setsockopt(zmq.SNDHWM, SEND_HWM)
        self.router.setsockopt(zmq.BACKLOG, 4096)
        self.router.setsockopt(zmq.HANDSHAKE_IVL, int(c.HANDSHAKE_SECONDS * 1000))
        self.monitor = open_monitor(self.router)
        self.feedgate = FeedGate(self._session_of, self._topics_of)
        self.endpoints: list[str] = []
        #: With --admin: its socket (owner-only: adminpath.py), the socket file's inode
        #: (removed at exit if still ours), and what answers it (admin.py).
        self.admin_socket: zmq.Socket[bytes] | None = None
        self._admin_path, self._admin_inode = "", 0
        self.admin: Admin | None = None
        try:
            self.watch.learn_ids(self.ctx, self.router)  # before anyone else connects
            if curve_secret is not None:
                self._secure(curve_secret, allow_keys)
            for endpoint in endpoints:
                self._bind(endpoint)
            if fanout == c.FANOUT_PUB:
                self._bind_feeds()
        except (BindError, KeyFileError, zmq.ZMQError):
            self.close(linger=0)
            raise
        if cluster is not None:
            self.link = cluster.start(self.ctx)
        self._stop = False
        self._watched = 0.0
        #: When frames were last read from the ROUTER, or events came from the cluster (the
        #: search index waits for quiet).
        self._last_read = 0.0
        self.core.ready = self._ready
        #: When and in what order actions go out (public events batched per cycle).
        self.batcher = Batcher(LIVE_BYTES, feed=self.feed is not None,
                               batched_acks=self.core.roster.batched_acks,
                               outside=self.core.roster.outside)
        #: With --metrics: told what the loop did, a batch or a cycle at a time (metrics.py).
        self.metrics: Metrics | None = None
        #: Frames clients missed in the current batch of sends (their queues full or
        #: backed up): counted where it happens, told with the batch.
        self._missed = 0

    def _bind_feeds(self) -> None:
        """One XPUB beside each ROUTER endpoint: libzmq copies each public event to
        every subscriber, instead of a Python loop calling send per recipient."""
        feed = self.ctx.socket(zmq.XPUB)
        feed.setsockopt(zmq.LINGER, 0)
        feed.setsockopt(zmq.SNDHWM, SEND_HWM)  # a slower subscriber misses events, then FETCHes
        # Subscriptions are handed to us, not applied (see feedgate.py): only a joined
        # session's subscriber is given the feed.
        feed.setsockopt(zmq.XPUB_MANUAL, 1)
        feed.setsockopt(zmq.MAXMSGSIZE, FEED_MAX_MESSAGE)
        feed.setsockopt(zmq.RCVHWM, FEED_RCVHWM)
        feed.setsockopt(zmq.HANDSHAKE_IVL, int(c.HANDSHAKE_SECONDS * 1000))
        if self.encrypted:
            self._curve_server(feed)  # before bind, as the ROUTER
        self.feed_monitor = open_monitor(feed)
        self.feed = feed
        feeds: list[str] = []
        for endpoint in self.endpoints:
            if endpoint.startswith("tcp://"):
                host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
                feed.bind(f"tcp://{host}:*")
                port = feed.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1]
                # A wildcard bind is announced as "*": the host the client dialled.
                shown = "*" if host in ("0.0.0.0", "[::]", "*") else host
                feeds.append(f"tcp://{shown}:{port}")
            elif endpoint.startswith("ipc://"):
                feed.bind(endpoint + ".feed")
                feeds.append(endpoint + ".feed")
        self.core.use_feed(tuple(feeds))

    @property
    def encrypted(self) -> bool:
        return self.gate is not None

    def _secure(self, curve_secret: Path, allow_keys: Path | None) -> None:
        self._keys = load_secret(curve_secret)
        # The ZAP handler must exist before the first handshake, so before bind.
        self.gate = KeyGate(self.ctx, allow_keys)
        # (operators' pins, set before: theirs win over the allow list's for their names)
        self.core.admission.pins = {**self.gate.pins, **self.core.admission.pins}
        self._curve_server(self.router)

    def _curve_server(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` a CURVE server gated by ZAP. (Handshake failures, plaintext
        clients and wrong server keys, never reach ZAP: the socket's monitor logs
        them, see watch.EVENTS; the ZAP gate logs the keys it refuses itself.)"""
        public, secret = self._keys
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        # curve_server must be set before bind, or the socket speaks plaintext.
        sock.curve_server = True
        sock.zap_domain = ZAP_DOMAIN

    def exposed_without_encryption(self) -> list[str]:
        """Endpoints reachable beyond this machine with no encryption on."""
        if self.encrypted:
            return []
        return [e for e in self.endpoints if e.startswith("tcp://") and not _loopback(e)]

    def _bind(self, endpoint: str) -> None:
        try:
            self.router.bind(endpoint)
        except zmq.ZMQError as exc:
            raise BindError(endpoint, exc.strerror, exc.errno == errno.EADDRINUSE) from None
        last = self.router.getsockopt(zmq.LAST_ENDPOINT)
        self.endpoints.append(last.decode() if isinstance(last, bytes) else str(last))

    def serve_admin(self, endpoint: str, admin: "Admin") -> None:
        """Answer `zchat admin` on ``endpoint`` (ipc://PATH), which only this user may
        connect to (adminpath.py); call before `run`."""
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        # A bigger request ends its connection in libzmq, before Python sees it.
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        try:
            self._admin_inode = bind_owner_only(sock.bind, endpoint)
        except AdminPathError as exc:
            sock.close(0)
            raise BindError(endpoint, exc.reason, exc.in_use) from None
        except zmq.ZMQError as exc:
            sock.close(0)
            raise BindError(endpoint, exc.strerror, exc.errno == errno.EADDRINUSE) from None
        self.admin_socket = sock
        self.admin = admin
        self._admin_path = path_of(endpoint)

    # ---- running --------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; returns how many clients were told BYE."""
        settle()  # (what start-up built is left out of GC; threads yield the GIL soon)
        with SignalWakeup((signal.SIGINT, signal.SIGTERM), self.request_stop) as wakeup:
            poller = zmq.Poller()
            for sock in (self.router, wakeup.fd, self.gate and self.gate.socket, self.monitor,
                         self.feed, self.feed_monitor, self.link, self.admin_socket):
                if sock is not None:
                    poller.register(sock, zmq.POLLIN)  # (the feed: subscriptions, dropped)
            while not self._stop:
                for _ in range(PRE_TICK_BATCHES):
                    if not cast(int, self.router.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                        break
                    # Frames waiting (after a stall, say) first: a session whose PINGs are
                    # among them is alive, and tick must not expire it.
                    self._flush(self._drain())
                    self.core.index_fresh()
                now = time.monotonic()
                self._flush(self.core.tick(now))
                if now >= self._watched + WATCH_INTERVAL:
                    self._watched = now
                    self._flush(self._watch_tick(now))
                    if self.admin is not None:
                        self.admin.sample(now)
                if self.batcher:
                    self._send_out(self.batcher.due(time.monotonic()))
                # Quiet for INDEX_QUIET: the search index takes what was delivered, a
                # slice at a time (busy, it only gets its share: finding.py).
                quiet_at = self._last_read + INDEX_QUIET
                if time.monotonic() >= quiet_at and \
                        not cast(int, self.router.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                    self.core.index_fresh(idle=True)
                deadline = min(self.core.next_deadline(), self._watched + WATCH_INTERVAL,
                               self.watch.next_deadline(), self.batcher.next_deadline())
                if self.core.index_pending():
                    deadline = min(deadline, quiet_at)
                if self.core.searches_pending():  # (a slice each, between the frames)
                    deadline = min(deadline, time.monotonic() + SEARCH_TURN_WAIT)
                timeout_ms = max(0.0, deadline - time.monotonic()) * 1000
                events = dict(poller.poll(int(timeout_ms)))
                now = time.monotonic()
                if wakeup.fd in events:
                    wakeup.drain()
                if self.gate is not None and self.gate.socket in events:
                    self.gate.handle()
                if self.monitor in events:
                    self.watch.monitor_events(self.monitor, now)
                if self.feed_monitor is not None and self.feed_monitor in events:
                    for fd in self.watch.monitor_events(self.feed_monitor, now):
                        self.feedgate.closed(fd)
                if self.feed is not None and self.feed in events:
                    self._drain_feed(now)
                if self.link is not None and self.link in events:
                    stamps: list[float] = []
                    self._flush(self._arrivals(stamps))
                    self.core.index_fresh()
                    if stamps and self.metrics is not None:
                        self.metrics.arrived(stamps, time.time())  # (delivered by now)
                if self.router in events:
                    self._flush(self._drain())
                    # What the batch delivered (its frames are out) goes into the search
                    # index, within its share of a busy broker's time (finding.py): after
                    # the sends, so that indexing never delays a delivery.
                    self.core.index_fresh()
                if self.admin_socket is not None and self.admin_socket in events:
                    self._serve_admin()
                self._flush(self.core.serve_fetches(time.monotonic()))  # after the messages
                self._flush(self.core.serve_searches(time.monotonic()))  # then a slice each
                self._follow_sessions(time.monotonic())
                if self.journal is not None:
                    self.journal.flush()  # the cycle's log lines, in one write
            told = len(self.core.roster)
            self._flush(self.core.shutdown())
            return told

    def _drain(self) -> list[Action]:
        """Read up to BATCH messages and return what the core says to do about them."""
        self._last_read = time.monotonic()
        router = self.router
        recv = router.recv
        core = self.core
        joined = core.roster.by_identity
        #: With metrics: the messages read, counted by command after the batch.
        read: list[bytes] | None = [] if self.metrics is not None else None
        actions: list[Action] = []
        for _ in range(BATCH):
            try:
                identity = recv(_NOBLOCK)
            except zmq.Again:
                break
            # (A ROUTER puts the identity before every message: a frame follows.)
            peer = user = ""
            # A Frame, read for its `more`: `getsockopt(RCVMORE)` makes its option an enum
            # member on every call, which costs more than the Frame (docs/PERFORMANCE.md).
            part = recv(copy=False)
            frames = [part.bytes]
            if joined(identity) is None:
                fd = _source(part)
                if not self.watch.knows(fd):
                    # A connection quicker than its monitor events (accepted, or a number
                    # reused since one closed): read them first, so that the connection is
                    # counted, and a join on it is not taken for one that never joined.
                    self.watch.monitor_events(self.monitor, time.monotonic())
                self.watch.seen(identity, fd)
                if self._chose_reserved_id(identity):
                    self.watch.shed(fd, "it chose a routing id reserved for libzmq's own "
                                        "(one that could crash the broker)", time.monotonic())
                    _skip_rest(router)
                    continue
                peer = _property(part, "Peer-Address")
                if self.gate is not None:
                    user = _property(part, "User-Id")  # the key ZAP admitted
            while part.more:  # more than one frame is an error; keep what is read bounded
                part = recv(copy=False)
                if len(frames) < 2:
                    frames.append(part.bytes)
            if read is not None:
                read.append(frames[0])
            try:
                actions.extend(core.handle(identity, frames, time.monotonic(), peer, user))
            except StoreError:
                raise
            except Exception:
                # A bug must not let one client's frame stop everyone's chat.
                log.exception("unexpected error handling a frame from %s", identity.hex())
        if read and self.metrics is not None:
            self.metrics.received(read)
        return actions

    def _serve_admin(self) -> None:
        """Answer up to ADMIN_BATCH admin requests: what each asks is done as the core's
        actions are (committed, then sent), and then it is answered."""
        sock = self.admin_socket
        assert sock is not None and self.admin is not None
        for _ in range(ADMIN_BATCH):
            try:
                identity = sock.recv(_NOBLOCK)
            except zmq.Again:
                return
            frames: list[bytes] = []
            while sock.getsockopt(zmq.RCVMORE):  # (3 kept: enough to tell a request)
                part = sock.recv()
                if len(frames) < 3:
                    frames.append(part)
            # A REQ puts an empty delimiter before its request, a DEALER nothing.
            envelope, request = frames[:-1], frames[-1:]
            if not request or envelope not in ([], [b""]):
                continue  # not a request: there is nothing to answer
            reply, actions = self.admin.handle(request[0], time.monotonic())
            self._flush(actions)
            try:  # (a ROUTER drops what it cannot send: this never blocks)
                sock.send_multipart([identity, *envelope, reply], _NOBLOCK)
            except zmq.Again:
                pass

    def _arrivals(self, stamps: list[float]) -> list[Action]:
        """Deliver what the cluster reader brought: events in the log's order, and
        news of the link (down: serve our own users; back: hand them to the cluster).
        With metrics, the stamps of other brokers' messages go into ``stamps``."""
        assert self.cluster is not None
        core = self.core
        self._last_read = time.monotonic()  # (busy, not quiet, while they come)
        timed = self.metrics is not None
        actions: list[Action] = []
        for kind, event, reader in self.cluster.take():
            if kind == EVENT:
                if timed and event is not None and event.kind in _MESSAGES and \
                        core.roster.by_stream(event.origin) is None:  # (another's user)
                    stamps.append(event.ts)
                actions += core.arrived(event, reader)  # type: ignore[arg-type]
            elif kind == DOWN:
                actions += core.link_down()
            else:  # UP, or RESYNC: the others took us for dead
                actions += core.rejoin_cluster(time.monotonic(), force=True)
        return actions

    def _flush(self, actions: list[Action]) -> None:
        """Commit the store, then send: nothing goes out that a crash could lose.
        (Committing can add actions: in a cluster, the ACKs of what it numbered.)"""
        while True:
            actions += self._commit()
            if not actions:
                return
            actions = self._perform(actions)

    def _commit(self) -> list[Action]:
        """`BrokerCore.commit`; with metrics, timed when it made events durable."""
        if self.metrics is None:
            return self.core.commit()
        core = self.core
        before = core.committed
        started = time.perf_counter()
        acks = core.commit()
        if core.committed != before:
            self.metrics.committed(time.perf_counter() - started)
        return acks

    def _perform(self, actions: Iterable[Action]) -> list[Action]:
        """Send what the batcher says to send now (batcher.py: batching and the order
        frames go out in); return the actions that dropping unreachable peers causes."""
        return self._send_out(self.batcher.add(actions, time.monotonic()))

    def _send_out(self, outs: list[Out]) -> list[Action]:
        gone: list[bytes] = []
        sent = published = 0  # (for the metrics: counted per batch, not per recipient)
        for out in outs:
            if type(out) is To:
                sent += self._send_one(out.identity, out.frame, gone)
            elif type(out) is ToSome:
                sent += self._send_some(out.identities, out.frame, gone)
            elif type(out) is OnFeed:
                self._publish(out.frame, out.topic)
                published += 1
            elif type(out) is StopFeed:
                self._stop_feed(out)
            else:
                sent += self._fanout(out.frame, out.instead, gone)  # type: ignore[union-attr]
        if self.metrics is not None:
            self.metrics.sent(sent, self._missed, published)
        self._missed = 0
        return self._dropped(gone)

    def _dropped(self, gone: list[bytes]) -> list[Action]:
        """Drop the peers found gone; return what that causes (their LEFT)."""
        more: list[Action] = []
        for identity in gone:
            self.watch.backlog.forget(identity)
            more.extend(self.core.drop_identity(identity, c.R_LOST))
        return more

    def _publish(self, frame: bytes, topic: bytes = b"") -> None:
        """``frame`` once on the feed, after a room's ``topic`` if given: libzmq copies it
        to every subscriber given that topic (or, without one, the default room's)."""
        assert self.feed is not None
        try:
            if topic:
                self.feed.send(topic, _MORE_NOBLOCK)
            self.feed.send(frame, _NOBLOCK)
        except zmq.Again:
            pass  # (XPUB drops for slow subscribers itself; this cannot block)

    def _stop_feed(self, stop: StopFeed) -> None:
        """A session parted a room: if its subscriber still has the room's topic (it did
        not unsubscribe first), its feed connection goes; its SUB comes back with what
        the session may read."""
        feed = self.feedgate.stop(stop.identity, stop.topic)
        if feed is not None:
            self.watch.shed(feed[0], "it parted a room it still read", time.monotonic(),
                            inode=feed[1], routine=True)

    def _fanout(self, frame: bytes, instead: dict[bytes, bytes | None],
                gone: list[bytes]) -> int:
        """Send ``frame`` to every joined client; ``instead`` maps identities to the
        frame they get instead (None: nothing). Returns how many were sent a frame."""
        backlog = self.watch.backlog
        backlog.fanned_out(len(frame))
        if backlog.stuck:  # backed-up queues get nothing more (they are lagging)
            instead = {**instead, **backlog.stuck}
            self._missed += len(backlog.stuck)
        # The hot loop: per recipient only the two sends (see _send for the
        # same logic one recipient at a time).
        copy = len(frame) < SHARE_BYTES
        shared: bytes | zmq.Frame = frame if copy else zmq.Frame(frame)
        # (Big frames: one buffer for every recipient (libzmq counts references),
        # rather than a copy per queued message: a batch of joins to 10,000
        # clients is 10,000 copies of up to MAX_FETCH events otherwise.)
        send = self.router.send
        send_frame = send if copy else partial(send, copy=False)
        core = self.core
        identities = core.roster.identities()
        sent = len(identities)  # (less those that get nothing, counted off the hot path)
        for identity in identities:
            try:
                if identity in instead:
                    other = instead[identity]
                    if other is not None:
                        send(identity, _MORE_NOBLOCK)
                        send(other, _NOBLOCK)
                    else:
                        sent -= 1
                    continue
                send(identity, _MORE_NOBLOCK)
                send_frame(shared, _NOBLOCK)
            except zmq.Again:
                sent -= 1
                self._missed += 1
                core.lagging(identity)
                backlog.missed(identity, len(frame))
            except zmq.ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    raise
                sent -= 1
                gone.append(identity)
        return sent

    def _send_some(self, identities: tuple[bytes, ...], frame: bytes,
                   gone: list[bytes]) -> int:
        """`_send_one` to each of ``identities`` (a room's members), in one loop: the
        same frame, its queue checks made after the sends. Returns how many were sent it."""
        backlog = self.watch.backlog
        stuck, sent = backlog.stuck, backlog.sent
        send = self.router.send
        lagging = self.core.lagging
        size = len(frame)
        due: list[bytes] = []
        missed, lost = 0, len(gone)
        for identity in identities:
            if identity in stuck:
                lagging(identity)
                missed += 1
                continue
            try:
                send(identity, _MORE_NOBLOCK)
                send(frame, _NOBLOCK)
            except zmq.Again:
                lagging(identity)
                missed += 1
                continue
            except zmq.ZMQError as exc:
                if exc.errno != errno.EHOSTUNREACH:
                    raise
                gone.append(identity)
                continue
            if sent(identity, size):
                due.append(identity)
        if due:
            now = time.monotonic()
            for identity in due:
                if self.watch.check(identity, now):
                    lagging(identity)  # stuck from now on
        self._missed += missed
        return len(identities) - missed - (len(gone) - lost)

    def _send_one(self, identity: bytes, frame: bytes, gone: list[bytes]) -> int:
        """Send one frame to one peer, unless its queue is backed up (then, as when
        the queue is full, it misses it and is told to catch up). Returns 1 if sent."""
        backlog = self.watch.backlog
        if identity in backlog.stuck:
            self.core.lagging(identity)
            self._missed += 1
            return 0
        status = _send(self.router, identity, frame)
        if status is SENT:
            if backlog.sent(identity, len(frame)) and \
                    self.watch.check(identity, time.monotonic()):
                self.core.lagging(identity)  # stuck from now on
            return 1
        if status is GONE:
            gone.append(identity)  # dropped after the loop, not while iterating the roster
        else:
            self.core.lagging(identity)
            self._missed += 1
        return 0

    # ---- connections ----------------------------------------------------------

    def _ready(self, identity: bytes) -> bool:
        """Whether a page can go to ``identity`` now (its queue is not backed up)."""
        return identity not in self.watch.backlog.stuck

    def _session_of(self, token: str) -> bytes | None:
        session = self.core.roster.by_stream(stream_key(token))
        return session.identity if session is not None else None

    def _topics_of(self, identity: bytes) -> list[bytes]:
        """The feed topics the session ``identity`` may read: its rooms'."""
        session = self.core.roster.by_identity(identity)
        if session is None:
            return []
        topics = [room_topic(key) for key in sorted(session.rooms)]
        return [DEFAULT_TOPIC, *topics] if session.in_default else topics

    def _chose_reserved_id(self, identity: bytes) -> bool:
        """A stranger's routing id that libzmq could also give: see watch.py."""
        watch = self.watch
        if not watch.chose_reserved_id(identity):
            return False
        # Its connection may be newer than the monitor events read so far.
        if self.monitor is not None:
            watch.monitor_events(self.monitor, time.monotonic())
        return watch.chose_reserved_id(identity)

    def _follow_sessions(self, now: float) -> None:
        """Tell the watch which connections gained or lost a session; a session's end
        also ends its feed connection (the feed is for joined sessions only)."""
        joins = 0
        for identity, joined in self.core.roster.take_changes():
            if joined:
                self.watch.joined(identity)
                joins += 1
                continue
            self.watch.left(identity, now)
            feed = self.feedgate.ended(identity)
            if feed is not None:
                self.watch.shed(feed[0], "its session ended", now, inode=feed[1], routine=True)
        if joins and self.metrics is not None:
            self.metrics.joined(joins)

    def _watch_tick(self, now: float) -> list[Action]:
        """The connections' timers; sessions whose connection stopped reading for good
        are dropped (reason slow)."""
        slow, stuck = self.watch.tick(now)
        for identity in stuck:
            self.core.lagging(identity)
        actions: list[Action] = []
        for identity in slow:
            actions += self.core.drop_identity(identity, c.R_SLOW)
        return actions

    def _drain_feed(self, now: float) -> None:
        """Judge the subscriptions the feed hands over (bounded per call)."""
        feed = self.feed
        assert feed is not None
        gate = self.feedgate
        for _ in range(BATCH):
            try:
                part = feed.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            fd = _source(part)
            if not self.watch.knows(fd) and self.feed_monitor is not None:
                # A subscriber quicker than its accept event: read the events first.
                for closed in self.watch.monitor_events(self.feed_monitor, now):
                    gate.closed(closed)
            verdict, topics = gate.judge(part.bytes, fd, self.watch.inode(fd), now)
            if verdict is Verdict.SUBSCRIBE:
                # (XPUB_MANUAL: applies to the subscriber of the message just read)
                for topic in topics:
                    feed.setsockopt(zmq.SUBSCRIBE, topic)
                self.watch.feed_joined(fd)
                # Its rooms' events before now did not reach it: its next PING has
                # their heads, so it fetches any it missed even if no other comes.
                self.core.recheck(gate.reader[fd])
            elif verdict is Verdict.UNSUBSCRIBE:
                for topic in topics:
                    feed.setsockopt(zmq.UNSUBSCRIBE, topic)
            elif verdict is Verdict.SHED:
                gate.closed(fd)
                self.watch.shed(fd, "it sent the feed a subscription no session made", now)

    def close(self, linger: int | None = None) -> None:
        if self.feed is not None:
            if self.feed_monitor is not None:
                self.feed.disable_monitor()
                self.feed_monitor.close(0)
            self.feed.close(0)
        if self.admin_socket is not None:
            self.admin_socket.close(0)
            remove_if_ours(self._admin_path, self._admin_inode)
        self.router.disable_monitor()
        self.monitor.close(0)
        if self.gate is not None:
            self.gate.close()
        if self.cluster is not None:
            # Its reader's socket must close before the context. (Stopped, not closed:
            # the cluster is the core's store too, and its maker closes it, once.)
            self.cluster.stop()
        self.router.close(linger=linger)
        self.ctx.term()


SENT, FULL, GONE = "sent", "full", "gone"
# Plain ints: combining pyzmq's flag enums runs Python code on every call, and
# this is the per-recipient hot path.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE) | int(zmq.NOBLOCK)
#: The events that are messages (what the metrics time across brokers).
_MESSAGES = frozenset((c.MSG, c.PRIV))


def _send(router: zmq.Socket[bytes], identity: bytes, frame: bytes) -> str:
    """Send one message without blocking: SENT, FULL (queue at its high-water
    mark: the peer misses this event) or GONE (EHOSTUNREACH: no such peer)."""
    try:
        router.send(identity, _MORE_NOBLOCK)
        router.send(frame, _NOBLOCK)
    except zmq.Again:
        return FULL
    except zmq.ZMQError as exc:
        if exc.errno == errno.EHOSTUNREACH:
            return GONE
        raise
    return SENT


def _property(frame: zmq.Frame, name: str) -> str:
    """A message property (Peer-Address, User-Id), or "" when there is none."""
    try:
        return str(frame.get(name))
    except (zmq.ZMQError, KeyError, AttributeError):
        return ""


def _loopback(endpoint: str) -> bool:
    """Whether a tcp:// endpoint binds this machine only (a host or interface name, or
    none, is taken as reachable)."""
    return loopback(endpoint[len("tcp://"):].rsplit(":", 1)[0].strip("[]"))


def _source(frame: zmq.Frame) -> int:
    """The descriptor of the connection ``frame`` came on (ZMQ_SRCFD), or -1."""
    try:
        return int(frame.get(zmq.SRCFD))
    except (zmq.ZMQError, KeyError, AttributeError, TypeError, ValueError):
        return -1


def _skip_rest(sock: zmq.Socket[bytes]) -> None:
    """Read and drop the rest of a multipart message."""
    while sock.getsockopt(zmq.RCVMORE):
        sock.recv(copy=False)
