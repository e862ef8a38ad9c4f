"""broker/watch.py: the connections of a real ROUTER, followed through its monitor.

A ROUTER in this process, real TCP connections on 127.0.0.1 and the socket
monitor's events: each wait is bounded, nothing sleeps to synchronise.
"""

import itertools
import socket
import struct
import time
from collections.abc import Iterator

import pytest
import zmq

from zchat.broker import netfd
from zchat.broker.guard import Bounds
from zchat.broker.watch import RESERVED_DESCRIPTORS, Watch, connection_bound, open_monitor

TIMEOUT = 5.0
_AUTO = struct.Struct(">BI")


class Broker:
    """A ROUTER set up as the server sets it up: monitored, ids learnt, then bound."""

    def __init__(self, ctx: zmq.Context, bounds: Bounds) -> None:
        self.ctx = ctx
        self.watch = Watch(bounds)
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.BACKLOG, 4096)  # (as the server: storms wait in it)
        self.monitor = open_monitor(self.router)
        self.watch.learn_ids(ctx, self.router)
        self.router.bind("tcp://127.0.0.1:*")
        self.endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.peers: list[zmq.Socket] = []

    def connect(self, routing_id: bytes | None = None) -> zmq.Socket:
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        if routing_id is not None:
            dealer.setsockopt(zmq.ROUTING_ID, routing_id)
        dealer.connect(self.endpoint)
        self.peers.append(dealer)
        return dealer

    def receive(self) -> tuple[bytes, int]:
        """The next message's routing id and source descriptor (ZMQ_SRCFD)."""
        assert self.router.poll(TIMEOUT * 1000), "no message"
        identity = self.router.recv()
        part = self.router.recv(copy=False)
        return identity, int(part.get(zmq.SRCFD))

    def hello(self, routing_id: bytes | None = None) -> tuple[bytes, int]:
        """A new peer says something: (the id the ROUTER knows it by, its descriptor)."""
        self.connect(routing_id).send(b"hello")
        return self.receive()

    def follow(self, until) -> None:
        """Read the monitor's events into the watch until ``until()`` holds (bounded)."""
        deadline = time.monotonic() + TIMEOUT
        while not until():
            assert time.monotonic() < deadline, "the monitor did not say it in time"
            if self.monitor.poll(50):
                self.watch.monitor_events(self.monitor, time.monotonic())

    def close(self) -> None:
        for peer in self.peers:
            peer.close(0)
        self.router.disable_monitor()
        self.monitor.close(0)
        self.router.close(0)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)  # (never blocks, whatever a failed test left open)


@pytest.fixture
def broker(ctx) -> Iterator[Broker]:
    b = Broker(ctx, Bounds(per_address=1000, connections=1000))
    yield b
    b.close()


def _auto(number: int) -> bytes:
    return _AUTO.pack(0, number % (1 << 32))


def _number(identity: bytes) -> int:
    assert len(identity) == 5 and identity[0] == 0, identity
    return _AUTO.unpack(identity)[1]


# ---- routing ids --------------------------------------------------------------------

def test_ids_libzmq_gave_are_never_taken_for_chosen_ones(broker):
    watch = broker.watch
    identity, fd = broker.hello()  # the first id-less peer after the probe
    broker.follow(lambda: fd in watch.guard)
    first = _number(identity)
    assert not watch.chose_reserved_id(identity)
    assert watch.chose_reserved_id(_auto(first - 1))  # the probe's own: not a peer's
    assert watch.chose_reserved_id(_auto(first + 1))  # not given yet: one accepted
    ids = [broker.hello()[0] for _ in range(3)]
    broker.follow(lambda: len(watch.guard) == 4)
    assert [_number(i) for i in ids] == [first + 1, first + 2, first + 3]
    for given in [identity, *ids]:
        assert not watch.chose_reserved_id(given)
    assert watch.chose_reserved_id(_auto(first + 4))  # (first, first + 4]: four accepted
    assert watch.chose_reserved_id(_auto(first + 1000))


def test_a_peer_that_chose_an_id_libzmq_has_not_given_is_found_out(broker):
    watch = broker.watch
    identity, fd = broker.hello()
    first = _number(identity)
    claimed = _auto(first + 100)  # what the attack claims: an id libzmq would give later
    chosen, chosen_fd = broker.hello(claimed)
    assert chosen == claimed
    broker.follow(lambda: fd in watch.guard and chosen_fd in watch.guard)
    assert watch.chose_reserved_id(chosen)
    assert not watch.chose_reserved_id(identity)


@pytest.mark.parametrize("identity", [
    b"ana", b"\x01", b"\x01\x00\x00\x00\x00", b"\xff" * 5, b"x" * 255, b"\x7f" + bytes(4),
], ids=repr)
def test_ids_not_starting_with_a_zero_byte_are_never_flagged(broker, identity):
    assert not broker.watch.chose_reserved_id(identity)


@pytest.mark.parametrize("identity", [
    b"\x00", b"\x00\x00", b"\x00" * 4, b"\x00" * 6, b"\x00" + bytes(range(1, 10)), b"\x00" * 255,
], ids=repr)
def test_ids_of_another_length_starting_with_a_zero_byte_are_always_flagged(broker, identity):
    broker.hello()
    broker.follow(lambda: len(broker.watch.guard) == 1)
    assert broker.watch.chose_reserved_id(identity)


