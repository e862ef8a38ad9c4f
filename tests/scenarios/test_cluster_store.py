"""RedisCluster, the cluster's store and backplane, against a real redis-server.

Two RedisCluster objects in this process stand for two brokers; everything
they share goes through the redis-server this test started.
"""

import time
from collections.abc import Iterator

import pytest
import redis
import zmq

from zchat.broker.actions import Ack, Opening, PrivateCopy, PublicEvent, Send
from zchat.broker.backplane import CLAIMED, DOWN, EVENT, RESUMED, TAKEN, LinkDown
from zchat.broker.cluster import RedisCluster
from zchat.broker.cluster_script import (
    CID_MOST,
    CID_TTL,
    CID_WINDOW,
    PREFIX,
    PRIV_TTL,
    TOKEN_TTL,
)
from zchat.broker.core import BrokerCore
from zchat.broker.roster import Roster
from zchat.broker.store import PARTED_DEFAULT, PUBLIC, StoredEvent
from zchat.client.timeline import Timeline
from zchat.protocol import Events, Join, Welcome, decode_broker, encode
from zchat.protocol import constants as c

from .harness import Cluster, RedisServer


@pytest.fixture
def server(chat: Cluster) -> RedisServer:
    return chat.redis()


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.term()


def to_one(action) -> bool:
    return type(action) in (Send, Opening, Ack, PrivateCopy)


def _broker(server: RedisServer, heartbeat: float = 0.05) -> RedisCluster:
    return RedisCluster(server.url, heartbeat)


def _take_until(node: RedisCluster, want: int, timeout: float = 10.0) -> list:
    """Events the reader brings, until ``want`` of them (bounded)."""
    assert node.wake is not None
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {got!r} within {timeout}s"
        node.wake.poll(remaining * 1000)
        got += [(e, r) for kind, e, r in node.take() if kind == EVENT]
    return got


def test_names_are_held_once_across_brokers(server: RedisServer) -> None:
    a, b = _broker(server), _broker(server)
    try:
        assert a.hold("Ana", "t:1", "") == CLAIMED
        assert b.hold("ana", "t:2", "") == TAKEN  # case-insensitive, another session
        assert b.hold("ana", "t:1", "") == RESUMED  # the same session moved to b
        assert not a.release("ana", "t:1")  # a no longer holds it: no LEFT from a
        assert a.locate("ANA") == ("ana", "t:1")
        assert b.names() == ["ana"] and b.count() == 1
        assert b.release("ana", "t:1")
        assert a.locate("ana") is None
    finally:
        a.close()
        b.close()


def test_events_from_two_brokers_share_one_numbering(server: RedisServer) -> None:
    a, b = _broker(server), _broker(server)
    try:
        made = []
        for i in range(6):
            node = (a, b)[i % 2]
            made.append(node.add(StoredEvent(0, c.MSG, 1.0, "ana", f"m{i}", origin="t:1",
                                             cid=i + 1)))
        assert [e.seq for e in made] == list(range(made[0].seq, made[0].seq + 6))
        assert [e.prev for e in made[1:]] == [e.seq for e in made[:-1]]
        assert a.head(PUBLIC) == b.head(PUBLIC) == made[-1].seq
        found = b.find("t:1", 3)
        assert found is not None and (found.seq, found.prev) == (made[2].seq, made[2].prev)
        page = a.since(made[1].seq, 0, "t:x", 3)
        assert [e.text for e in page] == ["m2", "m3", "m4"]
        assert [e.text for e in a.recent_public(2)] == ["m4", "m5"]
    finally:
        a.close()
        b.close()


def test_a_private_message_goes_to_the_holding_broker_only(server: RedisServer,
                                                           ctx: zmq.Context) -> None:
    a, b = _broker(server), _broker(server)
    try:
        a.start(ctx)
        b.start(ctx)
        a.hold("ana", "t:ana", "")
        b.hold("bob", "t:bob", "")
        event = a.add(StoredEvent(0, c.PRIV, 1.0, "ana", "psst", "bob", origin="t:ana",
                                  to_key="t:bob", cid=7))
        (got, reader), = _take_until(b, 1)
        assert (got.seq, got.text, reader, got.prev_to) == (event.seq, "psst", "t:bob", 0)
        (_, reader), = _take_until(a, 1)  # the sender's copy, on its own broker
        assert reader == "t:ana"
        # Both private streams keep it for a later FETCH, from any broker.
        assert [e.text for e in b.since(10**9, 0, "t:ana", 10)] == ["psst"]
        assert b.head("t:bob") == event.seq
    finally:
        a.close()
        b.close()


