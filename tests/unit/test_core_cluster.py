"""broker/core.py in a cluster: queued numbering, delivery from the log, the link down,
rooms across brokers.

The cluster here is FakeCluster (fakecluster.py), an in-memory stand-in that passes
the same contract suites as RedisCluster against a real redis-server.
"""

from corehelp import decoded, no_work
from fakecluster import FakeCluster

from zchat.broker.core import BrokerCore
from zchat.broker.store import StoredEvent
from zchat.protocol import (
    Ack,
    Enter,
    Entered,
    Error,
    Join,
    Joined,
    Left,
    ListRooms,
    Msg,
    Notice,
    Part,
    Ping,
    Say,
    SetTopic,
    Tell,
    Users,
    Welcome,
    Who,
    encode,
)
from zchat.protocol import constants as c

A, B, C = b"\x00id-a", b"\x00id-b", b"\x00id-c"
TOKENS = {A: "a" * 32, B: "b" * 32, C: "c" * 32}


def _core() -> tuple[BrokerCore, FakeCluster]:
    cluster = FakeCluster()
    core = BrokerCore(heartbeat=1.0, wall_clock=lambda: 1000.0, store=cluster,
                      backplane=cluster, work_clock=no_work)
    return core, cluster




def _deliver(core: BrokerCore, cluster: FakeCluster) -> list[tuple]:
    """What the log brings back to this broker (as the reader would)."""
    actions = []
    for event in cluster.unread():
        actions += core.arrived(event)
    return decoded(actions)


def _join(core: BrokerCore, cluster: FakeCluster, identity: bytes, name: str) -> list[tuple]:
    actions = core.handle(identity, [encode(Join(name, TOKENS[identity]))], 0.0)
    return decoded(actions + core.commit())


def _say(core: BrokerCore, identity: bytes, text: str, cid: int) -> list[tuple]:
    return decoded(core.handle(identity, [encode(Say(text, cid))], 0.0) + core.commit())


def test_events_are_numbered_at_commit_and_delivered_from_the_log() -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _join(core, cluster, B, "bob")
    _deliver(core, cluster)
    handled = decoded(core.handle(A, [encode(Say("oi", 1))], 0.0))
    assert handled == []  # queued: nothing is sent before the cluster has numbered it
    # Numbered and in the log; the ACK waits for the message's turn in ana's stream,
    # when the log brings it back here after whatever came before it.
    assert decoded(core.commit()) == []
    (kind, exclude, msg), (to_ana, to, ack) = _deliver(core, cluster)
    assert (kind, exclude, msg.text) == ("fanout", A, "oi")
    assert (to_ana, to, type(ack), ack.cid) == ("send", A, Ack, 1) and ack.seq > 0
    assert (msg.seq, msg.prev) == (ack.seq, ack.prev)


def test_an_event_only_its_sender_is_here_for_is_not_encoded_but_still_moves_the_head(
        ) -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _deliver(core, cluster)
    assert _say(core, A, "ninguém mais aqui", 1) == []  # (its ACK comes with the log)
    (kind, to, ack), = _deliver(core, cluster)  # ana's ACK only: no one else is here
    assert (kind, to, type(ack)) == ("send", A, Ack)
    pings = [m for _, _, m in decoded(core.tick(0.5)) if isinstance(m, Ping)]
    assert pings == [Ping(ack.seq)]  # delivered here all the same
    # Someone else's events are ana's to see, of course.
    (kind, exclude, left), = decoded(
        core.arrived(StoredEvent(ack.seq + 1, c.LEFT, 1.0, "zoe", reason=c.R_QUIT)))
    assert (kind, exclude, left.name) == ("fanout", None, "zoe")
    _join(core, cluster, B, "bob")
    _deliver(core, cluster)
    _say(core, A, "agora sim", 2)
    (kind, exclude, msg), (_, to, _) = _deliver(core, cluster)  # bob's, then ana's ACK
    assert to == A
    assert (kind, exclude, msg.text) == ("fanout", A, "agora sim")


