"""broker/rooms.py: the chat rules of rooms, on a core with a fake clock (docs/ROOMS.md)."""

import pytest
from corehelp import WALL, decoded, handled, make_core

from zchat.broker.core import BrokerCore, Limits
from zchat.broker.store import MemoryStore, StoredEvent
from zchat.protocol import (
    DEFAULT_TOPIC,
    Ack,
    Enter,
    Entered,
    Error,
    Events,
    Fetch,
    Join,
    Joined,
    Left,
    ListRooms,
    Msg,
    Part,
    Parted,
    Ping,
    RoomInfo,
    RoomList,
    Say,
    SetTopic,
    TopicSet,
    Users,
    Welcome,
    Who,
    room_topic,
)
from zchat.protocol import constants as c

A, B, C = b"\x00a", b"\x00b", b"\x00c"


@pytest.fixture
def core() -> BrokerCore:
    """ana (A), bob (B) and carol (C) joined; ana and bob are in #sala."""
    core = make_core(store=MemoryStore())
    for identity, name in ((A, "ana"), (B, "bob"), (C, "carol")):
        handled(core, identity, Join(name, name * 8))
    handled(core, A, Enter("#sala"))
    handled(core, B, Enter("#Sala"))  # one room: compared by key
    return core


def _codes(result: list[tuple]) -> list[tuple[str, str]]:
    return [(m.code, m.ref) for _, _, m in result if isinstance(m, Error)]


def test_welcome_names_the_default_room_and_the_sessions_rooms() -> None:
    core = make_core(store=MemoryStore())
    welcome = handled(core, A, Join("ana"))[0][2]
    assert isinstance(welcome, Welcome)
    assert (welcome.room, welcome.rooms, welcome.max_rooms) == (
        "#geral", (("#geral", 1),), c.MAX_ROOMS_PER_USER)


def test_entering_is_stored_and_shown_to_the_members_only(core) -> None:
    result = handled(core, C, Enter("#sala"))
    entered = [m for _, to, m in result if to == C and isinstance(m, Entered)]
    assert entered == [Entered("#sala", 6, "", ("ana", "bob"), 2)]
    joins = [(to, m) for _, to, m in result if isinstance(m, Joined)]
    assert sorted(joins) == [(A, Joined("carol", WALL, 6, 5, "#sala")),
                             (B, Joined("carol", WALL, 6, 5, "#sala"))]


def test_a_message_in_a_room_goes_to_its_members_with_its_own_prev_chain(core) -> None:
    result = handled(core, A, Say("oi", 1, room="#sala"))
    assert result == [("send", B, Msg("ana", "oi", WALL, 6, 5, "#sala")),
                      ("send", A, Ack(1, 6, 5, "#sala"))]
    assert core.store.head("#sala") == 6
    # The default room's chain goes on from its own head, past the room's events.
    default = handled(core, C, Say("geral", 1))
    assert default[0][2] == Msg("carol", "geral", WALL, 7, 3)


def test_a_room_one_is_not_in_refuses_everything_to_the_sender_alone(core) -> None:
    assert _codes(handled(core, C, Say("x", 1, room="#sala"))) == [(c.E_NOT_IN_ROOM, "#sala")]
    assert _codes(handled(core, C, Part("#sala"))) == [(c.E_NOT_IN_ROOM, "#sala")]
    assert _codes(handled(core, C, Who("#sala"))) == [(c.E_NOT_IN_ROOM, "#sala")]
    assert _codes(handled(core, C, SetTopic("#sala", "x"))) == [(c.E_NOT_IN_ROOM, "#sala")]
    assert _codes(handled(core, A, Enter("sala"))) == [(c.E_BAD_ROOM, "sala")]
    assert _codes(handled(core, A, Enter("#a b"))) == [(c.E_BAD_ROOM, "#a b")]
    assert core.store.head("#sala") == 5  # nothing stored


def test_parting_tells_the_others_and_the_parter(core) -> None:
    result = handled(core, A, Part("#sala"))
    assert result == [("send", A, Parted("#sala")),
                      ("send", B, Left("ana", c.R_PART, WALL, 6, 5, "#sala"))]
    assert _codes(handled(core, A, Say("x", 2, room="#sala"))) == [(c.E_NOT_IN_ROOM, "#sala")]


def test_who_rooms_and_topics(core) -> None:
    assert handled(core, A, Who("#sala")) == [("send", A, Users(("ana", "bob"), "#sala"))]
    topic = handled(core, B, SetTopic("#sala", "planos"))
    assert sorted(topic) == [("send", A, TopicSet("#sala", "planos", "bob")),
                             ("send", B, TopicSet("#sala", "planos", "bob"))]
    assert handled(core, C, ListRooms()) == [("send", C, RoomList((
        RoomInfo("#geral", 3), RoomInfo("#sala", 2, "planos"))))]