def test_a_dead_brokers_users_are_announced_gone_by_a_survivor(server: RedisServer,
                                                                ctx: zmq.Context) -> None:
    a, b = _broker(server), _broker(server)
    try:
        a.start(ctx)
        b.hold("bob", "t:bob", "")
        b.close()  # as if killed: no release; its lease lapses after 3 intervals
        left = [e for e, _ in _take_until(a, 1)]
        assert (left[0].kind, left[0].name, left[0].reason) == (c.LEFT, "bob", c.R_LOST)
        assert a.locate("bob") is None
    finally:
        a.close()


def test_redis_losing_its_data_does_not_reuse_numbers(server: RedisServer,
                                                      chat: Cluster) -> None:
    a = _broker(server)
    try:
        last = a.add(StoredEvent(0, c.MSG, 1.0, "ana", "antes", origin="t:1")).seq
        epoch = a.epoch
        redis.Redis.from_url(server.url).flushall()
        a.heal([], {})
        after = a.add(StoredEvent(0, c.MSG, 1.0, "ana", "depois", origin="t:1"))
        assert after.seq > last and after.prev == last
        assert a.epoch == epoch
        assert a.pruned_upto() >= last  # what was before is reported lost on FETCH
    finally:
        a.close()


def test_healing_after_redis_lost_its_data_puts_the_sessions_in_their_rooms_again(
        server: RedisServer) -> None:
    a = _broker(server)
    roster = Roster()
    try:
        ana = roster.add("ana", b"a", 0.0, token="tok-ana")
        bob = roster.add("bob", b"b", 0.0, token="tok-bob")
        for session in (ana, bob):
            assert a.hold(session.name, session.stream, "") == CLAIMED
            a.enter(session.stream, "#sala", "#sala")
            roster.enter(session, "#sala")
        a.enter(bob.stream, PARTED_DEFAULT, "")
        roster.part_default(bob)
        redis.Redis.from_url(server.url).flushall()
        assert a.members("#sala") == [] and a.rooms_of(ana.stream) == {}
        claimed, taken, _ = a.heal([ana, bob], {})
        assert (claimed, taken) == ([ana, bob], [])
        assert a.members("#sala") == ["ana", "bob"] and a.members(PARTED_DEFAULT) == ["bob"]
        assert a.rooms_of(bob.stream) == {"#sala": "#sala", PARTED_DEFAULT: ""}
    finally:
        a.close()


def test_redis_gone_means_link_down_not_a_crash(server: RedisServer, ctx: zmq.Context) -> None:
    a = _broker(server)
    try:
        a.start(ctx)
        head = a.add(StoredEvent(0, c.MSG, 1.0, "ana", "x", origin="t:1")).seq
        server.stop()
        with pytest.raises(LinkDown):
            a.add(StoredEvent(0, c.MSG, 1.0, "ana", "y", origin="t:1"))
        assert a.head(PUBLIC) == head  # what it last knew
        assert a.since(0, 0, "t:1", 10) == [] and a.find("t:1", 1) is None
        deadline = time.monotonic() + 5
        while not any(kind == DOWN for kind, _, _ in a.take()):
            assert time.monotonic() < deadline, "the reader did not report the link down"
            a.wake.poll(100)  # type: ignore[union-attr]
        with pytest.raises(LinkDown):
            a.heal([], {})
    finally:
        a.close()


class _CommitAfterHeadRead(RedisCluster):
    """A broker whose next read of the public head is followed at once by another
    broker's commit: the moment a newcomer's WELCOME and its history can disagree."""

    def __init__(self, url: str, heartbeat: float, other: RedisCluster) -> None:
        super().__init__(url, heartbeat)
        self.other = other
        self.armed = False

    def head(self, key: str) -> int:
        got = super().head(key)
        if key == PUBLIC and self.armed:
            self.armed = False
            self.other.add(StoredEvent(0, c.MSG, 2.0, "bob", "m2", origin="t:bob", cid=2))
        return got


