"""One load generator for every system: N receivers in one process, one sender process.

The receivers share one poll loop (a zmq.Poller for the ZeroMQ systems, a
selector for the TCP ones) so that the generator costs less per delivery than
any broker it measures: in the counting runs a receiver only looks for a
marker in each frame or chunk; stamps are parsed and zchat frames decoded only
in the latency runs, and then after the receipt time has been taken.

The sender is a separate process (``python loadgen.py send ...``) so it never
competes with the receivers for the GIL. It registers, prints ``READY``, waits
for ``GO`` on stdin, sends, and prints one JSON line with what it did. Every
message carries the same 100-byte text: a marker, a sequence number and its
send time (CLOCK_MONOTONIC, which all processes on the machine share).

The sender and the receivers may use different endpoints: for zchat-cluster
the sender joins broker 1 and the receivers broker 2, or (a comma list of
endpoints) alternate over both.

With ``--server-key`` (the zchat-curve system) every DEALER the generator
makes (sender, receivers, idle holders) speaks CURVE: the broker's public key
from that file, and a fresh key pair per socket (a broker without an allow list
admits any key).

Every wait is bounded: a run that stalls ends with the loss counted, never hangs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import zmq
import zmq.auth

try:
    from zchat.protocol import Events, Join, Msg, Ping, Say, Welcome, decode_broker, encode
except Exception:  # zchat missing or broken mid-edit: the other systems still run
    Events = Join = Msg = Ping = Say = Welcome = None  # type: ignore[assignment,misc]
    decode_broker = encode = None  # type: ignore[assignment]

BENCH_DIR = Path(__file__).resolve().parent
MARK = b"|bm|"
#: Text of every message: MARK, 8-digit sequence, space, 19-digit send time, space, padding.
TEXT_BYTES = 100
_HEAD_BYTES = len(MARK) + 8 + 1 + 19 + 1
PAD = b"x" * (TEXT_BYTES - _HEAD_BYTES)
_SEQ = slice(len(MARK), len(MARK) + 8)
_STAMP = slice(len(MARK) + 9, len(MARK) + 28)
#: Receivers connect (and are waited for) this many at a time: below every listen backlog.
CONNECT_BATCH = 100
#: Seconds without WELCOME after which a receiver sends its JOIN again.
JOIN_RETRY_S = 2.0
#: Pause between two TCP connects, seconds (see TcpReceivers.connect).
CONNECT_PAUSE = 0.0005
#: Once the sender has exited, this much silence (ns) ends a run.
_AFTER_SENDER_IDLE = 2_000_000_000
IRC_CHANNEL = b"#bench"


def text(seq: int, now_ns: int) -> bytes:
    """The 100-byte message text for ``seq`` sent at ``now_ns``."""
    return b"%s%08d %019d %s" % (MARK, seq, now_ns, PAD)


def parse_stamp(unit: bytes, at: int) -> tuple[int, int]:
    """(sequence, send time in ns) of the message text found at ``unit[at:]``."""
    return int(unit[at + _SEQ.start:at + _SEQ.stop]), int(unit[at + _STAMP.start:at + _STAMP.stop])


def load_server_key(path: str | Path | None) -> bytes | None:
    """The broker's CURVE public key (z85) from a ``zmq.auth`` / ``zchat keygen`` file."""
    if not path:
        return None
    public, _ = zmq.auth.load_certificate(str(path))
    if not public:
        raise ValueError(f"{path} holds no public key")
    return public


def curve_client(sock: zmq.Socket, server_public: bytes | None) -> None:
    """Make ``sock`` a CURVE client of ``server_public`` with a fresh key pair (before
    connect, as zchat's own client does); a no-op without a server key."""
    if server_public is None:
        return
    public, secret = zmq.curve_keypair()
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret


# ---- protocols -----------------------------------------------------------------

class Wire(Protocol):
    """What differs between systems, seen from a client."""

    transport: str  # "zmq" (one frame per message) or "tcp" (one line per message)
    #: ZeroMQ systems: a frame that starts with this is one delivery of our message.
    msg_prefix: bytes
    #: ... and one that starts with this holds several (count them with batch_count).
    batch_prefix: bytes | None

    def hello(self, name: str) -> bytes: ...
    def is_welcome(self, unit: bytes) -> bool: ...
    def pong(self, unit: bytes) -> bytes | None: ...
    def maker(self) -> Callable[[int, int], bytes]: ...
    def batch_count(self, unit: bytes) -> int: ...
    def texts(self, units: Sequence[bytes]) -> list[list[bytes]]: ...


def _from_template(template: bytes) -> Callable[[int, int], bytes]:
    """A message maker from a bytes %-template with slots for sequence and stamp."""
    assert MARK + b"%08d %019d " + PAD in template
    return lambda seq, now: template % (seq, now)