def test_a_room_joiner_gets_its_history(core) -> None:
    handled(core, A, Say("um", 1, room="#sala"))
    handled(core, B, Say("dois", 1, room="#sala"))
    result = handled(core, C, Enter("#sala"))
    history = [m for _, to, m in result if to == C and isinstance(m, Events)]
    assert history == [Events(c.K_HISTORY, (Msg("ana", "um", WALL, 6, 5, "#sala"),
                                            Msg("bob", "dois", WALL, 7, 6, "#sala")),
                              room="#sala")]


def test_fetch_replays_the_rooms_one_is_in(core) -> None:
    handled(core, A, Say("um", 1, room="#sala"))
    handled(core, A, Say("geral", 2))
    replay = handled(core, B, Fetch(5, 0, rooms=(("#sala", 5), ("#outra", 0))))[0][2]
    assert [(type(e).__name__, e.seq, getattr(e, "room", "")) for e in replay.events] == [
        ("Msg", 6, "#sala"), ("Msg", 7, "")]
    # Not a member: its cursors are ignored.
    replay = handled(core, C, Fetch(7, 0, rooms=(("#sala", 0),)))[0][2]
    assert replay.events == ()


def test_leaving_the_chat_leaves_every_room_with_one_ts(core) -> None:
    result = handled(core, B, Leave_())
    lefts = [(to, m) for _, to, m in result if isinstance(m, Left)]
    assert (A, Left("bob", c.R_QUIT, WALL, 7, 5, "#sala")) in lefts
    assert any(to is None and m.room == "" for to, m in lefts)
    assert core.roster.members("#sala")[0].name == "ana"


def Leave_():
    from zchat.protocol import Leave
    return Leave()


def test_bounds_on_rooms_per_user_and_per_broker() -> None:
    core = make_core(store=MemoryStore(), max_rooms=2)
    handled(core, A, Join("ana"))
    handled(core, A, Enter("#um"))
    handled(core, A, Enter("#dois"))
    assert _codes(handled(core, A, Enter("#tres"))) == [(c.E_ROOMS_FULL, "2")]
    core = make_core(store=MemoryStore(), limits=Limits(rate=1e6, burst=10**6))
    handled(core, A, Join("ana"))
    for i in range(c.MAX_ROOMS_PER_USER - 1):  # (and the default room)
        handled(core, A, Enter(f"#r{i}"))
    assert _codes(handled(core, A, Enter("#mais"))) == [
        (c.E_TOO_MANY_ROOMS, str(c.MAX_ROOMS_PER_USER))]


def test_a_lagging_client_is_told_its_rooms_heads(core) -> None:
    handled(core, A, Say("um", 1, room="#sala"))
    core.lagging(B)
    assert ("send", B, Ping(3, 0, (("#sala", 6),))) in handled_tick(core)


def handled_tick(core: BrokerCore) -> list[tuple]:
    from corehelp import decoded
    return decoded(core.tick(0.0))


def test_rooms_come_back_with_the_session_after_a_restart() -> None:
    store = MemoryStore()
    core = make_core(store=store)
    handled(core, A, Join("ana", "a" * 32))
    handled(core, A, Enter("#sala"))
    again = make_core(store=store)  # the broker restarted; the store kept her rooms
    welcome = handled(again, B, Join("ana", "a" * 32, True))[0][2]
    assert dict(welcome.rooms).keys() == {"#geral", "#sala"}
    assert again.roster.members("#sala")[0].name == "ana"


def test_a_store_that_keeps_no_rooms_offers_none() -> None:
    core = make_core(store=MemoryStore())
    core.room_state = None  # (what room_state_of gives for a store that is no RoomState)
    welcome = handled(core, A, Join("ana"))[0][2]
    assert (welcome.room, welcome.rooms) == ("", ())
    assert _codes(handled(core, A, Enter("#sala"))) == [(c.E_UNAVAILABLE, "rooms")]


@pytest.fixture
def fed() -> BrokerCore:
    """As `core`, with a feed (--fanout pub): ana and bob in #sala, carol not."""
    core = make_core(store=MemoryStore())
    core.use_feed(("tcp://127.0.0.1:1",))
    for identity, name in ((A, "ana"), (B, "bob"), (C, "carol")):
        handled(core, identity, Join(name, name * 8))
    handled(core, A, Enter("#sala"))
    handled(core, B, Enter("#sala"))
    return core


