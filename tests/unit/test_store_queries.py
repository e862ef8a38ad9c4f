"""The history stores' reads that clients can ask for: their results on random
histories against a plain reference, and the SQLite plans that keep them searches.

A resend (``find``), a resume (``since``, with the cursors of the reader's rooms), a
room's history (``recent_room``, at each ENTER) and a page of it (``page``, a history
query, at any depth) are asked by clients, as often as their rate allows; a read that
walks the whole history would let any one client make the broker repeat that walk.
"""

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zchat.broker import sqlite_store
from zchat.broker.sqlite_store import SqliteStore
from zchat.broker.store import PUBLIC, HistoryStore, MemoryStore, StoredEvent
from zchat.protocol import constants as c

KEYS = ("k-ana", "k-bob", "k-carol")


def _plan(db: sqlite3.Connection, sql: str, params: object) -> str:
    return " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.fixture
def sqlite(tmp_path: Path):
    store = SqliteStore(tmp_path)
    yield store
    store.close()


def test_find_searches_the_index_by_origin_and_cid(sqlite):
    plan = _plan(sqlite._db, sqlite_store._FIND, ("k-ana", 7))
    # cid as the search's equality, not cid > 0 as a range filtered row by row.
    assert "USING COVERING INDEX events_origin (origin=? AND cid=?)" in plan \
        or "USING INDEX events_origin (origin=? AND cid=?)" in plan, plan


def test_since_reads_each_stream_from_its_own_cursor(sqlite):
    plan = _plan(sqlite._db, sqlite_store._SINCE,
                 {"pub": 5, "priv": 0, "key": "k-ana", "limit": 10})
    assert "SCAN" not in plan, plan
    assert "INTEGER PRIMARY KEY (rowid>?)" in plan, plan  # public: from its cursor on
    assert "events_priv_from (origin=? AND seq>?)" in plan, plan
    assert "events_priv_to (to_key=? AND seq>?)" in plan, plan


def test_since_reads_each_room_from_its_own_cursor(sqlite):
    params = {"pub": 5, "priv": 0, "key": "k-ana", "limit": 10,
              "r0": "#sala", "c0": 3, "r1": "#cozinha", "c1": 0}
    plan = _plan(sqlite._db, sqlite_store._since_rooms(2, True), params)
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan  # (merged, not sorted)
    assert "INTEGER PRIMARY KEY (rowid>?)" in plan, plan
    assert "events_priv_from (origin=? AND seq>?)" in plan, plan
    assert "events_priv_to (to_key=? AND seq>?)" in plan, plan
    assert plan.count("events_room (room=? AND seq>?)") == 2, plan
    # The further rooms' query (past ROOMS_PER_QUERY): the rooms' branches alone.
    plan = _plan(sqlite._db, sqlite_store._since_rooms(2, False),
                 {k: v for k, v in params.items() if k[0] in "rcl"})
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    assert plan.count("events_room (room=? AND seq>?)") == 2, plan


def test_recent_room_walks_back_over_that_rooms_messages(sqlite):
    plan = _plan(sqlite._db, sqlite_store._RECENT_ROOM, {"room": "#sala", "upto": 9, "count": 5})
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    assert "events_room_msg (room=? AND seq<?)" in plan, plan


@pytest.mark.parametrize("forwards", [False, True])
def test_page_searches_a_range_of_its_stream(sqlite, forwards):
    params = {"room": "#sala", "after": 3, "before": 99, "count": 6}
    # Another room's: a range of its room index.
    plan = _plan(sqlite._db, sqlite_store._page_query(True, forwards), params)
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    assert "events_room (room=? AND seq>? AND seq<?)" in plan, plan
    # The default room's: a range of the table (passing over rooms' and private rows).
    plan = _plan(sqlite._db, sqlite_store._page_query(False, forwards), params)
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan, plan


ROOMS = ("", "#a", "#b")