def test_a_newcomer_sees_each_message_once_when_another_broker_commits_as_it_joins(
        server: RedisServer, ctx: zmq.Context) -> None:
    b = _broker(server)
    a = _CommitAfterHeadRead(server.url, 0.05, other=b)
    try:
        a.start(ctx)
        b.add(StoredEvent(0, c.MSG, 1.0, "bob", "m1", origin="t:bob", cid=1))
        core = BrokerCore(heartbeat=0.05, store=a, backplane=a)
        me = b"\x00newcomer"
        a.armed = True
        joined = core.handle(me, [encode(Join("ana", "a" * 32))], 0.0) + core.commit()
        assert not a.armed, "the head was not read: the race was not staged"
        sent = [decode_broker(x.frame) for x in joined if to_one(x) and x.identity == me]
        welcome = next(m for m in sent if isinstance(m, Welcome))
        history = next(m for m in sent if isinstance(m, Events)).events
        assert [e.seq for e in history if e.seq > welcome.pub] == []  # none above the head
        # What the newcomer's client shows: the history as it is, then what the log
        # brings, through its timeline (m1, m2 and ana's own JOINED).
        shown = [e.text for e in history]
        timeline = Timeline("ana")
        timeline.welcome(welcome)
        for event, _ in _take_until(a, 3):
            for action in core.arrived(event):
                if type(action) is PublicEvent and action.sender != me:
                    step = timeline.live(decode_broker(action.frame))
                    shown += [s.event.text for s in step.shown]
        assert shown == ["m1", "m2"]
    finally:
        a.close()
        b.close()


# ---- session tokens: the HistoryStore contract of tests/unit/test_store.py, cluster-wide ---


def test_tokens_are_bound_and_retired_for_every_broker(server: RedisServer) -> None:
    a, b = _broker(server), _broker(server)
    try:
        assert a.bind("t:x", "ana", "")
        assert not b.bind("t:x", "bob", "") and not b.bind("t:x", "ana", "k" * 40)
        assert b.bind("t:x", "ana", "")
        a.unbind("t:x", retire=False)  # (a timeout, a lost connection): she may resume
        assert b.bind("t:x", "ana", "")
        b.unbind("t:x", retire=True)  # LEAVE
        assert not a.bind("t:x", "ana", "") and not a.bind("t:x", "eve", "")
        b.unbind("t:y", retire=True)  # never bound: retired all the same
        assert not a.bind("t:y", "bob", "")
    finally:
        a.close()
        b.close()


def test_a_client_numbering_with_gaps_cannot_grow_its_duplicate_index(
        server: RedisServer) -> None:
    """Each cid a window above the last deletes nothing: without a bound the hash grew
    by one entry a message for a day (issue 13: what a stranger makes Redis hold)."""
    a = _broker(server)
    raw = redis.Redis.from_url(server.url)
    try:
        batch = [StoredEvent(0, c.MSG, 1.0, "eve", "x", origin="t:gaps", cid=1 + k * 3 * CID_WINDOW)
                 for k in range(CID_MOST + 50)]
        for start in range(0, len(batch), 500):
            a.add_many(batch[start:start + 500])
        assert raw.hlen(PREFIX + "c:t:gaps") <= CID_MOST
        # The latest messages are still recognised when resent.
        assert a.find("t:gaps", batch[-1].cid) is not None
    finally:
        raw.close()
        a.close()


def test_the_duplicate_window_holds_for_any_cid(server: RedisServer) -> None:
    a = _broker(server)
    raw = redis.Redis.from_url(server.url)
    try:
        for base in (10**15, 2**53 - 1, 2**63 - 1 - 3 * CID_WINDOW):
            origin = f"t:{base}"
            cids = [base + k * CID_WINDOW for k in range(4)]  # each pushes the last out
            for cid in cids:
                a.add(StoredEvent(0, c.MSG, 1.0, "ana", "x", origin=origin, cid=cid))
            assert raw.hkeys(PREFIX + "c:" + origin) == [str(cids[-1]).encode()], base
        # At the window's edge, exactly: within it kept, past it forgotten.
        first = 2**63 - 1 - CID_WINDOW
        for cid in (first, first + CID_WINDOW - 1, first + CID_WINDOW):
            a.add(StoredEvent(0, c.MSG, 1.0, "ana", "x", origin="t:edge", cid=cid))
        assert sorted(int(k) for k in raw.hkeys(PREFIX + "c:t:edge")) == \
            [first + CID_WINDOW - 1, 2**63 - 1]
        assert a.find("t:edge", 2**63 - 1) is not None and a.find("t:edge", first) is None
    finally:
        raw.close()
        a.close()