def test_the_window_of_given_ids_wraps_around_at_2_to_the_32(broker):
    watch = broker.watch
    watch._first_id = (1 << 32) - 2  # the probe's id, as learn_ids would find it
    for _ in range(3):
        broker.hello(b"peer-%d" % len(broker.peers))  # (ids of their own: any will do)
    broker.follow(lambda: len(watch.guard) == 3)
    given = [_auto((1 << 32) - 1), _auto(0), _auto(1)]
    assert [not watch.chose_reserved_id(i) for i in given] == [True, True, True]
    assert watch.chose_reserved_id(_auto((1 << 32) - 2))
    assert watch.chose_reserved_id(_auto(2))
    assert watch.chose_reserved_id(_auto((1 << 32) - 3))


# ---- connections, from the monitor -------------------------------------------------------

def test_accepted_connections_are_counted_by_address_and_forgotten_when_gone(broker):
    watch = broker.watch
    _, fd = broker.hello()
    broker.follow(lambda: fd in watch.guard)
    conn = watch.guard.conn(fd)
    assert (conn.address, conn.inode, conn.joined) == ("127.0.0.1", netfd.inode(fd), False)
    assert watch.guard.from_address("127.0.0.1") == 1
    broker.peers.pop().close(0)
    broker.follow(lambda: fd not in watch.guard)
    assert watch.guard.from_address("127.0.0.1") == 0


def test_a_session_on_a_connection_keeps_it_from_expiring(broker):
    watch = broker.watch
    identity, fd = broker.hello()
    broker.follow(lambda: fd in watch.guard)
    watch.seen(identity, fd)
    watch.joined(identity)
    now = time.monotonic()
    assert watch.guard.expire(now + 60) == []
    watch.left(identity, now)
    assert [s.fd for s in watch.guard.expire(now + 60)] == [fd]


def test_a_session_joined_before_its_accepted_event_is_read_is_not_expired(broker):
    # The server reads the monitor, then drains the ROUTER: a client that connects and
    # JOINs while the drain runs is joined before its ACCEPTED event is read.
    watch = broker.watch
    identity, fd = broker.hello()
    watch.seen(identity, fd)
    watch.joined(identity)  # (server.py _follow_sessions, after the JOIN)
    broker.follow(lambda: fd in watch.guard)  # the next turn reads ACCEPTED
    assert watch.guard.conn(fd).joined
    assert watch.guard.expire(time.monotonic() + 60) == []


def test_the_monitor_loses_no_event_in_a_storm_of_connections(broker):
    # More events than libzmq's monitor pipe holds by default (1,000) before any is read.
    # (With a full pipe libzmq's I/O thread waits for room: it stops accepting.)
    host, port = broker.endpoint.removeprefix("tcp://").rsplit(":", 1)
    try:
        for _ in range(1100):
            socket.create_connection((host, int(port)), timeout=TIMEOUT).close()
    except OSError as exc:
        while broker.monitor.poll(100):  # (let libzmq go on, so the test ends)
            broker.watch.monitor_events(broker.monitor, time.monotonic())
        pytest.fail(f"libzmq stopped accepting connections: {exc!r}")
    identity, fd = broker.hello()  # accepted after all of them
    broker.follow(lambda: fd in broker.watch.guard)
    assert not broker.watch.chose_reserved_id(identity)


def test_reading_the_monitor_keeps_nothing_per_connection(broker):
    # pyzmq's recv_monitor_message made each event's value (a descriptor number) a
    # zmq.Event flag, and the enum keeps every such pseudo-member for ever: a few hundred
    # bytes for each connection ever accepted. The watch reads the frames itself.
    kept = len(zmq.Event._value2member_map_)
    fds = {broker.hello()[1] for _ in range(20)}  # (all open: twenty numbers)
    broker.follow(lambda: all(fd in broker.watch.guard for fd in fds))
    assert len(fds) == 20
    assert len(zmq.Event._value2member_map_) == kept


def test_read_event_gives_the_event_its_value_and_the_endpoint(broker):
    from zchat.broker.watch import read_event
    _, fd = broker.hello()
    assert broker.monitor.poll(TIMEOUT * 1000)
    events = []
    deadline = time.monotonic() + TIMEOUT
    while not any(kind == zmq.EVENT_ACCEPTED for kind, _, _ in events):
        assert time.monotonic() < deadline, "no ACCEPTED event"
        if broker.monitor.poll(50):
            events.append(read_event(broker.monitor))
    assert (zmq.EVENT_ACCEPTED, fd, broker.endpoint.encode()) in events
    assert all(type(kind) is int and type(value) is int for kind, value, _ in events)


# ---- how many connections a descriptor limit leaves room for ------------------------------

def test_connection_bound_is_monotonic_and_at_least_16():
    bounds = [connection_bound(d) for d in range(0, 70_000)]
    assert min(bounds) == 16
    assert all(a <= b for a, b in itertools.pairwise(bounds))
    assert connection_bound(1024) == 1024 - RESERVED_DESCRIPTORS - 64
    assert connection_bound(1024) < 1024 - RESERVED_DESCRIPTORS
    assert connection_bound(1 << 20) > (1 << 20) * 0.9
