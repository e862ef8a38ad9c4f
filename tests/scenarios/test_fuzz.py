"""Wire fuzzing against a live broker: thousands of hostile frames, and the chat goes on.

Bare DEALERs throw random bytes, random multi-frame messages, mutated valid
frames, JSON with wrong field types and huge numbers, JOINs with weird names
and hostile-but-valid sequences (control characters, FETCH with huge cursors,
WHO floods) at a real broker while two honest clients chat. Everything is
generated up front from one fixed seed, so a failure replays.

Three kinds of peer, because the broker answers at most UNJOINED_RATE frames a
second from connections that have not joined (the rest it drops unread):

* garbage peers JOIN first, so every frame they send is decoded and refused;
  they stay under ZMQ_MAXMSGSIZE, which would cost them their connection, and
  JOIN again now and then in case they were dropped;
* strangers never join on purpose: random bytes up to 20,000 bytes (libzmq drops
  the connection past MAX_FRAME_BYTES), multi-frame messages, weird JOINs;
* hostile peers join and abuse valid frames: control characters, duplicates,
  huge cursors, floods until the broker disconnects them, LEAVE and come back.

Afterwards the broker is alive, logged no traceback, did not balloon, the honest
clients still chat, and nothing from an invalid frame ever reached them: each
invalid frame carries a unique marker that must not appear in their output.
"""

import json
import random
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

import zmq

from zchat.protocol import (
    Fetch,
    Join,
    Leave,
    Message,
    Ping,
    ProtocolError,
    Say,
    Tell,
    Who,
    decode_client_frames,
    encode,
)
from zchat.protocol import constants as c

from .harness import Cluster, RawPeer

SEED = 1234
GARBAGE_PEERS = 4
GARBAGE_PER_PEER = 1400
#: Garbage peers JOIN again after this many messages (in case they were dropped).
REJOIN_EVERY = 100
STRANGERS = 2
STRANGER_PER_PEER = 700
HOSTILE_PEERS = 2
HOSTILE_ROUNDS = 20
#: Messages per second, all peers together; strangers stay well under UNJOINED_RATE.
SEND_RATE = 800.0
#: Sending stops after this long even if messages are left (the test then reports it).
SEND_BUDGET = 18.0
MAX_RSS_GROWTH_KB = 100 * 1024
MARKER = "QZXMARK"
MARKER_RE = re.compile(MARKER + r"\d{5}")
HONEST = ("ana", "bob")

# JOIN names: valid oddities (they join), invalid ones (BAD_NAME) and the honest
# users' names in other cases and widths (NAME_TAKEN while they are online).
WEIRD_NAMES = [
    "Zoë", "名前", "😀x", "a" * c.MAX_NAME_CHARS, "O'Brien", "x-y_z", "ǅ", "ﬁsh",
    "\uff21\uff22\uff23", "Ⅻ", "\U0001d518\U0001d52b\U0001d526", "\u0430na", "aná", "ana\u0301",
    "", " ", "a b", "a\tb", "@ana", "/x", "\uff20x", "a\x00b", "a\x1b[2Jb", "\u202eevil",
    "a\u200bb", "x" * (c.MAX_NAME_CHARS + 1), "n" * (4 * c.MAX_NAME_CHARS + 1), "a\u2028b",
    "\ue000", "\U000e0001x", "a\u0378b", "\x7f", "a\x85b",
    "ANA", "Bob", "\uff41\uff4e\uff41", "BOB",
]
HOSTILE_TEXTS = [
    "x\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rfake\x08\x9b\u202eevil",
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x7f\x80\x9f",
    "bell\x07" * 50,
    "\u2028line\u2029sep\u2066iso\u2069",
    "\r\n\r\nfake: forged line",
    "\x1b[999;999H\x1b[6n",
    "tab\there",
]
# Values a field must never accept, in JSON (NaN and Infinity are Python's extension).
HOSTILE_VALUES: list[Any] = [
    None, True, False, -1, 0, 1.5, -0.0, c.MAX_SEQ + 1, 2**64, -(2**63), 10**400,
    float("nan"), float("inf"), float("-inf"), "", "x" * 3000, [], {}, [1, [2, [3]]],
    {"a": {"b": None}}, "\ud800", "a\udfffb", "1", "true", ["ana"], 1e308, 5e-324,
]


