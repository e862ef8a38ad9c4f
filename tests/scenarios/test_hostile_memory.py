"""Hostile load on the broker's memory and time: issue 13, items 2, 3, 4, 5, 8 and 15.

Each test mounts one attack from tests/scenarios/attacks_memory.py against a real
broker at its default limits (heartbeat 1 s), from the attacker's addresses
(127.0.0.3 and up), while honest users on 127.0.0.1 chat, and asserts what the
issue demands: the broker's RSS stays under 300 MB (sampled every 100 ms),
honest users are still served, promptly, and what they were acknowledged stays
in history. A memory attack stops the moment the broker passes the ceiling, so
a broker that does not defend itself fails fast instead of taking the machine
down. The defences are those of docs/PROTOCOL.md (Limits) and docs/SECURITY.md;
benchmarks/hostile_memory.py runs the same attacks at the issue's full size and
prints the figures. Time is measured, never slept on: every wait is bounded.
"""

from __future__ import annotations

import secrets
import time

import pytest
import zmq

from zchat.protocol import Ack, Events, Fetch, Msg, Ping, Say, encode
from zchat.protocol import constants as c

from .attacks_memory import (
    COSTLIEST_TEXT,
    RSS_CEILING_KB,
    FeedWatch,
    FetchHoard,
    FetchReaders,
    HonestPair,
    JoinLeaveHoard,
    PresenceChurn,
    RssWatch,
    SubscriptionFlood,
    attacker_address,
    dealer,
    feed_endpoint,
    feed_socket,
    fill_history,
    join,
    leave,
    mb,
)
from .frames import next_of
from .harness import Broker, Cluster

#: Maximal texts in history for the FETCH attacks: more than one page (MAX_FETCH),
#: about 2.4 MB a page without a byte bound on answers.
HISTORY_TEXTS = 224
#: Where an attack that is not about memory is stopped anyway.
SAFETY_CAP_KB = 1024 * 1024
#: Joins from one address: N at once, then N a minute (`--max-per-address`, default).
JOINS_PER_ADDRESS = 64


def _alive(broker: Broker) -> None:
    assert broker.proc.poll() is None, f"the broker exited: {broker.tail()}"
    broker.assert_not_seen("Traceback")


def _when(rss: RssWatch, start: float) -> str:
    """When the broker passed the ceiling, counted from ``start``."""
    above = rss.first_above(RSS_CEILING_KB)
    return f"{above - start:.1f}s after" if above is not None else "after"


def _served(pair: HonestPair, since: float, until: float) -> None:
    """Every probe the honest pair sent in [since, until] arrived (within a bounded
    wait), one sent now arrives too, and neither session was dropped."""
    assert not pair.error, f"the honest pair broke: {pair.error}"
    pair.settle(10.0)
    probes = pair.probes(since, until)
    assert probes.sent and probes.missing == 0, f"honest users not served: {probes.summary()}"
    assert pair.delivered_after(time.monotonic(), 10.0), "honest chat stopped after the attack"
    assert not pair.dropped, f"honest sessions dropped: {pair.dropped}"


# ---- item 2: memory by FETCH ------------------------------------------------------------


def test_fetch_answers_a_session_never_reads_do_not_grow_the_broker(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=1.0)
    fill_history(broker.endpoint, HISTORY_TEXTS)
    with RssWatch(broker.pid, cap_kb=RSS_CEILING_KB) as rss, \
            HonestPair(broker.endpoint) as pair:
        pair.wait_ready()
        start = time.monotonic()
        # Three sessions that never read ask for 600 pages each: what the FETCH
        # burst admits (1,800 pages of about 2.4 MB without a byte bound on answers).
        with FetchHoard(broker.endpoint, sessions=3) as attack:
            while not (attack.sent_all.is_set() or attack.error or rss.over.is_set()) \
                    and time.monotonic() < start + 10:
                rss.watch(0.1)
            rss.watch(8.0)  # ... and hold their connections open, not reading
        end = time.monotonic()
        rss.watch(2.0)  # after they have gone
        assert not attack.error, attack.error
        peak = rss.peak_kb()
        assert peak < RSS_CEILING_KB, (
            f"broker RSS {mb(peak)} (from {mb(rss.base_kb)}) {_when(rss, start)} "
            f"{attack.sent} FETCHes from {attack.sessions} sessions that never read")
        assert attack.sent_all.is_set(), f"only {attack.sent} FETCHes could be sent"
        _served(pair, start, end)
    _alive(broker)


# ---- item 3: memory by feed subscriptions ------------------------------------------------


