"""The Backplane contract (broker/backplane.py), run against every implementation:
LocalBackplane, RedisCluster on a real redis-server, and the core's FakeCluster.

The first part is what one broker sees, and holds for all three: the core adds a
session to its roster after `hold` says the name is not TAKEN (LocalBackplane
answers from that roster), and puts it in rooms in its roster and, in a cluster,
in the store (RoomState: the cluster is its own). The second part is the shared
backplanes with two brokers on one cluster: which session holds a name, who is in
which room, and healing after an outage.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakecluster import FakeCluster, FakeRedis
from redishelp import unique_prefix

from zchat.broker.backplane import CLAIMED, RESUMED, TAKEN, LocalBackplane
from zchat.broker.roster import Roster, Session
from zchat.broker.store import PARTED_DEFAULT, LinkDown, RoomState, stream_key
from zchat.protocol import constants as c

KEY1, KEY2 = "k" * 40, "K" * 40
Broker = tuple[Any, Roster]


@pytest.fixture(params=["local", "redis", "fake"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """One broker: its backplane and its roster."""
    roster = Roster()
    if request.param == "local":
        yield LocalBackplane(roster), roster
    elif request.param == "fake":
        yield FakeCluster(), roster
    else:
        from zchat.broker.cluster import RedisCluster

        server = request.getfixturevalue("redis_server")
        backplane = RedisCluster(server.url, 1.0, prefix=unique_prefix())
        yield backplane, roster
        backplane.close()


@pytest.fixture(params=["redis", "fake"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    """Makes brokers of one cluster."""
    made: list[Any] = []
    if request.param == "fake":
        shared = FakeRedis()

        def new() -> Any:
            made.append(FakeCluster(shared, f"broker-{len(made)}"))
            return made[-1]
    else:
        from zchat.broker.cluster import RedisCluster

        server = request.getfixturevalue("redis_server")
        prefix = unique_prefix()

        def new() -> Any:
            made.append(RedisCluster(server.url, 1.0, prefix=prefix))
            return made[-1]
    yield new
    for backplane in made:
        backplane.close()


def _join(broker: Broker, name: str, token: str, user: str = "") -> str:
    """As the core does: hold the name, and add the session unless it is taken."""
    backplane, roster = broker
    status: str = backplane.hold(name, stream_key(token), user)
    if status != TAKEN:
        roster.add(name, token.encode(), 0.0, token=token, user=user)
    return status


def _enter(broker: Broker, name: str, room: str) -> None:
    """As the core does: the membership in the store (a cluster's), then the roster."""
    backplane, roster = broker
    session = roster.by_name(name)
    assert session is not None
    if isinstance(backplane, RoomState):
        backplane.enter(session.stream, room, room)
    if room == PARTED_DEFAULT:
        roster.part_default(session)
    else:
        roster.enter(session, room)


def _part(broker: Broker, name: str, room: str) -> None:
    backplane, roster = broker
    session = roster.by_name(name)
    assert session is not None
    if isinstance(backplane, RoomState):
        backplane.part(session.stream, room)
    roster.part(session, room)


# ---- one broker ---------------------------------------------------------------------------

def test_a_free_name_is_claimed(broker: Broker) -> None:
    backplane, _ = broker
    assert backplane.up is True and isinstance(backplane.shared, bool)
    assert _join(broker, "Ana", "tok-a") == CLAIMED
    assert backplane.names() == ["Ana"] and backplane.count() == 1


def test_names_are_sorted_by_name_key_as_shown(broker: Broker) -> None:
    for name in ("carl", "Ana", "bob"):
        _join(broker, name, "tok-" + name)
    backplane, _ = broker
    assert backplane.names() == ["Ana", "bob", "carl"]
    assert backplane.count() == 3


def test_some_names_are_a_sorted_few_others(broker: Broker) -> None:
    names = ["ana", "bob", "carl", "dora", "ed"]
    for name in names:
        _join(broker, name, "tok-" + name)
    backplane, _ = broker
    few = backplane.some_names(2, but="ANA")
    assert len(few) == 2 and few == sorted(few) and set(few) <= set(names) - {"ana"}
    assert backplane.some_names(10, but="bob") == ["ana", "carl", "dora", "ed"]
    assert backplane.some_names(10, but="nobody") == names


def test_releasing_a_session_frees_its_name(broker: Broker) -> None:
    backplane, roster = broker
    _join(broker, "ana", "tok-a")
    session = roster.by_name("ana")
    assert session is not None
    assert backplane.release("ana", session.stream) is True
    roster.remove(session)
    assert backplane.names() == [] and backplane.count() == 0
    assert _join(broker, "ana", "tok-b") == CLAIMED


def test_no_one_holds_an_unknown_name(broker: Broker) -> None:
    backplane, _ = broker
    assert backplane.locate("zoe") is None


def test_a_rooms_members_are_who_entered_it_sorted(broker: Broker) -> None:
    backplane, _ = broker
    for name in ("carl", "Ana", "bob"):
        _join(broker, name, "tok-" + name)
    assert backplane.members("#sala") == [] and backplane.rooms() == {}
    for name in ("carl", "Ana"):
        _enter(broker, name, "#sala")
    _enter(broker, "bob", "#outra")
    _enter(broker, "bob", PARTED_DEFAULT)  # bob parted the default room
    assert backplane.members("#sala") == ["Ana", "carl"]
    assert backplane.members(PARTED_DEFAULT) == ["bob"]
    assert backplane.rooms() == {"#sala": 2, "#outra": 1}
    _part(broker, "carl", "#sala")
    _part(broker, "bob", "#outra")
    assert backplane.members("#sala") == ["Ana"] and backplane.members("#outra") == []
    assert backplane.rooms() == {"#sala": 1}  # a room is held while someone is in it


def test_a_released_session_is_in_no_room_now(broker: Broker) -> None:
    backplane, roster = broker
    _join(broker, "ana", "tok-a")
    _join(broker, "bob", "tok-b")
    for name in ("ana", "bob"):
        _enter(broker, name, "#sala")
    session = roster.by_name("ana")
    assert session is not None
    assert backplane.release("ana", session.stream) is True
    roster.remove(session)
    assert backplane.members("#sala") == ["bob"] and backplane.rooms() == {"#sala": 1}
    backplane.share_topic("#sala", "novo", "bob")  # (told to whoever must be told)


def test_healing_with_nothing_to_hand_back_changes_nothing(broker: Broker) -> None:
    backplane, _ = broker
    assert backplane.heal([], {}) == ([], [], [])
    assert backplane.up is True


# ---- a cluster: brokers sharing the backplane ------------------------------------------------

def test_a_name_is_held_by_one_session_across_brokers(cluster: Callable[[], Any]) -> None:
    one, two = cluster(), cluster()
    assert one.hold("Ana", stream_key("tok-a"), KEY1) == CLAIMED
    assert two.hold("ana", stream_key("tok-b"), KEY1) == TAKEN  # another session
    assert two.hold("ana", stream_key("tok-a"), KEY2) == TAKEN  # its token, another key
    assert two.locate("ANA") == ("Ana", stream_key("tok-a"))
    assert two.names() == ["Ana"] and two.count() == 1


def test_the_same_session_moves_to_another_broker(cluster: Callable[[], Any]) -> None:
    one, two = cluster(), cluster()
    stream = stream_key("tok-a")
    assert one.hold("ana", stream, KEY1) == CLAIMED
    assert two.hold("ana", stream, KEY1) == RESUMED
    assert one.release("ana", stream) is False  # it moved: it did not leave
    assert one.locate("ana") == ("ana", stream)
    assert two.release("ana", stream) is True
    assert one.locate("ana") is None and one.count() == 0


def test_release_honours_the_session(cluster: Callable[[], Any]) -> None:
    one = cluster()
    assert one.hold("ana", stream_key("tok-a"), "") == CLAIMED
    assert one.release("ana", stream_key("tok-b")) is False
    assert one.locate("ana") == ("ana", stream_key("tok-a"))


def test_names_are_cluster_wide(cluster: Callable[[], Any]) -> None:
    one, two = cluster(), cluster()
    one.hold("bob", stream_key("tok-b"), "")
    two.hold("Ana", stream_key("tok-a"), "")
    assert one.names() == two.names() == ["Ana", "bob"]
    assert one.count() == two.count() == 2
    assert one.some_names(5, but="bob") == ["Ana"]


def test_rooms_are_cluster_wide_and_a_session_keeps_its_rooms_when_it_moves(
        cluster: Callable[[], Any]) -> None:
    one, two = cluster(), cluster()
    ana, bob = stream_key("tok-a"), stream_key("tok-b")
    assert one.hold("ana", ana, "") == CLAIMED
    assert two.hold("Bob", bob, "") == CLAIMED
    one.enter(ana, "#sala", "#Sala")
    two.enter(bob, "#sala", "#sala")
    two.enter(bob, PARTED_DEFAULT, "")
    assert one.members("#sala") == two.members("#sala") == ["ana", "Bob"]
    assert one.rooms() == two.rooms() == {"#sala": 2}
    assert one.members(PARTED_DEFAULT) == ["Bob"]
    # ana moves to the other broker: still in her rooms; the old broker's release
    # (she did not leave) changes nothing.
    assert two.hold("ana", ana, "") == RESUMED
    assert one.release("ana", ana) is False
    assert one.members("#sala") == ["ana", "Bob"]
    # A session gone (released) is in no room now, but keeps its memberships: back
    # under its token, it is in them again.
    assert two.release("ana", ana) is True
    assert one.members("#sala") == ["Bob"] and one.rooms_of(ana) == {"#sala": "#Sala"}
    assert one.hold("ana", ana, "") == CLAIMED
    assert two.members("#sala") == ["ana", "Bob"]
    # A LEAVE (its token retired) ends its memberships.
    assert one.release("ana", ana) is True
    one.unbind(ana, retire=True)
    assert one.rooms_of(ana) == {} and two.rooms() == {"#sala": 1}
    assert one.hold("ana", stream_key("tok-a2"), "") == CLAIMED
    assert two.members("#sala") == ["Bob"]
    two.part_all(bob)
    assert one.rooms() == {} and one.members(PARTED_DEFAULT) == []


def test_healing_claims_the_lapsed_ends_the_taken_and_releases_the_left(
        cluster: Callable[[], Any]) -> None:
    one, two = cluster(), cluster()
    ana, bob, cid = (Session(n, n.encode(), "tok-" + n, 0.0) for n in ("ana", "bob", "cid"))
    for session in (ana, bob):
        one.hold(session.name, session.stream, "")
    one.hold("dan", stream_key("tok-dan"), "")
    one.hold("eve", stream_key("tok-eve"), "")
    assert one.bind(stream_key("tok-dan"), "dan", "")
    # Meanwhile: bob's name went to another session on another broker, cid's lapsed,
    # and eve's session moved to the other broker.
    one.release("bob", bob.stream)
    two.hold("bob", stream_key("tok-other"), "")
    two.hold("eve", stream_key("tok-eve"), "")
    left = {"dan": ("dan", stream_key("tok-dan"), c.R_QUIT),
            "eve": ("eve", stream_key("tok-eve"), c.R_TIMEOUT)}
    claimed, taken, released = one.heal([ana, bob, cid], left)
    assert (claimed, taken, released) == ([cid], [bob], [("dan", c.R_QUIT)])
    assert one.up is True
    assert two.locate("cid") == ("cid", cid.stream) and two.locate("dan") is None
    assert two.locate("eve") == ("eve", stream_key("tok-eve"))
    assert not two.bind(stream_key("tok-dan"), "dan", "")  # dan's LEAVE retired the token


def _cutter(backplane: Any, request: pytest.FixtureRequest) -> Callable[[], None]:
    if isinstance(backplane, FakeCluster):
        def cut() -> None:
            backplane.redis.reachable = False
        return cut
    return request.getfixturevalue("own_redis_server").kill  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["redis", "fake"])
def test_a_cluster_out_of_reach_raises_link_down(
        kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "fake":
        backplane: Any = FakeCluster()
    else:
        from zchat.broker.cluster import RedisCluster

        backplane = RedisCluster(request.getfixturevalue("own_redis_server").url, 1.0)
    try:
        cut = _cutter(backplane, request)
        backplane.hold("ana", stream_key("tok-a"), "")
        cut()
        calls: list[Callable[[], object]] = [
            lambda: backplane.hold("bob", stream_key("tok-b"), ""),
            lambda: backplane.release("ana", stream_key("tok-a")),
            lambda: backplane.locate("ana"), backplane.names,
            lambda: backplane.some_names(3, "ana"), backplane.count,
            lambda: backplane.members("#sala"), backplane.rooms,
            lambda: backplane.share_topic("#sala", "x", "ana"),
            lambda: backplane.enter(stream_key("tok-a"), "#sala", "#sala"),
            lambda: backplane.heal([], {})]
        for call in calls:
            with pytest.raises(LinkDown):
                call()
        assert backplane.up is False
    finally:
        backplane.close()
