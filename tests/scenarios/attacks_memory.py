"""Attacks on a broker's memory and time, mounted as a hostile stranger would.

Issue 13, items 2 (FETCH answers hoarded by a reader that never reads), 3 (feed
subscriptions), 4 (JOIN and LEAVE without reading), 5 (presence churn), 8
(FETCH within the budget) and 15 (the pub feed without JOIN). Each attack is a
thread with its own ZeroMQ context (or its own raw TCP sockets), started and
stopped as a context manager; the scenario tests
(tests/scenarios/test_hostile_memory.py) run them at CI size and
benchmarks/hostile_memory.py at the issue's full size. Beside them: a sampler of
the broker's RSS, a pair of honest sessions that time their messages, and the
history filler the FETCH attacks need.

Attack connections come from 127.0.0.3 and up (libzmq's source-address syntax,
or bind() for raw TCP), honest ones from 127.0.0.1, so that per-address
defences tell them apart. This module owns no process and imports neither
pytest nor the harness (it reads frames with frames.py); every wait in it is bounded.
"""

from __future__ import annotations

import random
import secrets
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import zmq

from zchat.protocol import (
    Ack,
    BrokerMessage,
    Bye,
    Error,
    Fetch,
    Join,
    Leave,
    Left,
    Msg,
    Ping,
    Priv,
    Say,
    Tell,
    Welcome,
    decode_broker,
    encode,
)
from zchat.protocol import constants as c
from zchat.protocol.rate import TokenBucket

from .frames import live_events, next_of

#: The issue's ceiling for the broker's memory through each memory attack, in KiB.
RSS_CEILING_KB = 300 * 1024
#: The public text that makes the biggest events: MAX_TEXT_CHARS C0 control
#: characters, each of which JSON carries as a 6-byte \u00XX escape, so every
#: frame the broker builds holds 12,000 bytes of it (4-byte UTF-8 characters: 8,000).
#: The SAY that carries it is 12,031 bytes, inside the 16 KiB frame limit, and it
#: costs only 2,000 bytes of the sender's byte budget.
BIGGEST_TEXT = "\x01" * c.MAX_TEXT_CHARS
#: The text whose events cost the broker the most CPU to read and encode:
#: MAX_TEXT_CHARS 4-byte UTF-8 characters (a 200-event page from the SQLite store,
#: in the core with no socket: 11.8 ms, against 9.6 ms for BIGGEST_TEXT and 5.5 ms
#: for ASCII, when written).
COSTLIEST_TEXT = "\U0001f600" * c.MAX_TEXT_CHARS