def test_a_join_is_welcomed_at_once_and_announced_from_the_log() -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _deliver(core, cluster)
    got = _join(core, cluster, B, "bob")
    assert [type(m) for _, _, m in got] == [Welcome]
    (kind, exclude, joined), = _deliver(core, cluster)
    assert (kind, exclude, type(joined), joined.name) == ("fanout", B, Joined, "bob")
    # The same session moving in from another broker is welcomed back, not announced.
    FakeCluster(cluster.redis, "broker-2").hold("cid", "t:elsewhere", "")
    assert _join(core, cluster, C, "Cid")[0][2].code == c.E_NAME_TAKEN


def test_with_the_link_down_this_brokers_users_still_chat_unnumbered() -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _join(core, cluster, B, "bob")
    FakeCluster(cluster.redis, "broker-2").hold("zoe", "t:zoe", "")
    _deliver(core, cluster)
    cluster.redis.reachable = False
    got = _say(core, A, "só aqui", 2)
    notice = [m for _, _, m in got if isinstance(m, Notice)]
    assert [n.code for n in notice] == [c.N_CLUSTER_DOWN]
    msg = next(m for _, _, m in got if isinstance(m, Msg))
    ack = next(m for _, _, m in got if isinstance(m, Ack))
    assert (msg.text, msg.seq, ack.seq) == ("só aqui", 0, 0)
    again = _say(core, A, "de novo", 3)  # told once, not per message
    assert not [m for _, _, m in again if isinstance(m, Notice)]
    # A private to a user of another broker cannot go; a newcomer cannot be checked.
    told = decoded(core.handle(A, [encode(Tell("zoe", "oi", 4))], 0.0) + core.commit())
    assert told[-1][2].code == c.E_UNREACHABLE
    refused = _join(core, cluster, C, "cid")
    assert [m.code for _, _, m in refused if isinstance(m, Error)] == [c.E_UNAVAILABLE]
    who = decoded(core.handle(B, [encode(Who())], 0.0))
    assert who[0][2] == Users(("ana", "bob"))


def test_healing_tells_users_and_shows_each_leave_once() -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _join(core, cluster, B, "bob")
    _deliver(core, cluster)
    cluster.redis.reachable = False
    cluster.up = False  # (as RedisCluster.take sets it on its log reader's DOWN)
    core.tick(0.5)  # the broker notices on its next beat even without traffic
    assert core.link.island
    left = decoded(core.handle(B, [encode(Say("tchau", 5))], 0.5) + core.commit())
    left += decoded(core.drop(core.roster.by_name("bob"), c.R_QUIT))
    assert [m.name for _, _, m in left if isinstance(m, Left)] == ["bob"]
    cluster.redis.reachable = True
    healed = decoded(core.tick(2.0) + core.commit())
    assert [m.code for _, _, m in healed if isinstance(m, Notice)] == [c.N_CLUSTER_UP]
    # bob's leave reaches the cluster, but ana was told already: not again.
    logged = cluster.unread()
    assert [(e.kind, e.name) for e in logged] == [(c.LEFT, "bob")]
    assert [action for event in logged for action in core.arrived(event)] == []
    # A LEFT the cluster sends for a user who is still here is not shown either.
    assert core.arrived(StoredEvent(99, c.LEFT, 1.0, "ana", reason=c.R_LOST)) == []
    # bob's LEAVE came during the outage: his token was retired when the link came back.
    again = decoded(core.handle(C, [encode(Join("bob", TOKENS[B]))], 0.0) + core.commit())
    assert isinstance(again[0][2], Welcome) and again[0][2].session != TOKENS[B]


def test_ping_tells_the_head_delivered_here() -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _say(core, A, "um", 1)
    pings = [m for _, _, m in decoded(core.tick(0.5)) if isinstance(m, Ping)]
    assert pings == [Ping(0)]  # numbered in Redis, but not yet delivered here
    _deliver(core, cluster)
    pings = [m for _, _, m in decoded(core.tick(2.0)) if isinstance(m, Ping)]
    assert pings[0].pub == cluster.head("*") > 0


# ---- rooms across brokers -----------------------------------------------------------------

