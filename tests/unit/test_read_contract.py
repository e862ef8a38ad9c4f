"""The ReadState contract (broker/store.py), run against every implementation:
MemoryStore, SqliteStore, RedisCluster on a real redis-server, and the core's
FakeCluster: read marks, conversations, what a LEAVE and the retain bound take with
them; then the private conversation pages (`talk`). What only one store does is
tested beside it: for SQLite, that pages are index searches and that read state
survives reopening the file; for Redis, that a message is recorded once, that a
session's read state expires with its token binding while a key's lasts, and that
the retain window frees what leaves it (cluster_script.py)."""

from pathlib import Path
from typing import Any

import pytest
import redis
from redishelp import RedisServer, unique_prefix
from storeimpl import STORES, opener

from zchat.broker.cluster_script import MARKS_MOST, TOKEN_TTL
from zchat.broker.sqlite_store import SqliteStore, _talk_query
from zchat.broker.store import Conversation, ReadState, StoredEvent, stream_key
from zchat.protocol import constants as c

ANA, BOB = stream_key("tok-a"), stream_key("tok-b")
KEY = "k:some-curve-key"


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from opener(request.param, request, tmp_path)


@pytest.fixture
def store(open_store: Any) -> Any:
    return open_store()


def _past_retain(store: Any, retain: int) -> None:
    """Commit; a store of one broker then prunes to ``retain`` (as its commit does past
    its bound). A cluster's bound is a window of numbers, applied as it numbers."""
    store.commit()
    if hasattr(store, "prune"):
        store.prune(retain)
        store.commit()


def _priv(store: Any, sender: str, origin: str, to: str, to_key: str, text: str = "oi") -> int:
    return store.add(StoredEvent(0, c.PRIV, 1.0, sender, text, to, origin=origin,
                                 to_key=to_key)).seq


def test_every_store_keeps_read_state(store: Any) -> None:
    assert isinstance(store, ReadState)


def test_marks_only_go_up(store: Any) -> None:
    assert store.marks(KEY) == {}
    store.mark(KEY, {"#sala": 5, "*": 3})
    store.mark(KEY, {"#sala": 4, "@bob": 2})
    store.commit()
    assert store.marks(KEY) == {"#sala": 5, "*": 3, "@bob": 2}
    assert store.marks(ANA) == {}


def test_conversations_newest_first_with_unread_from_the_peer(store: Any) -> None:
    store.converse(KEY, "bob", "Bob", 7, 10.0, True)
    store.converse(KEY, "carol", "carol", 8, 11.0, False)
    store.converse(KEY, "bob", "Bob", 9, 12.0, True)
    store.commit()
    assert store.conversations(KEY, 10) == [Conversation("bob", "Bob", 9, 12.0, 2),
                                            Conversation("carol", "carol", 8, 11.0, 0)]
    assert store.conversations(KEY, 1) == [Conversation("bob", "Bob", 9, 12.0, 2)]
    store.mark(KEY, {"@bob": 8})  # before the last: still unread
    assert store.conversations(KEY, 1)[0].unread == 2
    store.mark(KEY, {"@bob": 9})
    assert store.conversations(KEY, 1)[0].unread == 0


def test_a_leave_forgets_a_sessions_read_state_not_a_keys(store: Any) -> None:
    store.bind(ANA, "ana", "")
    store.mark(ANA, {"#sala": 1})
    store.mark(KEY, {"#sala": 1})
    store.converse(ANA, "bob", "bob", 1, 1.0, True)
    store.unbind(ANA, retire=True)
    store.commit()
    assert (store.marks(ANA), store.conversations(ANA, 5)) == ({}, [])
    assert store.marks(KEY) == {"#sala": 1}


def test_pruning_takes_conversations_whose_history_is_gone(open_store: Any) -> None:
    store = open_store(retain=2)
    first = _priv(store, "ana", ANA, "bob", BOB)
    store.converse(KEY, "bob", "bob", first, 1.0, False)
    store.mark(KEY, {"@bob": first, "#sala": first})
    for _ in range(4):
        store.add(StoredEvent(0, c.MSG, 1.0, "carol", "x"))
    _past_retain(store, 2)
    assert store.conversations(KEY, 5) == []
    assert store.marks(KEY) == {"#sala": first}  # (the conversation's mark went with it)


def _talk(store: Any, sender: str, origin: str, to: str, to_key: str, text: str,
          readers: tuple[str, str]) -> int:
    """A private message stored and recorded in both readers' conversations, as the
    core does (reading.py)."""
    seq = _priv(store, sender, origin, to, to_key, text)
    store.converse(readers[0], to.casefold(), to, seq, 1.0, False)
    store.converse(readers[1], sender.casefold(), sender, seq, 1.0, True)
    return seq


