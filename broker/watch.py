"""The broker's connections as the kernel sees them: counted, checked and shed.

libzmq accepts connections, finishes their handshakes and queues what is sent
to them on its own. This module follows each connection through the sockets'
monitors (accepted, disconnected) and the source descriptor every message
carries, and carries out what the policies decide:

- `Guard` (guard.py): connections per address and in all, and how long one may
  stay without joining;
- `Backlog` (backlog.py): the bytes each connection may still be holding, with
  the kernel asked (netfd.unsent) once that grows, and stuck connections shed
  when they hold too much in all or stay stuck too long;
- routing ids: libzmq numbers the peers that choose no id from a counter and
  does not check the number against ids other peers chose (a collision aborts
  the broker). The counter's start is made random (netfd.seed_libc_rand) and
  learnt here with a probe of our own; a peer whose id looks like one of
  libzmq's but cannot be one (it starts with a zero byte and lies outside the
  numbers given so far) chose it: it is shed before it can join.

It logs each kind of shedding at most once a second, with a count.
"""

import logging
import secrets
import struct

import zmq

from . import netfd
from .backlog import Backlog
from .guard import Bounds, Guard, Shed
from .throttle import Throttle

log = logging.getLogger(__name__)

#: A connection is checked once it may hold this much (bytes since it last drained).
CHECK_BYTES = 256 * 1024
#: It is stuck when the kernel still holds this much of it unsent...
STUCK_UNSENT = 128 * 1024
#: ... and drained when it holds less than this.
DRAINED_UNSENT = 16 * 1024
#: What all connections together may hold before the largest stuck ones are shed.
MOST_HELD = 128 * 1024 * 1024
#: A connection stuck this long (seconds) is shed, whatever it holds.
LONGEST_STUCK = 300.0
#: Descriptors kept free for the broker's own files and sockets (history, log, Redis,
#: libzmq's internals), and for the connections accepted before we hear of them.
RESERVED_DESCRIPTORS = 128
#: Monitor events followed: connections, and refused handshakes for the log.
EVENTS = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
_AUTO_ID = struct.Struct(">BI")
#: A monitor event's first frame (libzmq's version 1 monitor): the event, then its value
#: (a descriptor, an errno or an interval).
_EVENT = struct.Struct("=Hi")


def read_event(monitor: zmq.Socket[bytes]) -> tuple[int, int, bytes] | None:
    """One event from a socket monitor: (event, value, endpoint); None for a message
    that is not one (raises zmq.Again when none waits).

    Not pyzmq's ``recv_monitor_message``: it makes the value a ``zmq.Event`` too, and
    each new descriptor number then becomes a flag pseudo-member that the enum keeps
    for ever (about 250 bytes a connection the broker ever accepted)."""
    frames = monitor.recv_multipart(zmq.NOBLOCK)
    if len(frames) != 2 or len(frames[0]) != _EVENT.size:
        return None
    kind, value = _EVENT.unpack(frames[0])
    return kind, value, frames[1]


def open_monitor(sock: zmq.Socket[bytes], events: int = EVENTS) -> zmq.Socket[bytes]:
    """A monitor of ``sock`` whose pipe is never full: with libzmq's default (1,000
    events) a connection storm filled it and stalled libzmq's I/O thread, which then
    stopped accepting (about 600 connections in). (pyzmq's get_monitor_socket connects
    before options can be set.)"""
    endpoint = f"inproc://zchat-monitor-{secrets.token_hex(8)}"
    sock.monitor(endpoint, events)
    monitor: zmq.Socket[bytes] = sock.context.socket(zmq.PAIR)
    monitor.setsockopt(zmq.RCVHWM, 0)  # (inproc: unlimited if either side says 0)
    monitor.setsockopt(zmq.LINGER, 0)
    monitor.connect(endpoint)
    return monitor


