"""The RoomState contract (broker/store.py), run against every implementation:
MemoryStore, SqliteStore, RedisCluster on a real redis-server, and the core's
FakeCluster. Then what only SQLite does (rooms survive reopening its file, and a
file written before rooms existed opens and keeps working) and what only Redis
does (memberships expire with the token binding they are kept with).
"""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from storeimpl import STORES, opener

from zchat.broker.sqlite_store import DB_NAME, SqliteStore
from zchat.broker.store import PUBLIC, RoomState, StoredEvent, stream_key
from zchat.protocol import constants as c

ANA, BOB = stream_key("tok-a"), stream_key("tok-b")
SALA, COZINHA = "#sala", "#cozinha"


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from opener(request.param, request, tmp_path)


@pytest.fixture
def store(open_store: Any) -> Any:
    return open_store()


@pytest.fixture(params=["memory", "sqlite"])
def open_local_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The stores of one broker (they prune bindings with history; a cluster's expire)."""
    yield from opener(request.param, request, tmp_path)


def test_every_store_is_a_room_state(store: Any) -> None:
    assert isinstance(store, RoomState)


def test_a_session_is_in_no_room_at_first(store: Any) -> None:
    assert store.rooms_of(ANA) == {}


def test_enter_and_part_change_one_sessions_rooms(store: Any) -> None:
    store.enter(ANA, SALA, "#Sala")
    store.enter(ANA, COZINHA, "#cozinha")
    store.enter(BOB, SALA, "#SALA")
    assert store.rooms_of(ANA) == {SALA: "#Sala", COZINHA: "#cozinha"}
    assert store.rooms_of(BOB) == {SALA: "#SALA"}
    store.enter(ANA, SALA, "#sAlA")  # already in: nothing changes
    assert store.rooms_of(ANA) == {SALA: "#Sala", COZINHA: "#cozinha"}
    store.part(ANA, SALA)
    assert store.rooms_of(ANA) == {COZINHA: "#cozinha"}
    assert store.rooms_of(BOB) == {SALA: "#SALA"}
    store.part(ANA, SALA)  # not in: nothing to do
    store.part(stream_key("tok-x"), SALA)
    store.part(ANA, COZINHA)
    assert store.rooms_of(ANA) == {}
    store.enter(ANA, SALA, "#sala")  # in again, as shown now
    assert store.rooms_of(ANA) == {SALA: "#sala"}


def test_rooms_of_is_a_copy(store: Any) -> None:
    store.enter(ANA, SALA, "#sala")
    store.rooms_of(ANA).clear()
    assert store.rooms_of(ANA) == {SALA: "#sala"}


def test_part_all_ends_every_membership_of_the_session(store: Any) -> None:
    for room in (SALA, COZINHA, "#geral"):
        store.enter(ANA, room, room)
    store.enter(BOB, SALA, SALA)
    store.part_all(ANA)
    assert store.rooms_of(ANA) == {}
    assert store.rooms_of(BOB) == {SALA: SALA}
    store.part_all(ANA)


def test_topics_are_set_replaced_and_cleared(store: Any) -> None:
    assert store.topic(SALA) == ""
    store.set_topic(SALA, "olá 😀")
    store.set_topic(COZINHA, "jantar")
    assert (store.topic(SALA), store.topic(COZINHA)) == ("olá 😀", "jantar")
    store.set_topic(SALA, "outro")
    assert store.topic(SALA) == "outro"
    store.set_topic(SALA, "")
    assert (store.topic(SALA), store.topic(COZINHA)) == ("", "jantar")
    store.set_topic("#nada", "")


def test_memberships_last_across_reconnects_and_a_leave_ends_them(store: Any) -> None:
    assert store.bind(ANA, "ana", "")
    store.enter(ANA, SALA, "#Sala")
    store.unbind(ANA, retire=False)  # gone without LEAVE: may resume
    assert store.rooms_of(ANA) == {SALA: "#Sala"}
    assert store.bind(ANA, "ana", "")
    assert store.rooms_of(ANA) == {SALA: "#Sala"}
    store.enter(BOB, SALA, "#Sala")
    store.unbind(ANA, retire=True)  # LEAVE
    assert store.rooms_of(ANA) == {}
    assert store.rooms_of(BOB) == {SALA: "#Sala"}


def test_memberships_go_with_a_binding_pruned_with_history(open_local_store: Any) -> None:
    store = open_local_store(retain=10)
    assert store.bind(ANA, "ana", "") and store.bind(BOB, "bob", "")
    store.enter(ANA, SALA, "#sala")
    store.enter(BOB, SALA, "#sala")
    store.set_topic(SALA, "fica")
    store.add(StoredEvent(0, c.MSG, 1.0, "ana", "oi", origin=ANA, room=SALA))
    store.unbind(ANA, retire=False)  # ended, not retired: until history passes it
    store.add_many([StoredEvent(0, c.MSG, 2.0, "bob", "x", origin=BOB, room=SALA)
                    for _ in range(30)])
    store.commit()
    assert store.pruned_upto() > 1
    assert store.rooms_of(ANA) == {}  # its binding went, and its rooms with it
    assert store.bind(ANA, "ana", "")  # (a fresh stream, as a fresh token's)
    assert store.rooms_of(BOB) == {SALA: "#sala"}  # in use: kept
    assert store.topic(SALA) == "fica"


# ---- SQLite: rooms in the file ---------------------------------------------------------


def _room_msg(name: str, origin: str, room: str, cid: int) -> StoredEvent:
    return StoredEvent(0, c.MSG, 1000.0, name, f"{name} in {room}", origin=origin, cid=cid,
                       room=room)


def test_rooms_survive_reopening_the_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        assert store.bind(ANA, "ana", "") and store.bind(BOB, "bob", "")
        store.enter(ANA, SALA, "#Sala")
        store.enter(ANA, COZINHA, "#cozinha")
        store.enter(BOB, SALA, "#Sala")
        store.set_topic(SALA, "olá")
        made = [_room_msg("ana", ANA, SALA, 1), StoredEvent(0, c.JOINED, 1.0, "bob"),
                _room_msg("bob", BOB, COZINHA, 1), _room_msg("bob", BOB, SALA, 2)]
        store.add_many(made)
        store.unbind(BOB, retire=True)
        store.commit()
    finally:
        store.close()
    again = SqliteStore(tmp_path)
    try:
        assert again.rooms_of(ANA) == {SALA: "#Sala", COZINHA: "#cozinha"}
        assert again.rooms_of(BOB) == {}
        assert again.topic(SALA) == "olá" and again.topic(COZINHA) == ""
        assert (again.head(SALA), again.head(COZINHA), again.head(PUBLIC)) == (4, 3, 2)
        assert again.since(0, 0, ANA, 100, rooms={SALA: 0, COZINHA: 0}) == made
        assert again.recent_room(SALA, 10) == [made[0], made[3]]
        assert again.recent_public(10) == []  # (room messages are not the default room's)
        nxt = again.add(_room_msg("ana", ANA, SALA, 3))
        assert nxt.prev == 4
    finally:
        again.close()


#: What the history file held before rooms (the schema of the code before this one,
#: as it wrote its files: what a broker upgraded in place finds).
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE heads (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE owners (name_key TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE prunes (upto INTEGER PRIMARY KEY, events INTEGER NOT NULL);
CREATE TABLE tokens (
    stream TEXT PRIMARY KEY,
    name_key TEXT NOT NULL,
    user TEXT NOT NULL,
    retired INTEGER NOT NULL,
    until INTEGER NOT NULL
);
CREATE INDEX tokens_until ON tokens (until);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ts REAL NOT NULL,
    name TEXT NOT NULL,
    text TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    origin TEXT NOT NULL,
    cid INTEGER NOT NULL,
    prev INTEGER NOT NULL,
    to_key TEXT NOT NULL,
    prev_to INTEGER NOT NULL
);
CREATE INDEX events_origin ON events (origin, cid) WHERE cid > 0;
CREATE INDEX events_priv_from ON events (origin, seq) WHERE kind = 'PRIV';
CREATE INDEX events_priv_to ON events (to_key, seq) WHERE kind = 'PRIV';
"""


def test_a_file_from_before_rooms_opens_and_keeps_working(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DB_NAME)
    with db:
        db.executescript(OLD_SCHEMA)
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                       [("epoch", "0123456789abcdef"), ("reserved", "10002")])
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (1, c.JOINED, 999.0, "ana", "", "", "", "", 0, 0, "", 0),
            (2, c.MSG, 1000.0, "ana", "antes", "", "", ANA, 1, 1, "", 0),
            (3, c.PRIV, 1001.0, "ana", "psst", "bob", "", ANA, 2, 0, BOB, 0)])
        db.executemany("INSERT INTO heads (key, seq) VALUES (?, ?)",
                       [(PUBLIC, 2), (ANA, 3), (BOB, 3)])
        db.execute("INSERT INTO tokens VALUES (?, 'ana', '', 0, 3)", (ANA,))
    db.close()
    store = SqliteStore(tmp_path)
    try:
        assert store.epoch == "0123456789abcdef"
        old = store.since(0, 0, BOB, 100)
        assert [(e.seq, e.room) for e in old] == [(1, ""), (2, ""), (3, "")]
        assert [e.text for e in store.recent_public(10)] == ["antes"]
        assert store.find(ANA, 1) == old[1]
        assert store.bind(ANA, "ana", "")
        store.enter(ANA, SALA, "#sala")
        store.set_topic(SALA, "novo")
        room = store.add(_room_msg("ana", ANA, SALA, 3))
        public = store.add(StoredEvent(0, c.MSG, 1002.0, "ana", "depois", origin=ANA, cid=4))
        assert (room.prev, public.prev) == (0, 2)
        store.commit()
    finally:
        store.close()
    again = SqliteStore(tmp_path)
    try:
        assert [e.seq for e in again.since(0, 0, BOB, 100, rooms={SALA: 0})] == \
            [1, 2, 3, room.seq, public.seq]
        assert again.recent_room(SALA, 10) == [room]
        assert [e.text for e in again.recent_public(10)] == ["antes", "depois"]
        assert again.rooms_of(ANA) == {SALA: "#sala"} and again.topic(SALA) == "novo"
    finally:
        again.close()
