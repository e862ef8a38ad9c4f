"""The ReadState contract (broker/store.py) on the stores of one broker, MemoryStore and
SqliteStore: read marks, conversations, what a LEAVE and pruning take with them; then
the private conversation pages (`conversation`) and, for SQLite, that they are index
searches and that read state survives reopening the file."""

from pathlib import Path
from typing import Any

import pytest
from storeimpl import opener

from zchat.broker.sqlite_store import SqliteStore, _talk_query
from zchat.broker.store import Conversation, ReadState, StoredEvent, stream_key
from zchat.protocol import constants as c

ANA, BOB = stream_key("tok-a"), stream_key("tok-b")
KEY = "k:some-curve-key"


@pytest.fixture(params=["memory", "sqlite"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from opener(request.param, request, tmp_path)


@pytest.fixture
def store(open_store: Any) -> Any:
    return open_store()


def _priv(store: Any, sender: str, origin: str, to: str, to_key: str, text: str = "oi") -> int:
    return store.add(StoredEvent(0, c.PRIV, 1.0, sender, text, to, origin=origin,
                                 to_key=to_key)).seq


def test_every_local_store_keeps_read_state(store: Any) -> None:
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
    store.commit()
    store.prune(2)
    store.commit()
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
    store.commit()
    store.prune(4)
    store.commit()
    assert [e.text for e in store.talk(KEY, "bob", 10)[0]] == ["m2", "m3"]


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
