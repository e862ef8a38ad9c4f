"""A room joining at once: every join is announced once, in order, and cheaply."""

import re
import signal

import pytest

from zchat.protocol import Error, Join, Joined, Welcome, Who, encode

from .frames import live_events, read
from .harness import Cluster, RawPeer

COUNT = 60


@pytest.mark.both_fanouts
def test_a_burst_of_joins_is_announced_once_each_in_order(chat: Cluster, fanout: str) -> None:
    """(With --fanout pub public events go out on the feed, which a raw DEALER does not
    read: there only the person's client is checked.)"""
    broker = chat.broker()
    person = chat.client("obs", broker.endpoint)
    watcher = RawPeer(broker.endpoint)
    peers = [RawPeer(broker.endpoint) for _ in range(COUNT)]
    try:
        watcher.send(encode(Join("watcher")))
        welcome = watcher.next(Welcome)
        for peer in peers:  # connected and greeted before the burst
            peer.send(encode(Who()))
            peer.next(Error)
        broker.signal(signal.SIGSTOP)
        try:
            for i, peer in enumerate(peers):
                peer.send(encode(Join(f"p{i:02d}")))
        finally:
            broker.signal(signal.SIGCONT)
        joined, frames, cursor = [], 0, welcome.pub
        while fanout == "router" and len(joined) < COUNT:
            events = [e for e in live_events(read(watcher.sock)) if isinstance(e, Joined)]
            frames += bool(events)
            for event in events:
                if event.seq <= cursor:
                    continue  # its own JOINED, sent with the others: a client skips it
                assert event.prev == cursor, (event, cursor)  # no gap
                cursor = event.seq
                joined.append(event.name)
        # The broker's order: the log has one line per join, as it numbers them.
        order = [broker.expect(r"\bjoin (p\d\d) from").group(1) for _ in range(COUNT)]
        assert sorted(order) == [f"p{i:02d}" for i in range(COUNT)]
        if fanout == "router":
            assert joined == order  # the stream a raw reader gets
            assert frames < COUNT  # they came together, and went out together
        for name in order:
            person.expect(rf"\* {name} joined the chat")
        # Every join once, in the broker's order (nothing shown twice, none skipped).
        assert re.findall(r"\* (p\d\d) joined the chat", person.text) == order
    finally:
        for peer in (watcher, *peers):
            peer.close()