@pytest.mark.parametrize("fanout", ["pub"])
def test_feed_subscriptions_from_a_stranger_do_not_grow_the_broker(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=1.0)
    with RssWatch(broker.pid, cap_kb=RSS_CEILING_KB) as rss, \
            HonestPair(broker.endpoint) as pair:
        pair.wait_ready()
        start = time.monotonic()
        # Never joined: subscriptions of 4,000 random bytes as fast as TCP takes them,
        # on a fresh connection each time the broker closes one.
        with SubscriptionFlood(pair.feed) as attack:
            rss.watch(8.0)
        end = time.monotonic()
        rss.watch(3.0)  # memory must come back, or at least not stay above the ceiling
        assert not attack.error, attack.error
        peak = rss.peak_kb()
        assert peak < RSS_CEILING_KB, (
            f"broker RSS {mb(peak)} (from {mb(rss.base_kb)}) {_when(rss, start)} {attack.sent} "
            f"subscriptions ({mb(attack.sent_bytes / 1024)}) on {attack.connections} "
            f"connection(s) ({attack.closed_by_broker} closed by the broker) in "
            f"{end - start:.1f}s")
        assert attack.sent > 100, f"the flood sent only {attack.sent} subscriptions"
        _served(pair, start, end)
    _alive(broker)


# ---- item 15: the pub feed needs a JOIN ------------------------------------------------------


@pytest.mark.parametrize("fanout", ["pub"])
def test_the_feed_serves_joined_sessions_only_and_only_while_joined(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=1.0)
    ctx = zmq.Context()
    try:
        ana, bob, carol = (dealer(ctx, broker.endpoint) for _ in range(3))
        welcome = {name: join(sock, name) for name, sock in
                   (("ana", ana), ("bob", bob), ("carol", carol))}
        feed = feed_endpoint(welcome["ana"], broker.endpoint)
        subs = {
            # A stranger who never joined, on the empty prefix as the old client did.
            "stranger": feed_socket(ctx, feed, source=attacker_address(0)),
            # ... and one who also claims a feed token of its own making.
            "forger": feed_socket(ctx, feed, secrets.token_hex(16), attacker_address(1)),
            "bob": feed_socket(ctx, feed, welcome["bob"].session),
            "carol": feed_socket(ctx, feed, welcome["carol"].session),
        }
        seen = {who: FeedWatch() for who in subs}

        def say_until(prefix: str, readers: tuple[str, ...], count: int) -> int:
            """ana says numbered lines until each of ``readers`` saw ``count`` of them
            (subscriptions reach the broker a moment after connecting); bob and carol
            keep their sessions alive meanwhile."""
            deadline = time.monotonic() + 10
            n = 0
            while any(len(seen[r].matching(prefix)) < count for r in readers):
                assert time.monotonic() < deadline, (
                    f"{readers} got {[len(seen[r].matching(prefix)) for r in readers]} "
                    f"of ana's {n} {prefix!r} lines in 10s")
                n += 1
                ana.send(encode(Say(f"{prefix}{n}", n)))
                for sock in (bob, carol):
                    sock.send(encode(Ping()))
                for who, sub in subs.items():
                    seen[who].drain(sub, 0.05)
            end = time.monotonic() + 1.0  # stragglers to everyone, for a bounded window
            while time.monotonic() < end:
                for who, sub in subs.items():
                    seen[who].drain(sub, 0.05)
            return n

        said = say_until("before-", ("bob", "carol"), 3)
        assert not seen["stranger"].texts, (
            f"a feed subscriber that never joined got {len(seen['stranger'].texts)} of "
            f"{said} public messages: {seen['stranger'].texts[:3]}")
        assert not seen["forger"].texts, (
            f"a made-up feed token got {len(seen['forger'].texts)} public messages")

        leave(carol)
        said = say_until("after-", ("bob",), 5)
        after = seen["carol"].matching("after-")
        assert not after, (
            f"carol's feed got {len(after)} of {said} public messages after she left")
        assert not seen["stranger"].texts and not seen["forger"].texts
    finally:
        ctx.destroy(linger=0)
    _alive(broker)


# ---- item 4: memory by JOIN and LEAVE -------------------------------------------------------


def test_joins_and_leaves_that_are_never_read_do_not_grow_the_broker(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=1.0)
    # What each JOIN queues for a newcomer: the history frame, here 20 maximal texts.
    fill_history(broker.endpoint, c.DEFAULT_HISTORY)
    seconds = 12.0
    # Private probes: public ones would take the maximal texts' place in that frame.
    with RssWatch(broker.pid, cap_kb=RSS_CEILING_KB) as rss, \
            HonestPair(broker.endpoint, private=True) as pair:
        pair.wait_ready()
        start = time.monotonic()
        # 40 connections, 4 from each of 10 addresses, never reading: JOIN (a fresh
        # name and token) and LEAVE each every 0.2 s.
        with JoinLeaveHoard(broker.endpoint, connections=40, every=0.2,
                            addresses=10) as attack:
            rss.watch(seconds)
        end = time.monotonic()
        assert not attack.error, attack.error
        peak = rss.peak_kb()
        assert peak < RSS_CEILING_KB, (
            f"broker RSS {mb(peak)} (from {mb(rss.base_kb)}) {_when(rss, start)} "
            f"{attack.joins} JOINs and LEAVEs never read")
        # Growth that goes on is a leak the test's 12 s would not reach the ceiling with:
        # projected to the 60 s attack, the broker stays under it.
        elapsed = end - start
        slope = rss.slope_kb_s(start + elapsed / 2, end)
        projected = peak + max(0.0, slope) * (60 - elapsed)
        assert projected < RSS_CEILING_KB, (
            f"broker RSS growing {slope / 1024:.1f} MB/s after {elapsed:.0f}s of the attack "
            f"(peak {mb(peak)}): about {mb(projected)} after the issue's 60 s")
        _served(pair, start, end)
    _alive(broker)