@pytest.mark.parametrize("start", [10**14 - 2, 2**53 - 3])
def test_sequence_numbers_stay_exact_past_ten_to_the_fourteen(server: RedisServer,
                                                               start: int) -> None:
    raw = redis.Redis.from_url(server.url)
    raw.set(PREFIX + "seq", start)
    raw.set(PREFIX + "head", start)
    a = _broker(server)
    try:
        said = [a.add(StoredEvent(0, c.MSG, 1.0, "ana", f"m{i}", origin="t:ana", cid=i + 1))
                for i in range(2)]
        told = a.add(StoredEvent(0, c.PRIV, 1.0, "ana", "psst", "bob", origin="t:ana",
                                 to_key="t:bob", cid=3))
        assert [e.seq for e in said] == [start + 1, start + 2] and told.seq == start + 3
        assert said[1].prev == start + 1
        assert [e.seq for e in a.since(start, 0, "t:bob", 10)] == [start + 1, start + 2,
                                                                   start + 3]
        assert [e.prev for e in a.recent_public(2, start + 2)] == [start, start + 1]
        found = a.find("t:ana", 3)
        assert found is not None and (found.seq, found.prev) == (start + 3, 0)
        assert a.head(PUBLIC) == start + 2 and a.head("t:bob") == start + 3
    finally:
        raw.close()
        a.close()


def test_a_leave_during_an_outage_retires_the_token_when_healed(server: RedisServer) -> None:
    a = _broker(server)
    try:
        for name in ("ana", "bob"):
            assert a.bind(f"t:{name}", name, "") and a.hold(name, f"t:{name}", "") == CLAIMED
        # Both left while the link was down: ana with LEAVE, bob timed out.
        claimed, taken, released = a.heal([], {"ana": ("ana", "t:ana", c.R_QUIT),
                                                "bob": ("bob", "t:bob", c.R_TIMEOUT)})
        assert (claimed, taken, released) == ([], [], [("ana", c.R_QUIT), ("bob", c.R_TIMEOUT)])
        assert not a.bind("t:ana", "ana", "")
        assert a.bind("t:bob", "bob", "")
    finally:
        a.close()


def test_per_stream_keys_last_while_held_and_expire_after(server: RedisServer,
                                                         ctx: zmq.Context) -> None:
    """What Redis keeps per private stream is bounded in time: a token's binding does not
    expire while its name is held, and outlives every other key of its stream after."""
    raw = redis.Redis.from_url(server.url)
    a, b = _broker(server), _broker(server)

    def ttls(stream: str) -> dict[str, int]:
        return {kind: int(raw.ttl(f"zchat:{kind}:{stream}")) for kind in ("tk", "ph", "p", "c")}

    def reads(stream: str) -> list[int]:
        return [int(raw.ttl(f"zchat:{kind}:{stream}")) for kind in ("mk", "cv", "ci", "tl")]

    try:
        a.start(ctx)
        assert a.bind("t:ana", "ana", "") and a.hold("ana", "t:ana", "") == CLAIMED
        assert b.bind("t:bob", "bob", "") and b.hold("bob", "t:bob", "") == CLAIMED
        psst = a.add(StoredEvent(0, c.PRIV, 1.0, "ana", "psst", "bob", origin="t:ana",
                                 to_key="t:bob", cid=1))
        for stream, peer in (("t:ana", "bob"), ("t:bob", "ana")):  # read state (reading.py)
            a.converse(stream, peer, peer, psst.seq, 1.0, stream == "t:bob")
            a.mark(stream, {PUBLIC: psst.seq})
        for stream in ("t:ana", "t:bob"):
            got = ttls(stream)
            assert got["tk"] == -1, got  # held: no expiry
            assert reads(stream) == [-1] * 4, reads(stream)
            assert 0 < got["ph"] <= PRIV_TTL and 0 < got["p"] <= PRIV_TTL, got
        assert 0 < ttls("t:ana")["c"] <= CID_TTL
        # Another session asking for a held name: its own binding is set to expire.
        assert a.bind("t:ana2", "ana", "") and b.hold("ana", "t:ana2", "") == TAKEN
        assert 0 < ttls("t:ana2")["tk"] <= TOKEN_TTL
        assert a.release("ana", "t:ana")  # ana leaves...
        a.unbind("t:ana", retire=True)
        b.close()  # ...and bob's broker dies: the sweep lets his binding expire
        _take_until(a, 2)  # ana's copy of the PRIV, bob's LEFT
        for stream in ("t:ana", "t:bob"):
            got = ttls(stream)
            assert PRIV_TTL < got["tk"] <= TOKEN_TTL, got
            assert all(-2 == ttl or 0 < ttl < got["tk"] for ttl in got.values() if
                       ttl != got["tk"]), got
        assert raw.get("zchat:tk:t:ana") == b"r"  # retired
        # ana's read state went with her LEAVE; bob's expires with his binding.
        assert reads("t:ana") == [-2] * 4
        assert all(0 < ttl <= ttls("t:bob")["tk"] for ttl in reads("t:bob")), reads("t:bob")
    finally:
        a.close()
        b.close()