class Marks:
    """Unique marker strings embedded in fuzz frames."""

    def __init__(self) -> None:
        self.count = 0
        #: Markers inside frames the decoder accepts: these may legitimately be relayed.
        self.allowed: set[str] = set()

    def new(self) -> str:
        self.count += 1
        return f"{MARKER}{self.count:05d}"

    def classify(self, frames: list[bytes]) -> bool:
        """True if any broker must refuse this message; else note what it may relay."""
        try:
            msg = decode_client_frames(frames)
        except ProtocolError:
            return True
        for field in ("text", "name", "to", "token"):
            self.allowed.update(MARKER_RE.findall(str(getattr(msg, field, ""))))
        return False


#: Messages one peer sends back to back; most are a single message.
Burst = list[list[bytes]]
Gen = Callable[[random.Random, Marks], list[bytes]]


# ---- generators ------------------------------------------------------------------------

def _length(rng: random.Random, most: int) -> int:
    """0..most, mostly small (log-uniform)."""
    return min(most, int((most + 1) ** rng.random()) - 1)


def _random_bytes(rng: random.Random, marks: Marks, most: int = c.MAX_FRAME_BYTES - 64,
                  ) -> list[bytes]:
    data = bytearray(rng.randbytes(_length(rng, most)))
    if rng.random() < 0.5:
        at = rng.randrange(len(data) + 1)
        data[at:at] = marks.new().encode()
    if rng.random() < 0.3:  # the right signature, then noise
        data[0:0] = rng.choice([c.HEADER, c.HEADER + b"SAY ", c.HEADER + b"JOIN {",
                                b"ZCHAT/", b"ZCHAT/2 ", b"ZCHAT/1"])
    return [bytes(data)]


def _any_size_bytes(rng: random.Random, marks: Marks) -> list[bytes]:
    """Up to 20,000 bytes: past MAX_FRAME_BYTES libzmq drops the sender's connection."""
    return _random_bytes(rng, marks, 20_000)


def _valid_message(rng: random.Random, marks: Marks) -> Message:
    mark = marks.new()
    text = rng.choice(["hello ", "olá ", "😀 ", "", *HOSTILE_TEXTS]) + mark
    cid = rng.choice([0, 1, 7, c.MAX_SEQ, rng.randrange(1, 1000)])
    # No LEAVE: a garbage peer must stay joined (hostile peers LEAVE on purpose).
    return rng.choice([
        Say(text, cid, rng.random() < 0.3),
        Tell(rng.choice(["ana", "bob", "nobody", mark]), text, cid),
        Join(mark, rng.choice(["", "t" * 16, mark * 3]), rng.random() < 0.5),
        Fetch(rng.choice([0, 5, c.MAX_SEQ]), rng.choice([0, c.MAX_SEQ]), rng.randint(1, 200)),
        Who(), Ping(),
    ])


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert noise or JSON punctuation
            data[at:at] = rng.choice([rng.randbytes(rng.randint(1, 8)), b'"', b"\\", b"{",
                                      b"}", b"[", b"\x00", b"\xff", b",", b":", b"\\u"])
        elif op == 2:  # delete a slice
            del data[at:at + rng.randint(1, 16)]
        elif op == 3:  # truncate
            del data[at:]
        elif op == 4:  # duplicate a slice
            data[at:at] = data[at:at + rng.randint(1, 64)]
        elif op == 5 and data:  # one byte becomes something structural
            data[min(at, len(data) - 1)] = rng.choice(b'"\\{}[]:, \x00\xff\x80')
        else:  # a long run of one byte
            data[at:at] = rng.choice([b"9", b"[", b" ", b"x"]) * rng.randint(100, 5000)
    return bytes(data[:c.MAX_FRAME_BYTES])


def _mutated(rng: random.Random, marks: Marks) -> list[bytes]:
    return [_mutate(rng, encode(_valid_message(rng, marks)))]