class ZchatWire:
    """ZCHAT/1: JOIN, wait for WELCOME, SAY; answer the broker's PING with PING."""

    transport = "zmq"
    msg_prefix = b"ZCHAT/1 MSG "  # not EVENTS (history replays) nor ACK
    #: A cycle's public events in one frame (docs/PROTOCOL.md, Live batches).
    batch_prefix = b'ZCHAT/1 EVENTS {"kind":"live"'

    def __init__(self) -> None:
        if encode is None:
            raise RuntimeError("zchat is not importable in this Python")
        self._ping = encode(Ping())

    def hello(self, name: str) -> bytes:
        # As zchat's client does: it takes ACKS (several ACKs in one frame), where the
        # broker has them (docs/PROTOCOL.md, ACKS).
        if "acks" in getattr(Join, "__dataclass_fields__", {}):
            return encode(Join(name, acks=True))
        return encode(Join(name))

    def is_welcome(self, unit: bytes) -> bool:
        return unit.startswith(b"ZCHAT/1 WELCOME") and isinstance(decode_broker(unit), Welcome)

    def pong(self, unit: bytes) -> bytes | None:
        # The broker's PING may carry fields; any PING from it gets our bare PING.
        return self._ping if unit.startswith(b"ZCHAT/1 PING") else None

    def maker(self) -> Callable[[int, int], bytes]:
        """The SAY as a byte template, checked first against zchat's own encoder
        (`encoded`), which it falls back to if they differ. Encoding each SAY cost the
        sender 4.5 us a message against the relay sender's 0.3, on the cores it shares
        with the broker it measures; the template costs about what the relay's does."""
        encoded = self.encoded_maker()

        def template(seq: int, now: int) -> bytes:
            return b'ZCHAT/1 SAY {"text":"%s","cid":%d}' % (text(seq, now), seq + 1)

        samples = ((0, 0), (12_345, 123_456_789_012), (99_999_999, 10**18 - 1))
        if all(template(seq, now) == encoded(seq, now) for seq, now in samples):
            return template
        return encoded

    @staticmethod
    def encoded_maker() -> Callable[[int, int], bytes]:
        """encode(Say(...)) per message: zchat's own encoder, whatever fields SAY has."""
        fields = getattr(Say, "__dataclass_fields__", {})
        if "cid" in fields:  # client message ids must increase within a session
            return lambda seq, now: encode(Say(text(seq, now).decode(), cid=seq + 1))
        return lambda seq, now: encode(Say(text(seq, now).decode()))

    def batch_count(self, unit: bytes) -> int:
        """MSG events in a live batch, without decoding it (the receive hot path):
        inside a JSON string every quote is escaped, so this text is only a field."""
        return unit.count(b'"type":"MSG"')

    def texts(self, units: Sequence[bytes]) -> list[list[bytes]]:
        """Decode every MSG, or live batch of them, with zchat's own checked decoder;
        raises on a bad frame."""
        out = []
        for unit in units:
            msg = decode_broker(unit)
            if isinstance(msg, Msg):
                out.append([msg.text.encode()])
            elif isinstance(msg, Events) and msg.kind == "live":
                out.append([e.text.encode() for e in msg.events if isinstance(e, Msg)])
            else:
                raise ValueError(f"expected MSG, got {msg!r}")
        return out


class RelayWire:
    """The bare relay: an empty frame registers (and is echoed); payloads are raw."""

    transport = "zmq"
    msg_prefix = MARK

    def hello(self, name: str) -> bytes:
        return b""

    def is_welcome(self, unit: bytes) -> bool:
        return unit == b""

    def pong(self, unit: bytes) -> bytes | None:
        return None

    def maker(self) -> Callable[[int, int], bytes]:
        return _from_template(MARK + b"%08d %019d " + PAD)

    batch_prefix = None

    def batch_count(self, unit: bytes) -> int:
        return 0

    def texts(self, units: Sequence[bytes]) -> list[list[bytes]]:
        return [[unit] for unit in units]


class LineWire:
    """The seed's protocol: first line is the name, then one message per line."""

    transport = "tcp"
    msg_prefix = MARK  # unused: lines are counted by the marker

    def hello(self, name: str) -> bytes:
        return name.encode() + b"\n"

    def is_welcome(self, unit: bytes) -> bool:
        return unit.startswith(b"Bem-vindo")

    def pong(self, unit: bytes) -> bytes | None:
        return None

    def maker(self) -> Callable[[int, int], bytes]:
        return _from_template(MARK + b"%08d %019d " + PAD + b"\n")

    batch_prefix = None

    def batch_count(self, unit: bytes) -> int:
        return 0

    def texts(self, units: Sequence[bytes]) -> list[list[bytes]]:
        return [[unit] for unit in units]


