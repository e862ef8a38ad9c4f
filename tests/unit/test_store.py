"""broker/store.py and broker/sqlite_store.py: one contract, both history stores.

Every test in the first part runs against MemoryStore and SqliteStore (the ``store``
and ``open_store`` fixtures are parametrized over the two); the second part checks
what only a store on disk can do: survive a reopen and a crash, and refuse to be shared.
"""

import re
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zchat.broker.sqlite_store import DB_NAME, SqliteStore
from zchat.broker.store import PUBLIC, HistoryStore, MemoryStore, StoredEvent, StoreError
from zchat.protocol import Joined, Left, Msg, Priv
from zchat.protocol import constants as c

Opener = Callable[..., HistoryStore]


@pytest.fixture(params=["memory", "sqlite"])
def open_store(request, tmp_path) -> Iterator[Opener]:
    """Open a store of the parametrized kind (SqliteStore on one data dir in tmp_path)."""
    opened: list[HistoryStore] = []

    def opener(**kwargs) -> HistoryStore:
        if request.param == "memory":
            store: HistoryStore = MemoryStore(**kwargs)
        else:
            store = SqliteStore(tmp_path / "data", **kwargs)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store) -> HistoryStore:
    return open_store()


def _msg(seq: int, name: str = "ana", text: str = "", prev: int = 0, origin: str = "",
         cid: int = 0, ts: float = 1000.0) -> StoredEvent:
    return StoredEvent(seq, c.MSG, ts + seq, name, text or f"m{seq}", origin=origin, cid=cid,
                       prev=prev)


def _priv(seq: int, name: str, to: str, prev: int = 0, prev_to: int = 0, origin: str = "",
          cid: int = 0) -> StoredEvent:
    return StoredEvent(seq, c.PRIV, 1000.0 + seq, name, f"p{seq}", to, origin=origin, cid=cid,
                       prev=prev, prev_to=prev_to)


def _joined(seq: int, name: str, prev: int = 0) -> StoredEvent:
    return StoredEvent(seq, c.JOINED, 1000.0 + seq, name, prev=prev)


def _left(seq: int, name: str, prev: int = 0) -> StoredEvent:
    return StoredEvent(seq, c.LEFT, 1000.0 + seq, name, reason=c.R_TIMEOUT, prev=prev)


#: A small history as the broker would write it: public 1 2 3 5 7 9, private 4 6 8 10.
HISTORY = [
    _joined(1, "Ana"),
    _joined(2, "Bob", prev=1),
    _msg(3, "Ana", "olá 😀", prev=2, origin="tok-a", cid=1),
    _priv(4, "Ana", "Bob", origin="tok-a", cid=2),
    _msg(5, "Bob", prev=3, origin="tok-b", cid=1),
    _priv(6, "Bob", "carol", prev=4),           # carol is not online; bob's chain: 4
    _joined(7, "carol", prev=5),
    _priv(8, "carol", "ANA", prev=6, prev_to=4),
    _left(9, "Bob", prev=7),
    _priv(10, "ana", "ana", prev=8, prev_to=8, origin="tok-a", cid=3),
]


def _fill(store: HistoryStore, events=HISTORY) -> None:
    for event in events:
        store.append(event)


def _seqs(events) -> list[int]:
    return [e.seq for e in events]


# ---- the contract --------------------------------------------------------------------

def test_a_new_store_is_empty(store):
    assert store.last_seq() == 0
    assert store.head(PUBLIC) == 0
    assert store.head("ana") == 0
    assert store.pruned_upto() == 0
    assert store.since(0, 0, "ana", 10) == []
    assert store.recent_public(5) == []
    assert store.find("tok-a", 1) is None
    assert isinstance(store.epoch, str) and len(store.epoch) >= 8