def test_on_a_feed_a_rooms_event_goes_once_under_its_topic(fed) -> None:
    assert handled(fed, A, Say("oi", 1, room="#sala")) == [
        ("feed", "#sala", Msg("ana", "oi", WALL, 6, 5, "#sala")),
        ("send", A, Ack(1, 6, 5, "#sala"))]
    # Parting takes the room's topic from the parter's feed before its LEFT goes out.
    assert handled(fed, B, Part("#sala")) == [
        ("stopfeed", B, room_topic("#sala")),
        ("send", B, Parted("#sala")),
        ("feed", "#sala", Left("bob", c.R_PART, WALL, 7, 6, "#sala"))]
    assert handled(fed, C, Part("#geral"))[0] == ("stopfeed", C, DEFAULT_TOPIC)


def test_on_a_feed_each_tick_gives_the_heads_of_rooms_that_moved(fed) -> None:
    def room_pings(now: float) -> list[tuple]:
        return [a for a in decoded(fed.tick(now)) if a[0] == "feed"]

    assert room_pings(1.0) == [("feed", "#sala", Ping(rooms=(("#sala", 5),)))]
    assert room_pings(2.0) == []  # nothing moved
    handled(fed, A, Say("oi", 1, room="#sala"))
    assert room_pings(3.0) == [("feed", "#sala", Ping(rooms=(("#sala", 6),)))]
    # A subscriber given its rooms' topics is told their heads at the next tick.
    for identity in (A, B, C):
        handled(fed, identity, Ping(), now=3.5)  # (alive)
    fed.recheck(C)
    assert ("send", C, Ping(3, 0, ())) in decoded(fed.tick(4.0))


def test_fetch_counts_a_rooms_pruned_events_as_lost(core) -> None:
    for i in range(4):
        handled(core, A, Say(f"m{i}", i + 1, room="#sala"))  # 6..9
    handled(core, A, Say("geral", 5))                          # 10
    core.store.prune(2)  # one batch: 1..8
    assert core.store.pruned_upto() == 8
    replay = handled(core, B, Fetch(10, 0, rooms=(("#sala", 5),)))[0][2]
    assert [e.seq for e in replay.events] == [9]
    assert replay.lost == 8  # the pruned batch holds #sala's 6, 7 and 8: counted whole
    replay = handled(core, B, Fetch(10, 0, rooms=(("#sala", 9),)))[0][2]
    assert (replay.events, replay.lost) == ((), 0)


def test_parting_the_default_room_and_coming_back(core) -> None:
    result = handled(core, C, Part("#geral"))
    assert result[0] == ("send", C, Parted("#geral"))
    assert result[1] == ("fanout", None, Left("carol", c.R_PART, WALL, 6, 3))
    assert core.roster.outside == {C}
    assert _codes(handled(core, C, Say("x", 1))) == [(c.E_NO_ROOM, "")]
    assert _codes(handled(core, C, Who("#geral"))) == [(c.E_NOT_IN_ROOM, "#geral")]
    # Its FETCH's pub is not its to follow: no public event comes back.
    handled(core, A, Say("geral", 1))
    assert handled(core, C, Fetch(0, 0))[0][2].events == ()
    back = handled(core, C, Enter("#geral"))
    assert back[0] == ("send", C, Entered("#geral", 8, "", ("ana", "bob"), 2))
    assert back[1][2] == Events(c.K_HISTORY, (Msg("ana", "geral", WALL, 7, 6),), room="#geral")
    assert back[2] == ("fanout", C, Joined("carol", WALL, 8, 7))
    assert core.roster.outside == set()


class _MovingHead(MemoryStore):
    """A store where another broker appends to #sala each time this one reads its
    head (outside its own appends), as a cluster's store can between two reads."""

    def __init__(self) -> None:
        super().__init__()
        self.appends = 0
        self._adding = False

    def add(self, event: StoredEvent) -> StoredEvent:
        self._adding = True
        try:
            return super().add(event)
        finally:
            self._adding = False

    def head(self, key: str) -> int:
        if key == "#sala" and self.appends and not self._adding:
            self.appends -= 1
            self.add(StoredEvent(0, c.MSG, WALL, "bob", "de longe", room="#sala"))
        return super().head(key)


def test_entered_and_the_history_share_one_head() -> None:
    """ENTERED's head is the client's cursor: were it below the history's newest
    event, that event would be shown twice, once as history and again live (CI found
    it in the cluster)."""
    store = _MovingHead()
    core = make_core(store=store)
    for identity, name in ((A, "ana"), (C, "carol")):
        handled(core, identity, Join(name, name * 8))
    handled(core, A, Enter("#sala"))
    handled(core, A, Say("um", 1, room="#sala"))
    store.appends = 2
    result = handled(core, C, Enter("#sala"))
    entered = next(m for _, to, m in result if to == C and isinstance(m, Entered))
    history = next(m for _, to, m in result if to == C and isinstance(m, Events))
    assert max(e.seq for e in history.events) <= entered.head