class IrcWire:
    """IRC: register, join one channel (366 = end of NAMES means joined); PRIVMSG."""

    transport = "tcp"
    msg_prefix = MARK  # unused: lines are counted by the marker

    def hello(self, name: str) -> bytes:
        nick = name.encode()
        return (b"NICK %s\r\nUSER %s 0 * :bench\r\nJOIN %s\r\n" % (nick, nick, IRC_CHANNEL))

    def is_welcome(self, unit: bytes) -> bool:
        return b" 366 " in unit

    def pong(self, unit: bytes) -> bytes | None:
        if unit.startswith(b"PING "):
            return b"PONG " + unit[5:].rstrip(b"\r") + b"\r\n"
        return None

    def maker(self) -> Callable[[int, int], bytes]:
        return _from_template(b"PRIVMSG %s :%s%%08d %%019d %s\r\n" % (IRC_CHANNEL, MARK, PAD))

    batch_prefix = None

    def batch_count(self, unit: bytes) -> int:
        return 0

    def texts(self, units: Sequence[bytes]) -> list[list[bytes]]:
        return [[unit] for unit in units]


def wire_for(protocol: str) -> Wire:
    return {"zchat": ZchatWire, "relay": RelayWire, "line": LineWire, "irc": IrcWire}[protocol]()


# ---- results ---------------------------------------------------------------------

@dataclass
class StallPlan:
    """Receiver ``index`` stops reading ``after_s`` after the first delivery, for ``for_s``."""

    index: int = 0
    after_s: float = 2.0
    for_s: float = 5.0
    post_s: float = 2.0


@dataclass
class RunResult:
    counts: list[int]
    first_recv_ns: int = 0
    last_recv_ns: int = 0
    timed_out: str = ""
    latencies_ns: list[int] = field(default_factory=list)
    bad_frames: int = 0
    out_of_order: int = 0
    stall: dict[str, float] = field(default_factory=dict)


class _Stall:
    """Stall bookkeeping shared by both receiver kinds: when to stop and resume, and rates."""

    def __init__(self, plan: StallPlan) -> None:
        self.plan = plan
        self.state = "wait"  # wait -> stalled -> resumed -> done
        self.t_first = 0
        self.marks: dict[str, tuple[int, int]] = {}

    def step(self, now: int, others: int, pause: Callable[[], None],
             resume: Callable[[], None]) -> None:
        p = self.plan
        if self.state == "wait" and now >= self.t_first + int(p.after_s * 1e9):
            pause()
            self.marks["start"] = (now, others)
            self.state = "stalled"
        elif self.state == "stalled" and now >= self.marks["start"][0] + int(p.for_s * 1e9):
            resume()
            self.marks["end"] = (now, others)
            self.state = "resumed"
        elif self.state == "resumed" and now >= self.marks["end"][0] + int(p.post_s * 1e9):
            self.marks["post"] = (now, others)
            self.state = "done"

    def summary(self, others_n: int) -> dict[str, float]:
        def rate(a: tuple[int, int], b: tuple[int, int]) -> float:
            return (b[1] - a[1]) / max(1e-9, (b[0] - a[0]) / 1e9)

        out: dict[str, float] = {}
        start = (self.t_first, 0)
        if "start" in self.marks:
            out["rate_before"] = rate(start, self.marks["start"])
        if "end" in self.marks:
            out["rate_during"] = rate(self.marks["start"], self.marks["end"])
        if "post" in self.marks:
            out["rate_after"] = rate(self.marks["end"], self.marks["post"])
        out["others"] = float(others_n)
        return out


# ---- receivers -------------------------------------------------------------------

class Receivers(Protocol):
    n: int

    def connect(self, timeout: float, first_name: int = 0) -> float: ...
    def settle(self, quiet_s: float, timeout: float) -> int: ...
    def run(self, expected: int, latency: bool, deadline_s: float, idle_s: float,
            stall: StallPlan | None = None,
            sender_done: Callable[[], int | None] | None = None) -> RunResult: ...
    def close(self) -> None: ...


def make_receivers(protocol: str, endpoint: str, n: int,
                   server_key: str | Path | None = None) -> Receivers:
    """``server_key``: the broker's public key file; its receivers then speak CURVE.

    ``endpoint`` may be a comma list (ZeroMQ systems only): receiver i then connects
    to element ``i % len`` of it (zchat-cluster-split spreads them over two brokers)."""
    wire = wire_for(protocol)
    if wire.transport == "zmq":
        return ZmqReceivers(wire, endpoint, n, load_server_key(server_key))
    if server_key:
        raise ValueError(f"{protocol}: CURVE keys only apply to the ZeroMQ systems")
    if "," in endpoint:
        raise ValueError(f"{protocol}: one endpoint only for the TCP systems")
    return TcpReceivers(wire, endpoint, n)


