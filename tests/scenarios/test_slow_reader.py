"""A reader that stops reading: the broker never blocks on it, and it catches up.

It speaks the protocol raw (it must not read while the flood goes past), so it
reads public events on its DEALER: the router fan-out mode.
"""

import time

from zchat.protocol import Fetch, Join, Msg, Ping, Say, Welcome, encode
from zchat.protocol import constants as c

from .frames import live_events, next_batch, read
from .harness import Cluster, RawPeer


def test_slow_reader_never_blocks_others_and_catches_up_from_history(chat: Cluster) -> None:
    unlimited = ("--rate", "1e9", "--burst", "1000000000", "--byte-rate", "1e12",
                 "--byte-burst", "1000000000000")
    # A long heartbeat: the slow peer sends nothing while bob reads the whole flood,
    # which can take longer than 3 short intervals on a loaded machine.
    broker = chat.broker("--store", "memory", "--retain", "100000", *unlimited, heartbeat=10)
    bob = chat.client("bob", broker.endpoint, use_pty=False)
    slow = RawPeer(broker.endpoint, rcvhwm=10)
    flood = RawPeer(broker.endpoint)
    try:
        slow.send(encode(Join("slow", "s" * 32)))
        welcome = slow.next(Welcome)
        flood.send(encode(Join("flood", "f" * 32)))
        flood.next(Welcome)
        total = 10_000
        body = "x" * 1500
        # 15 MB: far more than the broker queues for one peer (about 256 KiB, Slow consumers)
        for n in range(1, total + 1):
            flood.send(encode(Say(f"flood-{n} {body}", cid=n)))
            if n % 1000 == 0:
                slow.send(encode(Ping()))  # alive, just not reading
        bob.expect(rf"flood: flood-{total} ", timeout=60)  # bob was never held up
        slow.send(encode(Ping()))  # still alive, just not reading

        seen: list[int] = []
        cursor, head = welcome.pub, 0
        gaps = 0
        deadline = time.monotonic() + 60
        pinged = time.monotonic()
        while head <= cursor and (not seen or (seen[-1] != total
                                                and time.monotonic() < deadline)):
            if time.monotonic() - pinged > 1.0:  # reading for long: PING as a client does
                slow.send(encode(Ping()))  # (or the broker expires us after 3 heartbeats)
                pinged = time.monotonic()
            for event in live_events(read(slow.sock, 30)):
                if isinstance(event, Msg) and event.sender == "flood":
                    gaps += event.prev != cursor
                    seen.append(int(event.text.split()[0].split("-")[1]))
                    cursor = event.seq
                elif isinstance(event, Ping) and event.priv is not None:
                    head = event.pub or 0  # the PING a lagging client is sent
        assert gaps or head > cursor, "the slow reader never missed anything: no test"
        assert len(seen) < total
        # Catch up from the last event seen live, as a client does.
        slow.send(encode(Fetch(seen_seq := cursor, welcome.priv)))
        while True:
            batch = next_batch(slow.sock, c.K_REPLAY, 30)
            for event in batch.events:
                if isinstance(event, Msg) and event.seq > seen_seq:
                    seen.append(int(event.text.split()[0].split("-")[1]))
                    seen_seq = event.seq
            if not batch.more:
                break
            slow.send(encode(Fetch(seen_seq, welcome.priv)))
        assert sorted(seen) == list(range(1, total + 1))
        assert len(seen) == total
    finally:
        slow.close()
        flood.close()