def texts_per_burst(text: str) -> int:
    """How many of ``text`` one session may say at once under the default limits."""
    return min(c.DEFAULT_BURST, c.DEFAULT_BYTE_BURST // len(text.encode("utf-8")))


#: What a session subscribes to on the feed, besides the empty prefix, to be admitted
#: (docs/PROTOCOL.md, Fan-out modes): this, then its session token.
FEED_PREFIX = b"ZCHAT/1 FEED "
_REPLAY = b'ZCHAT/1 EVENTS {"kind":"replay"'
_LIVE = b'ZCHAT/1 EVENTS {"kind":"live"'
_WELCOME = b"ZCHAT/1 WELCOME"
_BYE = b"ZCHAT/1 BYE"
_ERROR = b"ZCHAT/1 ERROR"



# ---- addresses -------------------------------------------------------------------------


def attacker_address(k: int = 0) -> str:
    """The ``k``-th attacker source address: 127.0.0.3, 127.0.0.4, ..."""
    return f"127.0.0.{3 + k}"


def host_port(endpoint: str) -> tuple[str, int]:
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    return host.strip("[]"), int(port)


def from_address(endpoint: str, source: str | None) -> str:
    """``endpoint`` dialled from the local address ``source`` (libzmq's syntax)."""
    if source is None:
        return endpoint
    if not endpoint.startswith("tcp://"):
        raise ValueError(f"a source address needs a tcp endpoint, not {endpoint}")
    return f"tcp://{source}:0;{endpoint[len('tcp://'):]}"


def feed_endpoint(welcome: Welcome, endpoint: str) -> str:
    """The feed a client of ``endpoint`` connects to (a ``*`` host: the one it dialled)."""
    if not welcome.feeds:
        raise AssertionError(f"no feed in the WELCOME (fanout {welcome.fanout!r})")
    host, _ = host_port(endpoint)
    return welcome.feeds[0].replace("tcp://*:", f"tcp://{host}:", 1)


# ---- the broker's memory -----------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssWatch:
    """Samples a process's VmRSS every ``every`` seconds in a thread of its own.

    ``over`` is set the first time a sample passes ``cap_kb``: an attack watching
    it stops there, so that no attack takes the machine down.
    """

    def __init__(self, pid: int, cap_kb: int | None = None, every: float = 0.1) -> None:
        self.pid = pid
        self.cap_kb = cap_kb
        self.every = every
        self.samples: list[tuple[float, int]] = [(time.monotonic(), rss_kb(pid))]
        self.over = threading.Event()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _run(self) -> None:
        while not self._halt.wait(self.every):
            kb = rss_kb(self.pid)
            self.samples.append((time.monotonic(), kb))
            if self.cap_kb is not None and kb > self.cap_kb:
                self.over.set()

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self._thread.join(5)

    @property
    def base_kb(self) -> int:
        return self.samples[0][1]

    @property
    def last_kb(self) -> int:
        return self.samples[-1][1]

    def peak_kb(self, since: float = 0.0, until: float = float("inf")) -> int:
        return max((kb for t, kb in list(self.samples) if since <= t <= until), default=0)

    def first_above(self, kb: int) -> float | None:
        """When a sample first passed ``kb`` (monotonic), or None."""
        return next((t for t, value in list(self.samples) if value > kb), None)

    def slope_kb_s(self, since: float, until: float = float("inf")) -> float:
        """Least-squares growth in KiB per second of the samples in [since, until]."""
        points = [(t, kb) for t, kb in list(self.samples) if since <= t <= until]
        if len(points) < 2:
            return 0.0
        mean_t = sum(t for t, _ in points) / len(points)
        mean_kb = sum(kb for _, kb in points) / len(points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        if var == 0:
            return 0.0
        return sum((t - mean_t) * (kb - mean_kb) for t, kb in points) / var

    def watch(self, seconds: float) -> bool:
        """Wait ``seconds`` (the attack's pace) or until the cap is passed; True if passed."""
        return self.over.wait(seconds)


def mb(kb: float) -> str:
    return f"{kb / 1024:.1f} MB"


# ---- raw sessions ------------------------------------------------------------------------


def dealer(ctx: zmq.Context, endpoint: str, source: str | None = None,
           rcvhwm: int = 1000) -> zmq.Socket:
    """A DEALER to ``endpoint`` from ``source``; ``rcvhwm`` 1 for a peer that never reads."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, rcvhwm)
    sock.connect(from_address(endpoint, source))
    return sock


#: The next message of a kind on a socket: frames.next_of, under the name
#: benchmarks/hostile_memory.py calls it by.
expect = next_of


def join(sock: zmq.Socket, name: str, token: str = "", resume: bool = False,
         timeout: float = 10.0) -> Welcome:
    sock.send(encode(Join(name, token or secrets.token_hex(16), resume)))
    return next_of(sock, Welcome, timeout)


def leave(sock: zmq.Socket, timeout: float = 5.0) -> None:
    sock.send(encode(Leave()))
    next_of(sock, Bye, timeout)


def feed_socket(ctx: zmq.Context, feed: str, token: str | None = None,
                source: str | None = None) -> zmq.Socket:
    """A SUB on the feed subscribed to everything and, given a token, to
    ``ZCHAT/1 FEED <token>`` as a joined session does."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    if token is not None:
        sub.setsockopt(zmq.SUBSCRIBE, FEED_PREFIX + token.encode())
    sub.connect(from_address(feed, source))
    return sub


def public_messages(frame: bytes) -> list[Msg]:
    """The MSGs a frame carries: one MSG, or those of a live batch."""
    if frame.startswith(b"ZCHAT/1 MSG "):
        msg = decode_broker(frame)
        return [msg] if isinstance(msg, Msg) else []
    if frame.startswith(_LIVE) and b'"type":"MSG"' in frame:
        return [e for e in live_events(decode_broker(frame)) if isinstance(e, Msg)]
    return []


def private_message(frame: bytes) -> list[Priv]:
    if frame.startswith(b"ZCHAT/1 PRIV "):
        msg = decode_broker(frame)
        return [msg] if isinstance(msg, Priv) else []
    return []


def fill_history(endpoint: str, texts: int, text: str = BIGGEST_TEXT,
                 source: str | None = attacker_address(0), timeout: float = 60.0) -> int:
    """Store ``texts`` copies of ``text`` as public messages; return the last one's seq.

    Default limits apply, so one session says at most texts_per_burst(text) at
    once: filler sessions in turn join, say that many, wait for their ACKs and leave."""
    ctx = zmq.Context()
    stored = head = k = 0
    deadline = time.monotonic() + timeout
    try:
        while stored < texts:
            if time.monotonic() > deadline:
                raise AssertionError(f"history filled with {stored} of {texts} texts "
                                     f"in {timeout}s")
            sock = dealer(ctx, endpoint, source)
            try:
                join(sock, f"filler{k}", resume=True)
                n = min(texts_per_burst(text), texts - stored)
                for cid in range(1, n + 1):
                    sock.send(encode(Say(text, cid)))
                for _ in range(n):
                    ack = next_of(sock, Ack, 10.0)
                    stored += 1
                    head = max(head, ack.seq)
                leave(sock)
            finally:
                sock.close(0)
            k += 1
    finally:
        ctx.term()
    return head


# ---- honest users ------------------------------------------------------------------------


@dataclass
class Probes:
    """Probes sent in a window and how long each took to reach the other user."""

    sent: int
    latencies: list[float]
    refused: int = 0

    @property
    def received(self) -> int:
        return len(self.latencies)

    @property
    def missing(self) -> int:
        return self.sent - self.received

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile of the latencies; a lost probe counts as infinitely late."""
        ordered = sorted(self.latencies) + [float("inf")] * self.missing
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]

    @property
    def p50(self) -> float:
        return self.quantile(0.50)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)

    @property
    def worst(self) -> float:
        return self.quantile(1.0)

    def summary(self) -> str:
        return (f"{self.received}/{self.sent} probes delivered, p50 {self.p50 * 1000:.0f} ms, "
                f"p99 {self.p99 * 1000:.0f} ms, max {self.worst * 1000:.0f} ms"
                + (f", {self.refused} refused" if self.refused else ""))


class HonestPair(threading.Thread):
    """Two honest sessions (from 127.0.0.1) that say numbered probes to each other,
    alternately, every ``interval`` seconds, and time each one's arrival at the
    other: honest users' message latency, and whether they are still served.

    In ``pub`` mode each also reads the feed, subscribed as a joined session must
    be. With ``private`` the probes are private messages instead, which stay out
    of the public history a newcomer is sent. A session told BYE, NOT_JOINED, or
    announced as LEFT is noted in ``dropped``. Probing starts once a probe got
    through each way (``ready``)."""

    def __init__(self, endpoint: str, interval: float = 0.25, private: bool = False,
                 names: tuple[str, str] = ("honest-a", "honest-b")) -> None:
        super().__init__(name="honest-pair", daemon=True)
        self.endpoint = endpoint
        self.interval = interval
        self.private = private
        self.names = names
        self.ready = threading.Event()
        self.error = ""
        self.dropped: list[str] = []
        self.refused = 0
        #: probe number -> (monotonic send time, sender index); number -> latency.
        self._sent: dict[int, float] = {}
        self._got: dict[int, float] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.ready_at = 0.0
        #: The feed endpoint the pair reads in pub mode ("" in router mode).
        self.feed = ""
        #: Joins and leaves shown to the first session (a terminal prints a line for
        #: each), and the public head its last broker PING named.
        self.presence = 0
        self.head = 0

    def __enter__(self) -> HonestPair:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def wait_ready(self, timeout: float = 20.0) -> None:
        if not self.ready.wait(timeout) or self.error:
            raise AssertionError(f"the honest pair did not start: {self.error or 'timeout'}")

    def probes(self, since: float = 0.0, until: float = float("inf")) -> Probes:
        with self._lock:
            window = [n for n, t in self._sent.items() if since <= t <= until]
            return Probes(len(window), [self._got[n] for n in window if n in self._got],
                          self.refused)

    def settle(self, timeout: float) -> bool:
        """Wait (bounded) until every probe sent so far has arrived; True if all did."""
        until = time.monotonic()
        deadline = until + timeout
        while time.monotonic() < deadline:
            if self.probes(until=until).missing == 0:
                return True
            self._halt.wait(0.05)
        return self.probes(until=until).missing == 0

    def delivered_after(self, after: float, timeout: float) -> bool:
        """Wait (bounded) for a probe sent after ``after`` to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.probes(since=after).received:
                return True
            self._halt.wait(0.05)
        return False

    # ---- the thread ------------------------------------------------------------

    def run(self) -> None:
        ctx = zmq.Context()
        socks: list[zmq.Socket] = []
        try:
            self._run(ctx, socks)
        except Exception as exc:  # shown by wait_ready or the test's assertions
            self.error = repr(exc)
            self.ready.set()
        finally:
            for sock in socks:
                sock.close(0)
            ctx.term()

    def _run(self, ctx: zmq.Context, socks: list[zmq.Socket]) -> None:
        dealers = [dealer(ctx, self.endpoint) for _ in self.names]
        socks += dealers
        welcomes = [join(sock, name, resume=True) for sock, name in zip(
            dealers, self.names, strict=True)]
        readers: dict[zmq.Socket, int] = {sock: i for i, sock in enumerate(dealers)}
        if welcomes[0].fanout == c.FANOUT_PUB:
            self.feed = feed_endpoint(welcomes[0], self.endpoint)
            for i, welcome in enumerate(welcomes):
                sub = feed_socket(ctx, self.feed, welcome.session)
                socks.append(sub)
                readers[sub] = i
        poller = zmq.Poller()
        for sock in readers:
            poller.register(sock, zmq.POLLIN)
        last_sent = [time.monotonic()] * len(dealers)
        warm: set[int] = set()  # senders whose warm-up probe got through
        n = 0
        next_probe = time.monotonic()
        warm_deadline = time.monotonic() + 20.0
        while not self._halt.is_set():
            now = time.monotonic()
            if now >= next_probe:
                n += 1
                who = n % 2
                with self._lock:
                    if self.ready.is_set():
                        self._sent[n] = now
                text = f"probe {n} from {self.names[who]}"
                dealers[who].send(encode(Tell(self.names[1 - who], text, n) if self.private
                                         else Say(text, n)))
                last_sent[who] = now
                next_probe += self.interval
                if next_probe < now:  # (a stalled thread does not send a burst to catch up)
                    next_probe = now + self.interval
            for i, sock in enumerate(dealers):  # a heartbeat when a session has been quiet
                if now - last_sent[i] > 0.5:
                    sock.send(encode(Ping()))
                    last_sent[i] = now
            if not self.ready.is_set() and now > warm_deadline:
                raise AssertionError("no probe got through both ways within 20 s")
            events = dict(poller.poll(int(max(0.0, next_probe - time.monotonic()) * 1000)))
            for sock in events:
                self._read(sock, readers[sock], warm)

    def _read(self, sock: zmq.Socket, me: int, warm: set[int]) -> None:
        for _ in range(1000):
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            now = time.monotonic()
            for msg in public_messages(frame) or private_message(frame):
                if msg.sender == self.names[me] or not msg.text.startswith("probe "):
                    continue  # (the feed brings a sender its own messages too)
                number = int(msg.text.split()[1])
                with self._lock:
                    if number in self._sent and number not in self._got:
                        self._got[number] = now - self._sent[number]
                if not self.ready.is_set():
                    warm.add(1 - me)
                    if len(warm) == 2:
                        self.ready_at = time.monotonic()
                        self.ready.set()
            if me == 0:
                self._count(frame)
            if frame.startswith((_BYE, _ERROR, b"ZCHAT/1 LEFT ")) or (
                    frame.startswith(_LIVE) and b'"type":"LEFT"' in frame):
                self._trouble(decode_broker(frame), me)

    def _count(self, frame: bytes) -> None:
        if frame.startswith(_LIVE):
            self.presence += frame.count(b'"type":"JOINED"') + frame.count(b'"type":"LEFT"')
        elif frame.startswith((b"ZCHAT/1 JOINED ", b"ZCHAT/1 LEFT ")):
            self.presence += 1
        elif frame.startswith(b"ZCHAT/1 PING {"):
            ping = decode_broker(frame)
            if isinstance(ping, Ping) and ping.pub is not None:
                self.head = max(self.head, ping.pub)

    def _trouble(self, msg: BrokerMessage, me: int) -> None:
        if isinstance(msg, Bye):
            self.dropped.append(f"{self.names[me]}: BYE {msg.reason}")
        elif isinstance(msg, Error):
            if msg.code == c.E_RATE_LIMITED:
                self.refused += 1
            else:
                self.dropped.append(f"{self.names[me]}: ERROR {msg.code}")
        else:
            for event in live_events(msg):
                if isinstance(event, Left) and event.name in self.names:
                    self.dropped.append(f"{event.name} LEFT ({event.reason})")


# ---- attacks -----------------------------------------------------------------------------


A = TypeVar("A", bound="Attack")


class Attack(threading.Thread):
    """An attack running in a thread of its own until ``stop``; ``error`` holds what
    broke it (an attack that cannot run is a failed test, not a passed one)."""

    def __init__(self) -> None:
        super().__init__(name=type(self).__name__, daemon=True)
        self.halt = threading.Event()
        self.error = ""
        #: Frames (or subscriptions) and bytes sent.
        self.sent = 0
        self.sent_bytes = 0
        self.started_at = 0.0
        self.stopped_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            self.attack()
        except Exception as exc:
            self.error = repr(exc)
        finally:
            self.stopped_at = time.monotonic()

    def attack(self) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 15.0) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"{self.name} did not stop within {timeout}s")

    def __enter__(self: A) -> A:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _send(self, sock: zmq.Socket, frame: bytes) -> bool:
        """Send without blocking; False if the queue to the broker is full."""
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.sent += 1
        self.sent_bytes += len(frame)
        return True