class ZmqReceivers:
    """N DEALER sockets, one Poller, one thread."""

    def __init__(self, wire: Wire, endpoint: str, n: int,
                 server_public: bytes | None = None) -> None:
        self.wire = wire
        #: Receiver i connects to endpoints[i % len] (a comma list: several brokers).
        self.endpoints = [e.strip() for e in endpoint.split(",") if e.strip()]
        self.endpoint = self.endpoints[0]
        self.n = n
        self.server_public = server_public  # CURVE on every socket when set
        self.ctx = zmq.Context(io_threads=1)
        # A context option (set(), not setsockopt()); two sockets a receiver with a feed.
        self.ctx.set(zmq.MAX_SOCKETS, 2 * n + 64)
        self.socks: list[zmq.Socket] = []
        self.feeds: dict[int, zmq.Socket] = {}  # receiver -> its SUB (zchat --fanout pub)
        self.index: dict[zmq.Socket, int] = {}
        self.poller = zmq.Poller()

    def connect(self, timeout: float, first_name: int = 0) -> float:
        """Connect and register every receiver (``CONNECT_BATCH`` at a time); return seconds."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        welcomed = 0
        ok = [False] * self.n
        for start in range(0, self.n, CONNECT_BATCH):
            stop = min(self.n, start + CONNECT_BATCH)
            for i in range(start, stop):
                s = self.ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                curve_client(s, self.server_public)
                s.connect(self.endpoints[i % len(self.endpoints)])
                s.send(self.wire.hello(f"r{i + first_name:05d}"))
                self.socks.append(s)
                self.index[s] = i
                self.poller.register(s, zmq.POLLIN)
            asked = time.monotonic()
            while welcomed < stop:
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(f"{welcomed}/{self.n} receivers registered in {timeout}s")
                if now - asked > JOIN_RETRY_S:
                    # A broker answers no one in a storm of newcomers beyond its budget
                    # for them: ask again, as the real client does.
                    for i in range(start, stop):
                        if not ok[i]:
                            self.socks[i].send(self.wire.hello(f"r{i + first_name:05d}"))
                    asked = now
                for s, _ in self.poller.poll(100):
                    i = self.index[s]
                    if ok[i]:  # registered: only join announcements and pings arrive
                        for frame in _drain(s):
                            self._maybe_pong(s, frame)
                        continue
                    for frame in _drain(s):
                        if not ok[i] and self.wire.is_welcome(frame):
                            ok[i] = True
                            welcomed += 1
                            self._maybe_subscribe(i, frame)
                        else:
                            self._maybe_pong(s, frame)
        if self.feeds:
            self._sync_feeds(deadline)
        return time.monotonic() - t0

    def _maybe_subscribe(self, i: int, welcome: bytes) -> None:
        """zchat --fanout pub: public events come on a feed; subscribe receiver i to it."""
        if not welcome.startswith(b"ZCHAT/1 WELCOME"):
            return
        msg = decode_broker(welcome)
        if getattr(msg, "fanout", "router") != "pub":
            return
        host = self.endpoints[i % len(self.endpoints)][len("tcp://"):].rsplit(":", 1)[0]
        feeds = [f.replace("tcp://*:", f"tcp://{host}:") for f in msg.feeds]
        feed = next((f for f in feeds if f.startswith(f"tcp://{host}:")), None)
        if feed is None:
            return
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 0)  # like the DEALERs' queues: never drop here
        curve_client(sub, self.server_public)
        sub.setsockopt(zmq.SUBSCRIBE, b"")  # everything, as the session below
        sub.setsockopt(zmq.SUBSCRIBE, b"ZCHAT/1 FEED " + msg.session.encode())
        sub.connect(feed)
        self.feeds[i] = sub
        self.index[sub] = i
        self.poller.register(sub, zmq.POLLIN)

    def _sync_feeds(self, deadline: float) -> None:
        """Wait until every feed subscription is live: a PUB drops what is published
        before a subscriber's subscription has reached it. Receiver 0 says 'sync'
        until every feed has carried one."""
        seen: set[int] = set()
        speaker = self.socks[0]
        k = 0
        while len(seen) < len(self.feeds):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(seen)}/{len(self.feeds)} feeds live")
            k += 1
            speaker.send(encode(Say(f"sync {k}", cid=10**12 + k)))
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                for s, _ in self.poller.poll(20):
                    i = self.index[s]
                    for frame in _drain(s):
                        if s is self.feeds.get(i):
                            seen.add(i)
                        else:
                            self._maybe_pong(s, frame)

    def _maybe_pong(self, s: zmq.Socket, frame: bytes) -> None:
        reply = self.wire.pong(frame)
        if reply is not None:
            s.send(reply, zmq.NOBLOCK)

    def settle(self, quiet_s: float, timeout: float) -> int:
        """Drain join announcements until nothing arrives for ``quiet_s``; return frames read."""
        got = 0
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() - last < quiet_s and time.monotonic() < deadline:
            for s, _ in self.poller.poll(int(quiet_s * 1000 / 4) + 1):
                for frame in _drain(s):
                    got += 1
                    self._maybe_pong(s, frame)
                last = time.monotonic()
        return got

    def run(self, expected: int, latency: bool, deadline_s: float, idle_s: float,
            stall: StallPlan | None = None,
            sender_done: Callable[[], int | None] | None = None) -> RunResult:
        n = self.n
        counts = [0] * n
        res = RunResult(counts)
        raw: list[tuple[int, bytes]] = []
        keep = raw.append
        mono = time.monotonic_ns
        index = self.index
        poll = self.poller.poll
        noblock = zmq.NOBLOCK
        again = zmq.Again
        pong = self.wire.pong
        prefix = self.wire.msg_prefix
        batch = self.wire.batch_prefix or b"\0never"
        batch_count = self.wire.batch_count
        t_start = mono()
        deadline = t_start + int(deadline_s * 1e9)
        idle = int(idle_s * 1e9)
        last_activity = t_start
        last_check = t_start
        done = 0
        total = 0
        st = _Stall(stall) if stall else None
        stalled_sock = (self.feeds.get(stall.index) or self.socks[stall.index]) if stall else None
        while done < n:
            events = poll(20)
            now = mono()
            for s, _ in events:
                i = index[s]
                c = 0
                recv = s.recv
                while True:
                    try:
                        frame = recv(noblock)
                    except again:
                        break
                    if frame.startswith(prefix):
                        c += 1
                        if latency:
                            keep((mono(), frame))
                    elif frame.startswith(batch):
                        c += batch_count(frame)
                        if latency:
                            keep((mono(), frame))
                    else:
                        reply = pong(frame)
                        if reply is not None:
                            s.send(reply, noblock)
                if c:
                    before = counts[i]
                    counts[i] = before + c
                    total += c
                    if before < expected <= before + c:
                        done += 1
            if events:
                now = mono()
                if total and not res.first_recv_ns:
                    res.first_recv_ns = now
                    if st:
                        st.t_first = now
                if total:
                    res.last_recv_ns = now
                last_activity = now
            if st and st.t_first and st.state != "done":
                k = stall.index  # type: ignore[union-attr]
                st.step(now, total - counts[k],
                        lambda: self.poller.unregister(stalled_sock),
                        lambda: self.poller.register(stalled_sock, zmq.POLLIN))
            if now > deadline:
                res.timed_out = f"deadline of {deadline_s:.0f}s"
                break
            if now - last_activity > idle:
                res.timed_out = f"nothing received for {idle_s:.0f}s"
                break
            if sender_done is not None and now - last_check > 50_000_000:
                last_check = now
                sent = sender_done()
                if sent is not None:
                    # Once the sender is gone, a short silence means nothing more will come.
                    idle = min(idle, _AFTER_SENDER_IDLE)
                    if sent < expected:
                        expected = sent  # it gave up early (or ran for a duration)
                        done = sum(1 for c in counts if c >= expected)
        if st:
            if st.state == "stalled":
                self.poller.register(stalled_sock, zmq.POLLIN)
            res.stall = st.summary(n - 1)
        if latency:
            _latencies(self.wire, raw, res)
        return res

    def close(self) -> None:
        for s in [*self.socks, *self.feeds.values()]:
            s.close(linger=0)
        self.ctx.term()


def _drain(s: zmq.Socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(zmq.NOBLOCK))
        except zmq.Again:
            return out


class TcpReceivers:
    """N TCP sockets, one selector (epoll), one thread; messages are lines."""

    def __init__(self, wire: Wire, endpoint: str, n: int) -> None:
        host, _, port = endpoint.rpartition(":")
        self.addr = (host, int(port))
        self.wire = wire
        self.n = n
        self.socks: list[socket.socket] = []
        self.pending: list[bytes] = []
        self.sel = selectors.DefaultSelector()

    def connect(self, timeout: float, first_name: int = 0) -> float:
        """Connect and register every receiver (``CONNECT_BATCH`` at a time); return seconds."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        ok = [False] * self.n
        welcomed = 0
        for start in range(0, self.n, CONNECT_BATCH):
            stop = min(self.n, start + CONNECT_BATCH)
            for i in range(start, stop):
                left = max(1.0, deadline - time.monotonic())
                s = socket.create_connection(self.addr, timeout=left)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(self.wire.hello(f"r{i + first_name:05d}"))
                s.setblocking(False)
                self.socks.append(s)
                self.pending.append(b"")
                self.sel.register(s, selectors.EVENT_READ, i)
                # A short pause lets the server accept: ngircd listens with a backlog of
                # 10, and one dropped SYN costs a 1 s retransmit of a blocking connect.
                time.sleep(CONNECT_PAUSE)
            while welcomed < stop:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{welcomed}/{self.n} receivers registered in {timeout}s")
                for key, _ in self.sel.select(0.1):
                    i = key.data
                    if ok[i]:  # registered: only join announcements and pings arrive
                        self._discard(i)
                        continue
                    for line in self._lines(i):
                        if not ok[i] and self.wire.is_welcome(line):
                            ok[i] = True
                            welcomed += 1
                        else:
                            self._maybe_pong(i, line)
        return time.monotonic() - t0

    def _recv(self, i: int) -> bytes:
        try:
            data = self.socks[i].recv(262144)
        except BlockingIOError:
            return b""
        if not data:
            raise ConnectionError(f"receiver {i}: server closed the connection")
        return self.pending[i] + data if self.pending[i] else data

    def _lines(self, i: int) -> list[bytes]:
        data = self._recv(i)
        *lines, self.pending[i] = data.split(b"\n")
        return lines

    def _discard(self, i: int) -> int:
        """Read and drop what arrived, answering pings; cheap for the O(N^2) join storms."""
        data = self._recv(i)
        cut = data.rfind(b"\n") + 1
        self.pending[i] = data[cut:]
        if b"PING " in data:
            for line in data[:cut].split(b"\n"):
                self._maybe_pong(i, line)
        return data.count(b"\n", 0, cut)

    def _maybe_pong(self, i: int, line: bytes) -> None:
        reply = self.wire.pong(line)
        if reply is not None:
            self.socks[i].sendall(reply)

    def settle(self, quiet_s: float, timeout: float) -> int:
        """Drain join announcements until nothing arrives for ``quiet_s``; return lines read."""
        got = 0
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() - last < quiet_s and time.monotonic() < deadline:
            for key, _ in self.sel.select(quiet_s / 4):
                got += self._discard(key.data)
                last = time.monotonic()
        return got

    def run(self, expected: int, latency: bool, deadline_s: float, idle_s: float,
            stall: StallPlan | None = None,
            sender_done: Callable[[], int | None] | None = None) -> RunResult:
        n = self.n
        counts = [0] * n
        res = RunResult(counts)
        raw: list[tuple[int, bytes]] = []
        mono = time.monotonic_ns
        select_ = self.sel.select
        socks = self.socks
        pending = self.pending
        irc = isinstance(self.wire, IrcWire)
        t_start = mono()
        deadline = t_start + int(deadline_s * 1e9)
        idle = int(idle_s * 1e9)
        last_activity = t_start
        last_check = t_start
        done = 0
        total = 0
        closed = 0
        st = _Stall(stall) if stall else None
        while done < n:
            events = select_(0.02)
            now = mono()
            for key, _ in events:
                i = key.data
                try:
                    data = socks[i].recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(socks[i])
                    closed += 1
                    continue
                if pending[i]:
                    data = pending[i] + data
                cut = data.rfind(b"\n") + 1
                pending[i] = data[cut:]
                c = data.count(MARK, 0, cut)
                if c:
                    if latency:
                        t = mono()
                        raw.extend((t, line) for line in data[:cut].split(b"\n") if MARK in line)
                    before = counts[i]
                    counts[i] = before + c
                    total += c
                    if before < expected <= before + c:
                        done += 1
                if irc and b"PING " in data[:cut]:
                    for line in data[:cut].split(b"\n"):
                        self._maybe_pong(i, line)
            if events:
                now = mono()
                if total and not res.first_recv_ns:
                    res.first_recv_ns = now
                    if st:
                        st.t_first = now
                if total:
                    res.last_recv_ns = now
                last_activity = now
            if st and st.t_first and st.state != "done":
                k = stall.index  # type: ignore[union-attr]
                sock = socks[k]
                st.step(now, total - counts[k],
                        lambda: self.sel.unregister(sock),  # noqa: B023
                        lambda: self.sel.register(sock, selectors.EVENT_READ, k))  # noqa: B023
            if closed == n:
                res.timed_out = "the server closed every connection"
                break
            if now > deadline:
                res.timed_out = f"deadline of {deadline_s:.0f}s"
                break
            if now - last_activity > idle:
                res.timed_out = f"nothing received for {idle_s:.0f}s"
                break
            if sender_done is not None and now - last_check > 50_000_000:
                last_check = now
                sent = sender_done()
                if sent is not None:
                    # Once the sender is gone, a short silence means nothing more will come.
                    idle = min(idle, _AFTER_SENDER_IDLE)
                    if sent < expected:
                        expected = sent  # it gave up early (or ran for a duration)
                        done = sum(1 for c in counts if c >= expected)
        if st:
            if st.state == "stalled":
                self.sel.register(socks[stall.index], selectors.EVENT_READ,  # type: ignore[union-attr]
                                  stall.index)  # type: ignore[union-attr]
            res.stall = st.summary(n - 1)
        if latency:
            _latencies(self.wire, raw, res)
        return res

    def close(self) -> None:
        self.sel.close()
        for s in self.socks:
            s.close()