def _dump(body: Any, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return json.dumps(body).encode("ascii")  # lone surrogates as \\udxxx escapes
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _wrong_types(rng: random.Random, marks: Marks) -> list[bytes]:
    msg = _valid_message(rng, marks)
    head, _, raw = encode(msg).partition(b" {")
    body: dict[str, Any] = json.loads(b"{" + raw) if raw else {}
    body.setdefault("x", marks.new())  # an extra field is tolerated; it carries a marker
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*body, "name", "text", "cid", "pub", "priv", "limit", "retry"])
        body[key] = rng.choice(HOSTILE_VALUES)
    frame = head + b" " + _dump(body, rng)
    if rng.random() < 0.2:  # a number past int()'s 4300-digit limit, in place
        frame = re.sub(rb":(-?\d+)", lambda m: b":" + b"9" * rng.randint(4000, 9000), frame,
                       count=1)
    return [frame]


def _multi_frame(rng: random.Random, marks: Marks) -> list[bytes]:
    parts = []
    for _ in range(rng.choice([2, 2, 3, 4])):  # never 0: a ZeroMQ message has 1 or more
        parts.append(rng.choice([
            encode(Say(marks.new())), encode(Join(marks.new())), encode(Who()), b"",
            rng.randbytes(20), _random_bytes(rng, marks)[0][:300],
        ]))
    return parts


def _weird_join(rng: random.Random, marks: Marks) -> list[bytes]:
    if rng.random() < 0.2:  # a lone surrogate can only be sent as a JSON escape
        return [c.HEADER + b'JOIN {"name":"a\\ud800' + marks.new().encode() + b'"}']
    token = rng.choice(["", "short", rng.randbytes(16).hex(), "t" * 65, "\x00" * 16])
    return [c.HEADER + b"JOIN " + _dump({"name": rng.choice(WEIRD_NAMES), "token": token,
                                         "resume": rng.random() < 0.5}, rng)]


def _weird_join_and_leave(rng: random.Random, marks: Marks) -> Burst:
    """A weird JOIN and, if it got in, straight out again: the next one is judged afresh."""
    return [_weird_join(rng, marks), [encode(Leave())]]


GARBAGE_MIX: list[tuple[Gen, int]] = [(_random_bytes, 30), (_mutated, 35), (_wrong_types, 25),
                                      (_multi_frame, 10)]
STRANGER_MIX: list[tuple[Gen, int]] = [(_any_size_bytes, 60), (_multi_frame, 15),
                                       (_mutated, 25)]
#: Of a stranger's messages, the share that are weird JOINs (each followed by LEAVE).
WEIRD_JOINS = 0.3


def _mix(rng: random.Random, marks: Marks, mix: list[tuple[Gen, int]]) -> list[bytes]:
    funcs, weights = zip(*mix, strict=True)
    return rng.choices(funcs, weights)[0](rng, marks)


def _garbage_peer(rng: random.Random, marks: Marks, k: int) -> list[Burst]:
    join = [encode(Join(f"fzg{k}", rng.randbytes(16).hex()))]
    seq = []
    for n in range(GARBAGE_PER_PEER):
        if n % REJOIN_EVERY == 0:
            seq.append([join])
        seq.append([_mix(rng, marks, GARBAGE_MIX)])
    return seq


def _stranger(rng: random.Random, marks: Marks) -> list[Burst]:
    return [_weird_join_and_leave(rng, marks) if rng.random() < WEIRD_JOINS
            else [_mix(rng, marks, STRANGER_MIX)] for _ in range(STRANGER_PER_PEER)]


