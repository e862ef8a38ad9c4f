"""--retain bounds the whole history a cluster keeps in Redis, rooms' streams included,
on a real redis-server (skipped without one, unless ZCHAT_REQUIRE_REDIS=1).

Every stream shares one numbering, so rooms' streams are trimmed by number: a room
keeps its events numbered within the last ``retain`` (plus retain / ROOM_SLACK before
it is trimmed), and a room with nothing left loses its stream, not its head, members
or topic (cluster_script.py, `trim_rooms`)."""

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from redishelp import RedisServer, unique_prefix

from zchat.broker.cluster import RedisCluster
from zchat.broker.cluster_script import ROOM_SLACK, ROOM_TRIMS
from zchat.broker.pages import Pages
from zchat.broker.store import StoredEvent
from zchat.broker.texts import broker_catalogue
from zchat.protocol import Events, decode_broker
from zchat.protocol import constants as c

RETAIN = 50
#: The most room-stream entries the cluster keeps: the window and the slack before a
#: room is trimmed.
MOST = RETAIN + RETAIN // ROOM_SLACK
ANA, BOB = "t:ana", "t:bob"


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def cluster(redis_server: RedisServer, prefix: str) -> Iterator[RedisCluster]:
    store = RedisCluster(redis_server.url, 1.0, RETAIN, prefix=prefix)
    yield store
    store.close()


def _say(room: str, n: int, name: str = "ana", origin: str = ANA) -> StoredEvent:
    return StoredEvent(0, c.MSG, 1000.0, name, f"{room} {n}", origin=origin, cid=0, room=room)


def _room_entries(raw: redis.Redis, prefix: str) -> dict[str, list[int]]:
    """Every room stream Redis holds: room -> the seqs of its entries."""
    found = {}
    for key in raw.scan_iter(match=prefix + "r:*", count=1000):
        room = key.decode()[len(prefix) + 2:]
        found[room] = [int(i.split(b"-")[0]) for i, _ in raw.xrange(key)]
    return found


def test_many_rooms_and_a_busy_one_keep_about_retain_events_in_all(
        cluster: RedisCluster, raw: redis.Redis, prefix: str) -> None:
    # A stranger makes room after room and writes once in each; someone else talks on
    # in one room, a message per call; the public room goes on too.
    cluster.hold("ana", ANA, "")
    olds = [f"#old{i}" for i in range(120)]
    firsts = {}
    for room in olds:
        cluster.enter(ANA, room, room)
        cluster.set_topic(room, f"about {room}")
        event = _say(room, 0)
        cluster.add(event)
        firsts[room] = event.seq
    added = list(firsts.values())
    for i in range(300):
        event = _say("#busy", i, "bob", BOB) if i % 5 else _say("", i, "bob", BOB)
        cluster.add(event)
        if event.room:
            added.append(event.seq)
        held = _room_entries(raw, prefix)
        total = sum(len(seqs) for seqs in held.values())
        assert total <= MOST, (i, total)
        assert min(s for seqs in held.values() for s in seqs) > event.seq - MOST
    last = cluster.last_seq()
    held = _room_entries(raw, prefix)
    kept = sorted(s for seqs in held.values() for s in seqs)
    # What is kept: every room event numbered within the window, and none before the slack.
    assert [s for s in added if s > last - RETAIN] == [s for s in kept if s > last - RETAIN]
    assert kept[0] > last - MOST
    # The old rooms lost their streams (and their place among the streams to trim) ...
    assert set(held) == {"#busy"}
    assert [m.decode() for m in raw.zrange(prefix + "rfirst", 0, -1)] == ["#busy"]
    assert int(raw.zscore(prefix + "rfirst", "#busy") or 0) == kept[0]
    # ... but kept their heads, memberships, members and topics.
    for room in olds:
        assert cluster.head(room) == firsts[room]
        assert cluster.topic(room) == f"about {room}"
        assert cluster.members(room) == ["ana"]
    assert set(olds) <= set(cluster.rooms_of(ANA))
    # The pruned mark and count say what was trimmed.
    gone = sorted(set(added) - set(kept))
    assert cluster.pruned_upto() == gone[-1]
    assert int(raw.get(prefix + "pruned_n") or 0) == len(gone)
    assert cluster.pruned_events(0, last) == len(gone)
    # A new message in an old room links to its head; the room's history is what is kept.
    again = _say("#old7", 1)
    cluster.add(again)
    assert again.prev == firsts["#old7"]
    assert [e.seq for e in cluster.recent_room("#old7", 10)] == [again.seq]
    assert [e.seq for e in cluster.recent_room("#busy", 3)] == kept[-3:]
    got = cluster.since(last, 0, ANA, 1000, rooms={"#busy": 0, "#old7": 0, "#old3": 0})
    assert [e.seq for e in got] == [*kept, again.seq]
    assert cluster.since(last, 0, ANA, 1000, rooms={"#old3": 0}) == []


def test_a_fetch_from_a_trimmed_room_is_told_what_was_lost(
        cluster: RedisCluster, raw: redis.Redis, prefix: str) -> None:
    early = [_say("#sala", i) for i in range(5)]  # 1..5
    cluster.add_many(early)
    cluster.add_many([_say("#cozinha", i, "bob", BOB) for i in range(100)])  # 6..105
    assert raw.exists(prefix + "r:#sala") == 0 and cluster.head("#sala") == 5
    pages = Pages(cluster, None, None, broker_catalogue("en"))  # type: ignore[arg-type]
    reader: Any = SimpleNamespace(stream=BOB, name="bob")

    def replay(rooms: dict[str, int]) -> Events:
        got = decode_broker(pages.page(reader, 105, 0, 100, rooms))
        assert isinstance(got, Events)
        return got

    # #sala: nothing left, its head past the cursor: the trimmed events are counted (a bound).
    page = replay({"#sala": 2})
    assert (page.events, page.lost) == ((), 3)
    # #cozinha: its first event kept links back past the cursor.
    page = replay({"#cozinha": 5})
    first = page.events[0]
    assert first.seq > 105 - MOST and first.prev == first.seq - 1
    assert page.lost == first.seq - 1 - 5
    # A cursor past what was trimmed loses nothing.
    page = replay({"#cozinha": first.seq - 1})
    assert page.lost == 0 and page.events[0] == first


def test_each_call_trims_a_bounded_number_of_rooms_and_the_rest_follow(
        redis_server: RedisServer, raw: redis.Redis, prefix: str) -> None:
    # A broker with a larger --retain made many rooms; one with a small one (the same
    # prefix: the same cluster) finds them all past its window at once.
    wide = RedisCluster(redis_server.url, 1.0, 10_000, prefix=prefix)
    narrow = RedisCluster(redis_server.url, 1.0, 5, prefix=prefix)
    try:
        wide.add_many([_say(f"#r{i}", 0) for i in range(100)])
        wide.add_many([_say("", i) for i in range(10)])
        assert len(_room_entries(raw, prefix)) == 100
        narrow.add(_say("", 10))  # one number given: one room, and ROOM_TRIMS more
        assert len(_room_entries(raw, prefix)) == 100 - 1 - ROOM_TRIMS
        narrow.add_many([_say("", 11 + i) for i in range(5)])
        assert len(_room_entries(raw, prefix)) == 100 - 6 - 2 * ROOM_TRIMS
        while raw.zcard(prefix + "rfirst"):
            narrow.add(_say("", 0))
        assert _room_entries(raw, prefix) == {}
        assert [wide.head(f"#r{i}") for i in range(100)] == list(range(1, 101))
    finally:
        wide.close()
        narrow.close()