def _event(seq: int, kind: str, who: int, to: int, room: int, cid: int) -> StoredEvent:
    origin = KEYS[who]
    if kind == c.PRIV:
        return StoredEvent(seq, c.PRIV, 1000.0 + seq, "n", "t", "m", origin=origin, cid=cid,
                           to_key=KEYS[to])
    if kind == c.MSG:
        return StoredEvent(seq, c.MSG, 1000.0 + seq, "n", "t", origin=origin, cid=cid,
                           room=ROOMS[room])
    return StoredEvent(seq, kind, 1000.0 + seq, "n", room=ROOMS[room])


def _wanted(event: StoredEvent, pub: int, priv: int, key: str, rooms: dict[str, int]) -> bool:
    if event.kind == c.PRIV:
        return event.seq > priv and key in (event.origin, event.to_key)
    if event.room:
        return event.room in rooms and event.seq > rooms[event.room]
    return event.seq > pub


def _page(kept: list[StoredEvent], stream: str, limit: int, before: int | None,
          after: int | None) -> tuple[list[StoredEvent], bool]:
    """HistoryStore.page, plainly: the stream's events in the range, then a page of them."""
    room = "" if stream == PUBLIC else stream
    held = [e for e in kept if e.kind != c.PRIV and e.room == room
            and (after is None or e.seq > after) and (before is None or e.seq < before)]
    return (held[-limit:] if after is None else held[:limit]), len(held) > limit


events = st.lists(st.tuples(st.sampled_from([c.MSG, c.MSG, c.PRIV, c.JOINED, c.LEFT]),
                            st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
                  max_size=40)
bound = st.none() | st.integers(-1, 130)
pages = st.lists(st.tuples(st.sampled_from((PUBLIC, *ROOMS[1:], "#c")), st.integers(1, 50),
                           bound, bound), min_size=1, max_size=8)
cursors = st.dictionaries(st.sampled_from((*ROOMS[1:], "#c")), st.integers(0, 45))
reads = st.lists(st.tuples(st.integers(0, 45), st.integers(0, 45), st.integers(0, 2),
                           st.integers(1, 50), cursors), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events, reads=reads, pages=pages, retain=st.integers(1, 50),
       gaps=st.integers(1, 3))
def test_both_stores_read_what_a_plain_filter_reads(events, reads, pages, retain, gaps):
    # Each message's cid is its own: the broker stores a (origin, cid) pair once.
    history = [_event(i * gaps, *spec, cid=i) for i, spec in enumerate(events, start=1)]
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[HistoryStore] = [MemoryStore(), SqliteStore(Path(tmp))]
        try:
            for store in stores:
                for event in history:
                    store.append(event)
                store.commit()
            for pruned in (False, True):
                if pruned:
                    for store in stores:
                        store.prune(retain)
                    kept = history[-retain:]
                else:
                    kept = history
                for pub, priv, who, limit, rooms in reads:
                    key = KEYS[who]
                    expected = [e for e in kept if _wanted(e, pub, priv, key, rooms)][:limit]
                    for store in stores:
                        assert store.since(pub, priv, key, limit, rooms=rooms) == expected, \
                            store
                    if not rooms:
                        continue
                    room, upto = next(iter(rooms.items()))
                    said = [e for e in kept if e.room == room and e.kind == c.MSG]
                    expected = [e for e in said if e.seq <= upto][-limit:]
                    for store in stores:
                        assert store.recent_room(room, limit, upto) == expected, store
                        assert store.recent_room(room, limit) == said[-limit:], store
                for stream, limit, before, after in pages:
                    expected_page = _page(kept, stream, limit, before, after)
                    for store in stores:
                        assert store.page(stream, limit, before=before, after=after) == \
                            expected_page, store
                for event in history:
                    if event.kind in (c.MSG, c.PRIV):
                        expected_find = event if event in kept else None
                        for store in stores:
                            assert store.find(event.origin, event.cid) == expected_find, store
        finally:
            for store in stores:
                store.close()