def _hostile_peer(rng: random.Random, marks: Marks, k: int) -> list[Burst]:
    """A peer that joins properly, then abuses valid frames."""
    name = f"fzh{k}_é"
    join = [encode(Join(name, rng.randbytes(16).hex()))]
    seq: list[Burst] = [[join]]
    cid = 0
    for n in range(HOSTILE_ROUNDS):
        cid += 1
        text = rng.choice(HOSTILE_TEXTS) + " " + marks.new()
        seq += [
            [[encode(Say(text, cid))]],
            [[encode(Say(text, cid, retry=True))]],  # a duplicate: acknowledged, not stored
            [[encode(Tell(rng.choice(HONEST), text + " private", cid + 10_000))]],
            [[encode(Tell("nobody_here", text, cid + 20_000))]],
            [[encode(Say("   \t  "))]],
            [[encode(Fetch(c.MAX_SEQ, c.MAX_SEQ, c.MAX_FETCH))]],
            [[encode(Fetch(rng.choice([0, c.MAX_SEQ]), 0, c.MAX_FETCH))]],
            [[encode(Who())]] * rng.randint(5, 30),  # a WHO flood, over the rate limit
            [join],  # ALREADY_JOINED, or back in after being dropped
            [[encode(Ping())]],
            [_mutated(rng, marks)],
        ]
        if n == HOSTILE_ROUNDS // 2:  # flood until disconnected (FLOOD_STRIKES), come back
            seq.append([[encode(Who())]] * (c.FLOOD_STRIKES + c.DEFAULT_BURST + 20) + [join])
        if rng.random() < 0.15:  # leave, talk while out, come back with the same token
            seq.append([[encode(Leave())], [encode(Say("after leave " + marks.new()))], join])
    return seq


def _schedule(rng: random.Random,
              marks: Marks) -> tuple[list[tuple[int, Burst]], int, int]:
    """Every peer's bursts, interleaved at random (each peer's own order kept), how
    many messages that is and how many of them any broker must refuse."""
    queues = [_garbage_peer(rng, marks, k) for k in range(GARBAGE_PEERS)]
    queues += [_stranger(rng, marks) for _ in range(STRANGERS)]
    queues += [_hostile_peer(rng, marks, k) for k in range(HOSTILE_PEERS)]
    messages = [frames for queue in queues for burst in queue for frames in burst]
    invalid = sum(marks.classify(frames) for frames in messages)
    order = [i for i, queue in enumerate(queues) for _ in queue]
    rng.shuffle(order)
    cursors = [0] * len(queues)
    schedule = []
    for i in order:
        schedule.append((i, queues[i][cursors[i]]))
        cursors[i] += 1
    return schedule, len(messages), invalid


# ---- driving ---------------------------------------------------------------------------

