"""The HistoryStore contract (broker/store.py), run against every implementation:
MemoryStore, SqliteStore, RedisCluster on a real redis-server, and the core's
FakeCluster; rooms' streams too, against every store (how far a room is pruned
is the store's: the stores of one broker prune rooms with the rest of the
history by count, the cluster trims each room's stream to the events numbered
within the last --retain; test_cluster_retain.py).
What only one store does (append with given numbers, a reopen, a crash) is
tested beside it: test_store.py, test_rooms_contract.py (rooms in a reopened or
older SQLite file), tests/scenarios/test_cluster_store.py.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from storeimpl import STORES, opener

from zchat.broker.store import PUBLIC, LinkDown, StoredEvent, stream_key
from zchat.protocol import constants as c

ANA, BOB, CAROL = (stream_key(t) for t in ("tok-a", "tok-b", "tok-c"))


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from opener(request.param, request, tmp_path)


@pytest.fixture
def store(open_store: Callable[..., Any]) -> Any:
    return open_store()


def _msg(name: str, origin: str, cid: int = 0, text: str = "") -> StoredEvent:
    return StoredEvent(0, c.MSG, 1000.5, name, text or f"from {name}", origin=origin, cid=cid)


def _priv(name: str, to: str, origin: str, to_key: str, cid: int = 0) -> StoredEvent:
    return StoredEvent(0, c.PRIV, 1001.25, name, f"{name} to {to}", to, origin=origin,
                       cid=cid, to_key=to_key)


def _joined(name: str) -> StoredEvent:
    return StoredEvent(0, c.JOINED, 999.0, name)


def _left(name: str) -> StoredEvent:
    return StoredEvent(0, c.LEFT, 1002.0, name, reason=c.R_QUIT)


def _history() -> list[StoredEvent]:
    return [_joined("Ana"), _joined("bob"), _msg("Ana", ANA, 1, "olá 😀"),
            _priv("Ana", "bob", ANA, BOB, 2), _msg("bob", BOB, 1),
            _priv("bob", "carol", BOB, CAROL), _joined("carol"),
            _priv("carol", "Ana", CAROL, ANA), _left("bob"), _priv("Ana", "Ana", ANA, ANA, 3)]


def test_a_new_store_is_empty(store: Any) -> None:
    assert store.last_seq() == 0
    assert store.head(PUBLIC) == store.head(ANA) == 0
    assert store.since(0, 0, ANA, 100) == []
    assert store.recent_public(10) == []
    assert store.find(ANA, 1) is None
    assert store.pruned_upto() == 0 and store.pruned_events(0, 100) == 0
    assert isinstance(store.epoch, str) and store.epoch


def test_add_numbers_in_order_and_links_each_stream(store: Any) -> None:
    events = _history()
    for event in events:
        assert store.add(event) is event
    assert [e.seq for e in events] == list(range(1, 11))
    # Public events link to the previous public one; a private one to its sender's and
    # its target's previous private ones.
    assert [(e.seq, e.prev) for e in events if e.kind != c.PRIV] == [
        (1, 0), (2, 1), (3, 2), (5, 3), (7, 5), (9, 7)]
    assert [(e.seq, e.prev, e.prev_to) for e in events if e.kind == c.PRIV] == [
        (4, 0, 0), (6, 4, 0), (8, 6, 4), (10, 8, 8)]
    assert store.last_seq() == 10
    assert (store.head(PUBLIC), store.head(ANA), store.head(BOB), store.head(CAROL)) == \
        (9, 10, 6, 8)


def test_add_many_is_add_in_order(store: Any) -> None:
    events = _history()
    store.add_many(events[:4])
    store.add(events[4])
    store.add_many(events[5:])
    assert [e.seq for e in events] == list(range(1, 11))
    assert events[9].prev == 8 and events[8].prev == 7


def test_reads_see_added_events_before_commit(store: Any) -> None:
    store.add_many(_history())
    assert [e.seq for e in store.since(0, 0, ANA, 100)] == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    assert store.find(ANA, 1).seq == 3
    store.commit()
    assert [e.seq for e in store.since(0, 0, ANA, 100)] == [1, 2, 3, 4, 5, 7, 8, 9, 10]


def test_find_gives_a_stored_events_number_kind_and_link(store: Any) -> None:
    store.add_many(_history())
    found = store.find(ANA, 2)
    assert (found.seq, found.kind, found.prev) == (4, c.PRIV, 0)
    found = store.find(BOB, 1)
    assert (found.seq, found.kind, found.prev) == (5, c.MSG, 3)
    assert store.find(ANA, 9) is None
    assert store.find(CAROL, 1) is None  # (cids are per origin)


def test_since_merges_public_and_the_readers_own_private_events(store: Any) -> None:
    store.add_many(_history())
    assert [e.seq for e in store.since(0, 0, BOB, 100)] == [1, 2, 3, 4, 5, 6, 7, 9]
    assert [e.seq for e in store.since(0, 0, CAROL, 100)] == [1, 2, 3, 5, 6, 7, 8, 9]
    # Each cursor on its own stream.
    assert [e.seq for e in store.since(5, 0, ANA, 100)] == [4, 7, 8, 9, 10]
    assert [e.seq for e in store.since(0, 8, ANA, 100)] == [1, 2, 3, 5, 7, 9, 10]
    assert [e.seq for e in store.since(9, 10, ANA, 100)] == []
    assert [e.seq for e in store.since(0, 0, ANA, 3)] == [1, 2, 3]


def test_events_read_back_whole(store: Any) -> None:
    events = _history()
    store.add_many(events)
    got = {e.seq: e for e in store.since(0, 0, ANA, 100) + store.since(0, 0, BOB, 100)}
    for event in events:
        assert got[event.seq] == event
        assert got[event.seq].for_reader(ANA) == event.for_reader(ANA)


def test_texts_and_numbers_a_codec_could_mangle_read_back_whole(store: Any) -> None:
    """Quotes, backslashes, escapes, separators, a NUL, astral characters and cids
    past 2^53 (a cluster packs a batch's events into one JSON argument for Lua)."""
    texts = ['"quoted" \\ back\\slash', "tab\tnew\nline \u2028 \u0000 end", "[1, \"x\"]",
             "\U0001f600 \u00e9\u0301 \ufeff", "{}", "null"]
    big = 2**53 + 7
    events = [_msg("Ana", ANA, big + i, text) for i, text in enumerate(texts)]
    store.add_many(events)
    got = store.since(0, 0, ANA, 100)
    assert [e.text for e in got] == texts
    assert [e.cid for e in got] == [big + i for i in range(len(texts))]
    assert store.find(ANA, big + 2).seq == got[2].seq


def test_recent_public_is_the_newest_messages_in_order(store: Any) -> None:
    store.add_many(_history())
    assert [e.seq for e in store.recent_public(10)] == [3, 5]
    assert [e.seq for e in store.recent_public(1)] == [5]
    assert [e.seq for e in store.recent_public(10, upto=4)] == [3]
    assert store.recent_public(0) == []


def test_commit_is_harmless_and_keeps_the_epoch(store: Any) -> None:
    epoch = store.epoch
    store.commit()
    store.add(_joined("Ana"))
    store.commit()
    store.commit()
    assert store.epoch == epoch and store.last_seq() == 1


def test_history_prunes_itself_past_its_retain_bound(open_store: Callable[..., Any]) -> None:
    # (Redis trims its log once it is 1,000 entries past the bound, in whole nodes.)
    store = open_store(retain=10)
    events = [_msg("Ana", ANA, i + 1) for i in range(1200)]
    store.add_many(events)
    store.commit()
    upto = store.pruned_upto()
    assert 0 < upto <= 1200 - 10
    kept = store.since(0, 0, ANA, 2000)
    assert kept[0].seq == upto + 1 and kept[-1].seq == 1200
    assert store.pruned_events(0, upto) == upto  # every number up to the mark was an event
    assert 0 <= store.pruned_events(upto, 1200) <= 1200 - upto  # (a bound, not a count)
    # (Whether a pruned message is still found is the store's: Redis keeps its duplicate
    # check for CID_TTL, whatever the log holds.)
    assert store.find(ANA, 1200).seq == 1200


@pytest.mark.parametrize("kind", ["redis", "fake"])
def test_a_shared_store_cut_off_refuses_to_number_but_still_answers(
        kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "redis":
        from zchat.broker.cluster import RedisCluster

        server = request.getfixturevalue("own_redis_server")  # (this test kills it)
        shared: Any = RedisCluster(server.url, 1.0)
        cut = server.kill
    else:
        from fakecluster import FakeCluster

        shared = FakeCluster()

        def cut() -> None:
            shared.redis.reachable = False
    try:
        shared.add(_joined("Ana"))
        cut()
        with pytest.raises(LinkDown):
            shared.add(_joined("bob"))
        with pytest.raises(LinkDown):
            shared.add_many([_joined("carol")])
        assert shared.up is False
        # Reads answer from what is known, or with nothing: never LinkDown.
        assert shared.head(PUBLIC) in (0, 1) and shared.last_seq() in (0, 1)
        assert shared.find(ANA, 1) is None
        assert isinstance(shared.since(0, 0, ANA, 10), list)
        assert isinstance(shared.recent_public(5), list)
        events, more = shared.page(PUBLIC, 5)
        assert isinstance(events, list) and isinstance(more, bool)
        if kind == "redis":
            assert shared.page(PUBLIC, 5) == shared.page(SALA, 5, after=0) == ([], False)
        assert shared.pruned_upto() >= 0 and shared.pruned_events(0, 1) >= 0
        shared.commit()
    finally:
        shared.close()


# ---- rooms: each room its own stream (StoredEvent.room), in the stores that hold rooms --

SALA, COZINHA = "#sala", "#cozinha"


@pytest.fixture(params=STORES)
def open_room_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from opener(request.param, request, tmp_path)


@pytest.fixture
def room_store(open_room_store: Callable[..., Any]) -> Any:
    return open_room_store()


def _in(room: str, event: StoredEvent) -> StoredEvent:
    event.room = room
    return event


def _rooms_history() -> list[StoredEvent]:
    """The default room and two others, interleaved, with a private message among them."""
    return [_joined("Ana"),                                  # 1  default
            _in(SALA, _joined("Ana")),                       # 2  #sala
            _in(SALA, _msg("Ana", ANA, 1, "na sala")),       # 3  #sala
            _msg("bob", BOB, 1),                             # 4  default
            _in(COZINHA, _joined("bob")),                    # 5  #cozinha
            _priv("Ana", "bob", ANA, BOB, 2),                # 6  private
            _in(SALA, _joined("bob")),                       # 7  #sala
            _in(COZINHA, _msg("bob", BOB, 2, "na cozinha")),  # 8  #cozinha
            _msg("Ana", ANA, 3),                             # 9  default
            _in(SALA, _msg("bob", BOB, 3)),                  # 10 #sala
            _in(SALA, _left("Ana")),                         # 11 #sala
            _in(COZINHA, _msg("bob", BOB, 4))]               # 12 #cozinha


def test_a_room_is_a_stream_of_its_own() -> None:
    assert _in(SALA, _msg("Ana", ANA)).keys() == (SALA,)
    assert _msg("Ana", ANA).keys() == (PUBLIC,)
    assert _priv("Ana", "bob", ANA, BOB).keys() == (ANA, BOB)
    # (Positional construction means what it did: the room is the last field.)
    assert StoredEvent(1, c.MSG, 1.0, "Ana", "t", "", "", ANA, 1, 0, "", 0).room == ""


def test_each_room_has_its_own_prev_chain_and_head(room_store: Any) -> None:
    events = _rooms_history()
    room_store.add_many(events[:5])
    for event in events[5:]:
        room_store.add(event)
    assert [e.seq for e in events] == list(range(1, 13))
    chains = {room: [(e.seq, e.prev) for e in events if e.kind != c.PRIV and e.room == room]
              for room in ("", SALA, COZINHA)}
    assert chains == {"": [(1, 0), (4, 1), (9, 4)],
                      SALA: [(2, 0), (3, 2), (7, 3), (10, 7), (11, 10)],
                      COZINHA: [(5, 0), (8, 5), (12, 8)]}
    assert (events[5].prev, events[5].prev_to) == (0, 0)  # private chains ignore rooms
    assert (room_store.head(PUBLIC), room_store.head(SALA), room_store.head(COZINHA)) == \
        (9, 11, 12)
    assert (room_store.head(ANA), room_store.head(BOB), room_store.head("#nada")) == (6, 6, 0)
    assert room_store.last_seq() == 12


def test_since_without_rooms_is_the_default_room_and_private_events(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert [e.seq for e in room_store.since(0, 0, ANA, 100)] == [1, 4, 6, 9]
    assert [e.seq for e in room_store.since(0, 0, CAROL, 100)] == [1, 4, 9]
    assert [e.seq for e in room_store.since(0, 0, ANA, 100, rooms={})] == [1, 4, 6, 9]


def test_since_adds_each_asked_rooms_events_after_its_cursor(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    both = {SALA: 0, COZINHA: 0}
    assert [e.seq for e in room_store.since(0, 0, ANA, 100, rooms=both)] == list(range(1, 13))
    assert [e.seq for e in room_store.since(0, 0, CAROL, 100, rooms={SALA: 0})] == \
        [1, 2, 3, 4, 7, 9, 10, 11]
    # Each cursor on its own stream; rooms with nothing stored, or nothing after their
    # cursor, add nothing.
    assert [e.seq for e in room_store.since(4, 6, ANA, 100, rooms={SALA: 7, COZINHA: 5})] == \
        [8, 9, 10, 11, 12]
    assert [e.seq for e in room_store.since(9, 6, ANA, 100,
                                            rooms={SALA: 11, "#nada": 0})] == []
    # Within the limit, in seq order.
    assert [e.seq for e in room_store.since(0, 0, ANA, 5, rooms=both)] == [1, 2, 3, 4, 5]
    assert [e.seq for e in room_store.since(9, 6, CAROL, 2, rooms={SALA: 7, COZINHA: 8})] == \
        [10, 11]


def test_room_events_read_back_whole(room_store: Any) -> None:
    events = _rooms_history()
    room_store.add_many(events)
    room_store.commit()
    got = room_store.since(0, 0, ANA, 100, rooms={SALA: 0, COZINHA: 0})
    assert got == events
    assert [e.room for e in got] == ["", SALA, SALA, "", COZINHA, "", SALA, COZINHA, "",
                                     SALA, SALA, COZINHA]
    assert got[2].for_reader(ANA) == events[2].for_reader(ANA)


def test_since_answers_for_many_rooms_at_once(room_store: Any) -> None:
    # More rooms than one SQLite query asks for (sqlite_store.ROOMS_PER_QUERY).
    rooms = [f"#r{i}" for i in range(250)]
    room_store.add_many([_in(room, _joined("Ana")) for room in rooms])
    room_store.add(_joined("bob"))
    cursors = dict.fromkeys(rooms, 0)
    assert [e.seq for e in room_store.since(0, 0, ANA, 1000, rooms=cursors)] == \
        list(range(1, 252))
    assert [e.seq for e in room_store.since(0, 0, ANA, 120, rooms=cursors)] == \
        list(range(1, 121))
    cursors = {room: seq for seq, room in enumerate(rooms, start=1) if seq % 2}
    assert [e.seq for e in room_store.since(251, 0, ANA, 1000, rooms=cursors)] == []
    cursors = {room: 0 for seq, room in enumerate(rooms, start=1) if seq > 200}
    assert [e.seq for e in room_store.since(0, 0, ANA, 1000, rooms=cursors)] == \
        [*range(201, 251), 251]


def test_recent_room_is_that_rooms_newest_messages_in_order(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert [e.seq for e in room_store.recent_room(SALA, 10)] == [3, 10]
    assert [e.seq for e in room_store.recent_room(SALA, 1)] == [10]
    assert [e.seq for e in room_store.recent_room(SALA, 10, upto=9)] == [3]
    assert [e.seq for e in room_store.recent_room(SALA, 10, upto=2)] == []
    assert [e.seq for e in room_store.recent_room(COZINHA, 10)] == [8, 12]
    assert [e.text for e in room_store.recent_room(COZINHA, 10, upto=11)] == ["na cozinha"]
    assert room_store.recent_room(SALA, 0) == [] and room_store.recent_room("#nada", 5) == []
    # The default room's history is the public messages alone.
    assert [e.seq for e in room_store.recent_public(10)] == [4, 9]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "fake"])
def test_room_events_are_pruned_with_the_rest_and_room_heads_stay(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    for open_store in opener(kind, request, tmp_path):
        _pruned_with_the_rest(open_store(retain=10))


def _pruned_with_the_rest(store: Any) -> None:
    early = [_in(SALA, _joined("Ana")), _in(SALA, _msg("Ana", ANA, 1)),
             _in(COZINHA, _msg("bob", BOB, 1))]
    store.add_many(early)
    store.add_many([_in(SALA if i % 3 else "", _msg("bob", BOB, i + 2)) for i in range(30)])
    store.add_many([_msg("Ana", ANA, i + 2) for i in range(20)])
    store.commit()
    upto = store.pruned_upto()
    assert 3 < upto <= 53 - 10
    kept = store.since(0, 0, ANA, 100, rooms={SALA: 0, COZINHA: 0})
    assert kept[0].seq == upto + 1 and kept[-1].seq == 53
    assert store.pruned_events(0, upto) == upto
    assert store.recent_room(COZINHA, 10) == [] and store.recent_room(SALA, 10) == [
        e for e in kept if e.room == SALA]
    # A room whose every event is pruned keeps its head: its next event links to it.
    assert store.head(COZINHA) == 3 and store.head(SALA) == 33
    nxt = store.add(_in(COZINHA, _msg("bob", BOB, 99)))
    assert nxt.prev == 3
    store.commit()
    assert store.head(COZINHA) == nxt.seq


def test_a_clusters_room_streams_are_bounded_and_room_heads_stay(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # Redis trims each room's stream to its events numbered within about the last --retain.
    for open_store in opener("redis", request, tmp_path):
        store = open_store(retain=10)
        store.add_many([_in(COZINHA, _msg("bob", BOB, 1))])
        store.add_many([_in(SALA, _msg("bob", BOB, i + 2)) for i in range(1200)])
        kept = store.since(0, 0, ANA, 2000, rooms={SALA: 0, COZINHA: 0})
        in_sala = [e.seq for e in kept if e.room == SALA]
        assert 10 <= len(in_sala) < 1200 and in_sala[-1] == 1201
        assert in_sala == list(range(in_sala[0], 1202))
        assert [e.seq for e in store.recent_room(SALA, 5)] == list(range(1197, 1202))
        assert store.head(COZINHA) == 1 and store.head(SALA) == 1201
        nxt = store.add(_in(COZINHA, _msg("bob", BOB, 9999)))
        assert (nxt.seq, nxt.prev) == (1202, 1)


# ---- history pages (issue 18): a page of one room's stream, either way ----------------

def _seqs(page: tuple[list[StoredEvent], bool]) -> tuple[list[int], bool]:
    events, more = page
    return [e.seq for e in events], more


def test_page_without_bounds_is_the_latest_of_the_stream(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert _seqs(room_store.page(SALA, 10)) == ([2, 3, 7, 10, 11], False)
    assert _seqs(room_store.page(SALA, 2)) == ([10, 11], True)
    assert _seqs(room_store.page(SALA, 5)) == ([2, 3, 7, 10, 11], False)  # (exactly all)
    assert _seqs(room_store.page(COZINHA, 3)) == ([5, 8, 12], False)
    # The default room's stream: its joins, messages and leaves, no private event.
    assert _seqs(room_store.page(PUBLIC, 10)) == ([1, 4, 9], False)
    assert _seqs(room_store.page(PUBLIC, 1)) == ([9], True)


def test_page_before_reads_back_from_below_a_number(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert _seqs(room_store.page(SALA, 2, before=10)) == ([3, 7], True)
    assert _seqs(room_store.page(SALA, 2, before=7)) == ([2, 3], False)
    assert _seqs(room_store.page(SALA, 3, before=3)) == ([2], False)
    assert _seqs(room_store.page(SALA, 3, before=2)) == ([], False)
    assert _seqs(room_store.page(SALA, 3, before=1)) == ([], False)
    assert _seqs(room_store.page(SALA, 1, before=12)) == ([11], True)
    assert _seqs(room_store.page(SALA, 9, before=99)) == ([2, 3, 7, 10, 11], False)
    assert _seqs(room_store.page(PUBLIC, 1, before=4)) == ([1], False)
    assert _seqs(room_store.page(PUBLIC, 1, before=9)) == ([4], True)


def test_page_after_reads_on_from_above_a_number(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert _seqs(room_store.page(SALA, 2, after=0)) == ([2, 3], True)
    assert _seqs(room_store.page(SALA, 2, after=3)) == ([7, 10], True)
    assert _seqs(room_store.page(SALA, 2, after=7)) == ([10, 11], False)
    assert _seqs(room_store.page(SALA, 2, after=9)) == ([10, 11], False)
    assert _seqs(room_store.page(SALA, 2, after=11)) == ([], False)
    assert _seqs(room_store.page(SALA, 1, after=10)) == ([11], False)
    assert _seqs(room_store.page(PUBLIC, 1, after=0)) == ([1], True)
    assert _seqs(room_store.page(PUBLIC, 5, after=1)) == ([4, 9], False)
    assert _seqs(room_store.page(COZINHA, 1, after=5)) == ([8], True)


def test_page_between_after_and_before_reads_on_within_the_range(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert _seqs(room_store.page(SALA, 2, after=2, before=11)) == ([3, 7], True)
    assert _seqs(room_store.page(SALA, 3, after=2, before=11)) == ([3, 7, 10], False)
    assert _seqs(room_store.page(SALA, 1, after=3, before=10)) == ([7], False)
    assert _seqs(room_store.page(SALA, 9, after=3, before=7)) == ([], False)
    assert _seqs(room_store.page(SALA, 9, after=7, before=7)) == ([], False)
    assert _seqs(room_store.page(SALA, 9, after=8, before=3)) == ([], False)
    assert _seqs(room_store.page(PUBLIC, 1, after=1, before=9)) == ([4], False)
    assert _seqs(room_store.page(PUBLIC, 1, after=0, before=10)) == ([1], True)


def test_paging_either_way_walks_the_whole_stream_once(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    for stream, wanted in ((SALA, [2, 3, 7, 10, 11]), (PUBLIC, [1, 4, 9])):
        for limit in (1, 2, 3):
            back: list[int] = []
            seqs, more = _seqs(room_store.page(stream, limit))
            while True:
                back = seqs + back
                if not more:
                    break
                seqs, more = _seqs(room_store.page(stream, limit, before=seqs[0]))
            on: list[int] = []
            more, cursor = True, 0
            while more:
                seqs, more = _seqs(room_store.page(stream, limit, after=cursor))
                on += seqs
                cursor = seqs[-1]
            assert back == on == wanted, (stream, limit)


def test_a_page_holds_its_stream_alone_read_back_whole(room_store: Any) -> None:
    events = _rooms_history()
    room_store.add_many(events)
    assert room_store.page(COZINHA, 10) == ([events[4], events[7], events[11]], False)
    assert room_store.page(PUBLIC, 10, after=0) == ([events[0], events[3], events[8]], False)
    page, _ = room_store.page(SALA, 10)
    assert page == [e for e in events if e.room == SALA]
    assert [e.for_reader(SALA) for e in page] == \
        [e.for_reader(SALA) for e in events if e.room == SALA]


def test_a_page_of_an_empty_or_unknown_stream_is_empty(room_store: Any) -> None:
    assert room_store.page(PUBLIC, 10) == ([], False)
    assert room_store.page(SALA, 10, after=0) == ([], False)
    room_store.add_many(_rooms_history())
    for stream in ("#nada", ANA, ""):  # (no room: a private stream's key is not a room)
        assert room_store.page(stream, 10) == ([], False)
        assert room_store.page(stream, 10, after=0, before=99) == ([], False)
    # A private message is in no room's stream.
    room_store.add(_priv("Ana", "bob", ANA, BOB, 9))
    assert _seqs(room_store.page(PUBLIC, 10, after=9)) == ([], False)
    assert _seqs(room_store.page(SALA, 10, after=11)) == ([], False)


def test_a_page_sees_added_events_before_commit(room_store: Any) -> None:
    room_store.add_many(_rooms_history())
    assert _seqs(room_store.page(SALA, 2)) == ([10, 11], True)
    room_store.add(_in(SALA, _msg("bob", BOB, 7)))
    assert _seqs(room_store.page(SALA, 2)) == ([11, 13], True)
    assert _seqs(room_store.page(SALA, 9, after=10)) == ([11, 13], False)
    room_store.commit()
    assert _seqs(room_store.page(SALA, 2)) == ([11, 13], True)


def test_pruned_events_are_in_no_page(open_room_store: Callable[..., Any]) -> None:
    # Enough for every store to prune: the stores of one broker to about 10 events, the
    # cluster its log (1,000 entries past the bound) and the room's stream (the last 10
    # numbers; test_a_clusters_room_streams_are_bounded_and_room_heads_stay).
    store = open_room_store(retain=10)
    store.add_many([_in(SALA, _joined("Ana")), _in(SALA, _msg("Ana", ANA, 1)),
                    _joined("Ana"), _priv("Ana", "bob", ANA, BOB, 2)])
    store.add_many([_in(SALA, _msg("bob", BOB, i)) if i % 50 == 0 else _msg("Ana", ANA, i + 2)
                    for i in range(1, 1201)])
    store.add_many([_in(SALA, _msg("bob", BOB, 9999)), _msg("Ana", ANA, 9999)])
    store.commit()
    assert store.pruned_upto() >= 4
    kept = store.since(0, 0, ANA, 2000, rooms={SALA: 0})
    for stream, room in ((PUBLIC, ""), (SALA, SALA)):
        retained = [e for e in kept if e.room == room and e.kind != c.PRIV]
        assert retained and retained[0].seq > 4 and len(retained) < 1200
        assert store.page(stream, 1000) == (retained, False)
        assert store.page(stream, 1000, after=0) == (retained, False)
        assert store.page(stream, 1000, before=retained[0].seq + 1) == ([retained[0]], False)
        assert store.page(stream, 1, after=0) == ([retained[0]], len(retained) > 1)