def test_append_moves_last_seq_and_heads(store):
    store.append(HISTORY[0])
    assert (store.last_seq(), store.head(PUBLIC)) == (1, 1)
    store.append(HISTORY[3 - 1])
    assert (store.last_seq(), store.head(PUBLIC)) == (3, 3)
    store.append(HISTORY[4 - 1])  # PRIV Ana -> Bob: both private heads, not the public one
    assert (store.last_seq(), store.head(PUBLIC)) == (4, 3)
    assert (store.head("ana"), store.head("bob"), store.head("carol")) == (4, 4, 0)


def test_heads_of_the_whole_history(store):
    _fill(store)
    assert store.last_seq() == 10
    assert store.head(PUBLIC) == 9
    assert store.head("ana") == 10
    assert store.head("bob") == 6
    assert store.head("carol") == 8
    assert store.head("dave") == 0


def test_heads_are_keyed_by_name_key(store):
    store.append(_priv(1, "ÁNA", "Straße"))
    assert store.head("ána") == 1
    assert store.head("strasse") == 1


def test_reads_see_appended_events_before_commit(store):
    _fill(store, HISTORY[:3])
    assert _seqs(store.since(0, 0, "ana", 10)) == [1, 2, 3]
    assert store.find("tok-a", 1) == 3
    assert _seqs(store.recent_public(5)) == [3]
    store.commit()
    assert _seqs(store.since(0, 0, "ana", 10)) == [1, 2, 3]


def test_find_by_origin_and_cid(store):
    _fill(store)
    assert store.find("tok-a", 1) == 3
    assert store.find("tok-a", 2) == 4
    assert store.find("tok-a", 3) == 10
    assert store.find("tok-b", 1) == 5
    assert store.find("tok-b", 2) is None
    assert store.find("tok-c", 1) is None
    assert store.find("", 0) is None  # events without a cid are never found


def test_since_merges_public_and_the_readers_private_events(store):
    _fill(store)
    assert store.since(0, 0, "ana", 100) == [HISTORY[i - 1] for i in (1, 2, 3, 4, 5, 7, 8, 9, 10)]
    assert _seqs(store.since(0, 0, "bob", 100)) == [1, 2, 3, 4, 5, 6, 7, 9]
    assert _seqs(store.since(0, 0, "carol", 100)) == [1, 2, 3, 5, 6, 7, 8, 9]
    assert _seqs(store.since(0, 0, "dave", 100)) == [1, 2, 3, 5, 7, 9]


def test_since_honours_each_cursor(store):
    _fill(store)
    assert _seqs(store.since(5, 0, "ana", 100)) == [4, 7, 8, 9, 10]
    assert _seqs(store.since(0, 8, "ana", 100)) == [1, 2, 3, 5, 7, 9, 10]
    assert _seqs(store.since(7, 4, "ana", 100)) == [8, 9, 10]
    assert _seqs(store.since(9, 10, "ana", 100)) == []
    assert _seqs(store.since(100, 100, "ana", 100)) == []


def test_since_stops_at_limit(store):
    _fill(store)
    assert _seqs(store.since(0, 0, "ana", 3)) == [1, 2, 3]
    assert _seqs(store.since(3, 0, "ana", 2)) == [4, 5]
    assert _seqs(store.since(0, 0, "ana", 1)) == [1]
    assert _seqs(store.since(0, 0, "ana", 9)) == [1, 2, 3, 4, 5, 7, 8, 9, 10]


def test_stored_events_read_back_equal_and_rebuild_protocol_events(store):
    _fill(store)
    assert store.since(0, 0, "carol", 100) == [HISTORY[i - 1] for i in (1, 2, 3, 5, 6, 7, 8, 9)]
    by_seq = {e.seq: e for e in store.since(0, 0, "ana", 100)}
    assert by_seq[3].for_reader("ana") == Msg("Ana", "olá 😀", 1003.0, 3, 2)
    assert by_seq[7].for_reader("ana") == Joined("carol", 1007.0, 7, 5)
    assert by_seq[9].for_reader("ana") == Left("Bob", c.R_TIMEOUT, 1009.0, 9, 7)
    # A PRIV names the previous event of the chain of whoever reads it.
    assert by_seq[8].for_reader("ana") == Priv("carol", "ANA", "p8", 1008.0, 8, 4)
    assert by_seq[8].for_reader("carol") == Priv("carol", "ANA", "p8", 1008.0, 8, 6)