def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def _tally(frame: bytes, replies: Counter[str]) -> None:
    head = frame[len(c.HEADER):].split(b" ", 1)[0].decode("ascii", "replace")
    if head == c.ERROR:
        try:
            head += ":" + json.loads(frame.split(b" ", 2)[2])["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            head += ":?"
    elif head == c.BYE:
        head += ":" + frame.decode("ascii", "replace").rsplit('"', 2)[-2]
    replies[head] += 1


def _drain(peer: RawPeer, replies: Counter[str]) -> None:
    """Read whatever has arrived, without waiting."""
    sock = peer.sock
    while sock.poll(0, zmq.POLLIN):
        _tally(sock.recv_multipart(zmq.NOBLOCK)[0], replies)


def _send(peer: RawPeer, frames: list[bytes], replies: Counter[str], deadline: float) -> bool:
    """Send without blocking; while the queue is full (reconnecting), drain and retry."""
    while True:
        try:
            peer.sock.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.Again:
            if time.monotonic() > deadline:
                return False
            _drain(peer, replies)
            time.sleep(0.002)


def _settle(peer: RawPeer, k: int, replies: Counter[str]) -> None:
    """Wait until the broker has worked through everything this peer sent.

    An unknown command is answered with an ERROR naming it, and one connection's
    messages are handled in order. It is sent again if it got lost (a frame over
    ZMQ_MAXMSGSIZE drops the connection and what was in flight with it).
    """
    sentinel = f"DONE{k}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _send(peer, [c.HEADER + sentinel.encode()], replies, deadline)
        resend = time.monotonic() + 2
        while time.monotonic() < resend:
            if not peer.sock.poll(100, zmq.POLLIN):
                continue
            frame = peer.sock.recv_multipart()[0]
            if frame.startswith(c.HEADER + b"ERROR ") and \
                    json.loads(frame.split(b" ", 2)[2]).get("ref") == sentinel:
                return
            _tally(frame, replies)
    raise AssertionError(f"the broker never answered {sentinel}")


_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")


def _unsafe_chars(text: str) -> list[str]:
    return sorted({unicodedata.name(ch, repr(ch)) for ch in _UNSAFE.findall(text)})


def test_wire_fuzz_leaves_broker_alive_and_honest_clients_unharmed(chat: Cluster) -> None:
    rng = random.Random(SEED)
    marks = Marks()
    schedule, total, invalid = _schedule(rng, marks)

    broker = chat.broker(heartbeat=0.5)
    ana, bob = (chat.client(name, broker.endpoint, use_pty=False, heartbeat=0.5)
                for name in HONEST)
    ana.expect("bob joined")
    ana.line("before the storm")
    bob.expect("ana: before the storm")
    bob.line("@ana psst before")
    ana.expect(r"\(private\) bob: psst before")
    rss_before = _rss_kb(broker.pid)

    peers = [RawPeer(broker.endpoint) for _ in range(GARBAGE_PEERS + STRANGERS + HOSTILE_PEERS)]
    replies: Counter[str] = Counter()
    sent = 0
    start = time.monotonic()
    deadline = start + SEND_BUDGET
    try:
        for n, (i, burst) in enumerate(schedule):
            now = time.monotonic()
            if now > deadline:
                break
            if n % 16 == 0:
                ahead = start + sent / SEND_RATE - now
                if ahead > 0:
                    time.sleep(ahead)
                for peer in peers:
                    _drain(peer, replies)
            for frames in burst:
                sent += _send(peers[i], frames, replies, deadline)
        sending = time.monotonic() - start
        for k, peer in enumerate(peers):
            _settle(peer, k, replies)
            _drain(peer, replies)
        settled = time.monotonic() - start
    finally:
        for peer in peers:
            peer.close()
    rss_after = _rss_kb(broker.pid)
    refused = sum(n for head, n in replies.items() if head.startswith("ERROR"))
    print(f"\nfuzz: {sent} of {total} messages sent ({invalid} of them invalid) from "
          f"{len(peers)} peers in {sending:.1f}s, all handled after {settled:.1f}s; "
          f"{sum(replies.values())} replies, {refused} ERRORs: "
          f"{dict(replies.most_common())}; broker RSS {rss_before} -> {rss_after} kB")

    assert broker.proc.poll() is None, f"broker died:\n{broker.tail(30)}"
    assert rss_after - rss_before < MAX_RSS_GROWTH_KB, (rss_before, rss_after)
    assert sent >= total // 2, f"only {sent} of {total} sent in time"
    # Not vacuous: most garbage reached the decoder and was refused out loud.
    assert refused >= invalid // 2, (refused, invalid)

    # The honest clients still chat, publicly and privately.
    ana.line("after the storm")
    bob.expect("ana: after the storm", timeout=15)
    bob.line("@ana psst after")
    ana.expect(r"\(private\) bob: psst after", timeout=15)
    bob.line("/who")
    bob.expect(r"Online \(\d+\): .*\bana\b")

    for proc in (ana, bob):
        text = proc.raw.decode("utf-8", "replace")
        print(f"{proc.label}: {len(text.splitlines())} lines, "
              f"{len(set(MARKER_RE.findall(text)))} fuzz markers from valid frames")
        leaked = set(MARKER_RE.findall(text)) - marks.allowed
        assert not leaked, f"{proc.label} saw markers of invalid frames: {sorted(leaked)[:10]}"
        assert not _unsafe_chars(text), f"{proc.label} printed {_unsafe_chars(text)}"
        assert "Traceback" not in text
    log = broker.raw.decode("utf-8", "replace")
    assert "Traceback" not in log, broker.tail(40)
    assert "unexpected error" not in log, broker.tail(40)
    assert not _unsafe_chars(log), f"broker log holds {_unsafe_chars(log)}"