class FetchHoard(Attack):
    """Item 2: sessions that never read (RCVHWM 1, nothing received after WELCOME),
    each sending ``fetches`` ``FETCH{pub:0, priv:0, limit:200}`` at once (the FETCH
    burst allows 600) over a history of maximal texts, then holding the
    connection open. ``sent_all`` is set once every FETCH is out."""

    def __init__(self, endpoint: str, sessions: int = 3, fetches: int = c.FETCH_BURST,
                 source: str = attacker_address(0)) -> None:
        super().__init__()
        self.endpoint, self.sessions, self.fetches, self.source = (
            endpoint, sessions, fetches, source)
        self.sent_all = threading.Event()

    def attack(self) -> None:
        ctx = zmq.Context()
        try:
            socks = [dealer(ctx, self.endpoint, self.source, rcvhwm=1)
                     for _ in range(self.sessions)]
            for k, sock in enumerate(socks):
                join(sock, f"hoard{k}", resume=True)  # the last frame it ever reads
            frame = encode(Fetch(0, 0, c.MAX_FETCH))
            for sock in socks:
                for _ in range(self.fetches):
                    while not self._send(sock, frame):
                        if self.halt.wait(0.01):
                            return
            self.sent_all.set()
            self.halt.wait()  # connected, never reading, until told to stop
        finally:
            ctx.destroy(linger=0)