def test_recent_public_returns_only_messages_in_order(store):
    _fill(store)
    assert store.recent_public(10) == [HISTORY[2], HISTORY[4]]
    assert _seqs(store.recent_public(1)) == [5]
    assert store.recent_public(0) == []
    _fill(store, [_msg(11, prev=9), _priv(12, "ana", "bob"), _msg(13, prev=11)])
    assert _seqs(store.recent_public(3)) == [5, 11, 13]
    assert _seqs(store.recent_public(2)) == [11, 13]


def test_prune_removes_old_events(store):
    _fill(store)
    store.prune(4)
    assert store.pruned_upto() == 6
    assert _seqs(store.since(0, 0, "ana", 100)) == [7, 8, 9, 10]
    assert _seqs(store.since(0, 0, "bob", 100)) == [7, 9]
    assert store.recent_public(10) == []
    assert store.find("tok-a", 1) is None  # pruned: a resend would be stored again
    assert store.find("tok-a", 3) == 10
    # Numbering and heads do not move back.
    assert (store.last_seq(), store.head(PUBLIC), store.head("bob")) == (10, 9, 6)


def test_prune_never_moves_back_and_can_empty_the_history(store):
    _fill(store)
    store.prune(4)
    store.prune(8)  # keeps more than is left: nothing happens
    assert store.pruned_upto() == 6
    store.prune(100)
    assert store.pruned_upto() == 6
    store.prune(0)
    assert store.pruned_upto() == 10
    assert store.since(0, 0, "ana", 100) == []
    assert store.last_seq() == 10


def test_prune_then_append(store):
    _fill(store)
    store.prune(2)
    store.append(_msg(11, prev=9))
    store.commit()
    assert _seqs(store.since(0, 0, "ana", 100)) == [9, 10, 11]


def test_commit_prunes_past_the_retain_bound(open_store):
    store = open_store(retain=10)
    _fill(store)
    store.append(_msg(11, prev=9))
    store.commit()  # 11 events are within 10 * 1.1
    assert store.pruned_upto() == 0
    store.append(_msg(12, prev=11))
    store.commit()
    assert store.pruned_upto() == 2
    assert _seqs(store.since(0, 0, "dave", 100)) == [3, 5, 7, 9, 11, 12]


def test_commit_with_nothing_pending_is_harmless(store):
    store.commit()
    store.commit()
    _fill(store, HISTORY[:2])
    store.commit()
    store.commit()
    assert store.last_seq() == 2


# ---- SqliteStore: on disk ------------------------------------------------------------

def test_sqlite_reopen_after_commit_sees_everything(tmp_path):
    data = tmp_path / "data"
    store = SqliteStore(data)
    epoch = store.epoch
    _fill(store)
    store.prune(6)
    store.commit()
    store.close()
    again = SqliteStore(data)
    try:
        assert again.epoch == epoch
        assert again.last_seq() == 10
        assert [again.head(k) for k in (PUBLIC, "ana", "bob", "carol")] == [9, 10, 6, 8]
        assert again.pruned_upto() == 4
        assert again.since(0, 0, "ana", 100) == [HISTORY[i - 1] for i in (5, 7, 8, 9, 10)]
        assert again.find("tok-a", 3) == 10
        assert again.find("tok-a", 1) is None
    finally:
        again.close()