def test_conversation_pages_hold_one_peer_only(store: Any) -> None:
    carol = stream_key("tok-c")
    with_bob = []
    for i in range(6):
        with_bob.append(_talk(store, "ana", ANA, "Bob", BOB, f"to bob {i}", (KEY, BOB)))
        _talk(store, "ana", ANA, "carol", carol, "x", (KEY, carol))
        with_bob.append(_talk(store, "BOB", BOB, "ana", ANA, f"from bob {i}", (BOB, KEY)))
    store.commit()
    events, more = store.talk(KEY, "bob", 4)
    assert [e.seq for e in events] == with_bob[-4:] and more
    events, more = store.talk(KEY, "bob", 20, before=events[0].seq)
    assert [e.seq for e in events] == with_bob[:-4] and not more
    events, more = store.talk(KEY, "bob", 3, after=with_bob[0])
    assert [e.seq for e in events] == with_bob[1:4] and more
    assert store.talk(KEY, "dave", 5) == ([], False)
    assert [e.text for e in store.talk(BOB, "ana", 20)[0]] == [
        text for i in range(6) for text in (f"to bob {i}", f"from bob {i}")]


def test_conversation_pages_lose_what_history_prunes(open_store: Any) -> None:
    store = open_store(retain=4)
    for i in range(4):
        _talk(store, "ana", ANA, "bob", BOB, f"m{i}", (KEY, BOB))
    for _ in range(2):
        store.add(StoredEvent(0, c.MSG, 1.0, "carol", "x"))
    _past_retain(store, 4)
    assert [e.text for e in store.talk(KEY, "bob", 10)[0]] == ["m2", "m3"]
    assert [t.last for t in store.conversations(KEY, 5)] == [4]


