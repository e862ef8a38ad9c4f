"""The HistoryStore contract (broker/store.py), run against every implementation:
MemoryStore, SqliteStore, RedisCluster on a real redis-server, and the core's
FakeCluster. What only one store does (append with given numbers, a reopen, a
crash) is tested beside it: test_store.py, tests/scenarios/test_cluster_store.py.
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
        assert shared.pruned_upto() >= 0 and shared.pruned_events(0, 1) >= 0
        shared.commit()
    finally:
        shared.close()