def test_room_events_and_topics_reach_every_broker_on_the_room_log(
        server: RedisServer, ctx: zmq.Context) -> None:
    a, b = _broker(server), _broker(server)
    try:
        b.start(ctx)
        a.hold("ana", "t:ana", "")
        a.enter("t:ana", "#sala", "#sala")
        made = [StoredEvent(0, c.JOINED, 1.0, "ana", room="#sala"),
                StoredEvent(0, c.MSG, 1.0, "ana", "oi", origin="t:ana", cid=1, room="#sala"),
                StoredEvent(0, c.MSG, 1.0, "ana", "geral", origin="t:ana", cid=2)]
        a.add_many(made)
        a.share_topic("#sala", "planos", "ana")
        got = [e for e, _ in _take_until(b, 4)]
        # In seq order (a topic change is not numbered: it keeps its place on the room log).
        topic, = [e for e in got if e.kind == c.TOPIC]
        assert [(e.seq, e.kind, e.room, e.prev) for e in got if e is not topic] == \
            [(made[0].seq, c.JOINED, "#sala", 0), (made[1].seq, c.MSG, "#sala", made[0].seq),
             (made[2].seq, c.MSG, "", 0)]
        assert got.index(topic) > 1
        assert (topic.seq, topic.room, topic.text, topic.name) == (0, "#sala", "planos", "ana")
        assert b.head("#sala") == made[1].seq and b.head(PUBLIC) == made[2].seq
        assert b.find("t:ana", 1).seq == made[1].seq  # one duplicate check for all streams
    finally:
        a.close()
        b.close()


def test_a_dead_brokers_room_members_are_announced_gone_from_their_rooms(
        server: RedisServer, ctx: zmq.Context) -> None:
    a, b = _broker(server), _broker(server)
    try:
        a.start(ctx)
        for name in ("bob", "cid"):
            b.hold(name, f"t:{name}", "")
            b.enter(f"t:{name}", "#sala", "#sala")
        b.enter("t:cid", "#zz", "#zz")
        b.enter("t:cid", PARTED_DEFAULT, "")  # cid parted the default room
        assert a.members("#sala") == ["bob", "cid"] and a.rooms() == {"#sala": 2, "#zz": 1}
        b.close()  # as if killed: no release; its lease lapses after 3 intervals
        left = [(e.name, e.room, e.reason) for e, _ in _take_until(a, 4)]
        assert sorted(left) == [("bob", "", c.R_LOST), ("bob", "#sala", c.R_LOST),
                                ("cid", "#sala", c.R_LOST), ("cid", "#zz", c.R_LOST)]
        assert a.members("#sala") == [] and a.rooms() == {}
        assert a.rooms_of("t:cid") == {"#sala": "#sala", "#zz": "#zz", PARTED_DEFAULT: ""}
    finally:
        a.close()


def test_memberships_last_while_held_and_expire_with_the_binding(server: RedisServer) -> None:
    raw = redis.Redis.from_url(server.url)
    a = _broker(server)
    try:
        assert a.bind("t:ana", "ana", "") and a.hold("ana", "t:ana", "") == CLAIMED
        a.enter("t:ana", "#sala", "#sala")
        assert raw.ttl("zchat:rm:t:ana") == -1  # held: no expiry
        assert a.release("ana", "t:ana")
        assert 0 < raw.ttl("zchat:rm:t:ana") <= TOKEN_TTL
        assert raw.ttl("zchat:rm:t:ana") <= raw.ttl("zchat:tk:t:ana")
        assert a.hold("ana", "t:ana", "") == CLAIMED  # back: kept again, and in the room
        assert raw.ttl("zchat:rm:t:ana") == -1 and a.members("#sala") == ["ana"]
        a.release("ana", "t:ana")
        a.unbind("t:ana", retire=True)  # a LEAVE ends them
        assert raw.exists("zchat:rm:t:ana") == 0 and a.rooms_of("t:ana") == {}
    finally:
        a.close()