def test_conversation_pages_are_index_searches(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        for forwards in (True, False):
            plan = " ".join(str(row[3]) for row in store._db.execute(
                "EXPLAIN QUERY PLAN " + _talk_query(forwards),
                {"reader": KEY, "peer": "bob", "count": 3, "after": 0, "before": 9}))
            assert "SEARCH t USING PRIMARY KEY (reader=? AND peer=? AND seq>? AND seq<?)" \
                in plan, plan
            assert "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
            assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    finally:
        store.close()


def test_read_state_survives_reopening_the_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    store.mark(KEY, {"#sala": 4})
    store.converse(KEY, "bob", "bob", 4, 2.0, True)
    store.commit()
    store.close()
    store = SqliteStore(tmp_path)
    try:
        assert store.marks(KEY) == {"#sala": 4}
        assert store.conversations(KEY, 5) == [Conversation("bob", "bob", 4, 2.0, 1)]
    finally:
        store.close()


# ---- what only the cluster's store does (RedisCluster on a real redis-server) ----------

READ_KINDS = ("mk", "cv", "ci", "tl")  # a reader's keys: marks, conversations, pages


@pytest.fixture
def raw(redis_server: RedisServer) -> Any:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def open_cluster(redis_server: RedisServer, prefix: str):  # type: ignore[no-untyped-def]
    from zchat.broker.cluster import RedisCluster

    opened: list[Any] = []

    def open_it(retain: int = c.DEFAULT_RETAIN) -> Any:
        opened.append(RedisCluster(redis_server.url, 1.0, retain, prefix=prefix))
        return opened[-1]

    yield open_it
    for store in opened:
        store.close()


def test_a_cluster_records_a_message_once_and_what_was_marked_is_not_unread(
        open_cluster: Any) -> None:
    store = open_cluster()
    seq = _priv(store, "bob", BOB, "ana", ANA)
    store.converse(KEY, "bob", "bob", seq, 1.0, True)
    store.converse(KEY, "bob", "bob", seq, 1.0, True)  # (told twice: changes nothing)
    assert store.conversations(KEY, 5) == [Conversation("bob", "bob", seq, 1.0, 1)]
    assert [e.seq for e in store.talk(KEY, "bob", 5)[0]] == [seq]
    # Shown and marked (another session of the key fetched it) before it was recorded.
    later = _priv(store, "bob", BOB, "ana", ANA)
    store.mark(KEY, {"@bob": later})
    store.converse(KEY, "bob", "Bob", later, 2.0, True)
    assert store.conversations(KEY, 5) == [Conversation("bob", "Bob", later, 2.0, 0)]
    # An older message recorded late counts, and the conversation's last stays.
    older = _priv(store, "bob", BOB, "carol", stream_key("tok-c"))
    store.converse(KEY, "carol", "carol", older, 3.0, True)
    store.converse(KEY, "carol", "carol", older - 2, 0.5, True)
    assert store.conversations(KEY, 5)[0] == Conversation("carol", "carol", older, 3.0, 2)


def test_a_sessions_read_state_lasts_while_held_and_expires_with_its_binding(
        open_cluster: Any, raw: Any, prefix: str) -> None:
    store = open_cluster()

    def ttls(reader: str) -> dict[str, int]:
        return {kind: int(raw.ttl(f"{prefix}{kind}:{reader}")) for kind in READ_KINDS}

    assert store.bind(ANA, "ana", "") and store.hold("ana", ANA, "") == "claimed"
    for reader in (ANA, KEY):
        seq = _priv(store, "bob", BOB, "ana", ANA)
        store.converse(reader, "bob", "bob", seq, 1.0, True)
        store.mark(reader, {"#sala": seq})
    assert ttls(ANA) == ttls(KEY) == dict.fromkeys(READ_KINDS, -1)  # held; a key's lasts
    assert store.release("ana", ANA)  # her name given up: her binding starts to expire
    binding = int(raw.ttl(prefix + "tk:" + ANA))
    assert 0 < binding <= TOKEN_TTL
    assert all(0 < ttl <= binding for ttl in ttls(ANA).values()), ttls(ANA)
    store.mark(ANA, {"#cozinha": 1})  # (written meanwhile: expires with the binding too)
    assert 0 < ttls(ANA)["mk"] <= binding and ttls(KEY) == dict.fromkeys(READ_KINDS, -1)
    assert store.hold("ana", ANA, "") == "claimed"  # back: kept again
    assert ttls(ANA) == dict.fromkeys(READ_KINDS, -1)
    assert store.marks(ANA) == {"#sala": seq - 1, "#cozinha": 1}
    store.release("ana", ANA)
    store.unbind(ANA, retire=True)  # a LEAVE ends it; the key's stays
    assert ttls(ANA) == dict.fromkeys(READ_KINDS, -2)
    assert store.marks(KEY) == {"#sala": seq} and store.conversations(KEY, 5)


def test_the_retain_window_frees_conversations_their_pages_and_messages(
        open_cluster: Any, raw: Any, prefix: str) -> None:
    retain = 20
    store = open_cluster(retain)
    carol = stream_key("tok-c")
    said = [_talk(store, "ana", ANA, "bob", BOB, f"m{i}", (KEY, BOB)) for i in range(3)]
    store.mark(KEY, {"@bob": said[-1], "#sala": said[-1]})
    _talk(store, "ana", ANA, "carol", carol, "depois", (KEY, carol))
    store.add_many([StoredEvent(0, c.MSG, 1.0, "dave", "x") for _ in range(retain - 1)])
    # bob's conversation is out of the window (its last is), carol's is not yet.
    assert [t.peer for t in store.conversations(KEY, 5)] == ["carol"]
    assert store.talk(KEY, "bob", 10) == ([], False)
    assert [e.text for e in store.talk(KEY, "carol", 10)[0]] == ["depois"]
    assert store.marks(KEY) == {"#sala": said[-1]}  # (a conversation's mark goes with it)
    assert raw.zrange(prefix + "cv:" + KEY, 0, -1) == [b"carol"]
    assert raw.hkeys(prefix + "ci:" + KEY) == [b"carol"]
    assert raw.zcard(prefix + "tl:" + KEY) == 1 and raw.zcard(prefix + "cvt") == 2
    store.add_many([StoredEvent(0, c.MSG, 1.0, "dave", "x") for _ in range(2)])
    assert store.conversations(KEY, 5) == [] and store.conversations(BOB, 5) == []
    for kind in ("cv", "ci", "tl"):
        assert raw.exists(f"{prefix}{kind}:{KEY}") == 0, kind
    assert raw.zcard(prefix + "cvt") == 0
    assert raw.xlen(prefix + "dlog") == 0  # (the private messages' copies, by number)


def test_a_readers_marks_are_bounded(open_cluster: Any) -> None:
    store = open_cluster()
    store.mark(KEY, {f"#r{i}": i for i in range(MARKS_MOST)})
    store.mark(KEY, {"#r1": 9, "#nova": 5})  # (one more: it takes an arbitrary one's place)
    marks = store.marks(KEY)
    assert len(marks) == MARKS_MOST and marks["#nova"] == 5
    assert marks.get("#r1", 9) == 9


def test_a_long_conversation_keeps_only_its_messages_in_the_window(
        open_cluster: Any, raw: Any, prefix: str) -> None:
    store = open_cluster(10)
    said = [_talk(store, "ana", ANA, "bob", BOB, f"m{i}", (KEY, BOB)) for i in range(15)]
    page, more = store.talk(KEY, "bob", 100)
    assert [e.seq for e in page] == said[-10:] and not more
    assert store.conversations(KEY, 5) == [Conversation("bob", "bob", said[-1], 1.0, 0)]
    for reader in (KEY, BOB):  # (each side's pages: the window's messages, no more)
        assert raw.zcard(f"{prefix}tl:{reader}") == 10