def _two_cores() -> tuple[BrokerCore, FakeCluster, BrokerCore, FakeCluster]:
    one = FakeCluster(me="broker-1")
    two = FakeCluster(one.redis, "broker-2")
    cores = [BrokerCore(heartbeat=1.0, wall_clock=lambda: 1000.0, store=cluster,
                        backplane=cluster, work_clock=no_work) for cluster in (one, two)]
    return cores[0], one, cores[1], two


def _do(core: BrokerCore, identity: bytes, msg: object) -> list[tuple]:
    return decoded(core.handle(identity, [encode(msg)], 0.0) + core.commit())


def test_a_rooms_events_reach_its_members_on_every_broker_and_no_one_else() -> None:
    one, c1, two, c2 = _two_cores()
    _join(one, c1, A, "ana")
    _join(two, c2, B, "bob")
    _join(two, c2, C, "cid")  # in the default room only
    entered = _do(one, A, Enter("#sala"))
    assert isinstance(entered[0][2], Entered) and entered[0][2].online == 0
    entered = _do(two, B, Enter("#Sala"))
    assert (entered[0][2].room, entered[0][2].users, entered[0][2].online) == \
        ("#sala", ("ana",), 1)
    _deliver(one, c1)
    _deliver(two, c2)
    assert _do(one, A, Say("oi sala", 1, room="#sala")) == []  # (queued, then numbered)
    (to_bob, who, msg), = _deliver(two, c2)  # bob's copy: cid is not a member
    assert (to_bob, who, msg.text, msg.room) == ("send", B, "oi sala", "#sala")
    (_, who, ack), = _deliver(one, c1)  # ana's ACK, in her message's place
    assert (who, type(ack), ack.seq, ack.room) == (A, Ack, msg.seq, "#sala")
    # Who is in it, and the rooms' counts, are the cluster's on either broker.
    users = _do(two, C, Who())[0][2]
    assert users.names == ("ana", "bob", "cid")
    assert _do(one, A, Who("#sala"))[0][2] == Users(("ana", "bob"), "#sala")
    listed = _do(two, C, ListRooms())[0][2]
    assert [(r.name, r.online) for r in listed.rooms] == [("#geral", 3), ("#sala", 2)]
    # A topic set on one broker is shown to the members of both when the log brings it.
    assert _do(two, B, SetTopic("#sala", "planos")) == []
    assert [(w, m.text, m.by) for _, w, m in _deliver(one, c1)] == [(A, "planos", "bob")]
    assert [(w, m.text) for _, w, m in _deliver(two, c2)] == [(B, "planos")]
    assert _do(one, A, Enter("#sala"))[0][2].topic == "planos"
    # A member parting is seen on the other broker.
    _do(two, B, Part("#sala"))
    (_, who, left), = _deliver(one, c1)
    assert (who, left.name, left.reason, left.room) == (A, "bob", c.R_PART, "#sala")


def test_a_session_that_moves_to_another_broker_is_in_its_rooms_silently() -> None:
    one, c1, two, c2 = _two_cores()
    _join(one, c1, A, "ana")
    _join(two, c2, B, "bob")
    _do(one, A, Enter("#sala"))
    _do(two, B, Enter("#sala"))
    _do(one, A, Part("#geral"))
    _deliver(one, c1)
    _deliver(two, c2)
    # ana's client moves to broker two with her token: welcomed back, nothing announced.
    moved = _do(two, C, Join("ana", TOKENS[A]))
    welcome = moved[0][2]
    assert isinstance(welcome, Welcome) and welcome.resumed
    assert dict(welcome.rooms) == {"#sala": c2.head("#sala")}  # (not #geral: she parted it)
    assert c1.unread() == [] and _deliver(two, c2) == []
    # Her old broker drops her stale connection: she moved, she did not leave.
    assert one.drop(one.roster.by_name("ana"), c.R_LOST) == []
    assert decoded(one.commit()) == [] and c1.unread() == []
    # On her new broker she is in #sala, and out of #geral.
    _do(two, B, Say("oi", 1, room="#sala"))
    assert [w for _, w, _ in _deliver(two, c2)] == [C, B]  # her copy, then bob's ACK
    assert _do(two, C, Who("#sala"))[0][2] == Users(("ana", "bob"), "#sala")
    assert [(r.name, r.online) for r in _do(two, B, ListRooms())[0][2].rooms] == \
        [("#geral", 1), ("#sala", 2)]