def test_sqlite_numbering_survives_pruning_everything(tmp_path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.prune(0)
    store.close()
    again = SqliteStore(tmp_path)
    try:
        assert (again.last_seq(), again.pruned_upto()) == (10, 10)
        assert again.since(0, 0, "ana", 100) == []
    finally:
        again.close()


def test_sqlite_new_data_dir_gets_a_new_epoch(tmp_path):
    one, two = SqliteStore(tmp_path / "one"), SqliteStore(tmp_path / "nested" / "two")
    try:
        assert one.epoch != two.epoch
        assert (tmp_path / "nested" / "two" / DB_NAME).is_file()
    finally:
        one.close()
        two.close()


_CRASH = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from zchat.broker.sqlite_store import SqliteStore
    from zchat.broker.store import StoredEvent
    store = SqliteStore(Path(sys.argv[1]))
    print(store.epoch)
    store.append(StoredEvent(1, "JOINED", 1.0, "ana"))
    store.append(StoredEvent(2, "MSG", 2.0, "ana", "kept", origin="t", cid=1, prev=1))
    store.commit()
    store.append(StoredEvent(3, "MSG", 3.0, "ana", "lost", origin="t", cid=2, prev=2))
    store.append(StoredEvent(4, "PRIV", 4.0, "ana", "lost", "bob", prev=0))
    sys.stdout.flush()
    os._exit(0)  # a crash: no commit, no close
""")


def test_sqlite_uncommitted_events_are_gone_after_a_crash(tmp_path):
    result = subprocess.run([sys.executable, "-c", _CRASH, str(tmp_path)], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    store = SqliteStore(tmp_path)  # the lock died with the process
    try:
        assert store.epoch == result.stdout.strip()
        assert store.last_seq() == 2
        assert (store.head(PUBLIC), store.head("ana"), store.head("bob")) == (2, 0, 0)
        assert _seqs(store.since(0, 0, "bob", 100)) == [1, 2]
        assert store.find("t", 1) == 2
        assert store.find("t", 2) is None
        store.append(_msg(3, prev=2))  # the lost number is given out again, consistently
        store.commit()
        assert _seqs(store.since(0, 0, "bob", 100)) == [1, 2, 3]
    finally:
        store.close()


def test_sqlite_second_store_on_the_same_dir_is_refused(tmp_path):
    store = SqliteStore(tmp_path)
    try:
        with pytest.raises(StoreError, match="in use by another broker"):
            SqliteStore(tmp_path)
        _fill(store, HISTORY[:1])  # the first one is unharmed
        store.commit()
    finally:
        store.close()
    SqliteStore(tmp_path).close()  # closing released the lock


def test_sqlite_garbage_database_is_a_clear_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not an SQLite database, just text\n" * 50)
    with pytest.raises(StoreError) as info:
        SqliteStore(tmp_path)
    message = str(info.value)
    assert "unusable" in message
    assert str(tmp_path / DB_NAME) in message
    assert "not a database" in message
    # The lock was released: once the file is dealt with, the directory can be used.
    (tmp_path / DB_NAME).unlink()
    SqliteStore(tmp_path).close()


def test_sqlite_data_dir_that_is_a_file_is_a_clear_error(tmp_path):
    path = tmp_path / "data"
    path.write_text("not a directory")
    with pytest.raises(StoreError, match=re.escape(f"cannot use data directory {path}")):
        SqliteStore(path)


def test_sqlite_data_dir_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot use data directory"):
        SqliteStore(tmp_path / "file" / "data")


def test_sqlite_unknown_event_kind_is_a_store_error(tmp_path):
    store = SqliteStore(tmp_path)
    _fill(store, HISTORY[:2])
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    with db:
        db.execute("UPDATE events SET kind = 'BOGUS' WHERE seq = 2")
    db.close()
    store = SqliteStore(tmp_path)
    try:
        with pytest.raises(StoreError, match="unknown event kind 'BOGUS' at seq 2"):
            store.since(0, 0, "ana", 10)
    finally:
        store.close()


def test_close_commits(tmp_path: Path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.close()
    again = SqliteStore(tmp_path)
    try:
        assert again.last_seq() == 10
        assert again.head(PUBLIC) == 9
    finally:
        again.close()