#: ZMTP 3.0 greeting with the NULL mechanism, as a client (RFC 23).
_ZMTP_GREETING = (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00")
                  + b"\x00" + b"\x00" * 31)


def zmtp_frame(body: bytes, command: bool = False) -> bytes:
    flags = 0x04 if command else 0x00
    if len(body) > 255:
        return bytes([flags | 0x02]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def zmtp_hello(socket_type: bytes) -> bytes:
    """Greeting and READY of a ZMTP 3.0 peer of ``socket_type``."""
    prop = (bytes([len(b"Socket-Type")]) + b"Socket-Type" + struct.pack(">I", len(socket_type))
            + socket_type)
    return _ZMTP_GREETING + zmtp_frame(bytes([len(b"READY")]) + b"READY" + prop, command=True)


class SubscriptionFlood(Attack):
    """Item 3: a stranger on the feed, never joined: an XSUB sending subscriptions of
    ``size`` random bytes as fast as TCP takes them, and a fresh connection each
    time the broker closes one.

    It speaks ZMTP itself over a plain TCP socket: a libzmq XSUB keeps every
    subscription it sends (to replay them on reconnect), so an XSUB attacker
    would grow as fast as the broker it attacks. It pauses ``reconnect_pause``
    between connections (libzmq's own default is 0.1 s), only so that a broker
    closing each one at once does not exhaust the machine's ports."""

    def __init__(self, feed: str, size: int = 4000, source: str = attacker_address(0),
                 seed: int = 13, reconnect_pause: float = 0.01) -> None:
        super().__init__()
        self.feed, self.size, self.source = feed, size, source
        self.reconnect_pause = reconnect_pause
        self.rng = random.Random(seed)
        self.connections = 0
        self.closed_by_broker = 0

    def attack(self) -> None:
        host, port = host_port(self.feed)
        while not self.halt.wait(self.reconnect_pause if self.connections else 0):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((self.source, 0))
                sock.settimeout(2.0)
                try:
                    sock.connect((host, port))
                except OSError:
                    self.halt.wait(0.05)
                    continue
                self.connections += 1
                sock.setblocking(False)
                self._flood(sock)
            finally:
                sock.close()

    def _subscriptions(self, count: int) -> bytes:
        return b"".join(zmtp_frame(b"\x01" + self.rng.randbytes(self.size))
                        for _ in range(count))

    def _flood(self, sock: socket.socket) -> None:
        """Send until the broker closes the connection or the attack stops."""
        pending = memoryview(zmtp_hello(b"XSUB"))
        batch = 16
        in_flight = 0  # subscriptions in ``pending``
        while not self.halt.is_set():
            readable, writable, _ = select.select([sock], [sock], [], 0.2)
            if readable:
                try:
                    if not sock.recv(65536):
                        self.closed_by_broker += 1
                        return
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.closed_by_broker += 1
                    return
            if not writable:
                continue
            if not pending:
                self.sent += in_flight  # (the last batch is all with the kernel)
                pending = memoryview(self._subscriptions(batch))
                in_flight = batch
            try:
                n = sock.send(pending)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self.closed_by_broker += 1
                return
            self.sent_bytes += n
            pending = pending[n:]


class JoinLeaveHoard(Attack):
    """Item 4: connections that never read (RCVHWM 1), each sending JOIN (a fresh
    name, a fresh token) and LEAVE every ``every`` seconds; connection k comes from
    ``attacker_address(k % addresses)``."""

    def __init__(self, endpoint: str, connections: int = 40, every: float = 0.2,
                 addresses: int = 1) -> None:
        super().__init__()
        self.endpoint, self.connections, self.every, self.addresses = (
            endpoint, connections, every, addresses)
        self.joins = 0
        self.blocked = 0

    def attack(self) -> None:
        ctx = zmq.Context()
        try:
            socks = [dealer(ctx, self.endpoint, attacker_address(k % self.addresses), rcvhwm=1)
                     for k in range(self.connections)]
            leave_frame = encode(Leave())
            due = time.monotonic()
            while not self.halt.wait(max(0.0, due - time.monotonic())):
                for sock in socks:
                    self.joins += 1
                    name = f"jl{self.joins}"
                    if self._send(sock, encode(Join(name, secrets.token_hex(16)))):
                        self._send(sock, leave_frame)
                    else:
                        self.blocked += 1
                due += self.every
        finally:
            ctx.destroy(linger=0)


class PresenceChurn(Attack):
    """Item 5: connections from one address looping JOIN and LEAVE as fast as the
    broker answers: JOIN (a fresh name), LEAVE on its WELCOME, JOIN again on the
    BYE. A refused JOIN is sent again after ``retry_refused`` seconds, and any
    step left unanswered for ``retry`` seconds is sent again."""

    def __init__(self, endpoint: str, connections: int = 100,
                 source: str = attacker_address(0), retry: float = 0.5,
                 retry_refused: float = 0.05, prefix: str = "churn") -> None:
        super().__init__()
        self.endpoint, self.connections, self.source = endpoint, connections, source
        self.retry, self.retry_refused, self.prefix = retry, retry_refused, prefix
        self.welcomed = 0
        self.refused = 0
        self.unanswered = 0
        self._names = 0

    def _join_frame(self, k: int) -> bytes:
        self._names += 1
        return encode(Join(f"{self.prefix}{k}-{self._names}"))

    def attack(self) -> None:
        ctx = zmq.Context()
        try:
            socks = [dealer(ctx, self.endpoint, self.source) for _ in range(self.connections)]
            index = {sock: k for k, sock in enumerate(socks)}
            poller = zmq.Poller()
            for sock in socks:
                poller.register(sock, zmq.POLLIN)
            leave_frame = encode(Leave())
            joining = [True] * len(socks)  # else: leaving
            due = [0.0] * len(socks)  # when to (re)send the current step
            while not self.halt.is_set():
                now = time.monotonic()
                for k, sock in enumerate(socks):
                    if due[k] <= now:
                        if due[k]:
                            self.unanswered += 1
                        self._send(sock, self._join_frame(k) if joining[k] else leave_frame)
                        due[k] = now + self.retry
                for sock in dict(poller.poll(20)):
                    k = index[sock]
                    for _ in range(100):
                        try:
                            frame = sock.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        now = time.monotonic()
                        if frame.startswith(_WELCOME) and joining[k]:
                            self.welcomed += 1
                            joining[k] = False
                            self._send(sock, leave_frame)
                            due[k] = now + self.retry
                        elif frame.startswith(_BYE) and not joining[k]:
                            joining[k] = True
                            self._send(sock, self._join_frame(k))
                            due[k] = now + self.retry
                        elif frame.startswith(_ERROR) and joining[k]:
                            self.refused += 1
                            due[k] = now + self.retry_refused
        finally:
            ctx.destroy(linger=0)


class FetchReaders(Attack):
    """Item 8: joined sessions that fetch the first page of a history of maximal
    texts over and over and read every answer, each as fast as its FETCH budget
    allows (FETCH_BURST at once, FETCH_RATE a second) with up to ``window`` asks
    outstanding."""

    def __init__(self, endpoint: str, sessions: int = 10, window: int = 20,
                 source: str = attacker_address(0)) -> None:
        super().__init__()
        self.endpoint, self.sessions, self.window, self.source = (
            endpoint, sessions, window, source)
        self.pages = 0
        self.page_bytes = 0
        self.refused = 0
        self.joined = threading.Event()

    def attack(self) -> None:
        ctx = zmq.Context()
        try:
            socks = [dealer(ctx, self.endpoint, self.source) for _ in range(self.sessions)]
            for k, sock in enumerate(socks):
                join(sock, f"reader{k}", resume=True)
            self.joined.set()
            index = {sock: k for k, sock in enumerate(socks)}
            buckets = [TokenBucket(c.FETCH_RATE, c.FETCH_BURST) for _ in socks]
            outstanding = [0] * len(socks)
            quiet_since = [time.monotonic()] * len(socks)
            poller = zmq.Poller()
            for sock in socks:
                poller.register(sock, zmq.POLLIN)
            fetch = encode(Fetch(0, 0, c.MAX_FETCH))
            ping = encode(Ping())
            while not self.halt.is_set():
                now = time.monotonic()
                for k, sock in enumerate(socks):
                    while outstanding[k] < self.window and buckets[k].take(now):
                        if not self._send(sock, fetch):
                            break
                        outstanding[k] += 1
                        quiet_since[k] = now
                    if now - quiet_since[k] > 0.5:  # stay alive while the broker is slow
                        self._send(sock, ping)
                        quiet_since[k] = now
                for sock in dict(poller.poll(20)):
                    k = index[sock]
                    for _ in range(100):
                        try:
                            frame = sock.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        if frame.startswith(_REPLAY):
                            self.pages += 1
                            self.page_bytes += len(frame)
                            outstanding[k] = max(0, outstanding[k] - 1)
                        elif frame.startswith(_ERROR):
                            self.refused += 1
                            outstanding[k] = max(0, outstanding[k] - 1)
        finally:
            ctx.destroy(linger=0)


@dataclass
class FeedWatch:
    """What one SUB on the feed received: public message texts, in order."""

    texts: list[str] = field(default_factory=list)

    def drain(self, sub: zmq.Socket, timeout: float = 0.0) -> None:
        """Read what has arrived, waiting up to ``timeout`` for the first frame."""
        if not sub.poll(int(timeout * 1000), zmq.POLLIN):
            return
        for _ in range(10_000):
            try:
                frame = sub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.texts.extend(m.text for m in public_messages(frame))

    def matching(self, prefix: str) -> list[str]:
        return [t for t in self.texts if t.startswith(prefix)]