# ---- item 5: presence churn --------------------------------------------------------------------


def test_presence_churn_from_one_address_is_bounded_and_history_is_kept(chat: Cluster) -> None:
    broker = chat.broker("--retain", "1000", heartbeat=1.0)  # the least history allowed
    bob = chat.client("bob", broker.endpoint)  # an honest terminal
    ctx = zmq.Context()
    try:
        ana = dealer(ctx, broker.endpoint)
        first = join(ana, "ana")
        for cid in range(1, 6):
            ana.send(encode(Say(f"kept {cid}", cid)))
        acks = [next_of(ana, Ack) for _ in range(5)]
        bob.expect(r"ana: kept 5")
        leave(ana)  # ana goes away, her five messages acknowledged
        ana.close(0)
        bob.expect(r"ana left the chat")
        seconds = 10.0
        with RssWatch(broker.pid, cap_kb=SAFETY_CAP_KB) as rss, \
                PresenceChurn(broker.endpoint, connections=100) as churn:
            start = time.monotonic()
            rss.watch(seconds)
            elapsed = time.monotonic() - start
        assert not churn.error, churn.error
        assert churn.welcomed, "the churn never joined"
        # ana comes back and asks for everything after her cursor.
        ana = dealer(ctx, broker.endpoint)
        back = join(ana, "ana", first.session, resume=True)
        ana.send(encode(Fetch(acks[0].prev, 0)))
        replay = next_of(ana, Events)
    finally:
        ctx.destroy(linger=0)
    stored = back.pub - acks[-1].seq - 2  # (less ana's own LEFT and JOINED)
    lines = bob.count(r"churn\d+-\d+ (?:joined|left) the chat")
    # N joins at once, then N a minute: each a JOINED and a LEFT. A quarter more for "about".
    bound = 1.25 * 2 * JOINS_PER_ADDRESS * (1 + elapsed / 60) + 10
    churned = (f"{churn.welcomed} joins from one address in {elapsed:.1f}s: {stored} events "
               f"stored ({stored / elapsed:.0f}/s), {lines} join/leave lines on bob's terminal "
               f"({lines / elapsed:.0f}/s)")
    assert stored <= bound, f"{churned}; at most {bound:.0f} expected"
    assert lines <= bound, f"{churned}; at most {bound:.0f} expected"
    kept = {e.seq for e in replay.events if isinstance(e, Msg)} & {a.seq for a in acks}
    assert len(kept) == 5 and replay.lost == 0, (
        f"ana came back to {len(kept)} of her 5 acknowledged messages "
        f"(lost {replay.lost}) after {churned}")
    _alive(broker)


# ---- item 8: CPU by FETCH within the budget -------------------------------------------------


def test_fetching_within_the_budget_does_not_delay_honest_messages(chat: Cluster) -> None:
    broker = chat.broker(heartbeat=1.0)
    fill_history(broker.endpoint, HISTORY_TEXTS, COSTLIEST_TEXT)  # 1.6 MB a page today
    with RssWatch(broker.pid, cap_kb=SAFETY_CAP_KB) as rss, \
            HonestPair(broker.endpoint) as pair:
        pair.wait_ready()
        # Ten sessions fetch the first page over and over, reading every answer,
        # 20 asks outstanding each: well within their FETCH budget (600 at once).
        with FetchReaders(broker.endpoint, sessions=10, window=20) as attack:
            assert attack.joined.wait(15), f"the readers did not join: {attack.error}"
            start = time.monotonic()
            rss.watch(10.0)
            end = time.monotonic()
        assert not attack.error, attack.error
        assert not pair.error, f"the honest pair broke: {pair.error}"
        pair.settle(10.0)
        probes = pair.probes(start, end)
        during = (f"{probes.summary()} while {attack.sessions} sessions fetched "
                  f"{attack.pages} pages ({mb(attack.page_bytes / 1024)}) in {end - start:.1f}s")
        assert attack.pages, f"the readers got no page: {during}"
        # The target is 100 ms; generous bounds here, for a loaded CI machine
        # (benchmarks/hostile_memory.py reports the real figures).
        missing, p50, worst = probes.missing, probes.p50, probes.worst
        assert missing == 0, f"honest messages lost: {during}"
        assert p50 < 0.5, f"honest messages delayed: {during}"
        assert worst < 2.0, f"an honest message delayed: {during}"
        assert not pair.dropped, f"honest sessions dropped: {pair.dropped}"
        assert rss.peak_kb() < RSS_CEILING_KB, f"broker RSS {mb(rss.peak_kb())}: {during}"
    _alive(broker)