def connection_bound(descriptors: int) -> int:
    """How many connections a descriptor limit leaves room for."""
    return max(16, descriptors - RESERVED_DESCRIPTORS - descriptors // 16)


class Watch:
    """Connections of the ROUTER (and the feed), by descriptor and by identity."""

    def __init__(self, bounds: Bounds, encrypted: bool = False) -> None:
        self.guard = Guard(bounds)
        self.backlog = Backlog(CHECK_BYTES, MOST_HELD)
        self.encrypted = encrypted
        #: ROUTER connections: descriptor <-> identity (learnt from a message's ZMQ_SRCFD).
        self._identity: dict[int, bytes] = {}
        self._fd: dict[bytes, int] = {}
        #: Descriptors whose connection joined before its ACCEPTED event was read.
        self._joined_early: set[int] = set()
        self._first_id = 0
        self._accepted = 0
        self._logs: dict[str, Throttle] = {}
        self._failed = Throttle(1.0)

    # ---- routing ids ----------------------------------------------------------

    def learn_ids(self, ctx: zmq.Context[zmq.Socket[bytes]], router: zmq.Socket[bytes]) -> None:
        """Find the start of the router's id counter: a probe of our own, with no id,
        gets the next number. Call before the router binds its public endpoints."""
        endpoint = f"inproc://zchat-probe-{secrets.token_hex(8)}"
        router.bind(endpoint)
        probe = ctx.socket(zmq.DEALER)
        try:
            probe.setsockopt(zmq.LINGER, 0)
            probe.connect(endpoint)
            probe.send(b"")
            if router.poll(5000):
                identity = router.recv()
                while router.getsockopt(zmq.RCVMORE):
                    router.recv()
                if len(identity) == _AUTO_ID.size and identity[0] == 0:
                    self._first_id = _AUTO_ID.unpack(identity)[1]
        finally:
            probe.close(0)
            router.unbind(endpoint)

    def chose_reserved_id(self, identity: bytes) -> bool:
        """``identity`` starts with a zero byte (ZeroMQ reserves those for ids it
        makes) but is not one libzmq has given: its peer chose it."""
        if identity[:1] != b"\x00":
            return False
        if len(identity) != _AUTO_ID.size:
            return True
        offset = (_AUTO_ID.unpack(identity)[1] - self._first_id) % (1 << 32)
        return not 0 < offset <= self._accepted

    # ---- what the monitors say ------------------------------------------------

    def monitor_events(self, monitor: zmq.Socket[bytes], now: float) -> list[int]:
        """Read and act on every event waiting on a socket monitor; return the
        descriptors of the connections that closed."""
        closed: list[int] = []
        while True:
            try:
                event = read_event(monitor)
            except zmq.Again:
                return closed
            if event is None:
                continue
            kind, fd, endpoint = event
            if kind == zmq.EVENT_ACCEPTED:
                self._accepted += 1
                self._accept(fd, endpoint.decode("ascii", "replace"), now)
            elif kind == zmq.EVENT_DISCONNECTED:
                self.closed(fd)
                closed.append(fd)
            else:
                self._other(kind, endpoint, now)

    def _other(self, kind: int, endpoint: bytes, now: float) -> None:
        if kind in _HANDSHAKE_FAILED and self.encrypted and self._failed.allow(now):
            log.warning("refused a connection on %s: encryption handshake failed "
                        "(plaintext client, or wrong server key)%s",
                        endpoint.decode("ascii", "replace"), self._failed.suffix())

    def _accept(self, fd: int, listener: str, now: float) -> None:
        found = netfd.describe(fd)
        # The number may already belong to another file (the connection came and
        # went): only a socket accepted on our listener is ours to count and shed.
        if found is None or not listener.endswith(found[2]):
            return
        ino, peer, _ = found
        for shed in self.guard.accepted(fd, ino, peer, now):
            self._shed(shed, now)
        if fd in self._joined_early:
            self._joined_early.discard(fd)
            self.guard.joined(fd)

    def closed(self, fd: int) -> None:
        """The connection on ``fd`` is gone: forget it and what it held."""
        self.guard.closed(fd)
        self._joined_early.discard(fd)
        identity = self._identity.pop(fd, None)
        if identity is not None and self._fd.get(identity) == fd:
            del self._fd[identity]
            self.backlog.forget(identity)

    # ---- what the messages say ------------------------------------------------

    def seen(self, identity: bytes, fd: int) -> None:
        """A message from ``identity`` came on descriptor ``fd`` (ZMQ_SRCFD)."""
        if fd >= 0 and self._fd.get(identity) != fd:
            old = self._fd.get(identity)
            if old is not None:
                self._identity.pop(old, None)
            self._fd[identity] = fd
            self._identity[fd] = identity

    def joined(self, identity: bytes) -> None:
        fd = self._fd.get(identity)
        if fd is not None:
            if fd in self.guard:
                self.guard.joined(fd)
            else:
                self._joined_early.add(fd)  # (applied when its ACCEPTED is read)
        self.backlog.track(identity)  # counted from now on (broadcasts included)

    def left(self, identity: bytes, now: float) -> None:
        fd = self._fd.get(identity)
        if fd is not None:
            self.guard.left(fd, now)

    def feed_joined(self, fd: int) -> None:
        self.guard.joined(fd)

    # ---- shedding ---------------------------------------------------------------

    def knows(self, fd: int) -> bool:
        """Whether the connection on ``fd`` is the one counted there (same socket): if
        not, its monitor events have not been read yet."""
        if fd < 0:
            return True  # (no descriptor to look at)
        conn = self.guard.conn(fd)
        return conn is not None and conn.inode == netfd.inode(fd)

    def inode(self, fd: int) -> int:
        """The socket inode of the connection known on ``fd`` (0: none)."""
        conn = self.guard.conn(fd)
        return conn.inode if conn is not None else 0

    def shed(self, fd: int, why: str, now: float, inode: int = 0, routine: bool = False) -> None:
        """Close the connection on ``fd`` (if it is still the one we know, and, given
        ``inode``, that socket); ``routine``: not worth a line in the log."""
        conn = self.guard.conn(fd)
        if conn is not None and (not inode or conn.inode == inode):
            self.guard.closed(fd)
            self._shed(Shed(fd, conn.inode, conn.address, why), now, routine)

    def shed_identity(self, identity: bytes, why: str, now: float) -> None:
        fd = self._fd.get(identity)
        if fd is not None:
            self.shed(fd, why, now)

    def _shed(self, shed: Shed, now: float, routine: bool = False) -> None:
        netfd.kick(shed.fd, shed.inode)
        if routine:
            return
        throttle = self._logs.setdefault(shed.why, Throttle(1.0))
        if throttle.allow(now):
            log.warning("closed a connection from %s: %s%s", shed.address or "a local socket",
                        shed.why, throttle.suffix())

    # ---- timers -----------------------------------------------------------------

    def tick(self, now: float) -> tuple[list[bytes], list[bytes]]:
        """Shed the connections that waited too long to join; check the backlog of
        those that may hold a lot; shed stuck ones that hold too much or too long.
        Returns (shed: their sessions end, reason "slow"; newly stuck: they lag)."""
        for shed in self.guard.expire(now):
            self._shed(shed, now)
        backlog = self.backlog
        stuck = [identity for identity in [*backlog.due(), *backlog.stuck]
                 if self.check(identity, now)]
        slow = set(backlog.over())
        slow.update(i for i in backlog.stuck if backlog.stuck_for(i, now) > LONGEST_STUCK)
        for identity in slow:
            self.shed_identity(identity, "it stopped reading what it is sent", now)
            backlog.forget(identity)
        return list(slow), [identity for identity in stuck if identity not in slow]

    def check(self, identity: bytes, now: float) -> bool:
        """Ask the kernel about ``identity``'s connection; True if it became stuck."""
        fd = self._fd.get(identity)
        conn = self.guard.conn(fd) if fd is not None else None
        if conn is None:
            return False  # unknown (or not TCP/Unix): libzmq's high-water mark rules
        unsent = netfd.unsent(conn.fd, conn.inode)
        if unsent is None:
            return False
        if unsent >= STUCK_UNSENT:
            if self.backlog.stuck_now(identity, now):
                throttle = self._logs.setdefault("stuck", Throttle(1.0))
                if throttle.allow(now):
                    log.info("connection %s is not reading: sending it nothing until it "
                             "does%s", identity.hex(), throttle.suffix())
                return True
            return False
        if unsent < DRAINED_UNSENT:
            self.backlog.drained(identity)
        return False

    def next_deadline(self) -> float:
        return self.guard.next_deadline()
