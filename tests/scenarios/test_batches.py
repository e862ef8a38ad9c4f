"""Live batches: the public messages of one broker cycle go out as one frame per client.

Raw peers (they see the frames themselves) talk at once, faster than one
message per cycle: every other peer gets every message once, in order, and
nobody is sent their own.
"""

import time
from itertools import pairwise

from zchat.protocol import Ack, Acks, Events, Join, Msg, Say, Welcome, encode
from zchat.protocol import constants as c

from .frames import live_events, read
from .harness import Cluster, RawPeer

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
        deadline = time.monotonic() + timeout
        while not any(m.text == text for m in self.msgs):
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


def test_two_talking_at_once_get_each_other_once_in_order_and_not_themselves(
        chat: Cluster) -> None:
    broker = chat.broker("--store", "memory", *UNLIMITED)
    ana, bob, carol = (_join(broker.endpoint, name) for name in ("ana", "bob", "carol"))
    try:
        for i in range(COUNT):
            ana.send(encode(Say(f"a{i}", cid=i + 1)))
            bob.send(encode(Say(f"b{i}", cid=i + 1)))
        readers = {name: Reader(peer) for name, peer in
                   (("ana", ana), ("bob", bob), ("carol", carol))}
        readers["carol"].until(f"b{COUNT - 1}")
        readers["carol"].until(f"a{COUNT - 1}")
        # The broker has handled everything: what it sends now comes after it all.
        carol.send(encode(Say("end", cid=1)))
        for name in ("ana", "bob"):
            readers[name].until("end")

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
    finally:
        for peer in (ana, bob, carol):
            peer.close()


def test_a_client_that_takes_acks_gets_them_several_to_a_frame_and_no_other_does(
        chat: Cluster) -> None:
    """ana's JOIN says she takes ACKS; bob's, written before them, does not: both talk
    at once, faster than a message a cycle. ana's ACKs come several to a frame, every
    one of them once and in order; bob gets his one to a frame, as before."""
    broker = chat.broker("--store", "memory", *UNLIMITED)
    ana = _join(broker.endpoint, "ana", acks=True)
    bob, carol = (_join(broker.endpoint, name) for name in ("bob", "carol"))
    try:
        for i in range(COUNT):
            ana.send(encode(Say(f"a{i}", cid=i + 1)))
            bob.send(encode(Say(f"b{i}", cid=i + 1)))
        readers = {name: Reader(peer) for name, peer in
                   (("ana", ana), ("bob", bob), ("carol", carol))}
        readers["carol"].until(f"a{COUNT - 1}")
        readers["carol"].until(f"b{COUNT - 1}")
        carol.send(encode(Say("end", cid=1)))
        for name in ("ana", "bob"):
            readers[name].until("end")
        for name in ("ana", "bob"):
            assert readers[name].acked == list(range(1, COUNT + 1)), name
        assert readers["ana"].acks_frames > 0, "no ACKS: the test did not test them"
        assert readers["bob"].acks_frames == 0
        # Everyone still got every message once, in order.
        seen = readers["carol"].msgs
        assert [m.text for m in seen if m.sender == "ana"] == [f"a{i}" for i in range(COUNT)]
    finally:
        for peer in (ana, bob, carol):
            peer.close()
