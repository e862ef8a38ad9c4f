"""Live batches: the public messages of one broker cycle go out as one frame per client.

Raw peers (they see the frames themselves) talk at once, faster than one
message per cycle: every other peer gets every message once, in order, and
nobody is sent their own.
"""

import signal
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from zchat.protocol import Ack, Acks, Events, Join, Msg, Say, Welcome, encode
from zchat.protocol import constants as c

from .frames import live_events, read
from .harness import Cluster, RawPeer, wait_until

COUNT = 300
UNLIMITED = ("--rate", "1e9", "--burst", "1000000000", "--byte-rate", "1e12",
             "--byte-burst", "1000000000000")


class Reader:
    """A raw peer's view: public messages (from single frames and live batches) and ACKs."""

    def __init__(self, peer: RawPeer) -> None:
        self.peer = peer
        self.msgs: list[Msg] = []
        self.acks = 0
        self.batches = 0
        #: The cids acknowledged, in order, and how many ACKS frames brought them.
        self.acked: list[int] = []
        self.acks_frames = 0

    def until(self, text: str, timeout: float = 30.0) -> None:
        """Read until a message with ``text`` has arrived."""
        self._read_until(lambda: any(m.text == text for m in self.msgs), timeout)

    def until_acked(self, count: int, timeout: float = 30.0) -> None:
        """Read until ``count`` of its messages have been acknowledged."""
        self._read_until(lambda: len(self.acked) >= count, timeout)

    def _read_until(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            msg = read(self.peer.sock, deadline - time.monotonic())
            self.batches += isinstance(msg, Events) and msg.kind == c.K_LIVE
            for event in live_events(msg):
                if isinstance(event, Msg):
                    self.msgs.append(event)
                elif isinstance(event, Ack):
                    self.acks += 1
                    self.acked.append(event.cid)
                elif isinstance(event, Acks):
                    self.acks += len(event.acks)
                    self.acked += [ack.cid for ack in event.acks]
                    self.acks_frames += 1


def _join(endpoint: str, name: str, acks: bool = False) -> RawPeer:
    peer = RawPeer(endpoint)
    peer.send(encode(Join(name, name[0] * 32, acks=acks)))
    peer.next(Welcome)
    return peer


def _queued_to(port: int) -> int:
    """Octets waiting, unread, on the loopback TCP connections to ``port`` (the
    rx_queue column of /proc/net/tcp for the accepted side)."""
    local = f"0100007F:{port:04X}"
    total = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "01":  # (ESTABLISHED)
            total += int(fields[4].split(":")[1], 16)
    return total


def _stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (SIGSTOP takes effect after kill returns)."""
    states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0]
              for task in Path(f"/proc/{pid}/task").iterdir()]
    return all(state == "T" for state in states)


def _talk_at_once(chat: Cluster, ana_acks: bool = False,
                  ana_while_stopped: bool = False) -> dict[str, Reader]:
    """ana and bob send COUNT messages each, interleaved, faster than a message a
    cycle; carol only listens, then says "end" once she has them all (what the
    broker sends after it comes after everything). What each of the three read.

    ``ana_while_stopped``: ana sends all hers while the broker is stopped (SIGSTOP),
    so that it finds them waiting together, then, her ACKs all back, bob his. (A
    ROUTER takes one message from each peer in turn, and a broker may keep up with one
    sender: either way her messages, and her ACKs, would seldom be consecutive in a
    cycle.)"""
    broker = chat.broker("--store", "memory", *UNLIMITED)
    ana = _join(broker.endpoint, "ana", acks=ana_acks)
    bob, carol = (_join(broker.endpoint, name) for name in ("bob", "carol"))
    readers = {name: Reader(peer) for name, peer in
               (("ana", ana), ("bob", bob), ("carol", carol))}
    try:
        says = [(peer, encode(Say(f"{peer_name}{i}", cid=i + 1)))
                for i in range(COUNT) for peer, peer_name in ((ana, "a"), (bob, "b"))]
        if ana_while_stopped:
            broker.signal(signal.SIGSTOP)
            try:
                wait_until(lambda: _stopped(broker.pid), "the broker stopped")
                hers = [frame for peer, frame in says if peer is ana]
                for frame in hers:
                    ana.send(frame)
                # All of them in the stopped broker's socket buffer (a ZMTP frame: a
                # 2-octet header, then the message) before it runs again.
                port = int(broker.endpoint.rsplit(":", 1)[1])
                wait_until(lambda: _queued_to(port) >= sum(len(f) + 2 for f in hers),
                           "ana's messages queued at the stopped broker")
            finally:
                broker.signal(signal.SIGCONT)
            # bob starts once the broker has taken all of hers: sent sooner, his would
            # be read turn about with hers, and none of her ACKs consecutive.
            readers["ana"].until_acked(COUNT)
            says = [(peer, frame) for peer, frame in says if peer is bob]
        for peer, frame in says:
            peer.send(frame)
        readers["carol"].until(f"b{COUNT - 1}")
        readers["carol"].until(f"a{COUNT - 1}")
        carol.send(encode(Say("end", cid=1)))
        for name in ("ana", "bob"):
            readers[name].until("end")
        return readers
    finally:
        for peer in (ana, bob, carol):
            peer.close()


def test_two_talking_at_once_get_each_other_once_in_order_and_not_themselves(
        chat: Cluster) -> None:
    readers = _talk_at_once(chat)
    seen = readers["carol"].msgs
    assert [m.text for m in seen if m.sender == "ana"] == [f"a{i}" for i in range(COUNT)]
    assert [m.text for m in seen if m.sender == "bob"] == [f"b{i}" for i in range(COUNT)]
    # Carol is sent every public event: each one links to the one before.
    assert all(m.prev == before.seq for before, m in pairwise(seen))
    assert readers["carol"].batches > 0, "no live batch: the test did not test batching"
    for name, other in (("ana", "b"), ("bob", "a")):
        texts = [m.text for m in readers[name].msgs]
        assert texts[-1] == "end"
        assert texts[:-1] == [f"{other}{i}" for i in range(COUNT)], name  # none of its own
        assert readers[name].acks == COUNT


def test_a_client_that_takes_acks_gets_them_several_to_a_frame_and_no_other_does(
        chat: Cluster) -> None:
    """ana's JOIN says she takes ACKS; bob's, written before them, does not: both talk
    at once, faster than a message a cycle. ana's ACKs come several to a frame, every
    one of them once and in order; bob gets his one to a frame, as before. (ana sends
    hers while the broker is stopped: `_talk_at_once`.)"""
    readers = _talk_at_once(chat, ana_acks=True, ana_while_stopped=True)
    for name in ("ana", "bob"):
        assert readers[name].acked == list(range(1, COUNT + 1)), name
    assert readers["ana"].acks_frames > 0, "no ACKS: the test did not test them"
    assert readers["bob"].acks_frames == 0
    # Everyone still got every message once, in order.
    seen = readers["carol"].msgs
    assert [m.text for m in seen if m.sender == "ana"] == [f"a{i}" for i in range(COUNT)]