def _latencies(wire: Wire, raw: list[tuple[int, bytes]], res: RunResult) -> None:
    """Turn (receipt time, unit) pairs into latencies, after the timed part is over."""
    try:
        texts = wire.texts([u for _, u in raw])
    except Exception:
        res.bad_frames = len(raw)
        return
    out = res.latencies_ns
    for (t, _), bodies in zip(raw, texts, strict=True):
        for body in bodies:
            at = body.find(MARK)
            if at < 0:
                res.bad_frames += 1
                continue
            _, sent = parse_stamp(body, at)
            out.append(t - sent)


# ---- the sender (runs as its own process) ---------------------------------------------

@dataclass
class SenderHandle:
    """The orchestrator's view of a running sender process.

    The sender prints its result as soon as it has sent everything but stays
    connected until told to go (``close``): a client that vanished right after
    sending could lose messages still queued in the broker, and that would be
    the generator's fault, not the broker's.
    """

    proc: subprocess.Popen[bytes]
    result: dict[str, object] | None = None
    _buf: bytes = b""

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"GO\n")
        self.proc.stdin.flush()

    def _read(self, timeout_ms: int) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if poller.poll(timeout_ms):
            chunk = os.read(fd, 65536)
            self._buf += chunk
            if not chunk and self.result is None:
                self.result = {"sent": 0, "error": "sender exited without a result"}
        for line in self._buf.splitlines():
            if line.startswith(b"{"):
                self.result = json.loads(line)

    def finished(self) -> int | None:
        """Messages sent once the sender has reported, else None (never blocks)."""
        if self.result is None:
            self._read(0)
        return int(self.result["sent"]) if self.result else None  # type: ignore[call-overload]

    def collect(self, timeout: float) -> dict[str, object]:
        """Wait (bounded) for the sender's result line."""
        deadline = time.monotonic() + timeout
        while self.result is None and time.monotonic() < deadline:
            self._read(100)
        if self.result is None:
            self.result = {"sent": 0, "error": f"no result from the sender in {timeout:.0f}s"}
            stack = _pyspy_dump(self.proc.pid)
            if stack:
                self.result["stuck_in"] = stack  # where the sender hung (py-spy dump)
        return self.result

    def close(self) -> None:
        """Let the sender disconnect and exit; kill it if it does not within 5 s."""
        try:
            if self.proc.stdin is not None and self.proc.poll() is None:
                self.proc.stdin.write(b"EXIT\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _pyspy_dump(pid: int) -> str:
    """The Python stack of a hung process, when py-spy is installed ("" otherwise)."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        return ""
    try:
        out = subprocess.run([str(exe), "dump", "--pid", str(pid)], capture_output=True,
                             text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr)[-2000:]


def spawn_sender(protocol: str, endpoint: str, messages: int, rate: float = 0.0,
                 duration: float = 0.0, ready_timeout: float = 60.0,
                 on_wait: Callable[[], object] | None = None,
                 server_key: str | Path | None = None, name: str = "sender") -> SenderHandle:
    """Start a sender process and return once it has registered (printed READY).

    ``on_wait`` is called while waiting so the receivers can keep draining
    the join announcement of the sender. ``server_key``: the broker's public
    key file (the sender then speaks CURVE). ``name``: the sender's (several
    senders one after another on one broker need names of their own: a zchat
    sender that exited is still online until its heartbeat runs out).
    """
    cmd = [sys.executable, str(BENCH_DIR / "loadgen.py"), "send", "--protocol", protocol,
           "--endpoint", endpoint, "--messages", str(messages), "--rate", str(rate),
           "--duration", str(duration), "--timeout", str(ready_timeout), "--name", name]
    if server_key:
        cmd += ["--server-key", str(server_key)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    handle = SenderHandle(proc)
    assert proc.stdout is not None
    deadline = time.monotonic() + ready_timeout
    buf = b""
    fd = proc.stdout.fileno()
    poller = select.poll()  # not select(): our fds are above 1024 with many receivers
    poller.register(fd, select.POLLIN)
    while b"READY" not in buf:
        if time.monotonic() > deadline or proc.poll() is not None:
            handle.kill()
            err = proc.stderr.read().decode(errors="replace")[-800:] if proc.stderr else ""
            raise RuntimeError(f"sender did not get ready: {buf[-300:]!r} {err}")
        if poller.poll(50):
            chunk = os.read(fd, 4096)
            buf += chunk
        if on_wait is not None:
            on_wait()
    return handle


def _sender_main(args: argparse.Namespace) -> None:
    wire = wire_for(args.protocol)
    make = wire.maker()
    mono = time.monotonic_ns
    timeout = args.timeout
    result: dict[str, object] = {"sent": 0, "first_send_ns": 0, "last_send_ns": 0}
    if wire.transport == "zmq":
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 2000)
        sock.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
        sock.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        curve_client(sock, load_server_key(args.server_key))
        sock.connect(args.endpoint)
        sock.send(wire.hello(args.name))
        while not wire.is_welcome(sock.recv()):
            pass
        send: Callable[[bytes], object] = sock.send

        def drain() -> None:
            """Read what the broker sends us (acks, pings) so its queue to us never fills."""
            try:
                while True:
                    sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                pass
    else:
        host, _, port = args.endpoint.rpartition(":")
        tcp = socket.create_connection((host, int(port)), timeout=timeout)
        tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tcp.sendall(wire.hello(args.name))
        if isinstance(wire, IrcWire):
            tcp.sendall(b"OPER bench bench\r\nMODE %s +F\r\n" % args.name.encode())
        _wait_lines(tcp, wire, timeout, args.name)
        send = tcp.sendall

        readable = select.poll()
        readable.register(tcp, select.POLLIN)

        def drain() -> None:
            # poll() first: recv on a socket with a timeout would wait for data.
            while readable.poll(0) and tcp.recv(65536):
                pass
    print("READY", flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready or not os.read(0, 64).startswith(b"GO"):
        result["error"] = "no GO from the orchestrator"
        print(json.dumps(result), flush=True)
        return
    cpu0 = _self_cpu()
    sent = 0
    first = 0
    now = 0
    try:
        if args.duration > 0:  # the stall run: send flat out (or paced) for a fixed time
            first = mono()
            end = first + int(args.duration * 1e9)
            interval = int(1e9 / args.rate) if args.rate > 0 else 0
            while True:
                now = mono()
                if now >= end:
                    break
                if interval:
                    wait = first + sent * interval - now
                    if wait > 0:
                        time.sleep(wait / 1e9)
                        now = mono()
                send(make(sent, now))
                sent += 1
                if not sent & 63:
                    drain()
        elif args.rate > 0:  # paced: the latency run
            interval = int(1e9 / args.rate)
            first = mono()
            for seq in range(args.messages):
                wait = first + seq * interval - mono()
                if wait > 0:
                    time.sleep(wait / 1e9)
                now = mono()
                send(make(seq, now))
                sent += 1
                if not sent & 63:
                    drain()
        else:  # flat out: the fan-out run
            first = mono()
            for seq in range(args.messages):
                now = mono()
                send(make(seq, now))
                sent += 1
                if not sent & 63:
                    drain()
    except (zmq.ZMQError, OSError) as exc:
        result["error"] = f"send failed after {sent}: {exc}"
    result.update(sent=sent, first_send_ns=first, last_send_ns=now, cpu_s=_self_cpu() - cpu0)
    print(json.dumps(result), flush=True)
    # Stay connected (still reading acks and pings) until the orchestrator says EXIT.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drain()
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if ready:
            break


def _wait_lines(tcp: socket.socket, wire: Wire, timeout: float, name: str) -> None:
    """Read lines until the sender is registered (and, on IRC, has +F and joined)."""
    deadline = time.monotonic() + timeout
    buf = b""
    joined = False
    flood_ok = not isinstance(wire, IrcWire)
    synced = flood_ok
    while not (joined and flood_ok and synced):
        if time.monotonic() > deadline:
            raise TimeoutError("sender registration timed out")
        chunk = tcp.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the sender's connection")
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if wire.is_welcome(line):
                joined = True
            if b" MODE %s " % name.encode() in line and b"+F" in line and not flood_ok:
                flood_ok = True
                # ngircd gives every MODE change a 1-second penalty: our commands wait
                # behind it. A PING queued now is answered only once it is over.
                tcp.sendall(b"PING :bench-sync\r\n")
            if b"PONG" in line and b"bench-sync" in line:
                synced = True
            if b" 491 " in line or b" 464 " in line or b" 481 " in line:
                raise RuntimeError(f"IRC oper/mode refused: {line!r}")
            reply = wire.pong(line)
            if reply:
                tcp.sendall(reply)


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _hold_main(args: argparse.Namespace) -> None:
    """Connect N idle clients, say READY, and keep them alive (draining) until EXIT."""
    rc = make_receivers(args.protocol, args.endpoint, args.n, args.server_key)
    try:
        setup = rc.connect(args.timeout, first_name=args.first_name)
        rc.settle(quiet_s=0.3, timeout=args.timeout)
        print(json.dumps({"ready": True, "setup_s": setup}), flush=True)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sys.stdin], [], [], 0)
            if ready:
                break
            rc.settle(quiet_s=0.05, timeout=0.2)
    except (TimeoutError, OSError, zmq.ZMQError) as exc:
        print(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    finally:
        rc.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="zchat benchmark helpers (run by run.py)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("--protocol", required=True, choices=["zchat", "relay", "line", "irc"])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0.0, help="messages/s; 0 = as fast as possible")
    p.add_argument("--duration", type=float, default=0.0, help="send for this long instead")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--name", default="sender", help="the sender's name")
    p.add_argument("--server-key", default=None,
                   help="the broker's CURVE public key file: encrypt (fresh key pair)")
    h = sub.add_parser("hold", help="keep N idle clients connected (memory runs)")
    h.add_argument("--protocol", required=True, choices=["zchat", "relay", "line", "irc"])
    h.add_argument("--endpoint", required=True,
                   help="a comma list spreads the clients over several brokers, round robin")
    h.add_argument("--n", type=int, required=True)
    h.add_argument("--first-name", type=int, default=0)
    h.add_argument("--timeout", type=float, default=300.0)
    h.add_argument("--server-key", default=None,
                   help="the broker's CURVE public key file: encrypt (a key pair per socket)")
    args = parser.parse_args(argv)
    if args.cmd == "hold":
        _hold_main(args)
    else:
        _sender_main(args)


if __name__ == "__main__":
    main()
