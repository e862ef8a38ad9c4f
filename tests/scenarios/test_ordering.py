"""No frame to a client overtakes an earlier event of a stream it reads (batcher.py).

Two people talk in the same broker cycles: each one's ACK names the place of its
message in the public stream, so it must come after the live batch that holds the
other's earlier message. If it overtook the batch, the client's timeline would see
its cursor jump past an event it never got and FETCH its own message back, every
time. The clients here are raw DEALERs driven by the reference client's own
timeline (client/timeline.py), so every FETCH it asks for is counted.
"""

import signal

from zchat.client.timeline import Timeline
from zchat.protocol import Ack, Events, Join, Joined, Left, Msg, Priv, Say, Welcome, encode
from zchat.protocol import constants as c

from . import frames
from .harness import Broker, Cluster, RawPeer

ROUNDS = 6


class Talker:
    """A raw session that shows what a client would show, and counts its FETCHes."""

    def __init__(self, endpoint: str, name: str) -> None:
        self.peer = RawPeer(endpoint)
        self.name = name
        self.timeline = Timeline(name)
        self.shown: list[str] = []
        self.acked: set[int] = set()
        self.fetches = 0
        self.peer.send(encode(Join(name, name * 16)))
        self._step(self.timeline.welcome(self.peer.next(Welcome)))

    def say(self, cid: int) -> None:
        self.peer.send(encode(Say(f"{self.name}-{cid}", cid)))

    def _step(self, step) -> None:
        self.shown += [s.event.text for s in step.shown if hasattr(s.event, "text")]
        if step.fetch is not None:
            self.fetches += 1
            self.peer.send(encode(step.fetch))

    def read(self) -> None:
        """Handle one frame from the broker, as the reference client does."""
        msg = frames.read(self.peer.sock)
        if isinstance(msg, Ack):
            self.acked.add(msg.cid)
            self.timeline.own_public(msg.seq, msg.prev)
        elif isinstance(msg, Events) and msg.kind == c.K_REPLAY:
            self._step(self.timeline.replay(msg))
        else:  # a live event, alone or in a live batch
            for event in frames.live_events(msg):
                if isinstance(event, Msg | Priv | Joined | Left):
                    self._step(self.timeline.live(event))

    def close(self) -> None:
        self.peer.close()


def _together(broker: Broker, *sends) -> None:
    """Make the broker read these frames in one cycle: they arrive while it is stopped."""
    broker.signal(signal.SIGSTOP)
    try:
        for send in sends:
            send()
    finally:
        broker.signal(signal.SIGCONT)


def test_two_people_talking_in_the_same_cycles_never_fetch(chat: Cluster) -> None:
    broker = chat.broker("--store", "memory", heartbeat=5)
    ana, bob = Talker(broker.endpoint, "ana"), Talker(broker.endpoint, "bob")
    others: list[RawPeer] = []
    try:
        for n in range(1, ROUNDS + 1):
            sends = [lambda n=n: ana.say(n), lambda n=n: bob.say(n)]
            if n % 2 == 0:  # a join held for its window, then both talk: the same rule
                newcomer = RawPeer(broker.endpoint)
                others.append(newcomer)
                sends.insert(0, lambda p=newcomer, n=n: p.send(encode(Join(f"c{n}"))))
            _together(broker, *sends)
            for me, other in ((ana, bob), (bob, ana)):
                while n not in me.acked or f"{other.name}-{n}" not in me.shown:
                    me.read()
        # Nothing lost or shown twice, and not one FETCH: no frame overtook an event.
        assert ana.shown == [f"bob-{n}" for n in range(1, ROUNDS + 1)]
        assert bob.shown == [f"ana-{n}" for n in range(1, ROUNDS + 1)]
        assert (ana.fetches, bob.fetches) == (0, 0), (
            f"FETCHes: ana {ana.fetches}, bob {bob.fetches} (an ACK overtook the live batch)")
        broker.assert_not_seen(r"replay (ana|bob):")
    finally:
        for peer in others:
            peer.close()
        ana.close()
        bob.close()