def test_a_rooms_leave_for_a_member_still_here_is_shown_only_if_it_parted() -> None:
    core, cluster = _core()
    _join(core, cluster, A, "ana")
    _join(core, cluster, B, "bob")
    for identity in (A, B):
        _do(core, identity, Enter("#sala"))
    _deliver(core, cluster)
    # The cluster took ana for gone (a sweep while this broker was cut off): not shown.
    lost = StoredEvent(99, c.LEFT, 1.0, "ana", reason=c.R_LOST, room="#sala")
    assert core.arrived(lost) == []
    parted = StoredEvent(100, c.LEFT, 1.0, "ana", reason=c.R_PART, room="#sala")
    assert [(w, m.name) for _, w, m in decoded(core.arrived(parted))] == [(A, "ana"), (B, "ana")]


def test_the_bound_on_rooms_held_counts_the_rooms_of_every_broker() -> None:
    one, c1, two, c2 = _two_cores()
    one.max_rooms = two.max_rooms = 1
    _join(one, c1, A, "ana")
    _join(two, c2, B, "bob")
    assert isinstance(_do(one, A, Enter("#a"))[0][2], Entered)
    full = _do(two, B, Enter("#b"))[0][2]
    assert (full.code, full.ref) == (c.E_ROOMS_FULL, "1")
    assert isinstance(_do(two, B, Enter("#a"))[0][2], Entered)  # held already: joined
    _do(one, A, Part("#a"))
    _do(two, B, Part("#a"))  # nobody in it any more: another room may be held
    assert isinstance(_do(two, B, Enter("#b"))[0][2], Entered)


def test_healing_announces_a_reclaimed_user_in_its_rooms_to_the_other_brokers_only() -> None:
    one, c1, two, c2 = _two_cores()
    _join(one, c1, A, "ana")
    _join(one, c1, B, "bob")
    _join(two, c2, C, "cid")
    for core, identity in ((one, A), (one, B), (two, C)):
        _do(core, identity, Enter("#sala"))
    _deliver(one, c1)
    _deliver(two, c2)
    c1.redis.reachable = False
    c1.up = False
    one.tick(0.5)
    assert one.link.island
    del c1.redis.names["ana"]  # (the others took her for gone: a sweep, while cut off)
    c1.redis.reachable = True
    decoded(one.tick(2.0) + one.commit())
    logged = [(e.kind, e.name, e.room) for e in c1.redis.log[-2:]]
    assert logged == [(c.JOINED, "ana", ""), (c.JOINED, "ana", "#sala")]
    assert [m for _, _, m in _deliver(one, c1) if isinstance(m, Joined)] == []  # bob: quiet
    shown = [(w, m.room) for _, w, m in _deliver(two, c2) if isinstance(m, Joined)]
    assert shown == [(None, ""), (C, "#sala")]


def test_a_user_who_left_during_an_outage_is_announced_gone_from_its_rooms_when_healed(
        ) -> None:
    one, c1, two, c2 = _two_cores()
    _join(one, c1, A, "ana")
    _join(one, c1, B, "bob")
    _join(two, c2, C, "cid")
    for core, identity in ((one, A), (one, B), (two, C)):
        _do(core, identity, Enter("#sala"))
    _do(one, B, Part("#geral"))  # bob is in #sala only
    _deliver(one, c1)
    _deliver(two, c2)
    c1.redis.reachable = False
    c1.up = False
    one.tick(0.5)
    told = decoded(one.drop(one.roster.by_name("bob"), c.R_QUIT))
    assert [(w, m.room, m.seq) for _, w, m in told if isinstance(m, Left)] == [(A, "#sala", 0)]
    c1.redis.reachable = True
    decoded(one.tick(2.0) + one.commit())
    assert [(e.kind, e.name, e.room) for e in c1.redis.log[-1:]] == [(c.LEFT, "bob", "#sala")]
    assert [m for _, _, m in _deliver(one, c1) if isinstance(m, Left)] == []  # ana saw it
    shown = [(w, m.name, m.room) for _, w, m in _deliver(two, c2) if isinstance(m, Left)]
    assert shown == [(C, "bob", "#sala")]
