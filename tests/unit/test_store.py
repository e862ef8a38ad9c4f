"""broker/store.py and broker/sqlite_store.py: one contract, both history stores.

Every test in the first part runs against MemoryStore and SqliteStore (the ``store``
and ``open_store`` fixtures are parametrized over the two); the second part checks
what only a store on disk can do: survive a reopen and a crash without giving a sequence
number twice, and refuse to be shared.
"""

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zchat.broker import sqlite_store
from zchat.broker.sqlite_store import DB_NAME, RESERVE, SqliteStore
from zchat.broker.store import (
    PUBLIC,
    HistoryStore,
    MemoryStore,
    StoredEvent,
    StoreError,
    over_bound,
    stream_key,
)
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


def _priv(seq: int, name: str, to: str, origin: str, to_key: str, prev: int = 0,
          prev_to: int = 0, cid: int = 0) -> StoredEvent:
    return StoredEvent(seq, c.PRIV, 1000.0 + seq, name, f"p{seq}", to, origin=origin, cid=cid,
                       prev=prev, to_key=to_key, prev_to=prev_to)


def _joined(seq: int, name: str, prev: int = 0) -> StoredEvent:
    return StoredEvent(seq, c.JOINED, 1000.0 + seq, name, prev=prev)


def _left(seq: int, name: str, prev: int = 0) -> StoredEvent:
    return StoredEvent(seq, c.LEFT, 1000.0 + seq, name, reason=c.R_TIMEOUT, prev=prev)


#: The private streams (and duplicate-check origins) of the sessions in HISTORY: each is
#: the stream key of that session's token, never the token itself nor the name.
ANA, BOB, CAROL, DAVE = (stream_key(t) for t in ("tok-a", "tok-b", "tok-c", "tok-d"))

#: A small history as the broker would write it: public 1 2 3 5 7 9, private 4 6 8 10.
HISTORY = [
    _joined(1, "Ana"),
    _joined(2, "Bob", prev=1),
    _msg(3, "Ana", "olá 😀", prev=2, origin=ANA, cid=1),
    _priv(4, "Ana", "Bob", ANA, BOB, cid=2),
    _msg(5, "Bob", prev=3, origin=BOB, cid=1),
    _priv(6, "Bob", "carol", BOB, CAROL, prev=4),   # carol is not online yet; bob's chain: 4
    _joined(7, "carol", prev=5),
    _priv(8, "carol", "ANA", CAROL, ANA, prev=6, prev_to=4),
    _left(9, "Bob", prev=7),
    _priv(10, "ana", "ana", ANA, ANA, prev=8, prev_to=8, cid=3),
]


def _fill(store: HistoryStore, events=HISTORY) -> None:
    for event in events:
        store.append(event)


def _seqs(events) -> list[int]:
    return [e.seq for e in events]


def _reservation(directory: Path) -> int:
    """The reservation as it is on disk, read by another connection: what survives."""
    db = sqlite3.connect(directory / DB_NAME)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'reserved'").fetchone()
    finally:
        db.close()
    assert row is not None, "no reservation on disk"
    return int(row[0])


# ---- stream keys and stored events ------------------------------------------------------

def test_stream_key_is_a_digest_of_the_token():
    key = stream_key("tok-a")
    assert re.fullmatch(r"t:[0-9a-f]{32}", key)
    assert key == "t:" + hashlib.sha256(b"tok-a").hexdigest()[:32]
    assert stream_key("tok-a") == key  # the same session token: the same stream
    assert "tok-a" not in key  # the token itself is never stored
    assert len({ANA, BOB, CAROL, DAVE, stream_key("tok-A"), stream_key("")}) == 6
    assert key != PUBLIC


def test_stored_event_keys_are_the_public_head_or_both_sessions_streams():
    by_seq = {e.seq: e for e in HISTORY}
    for seq in (1, 2, 3, 5, 7, 9):
        assert by_seq[seq].keys() == (PUBLIC,)
    assert by_seq[4].keys() == (ANA, BOB)
    assert by_seq[6].keys() == (BOB, CAROL)
    assert by_seq[8].keys() == (CAROL, ANA)
    assert by_seq[10].keys() == (ANA, ANA)  # to oneself: one stream


def test_stored_private_event_is_rebuilt_for_each_readers_stream():
    event = _priv(8, "carol", "ANA", CAROL, ANA, prev=6, prev_to=4)
    assert event.for_reader(CAROL) == Priv("carol", "ANA", "p8", 1008.0, 8, 6)
    assert event.for_reader(ANA) == Priv("carol", "ANA", "p8", 1008.0, 8, 4)
    # The reader is its stream key, not its name.
    assert event.for_reader("ana") == Priv("carol", "ANA", "p8", 1008.0, 8, 6)
    note = _priv(10, "ana", "ana", ANA, ANA, prev=8, prev_to=8)
    assert note.for_reader(ANA) == Priv("ana", "ana", "p10", 1010.0, 10, 8)


# ---- the contract --------------------------------------------------------------------

def test_a_new_store_is_empty(store):
    assert store.last_seq() == 0
    assert store.head(PUBLIC) == 0
    assert store.head(ANA) == 0
    assert store.pruned_upto() == 0
    assert store.since(0, 0, ANA, 10) == []
    assert store.recent_public(5) == []
    assert store.find(ANA, 1) is None
    assert isinstance(store.epoch, str) and len(store.epoch) >= 8


def test_append_moves_last_seq_and_heads(store):
    store.append(HISTORY[0])
    assert (store.last_seq(), store.head(PUBLIC)) == (1, 1)
    store.append(HISTORY[3 - 1])
    assert (store.last_seq(), store.head(PUBLIC)) == (3, 3)
    store.append(HISTORY[4 - 1])  # PRIV Ana -> Bob: both private heads, not the public one
    assert (store.last_seq(), store.head(PUBLIC)) == (4, 3)
    assert (store.head(ANA), store.head(BOB), store.head(CAROL)) == (4, 4, 0)


def test_heads_of_the_whole_history(store):
    _fill(store)
    assert store.last_seq() == 10
    assert store.head(PUBLIC) == 9
    assert store.head(ANA) == 10
    assert store.head(BOB) == 6
    assert store.head(CAROL) == 8
    assert store.head(DAVE) == 0
    # Private heads are the sessions' streams: neither names nor raw tokens have one.
    assert [store.head(k) for k in ("ana", "Ana", "bob", "carol", "tok-a")] == [0] * 5


def test_heads_are_keyed_by_stream_key_not_by_name(store):
    one, two = stream_key("tok-1"), stream_key("tok-2")
    store.append(_priv(1, "ÁNA", "Straße", one, two))
    assert (store.head(one), store.head(two)) == (1, 1)
    for other in ("ÁNA", "ána", "Straße", "strasse", "tok-1", "tok-2", stream_key("tok-3")):
        assert store.head(other) == 0, other
    assert store.head(PUBLIC) == 0


def test_reads_see_appended_events_before_commit(store):
    _fill(store, HISTORY[:3])
    assert _seqs(store.since(0, 0, ANA, 10)) == [1, 2, 3]
    assert store.find(ANA, 1) == HISTORY[2]
    assert _seqs(store.recent_public(5)) == [3]
    store.commit()
    assert _seqs(store.since(0, 0, ANA, 10)) == [1, 2, 3]
    assert store.find(ANA, 1) == HISTORY[2]


def test_find_by_origin_and_cid_returns_the_stored_event(store):
    _fill(store)
    assert store.find(ANA, 1) == HISTORY[2]
    assert store.find(ANA, 2) == HISTORY[3]
    assert store.find(ANA, 3) == HISTORY[9]
    assert store.find(BOB, 1) == HISTORY[4]
    assert store.find(BOB, 2) is None
    assert store.find(CAROL, 1) is None
    assert store.find("", 0) is None  # events without a cid are never found
    assert store.find("tok-a", 1) is None  # the origin is the stream key, not the token
    # What a duplicate is acknowledged with: its own seq and public prev, whatever came since.
    found = store.find(BOB, 1)
    assert (found.seq, found.kind, found.prev) == (5, c.MSG, 3)
    assert store.head(PUBLIC) == 9
    found = store.find(ANA, 2)
    assert (found.seq, found.kind, found.origin, found.to_key) == (4, c.PRIV, ANA, BOB)


def test_since_merges_public_and_the_readers_private_events(store):
    _fill(store)
    assert store.since(0, 0, ANA, 100) == [HISTORY[i - 1] for i in (1, 2, 3, 4, 5, 7, 8, 9, 10)]
    assert _seqs(store.since(0, 0, BOB, 100)) == [1, 2, 3, 4, 5, 6, 7, 9]
    assert _seqs(store.since(0, 0, CAROL, 100)) == [1, 2, 3, 5, 6, 7, 8, 9]
    assert _seqs(store.since(0, 0, DAVE, 100)) == [1, 2, 3, 5, 7, 9]


def test_since_gives_private_events_only_to_their_sessions_streams(store):
    _fill(store)
    public = [1, 2, 3, 5, 7, 9]
    # A reader named like a sender or target, but under another session, sees none.
    for reader in ("ana", "ANA", "bob", "carol", "tok-a", stream_key("tok-a2")):
        assert _seqs(store.since(0, 0, reader, 100)) == public, reader


def test_since_honours_each_cursor(store):
    _fill(store)
    assert _seqs(store.since(5, 0, ANA, 100)) == [4, 7, 8, 9, 10]
    assert _seqs(store.since(0, 8, ANA, 100)) == [1, 2, 3, 5, 7, 9, 10]
    assert _seqs(store.since(7, 4, ANA, 100)) == [8, 9, 10]
    assert _seqs(store.since(9, 10, ANA, 100)) == []
    assert _seqs(store.since(100, 100, ANA, 100)) == []


def test_since_stops_at_limit(store):
    _fill(store)
    assert _seqs(store.since(0, 0, ANA, 3)) == [1, 2, 3]
    assert _seqs(store.since(3, 0, ANA, 2)) == [4, 5]
    assert _seqs(store.since(0, 0, ANA, 1)) == [1]
    assert _seqs(store.since(0, 0, ANA, 9)) == [1, 2, 3, 4, 5, 7, 8, 9, 10]


def test_stored_events_read_back_equal_and_rebuild_protocol_events(store):
    _fill(store)
    assert store.since(0, 0, CAROL, 100) == [HISTORY[i - 1] for i in (1, 2, 3, 5, 6, 7, 8, 9)]
    by_seq = {e.seq: e for e in store.since(0, 0, ANA, 100)}
    assert by_seq[3].for_reader(ANA) == Msg("Ana", "olá 😀", 1003.0, 3, 2)
    assert by_seq[7].for_reader(ANA) == Joined("carol", 1007.0, 7, 5)
    assert by_seq[9].for_reader(ANA) == Left("Bob", c.R_TIMEOUT, 1009.0, 9, 7)
    # A PRIV names the previous event of the chain of whoever reads it.
    assert by_seq[8].for_reader(ANA) == Priv("carol", "ANA", "p8", 1008.0, 8, 4)
    assert by_seq[8].for_reader(CAROL) == Priv("carol", "ANA", "p8", 1008.0, 8, 6)
    assert by_seq[4].for_reader(BOB) == Priv("Ana", "Bob", "p4", 1004.0, 4, 0)
    assert by_seq[10].for_reader(ANA) == Priv("ana", "ana", "p10", 1010.0, 10, 8)
    # The stream keys survive the round trip; no raw token is in any event.
    assert (by_seq[8].origin, by_seq[8].to_key) == (CAROL, ANA)
    assert all("tok-" not in str(value) for e in by_seq.values() for value in
               (e.origin, e.to_key))


def test_recent_public_returns_only_messages_in_order(store):
    _fill(store)
    assert store.recent_public(10) == [HISTORY[2], HISTORY[4]]
    assert _seqs(store.recent_public(1)) == [5]
    assert store.recent_public(0) == []
    assert _seqs(store.recent_public(10, 4)) == [3]  # at most the head a WELCOME announced
    _fill(store, [_msg(11, prev=9), _priv(12, "ana", "bob", ANA, BOB, prev=10, prev_to=6),
                  _msg(13, prev=11)])
    assert _seqs(store.recent_public(3)) == [5, 11, 13]
    assert _seqs(store.recent_public(2)) == [11, 13]


def test_prune_removes_old_events(store):
    _fill(store)
    store.prune(4)
    assert store.pruned_upto() == 6
    assert _seqs(store.since(0, 0, ANA, 100)) == [7, 8, 9, 10]
    assert _seqs(store.since(0, 0, BOB, 100)) == [7, 9]
    assert store.recent_public(10) == []
    assert store.find(ANA, 1) is None  # pruned: a resend would be stored again
    assert store.find(ANA, 3) == HISTORY[9]
    # Numbering and the public head do not move back; a private head goes with the last
    # event of its stream (bob's, 6), unless its session is on (see the token tests).
    assert (store.last_seq(), store.head(PUBLIC), store.head(BOB)) == (10, 9, 0)
    assert (store.head(ANA), store.head(CAROL)) == (10, 8)


def test_prune_never_moves_back_and_can_empty_the_history(store):
    _fill(store)
    store.prune(4)
    store.prune(8)  # keeps more than is left: nothing happens
    assert store.pruned_upto() == 6
    store.prune(100)
    assert store.pruned_upto() == 6
    store.prune(0)
    assert store.pruned_upto() == 10
    assert store.since(0, 0, ANA, 100) == []
    assert store.last_seq() == 10


def test_prune_then_append(store):
    _fill(store)
    store.prune(2)
    store.append(_msg(11, prev=9))
    store.commit()
    assert _seqs(store.since(0, 0, ANA, 100)) == [9, 10, 11]


def test_commit_prunes_past_the_retain_bound(open_store):
    store = open_store(retain=10)
    _fill(store)
    store.append(_msg(11, prev=9))
    store.commit()  # 11 events are within 10 * 1.1
    assert store.pruned_upto() == 0
    store.append(_msg(12, prev=11))
    store.commit()
    assert store.pruned_upto() == 2
    assert _seqs(store.since(0, 0, DAVE, 100)) == [3, 5, 7, 9, 11, 12]


def test_retention_counts_events_not_sequence_numbers(open_store):
    store = open_store(retain=4)
    prev = 0
    for seq in (1, 2, 50, 51, 9000):  # gaps in numbering, as after restarts
        store.append(_msg(seq, prev=prev))
        prev = seq
    store.commit()  # 5 events > 4 * 1.1: back to the newest 4, whatever their numbers
    assert store.pruned_upto() == 1
    assert _seqs(store.since(0, 0, DAVE, 100)) == [2, 50, 51, 9000]
    store.prune(2)
    assert store.pruned_upto() == 50
    assert _seqs(store.since(0, 0, DAVE, 100)) == [51, 9000]
    store.prune(2)  # already down to 2: nothing moves
    assert store.pruned_upto() == 50


def test_prune_counts_private_events_too(store):
    _fill(store)
    store.prune(3)  # 8 (private), 9, 10 (private): the newest three events of any kind
    assert store.pruned_upto() == 7
    assert _seqs(store.since(0, 0, ANA, 100)) == [8, 9, 10]
    assert _seqs(store.since(0, 0, DAVE, 100)) == [9]


def test_commit_with_nothing_pending_is_harmless(store):
    store.commit()
    store.commit()
    _fill(store, HISTORY[:2])
    store.commit()
    store.commit()
    assert store.last_seq() == 2


# ---- name owners --------------------------------------------------------------------

KEY1, KEY2 = "k" * 40, "q" * 40


def test_a_new_store_has_no_owners(store):
    assert store.owner("ana") is None
    assert store.owner("") is None


def test_claim_then_owner_round_trip(store):
    store.claim("ana", KEY1)
    store.claim("bob", KEY2)
    assert (store.owner("ana"), store.owner("bob"), store.owner("carol")) == (KEY1, KEY2, None)
    store.commit()
    assert store.owner("ana") == KEY1


def test_owners_are_keyed_exactly_as_given(store):
    # The core passes case-folded name keys; the store compares them as they are.
    store.claim("zoë", KEY1)
    assert store.owner("zoë") == KEY1
    assert store.owner("ZOË") is None


def test_a_second_claim_changes_nothing(store):
    # The first key to claim a name owns it, as in the cluster (HSETNX).
    store.claim("ana", KEY1)
    store.claim("ana", KEY2)
    assert store.owner("ana") == KEY1


def test_owners_are_not_pruned(store):
    store.claim("ana", KEY1)
    _fill(store)
    store.prune(0)
    store.commit()
    assert store.owner("ana") == KEY1


# ---- session tokens: bound to a name and key, retired by LEAVE, pruned with the stream ---

X, Y = stream_key("tok-x"), stream_key("tok-y")


def test_a_token_binds_to_the_first_name_and_key_that_use_it(store):
    assert store.bind(X, "ana", "")
    assert store.bind(X, "ana", "")  # the same session again (a rebind, a resume)
    assert not store.bind(X, "bob", "")  # another name
    assert not store.bind(X, "ana", KEY1)  # another key (or a key where there was none)
    assert store.bind(Y, "bob", KEY1)
    assert not store.bind(Y, "bob", KEY2) and not store.bind(Y, "bob", "")
    assert store.bind(Y, "bob", KEY1)


def test_a_session_that_ended_without_leave_may_resume(store):
    assert store.bind(X, "ana", KEY1)
    store.unbind(X, retire=False)
    assert not store.bind(X, "eve", KEY1)
    assert store.bind(X, "ana", KEY1)


def test_a_retired_token_opens_nothing(store):
    assert store.bind(X, "ana", "")
    store.unbind(X, retire=True)
    for name, key in (("ana", ""), ("eve", ""), ("ana", KEY1)):
        assert not store.bind(X, name, key)
    store.unbind(Y, retire=True)  # a stream never bound is retired all the same
    assert not store.bind(Y, "bob", "")
    store.unbind(stream_key("tok-z"), retire=False)  # ...but nothing is kept for this
    assert store.bind(stream_key("tok-z"), "carol", "")


def test_prune_drops_a_head_once_its_stream_has_nothing_left(store):
    _fill(store)                                 # bob's stream: 4, 6; carol's: 6, 8
    assert store.bind(BOB, "Bob", "")            # bob is on
    store.prune(4)                               # up to 6: nothing of bob's left
    assert (store.head(BOB), store.head(CAROL), store.head(ANA)) == (6, 8, 10)
    store.unbind(BOB, retire=False)
    store.prune(3)                               # up to 7: his head goes now
    assert (store.head(BOB), store.head(CAROL), store.head(ANA)) == (0, 8, 10)
    store.prune(0)                               # and the rest, but the public head
    assert (store.head(CAROL), store.head(ANA), store.head(PUBLIC)) == (0, 0, 9)
    store.commit()
    assert store.last_seq() == 10
    # A stream whose head went starts again: its next event links to 0.
    event = store.add(StoredEvent(0, c.PRIV, 1.0, "bob", "x", "ana", origin=BOB, to_key=ANA))
    assert (event.seq, event.prev, event.prev_to) == (11, 0, 0)


def test_prune_drops_a_binding_once_its_sessions_events_are_gone(store):
    assert store.bind(X, "ana", "")
    _fill(store, [_priv(1, "ana", "ana", X, X), _msg(2, prev=0, origin=X, cid=1)])
    store.unbind(X, retire=True)                 # her session ended at 2
    _fill(store, [_msg(3, prev=2), _msg(4, prev=3)])
    store.prune(3)                               # up to 1: her head (1) goes, not her cid 1
    assert store.head(X) == 0 and store.find(X, 1) is not None
    assert not store.bind(X, "eve", "")          # still retired
    store.prune(2)                               # up to 2: nothing of her session is left
    assert store.find(X, 1) is None
    # The binding went too: the token opens an empty stream, as a fresh one would.
    assert store.bind(X, "eve", "")
    assert store.head(X) == 0 and store.since(0, 0, X, 100) == [_msg(3, prev=2),
                                                                 _msg(4, prev=3)]


def test_a_stream_in_use_keeps_its_head_and_binding(store):
    assert store.bind(X, "ana", KEY1)
    _fill(store, [_priv(1, "ana", "ana", X, X), _msg(2, prev=0)])
    store.prune(0)
    store.commit()
    assert store.head(X) == 1
    assert not store.bind(X, "eve", KEY1) and store.bind(X, "ana", KEY1)


def test_sqlite_bindings_and_retirements_survive_a_reopen(tmp_path):
    store = SqliteStore(tmp_path)
    assert store.bind(X, "ana", KEY1)
    store.unbind(X, retire=False)
    store.commit()  # a binding alone is committed
    assert store.bind(Y, "bob", "")
    store.unbind(Y, retire=True)
    store.close()
    again = SqliteStore(tmp_path)
    try:
        assert not again.bind(X, "ana", KEY2) and not again.bind(X, "eve", KEY1)
        assert again.bind(X, "ana", KEY1)
        assert not again.bind(Y, "bob", "")
    finally:
        again.close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:  # stream keys, never tokens
        assert {row[0] for row in db.execute("SELECT stream FROM tokens")} == {X, Y}


def test_sqlite_a_session_on_when_the_broker_stopped_ended_then(tmp_path):
    store = SqliteStore(tmp_path)
    assert store.bind(X, "ana", "")
    _fill(store, [_priv(1, "ana", "ana", X, X), _msg(2, prev=0)])
    store.commit()
    _crash(store)  # and no unbind: she was on when the broker died
    store = SqliteStore(tmp_path)
    try:
        assert store.bind(Y, "bob", "")  # (a session of this run)
        store.prune(0)  # up to 2: the session of the earlier run ended by then
        assert store.head(X) == 0
        assert store.bind(X, "eve", "")  # its binding went with it
    finally:
        store.close()


def test_sqlite_owners_survive_a_reopen(tmp_path):
    store = SqliteStore(tmp_path)
    store.claim("ana", KEY1)
    _fill(store, HISTORY[:2])
    store.commit()
    store.claim("bob", KEY2)
    store.close()  # close commits the second claim
    again = SqliteStore(tmp_path)
    try:
        assert (again.owner("ana"), again.owner("bob"), again.owner("carol")) == (
            KEY1, KEY2, None)
    finally:
        again.close()


def _mixed(seq: int) -> StoredEvent:
    """Every kind of row: messages (the default room's and a room's), private
    messages, joins and leaves."""
    if seq % 7 == 0:
        return _priv(seq, "Ana", "Bob", ANA, BOB, prev=seq - 1, prev_to=seq - 2, cid=seq)
    if seq % 11 == 0:
        return StoredEvent(seq, c.JOINED, 1000.0 + seq, "Carol", prev=seq - 1, room="#sala")
    if seq % 13 == 0:
        return StoredEvent(seq, c.LEFT, 1000.0 + seq, "Dave", reason=c.R_QUIT, prev=seq - 1)
    room = "#sala" if seq % 5 == 0 else ""
    return StoredEvent(seq, c.MSG, 1000.5 + seq, "Bob", f"m{seq} ☃ ''", origin=BOB, cid=seq,
                       prev=seq - 1, room=room)


@pytest.mark.parametrize("counts", [(1,), (64,), (1037, 3, 511), (513, 2)])
def test_sqlite_each_commits_rows_read_back_in_order_after_a_reopen(tmp_path, counts):
    """A cycle's rows go in as multi-row INSERTs of several sizes (sqlite_store's
    _INSERT_SIZES), messages in a layout of their own: every count must store each
    event once, whole (every column), in its place."""
    store = SqliteStore(tmp_path)
    events: list[StoredEvent] = []
    for count in counts:
        for _ in range(count):
            events.append(_mixed(len(events) + 1))
            store.append(events[-1])
        store.commit()
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    try:
        rows = db.execute("SELECT seq, kind, ts, name, text, target, reason, origin, cid, "
                          "prev, to_key, prev_to, room FROM events ORDER BY seq").fetchall()
    finally:
        db.close()
    assert rows == [(e.seq, e.kind, e.ts, e.name, e.text, e.to, e.reason, e.origin, e.cid,
                     e.prev, e.to_key, e.prev_to, e.room) for e in events]
    again = SqliteStore(tmp_path)
    try:
        assert again.find(BOB, 1) == events[0]
    finally:
        again.close()


def test_sqlite_rows_fit_a_build_that_binds_few_values(tmp_path):
    """SQLite before 3.32 binds at most 999 values a statement: the rows' INSERTs must
    stay under whatever bound the build has (here lowered to 100: 7 rows of 13)."""
    store = SqliteStore(tmp_path)
    store._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)
    events = [_mixed(seq) for seq in range(1, 301)]
    for event in events:
        store.append(event)
    store.commit()
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    try:
        assert [seq for (seq,) in db.execute("SELECT seq FROM events ORDER BY seq")] == \
            list(range(1, 301))
    finally:
        db.close()


def test_sqlite_a_claim_alone_is_committed(tmp_path):
    store = SqliteStore(tmp_path)
    try:
        store.claim("ana", KEY1)  # no event appended: the commit must still write it
        store.commit()
        db = sqlite3.connect(tmp_path / DB_NAME)  # what another reader sees: on disk
        try:
            assert db.execute("SELECT name_key, key FROM owners").fetchall() == [("ana", KEY1)]
        finally:
            db.close()
    finally:
        store.close()


# ---- pruned events: how many a reader may have lost ------------------------------------

def test_a_new_store_has_pruned_no_events(store):
    assert store.pruned_events(0, 0) == 0
    assert store.pruned_events(0, 100) == 0


def _three_batches(store: HistoryStore) -> None:
    """Prune HISTORY in batches (upto, events): (2, 2), (5, 3), (8, 3)."""
    _fill(store)
    store.prune(8)
    store.prune(5)
    store.prune(2)
    store.commit()
    assert store.pruned_upto() == 8


@pytest.mark.parametrize(("low", "high", "events"), [
    (0, 2, 2),      # exactly the first batch
    (0, 1, 2),      # part of it: counted whole
    (1, 2, 2),
    (0, 3, 5),      # into the second batch: both, whole
    (2, 5, 3),      # exactly the second
    (3, 4, 3),      # inside the second
    (2, 6, 6),      # the second and part of the third
    (4, 8, 6),
    (5, 8, 3),      # exactly the third
    (0, 8, 8),      # everything
    (0, 100, 8),    # past the last batch
    (8, 10, 0),     # after every batch
    (9, 100, 0),
])
def test_pruned_events_sums_whole_batches_overlapping_the_range(store, low, high, events):
    _three_batches(store)
    assert store.pruned_events(low, high) == events


def test_pruned_events_counts_events_not_sequence_numbers(store):
    prev = 0
    for seq in (1, 2, 50, 51, 9000, 9001):  # gaps in numbering, as after restarts
        store.append(_msg(seq, prev=prev))
        prev = seq
    store.prune(2)  # one batch: 1, 2, 50, 51, up to 51
    assert store.pruned_events(0, 51) == 4
    store.prune(1)  # one batch: 9000
    assert store.pruned_events(0, 9000) == 5
    assert store.pruned_events(51, 9000) == 1
    assert store.pruned_events(100, 200) == 1  # inside the second batch's span


def test_pruning_nothing_adds_no_batch(store):
    _fill(store)
    store.prune(4)
    store.prune(4)  # nothing to prune
    store.prune(100)
    assert store.pruned_events(0, 100) == 6
    assert store.pruned_events(6, 100) == 0


@pytest.mark.parametrize("retain, due", [(1000, 1100), (10_000, 11_000), (100_000, 101_000)])
def test_a_full_history_is_pruned_a_chunk_at_a_time(retain, due):
    """A tenth past the bound, at most PRUNE_CHUNK: each prune holds the broker's loop."""
    assert not over_bound(due, retain)
    assert over_bound(due + 1, retain)


def test_sqlite_a_full_history_is_pruned_back_to_its_bound_every_chunk(tmp_path):
    store = SqliteStore(tmp_path, retain=10_000)
    try:
        prev = 0
        for seq in range(1, 11_001):
            store.append(_msg(seq, prev=prev))
            prev = seq
        store.commit()
        assert store.pruned_upto() == 0  # 11,000: not past 10,000 + 1,000 yet
        store.append(_msg(11_001, prev=prev))
        store.commit()
        assert store.pruned_upto() == 1001  # back to 10,000, a chunk of 1,001 gone
        assert _seqs(store.since(0, 0, ANA, 20_000))[:2] == [1002, 1003]
        assert store.pruned_events(0, 1001) == 1001
    finally:
        store.close()


def test_sqlite_pruned_events_survive_a_reopen(tmp_path):
    store = SqliteStore(tmp_path)
    _three_batches(store)
    store.close()
    again = SqliteStore(tmp_path)
    try:
        assert again.pruned_upto() == 8
        assert [again.pruned_events(lo, hi) for lo, hi in ((0, 2), (2, 6), (5, 8), (8, 9))] \
            == [2, 6, 3, 0]
    finally:
        again.close()


# ---- SqliteStore: on disk ------------------------------------------------------------

def test_sqlite_reopen_after_commit_sees_everything(tmp_path):
    data = tmp_path / "data"
    store = SqliteStore(data)
    epoch = store.epoch
    # A new store starts at 0 and has reserved the first block as it opened.
    assert (store.last_seq(), _reservation(data)) == (0, RESERVE)
    _fill(store)
    store.prune(6)
    store.commit()
    store.close()
    again = SqliteStore(data)
    try:
        assert again.epoch == epoch
        # Numbering resumes at the old reservation, above every number the first run could
        # have used; opening reserved the next block above it.
        assert again.last_seq() == RESERVE
        assert _reservation(data) == 2 * RESERVE
        assert [again.head(k) for k in (PUBLIC, ANA, BOB, CAROL)] == [9, 10, 6, 8]
        assert again.pruned_upto() == 4
        assert again.since(0, 0, ANA, 100) == [HISTORY[i - 1] for i in (5, 7, 8, 9, 10)]
        assert again.find(ANA, 3) == HISTORY[9]
        assert again.find(ANA, 1) is None
        assert again.recent_public(10) == [HISTORY[4]]  # (from memory, seeded from the file)
        # The next event is numbered above the old reservation; the chains still link up.
        nxt = _msg(again.last_seq() + 1, prev=again.head(PUBLIC))
        again.append(nxt)
        again.commit()
        assert again.since(9, 10, ANA, 100) == [nxt]
        assert again.head(PUBLIC) == again.last_seq() == RESERVE + 1
        assert _reservation(data) == 2 * RESERVE  # far below half the block: not renewed
    finally:
        again.close()
    third = SqliteStore(data)
    try:
        assert third.last_seq() == 2 * RESERVE
        assert _reservation(data) == 3 * RESERVE
        assert third.head(PUBLIC) == RESERVE + 1
        assert _seqs(third.since(9, 10, ANA, 100)) == [RESERVE + 1]
    finally:
        third.close()


def test_sqlite_every_open_reserves_a_fresh_block(tmp_path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.close()
    for run in range(1, 4):  # opening alone, without writing, moves the reservation up
        store = SqliteStore(tmp_path)
        try:
            assert store.last_seq() == run * RESERVE
            assert _reservation(tmp_path) == (run + 1) * RESERVE
            # Nothing else moves: heads and events are as they were.
            assert (store.head(PUBLIC), store.head(ANA), store.pruned_upto()) == (9, 10, 0)
            assert _seqs(store.since(0, 0, ANA, 100)) == [1, 2, 3, 4, 5, 7, 8, 9, 10]
            store.commit()
        finally:
            store.close()


def test_sqlite_reservation_is_renewed_while_half_the_block_is_unused(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    monkeypatch.setattr(sqlite_store, "RESERVE_SPAN", 0.0)  # (never quick: blocks stay 4)
    store = SqliteStore(tmp_path)
    try:
        assert (store.last_seq(), _reservation(tmp_path)) == (0, 4)
        on_disk = []
        for event in HISTORY[:7]:
            store.append(event)
            on_disk.append(_reservation(tmp_path))  # durable at once, before any commit
        # Renewed as soon as a number reaches reserved - 4 // 2, to that number + 4.
        assert on_disk == [4, 6, 6, 8, 8, 10, 10]
        store.commit()
    finally:
        store.close()
    store = SqliteStore(tmp_path)
    try:
        assert store.last_seq() == 10
        assert _reservation(tmp_path) == 14
        assert _seqs(store.since(0, 0, BOB, 100)) == [1, 2, 3, 4, 5, 6, 7]
        store.append(_msg(11, prev=7))
        assert _reservation(tmp_path) == 14  # 11 < 14 - 2
        store.append(_msg(12, prev=11))
        assert _reservation(tmp_path) == 16  # 12 reaches it
        store.commit()
    finally:
        store.close()


def test_sqlite_reservation_renewal_with_an_odd_block(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 5)  # half the block rounds down: 2
    monkeypatch.setattr(sqlite_store, "RESERVE_SPAN", 0.0)
    store = SqliteStore(tmp_path)
    try:
        on_disk = []
        for event in HISTORY[:6]:
            store.append(event)
            on_disk.append(_reservation(tmp_path))
        assert on_disk == [5, 5, 8, 8, 8, 11]
        store.commit()
    finally:
        store.close()
    store = SqliteStore(tmp_path)
    try:
        assert (store.last_seq(), _reservation(tmp_path)) == (11, 16)
    finally:
        store.close()


@pytest.mark.parametrize("reserve", [4, 5, 10])
def test_sqlite_reservation_always_stays_past_half_a_block_ahead(tmp_path, monkeypatch,
                                                                 reserve):
    monkeypatch.setattr(sqlite_store, "RESERVE", reserve)
    store = SqliteStore(tmp_path)
    try:
        for seq in range(1, 4 * reserve):
            store.append(_msg(seq, prev=seq - 1))
            assert _reservation(tmp_path) - seq > reserve // 2, seq
            if seq % 3 == 0:
                store.commit()
    finally:
        store.close()


def test_sqlite_reservation_is_its_own_commit_put_on_disk_by_the_syncer(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    synced = threading.Event()
    wal = (tmp_path / (DB_NAME + "-wal")).resolve()

    def fsync(fd: int) -> None:
        os.fsync(fd)
        if Path(os.readlink(f"/proc/self/fd/{fd}")) == wal:
            synced.set()

    monkeypatch.setattr(sqlite_store.Syncer, "fsync", staticmethod(fsync))
    store = SqliteStore(tmp_path)
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        store.append(HISTORY[0])
        assert not any("reserved" in s for s in statements)  # 1 < 4 - 2: no renewal
        statements.clear()
        store.append(HISTORY[1])  # 2 reaches 4 - 2: renewed, inside append
        store._db.set_trace_callback(None)
        flat = [" ".join(s.split()) for s in statements]
        write = next(i for i, s in enumerate(flat) if "'reserved'" in s)
        assert flat[write].startswith("INSERT INTO meta")
        # The open transaction was committed first and a new one begun after; the loop
        # does not wait for the disk (no synchronous=FULL): the Syncer's thread fsyncs.
        assert flat[write - 1] == "COMMIT"
        assert flat[write + 1] == "BEGIN"
        assert not any("synchronous" in s for s in flat)
        assert synced.wait(10), "the write-ahead log was never synced"
        assert store._db.in_transaction
        store.commit()
    finally:
        store.close()


def test_sqlite_a_number_past_the_reservation_on_disk_waits_for_the_disk(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    monkeypatch.setattr(sqlite_store, "RESERVE_SPAN", 0.0)  # (blocks stay 4)
    entered, disk = threading.Event(), threading.Event()

    def slow_fsync(fd: int) -> None:
        entered.set()
        assert disk.wait(10)
        os.fsync(fd)

    monkeypatch.setattr(sqlite_store.Syncer, "fsync", staticmethod(slow_fsync))
    store = SqliteStore(tmp_path)  # (opening reserves 4 with synchronous=FULL itself)
    appended = threading.Event()
    try:
        store.append(_msg(1))
        store.append(_msg(2, prev=1))  # renewed to 6: the Syncer is now on the disk
        assert entered.wait(10)
        store.append(_msg(3, prev=2))
        store.append(_msg(4, prev=3))  # (within what is on disk: no wait)
        worker = threading.Thread(target=lambda: (store.append(_msg(5, prev=4)),
                                                  appended.set()))
        worker.start()
        assert not appended.wait(0.3), "5 was numbered before its reservation was on disk"
        disk.set()
        assert appended.wait(10)
        worker.join(10)
        store.commit()
    finally:
        disk.set()
        store.close()
    assert _reservation(tmp_path) >= 6


def test_sqlite_when_the_syncer_cannot_the_loop_syncs_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    monkeypatch.setattr(sqlite_store, "RESERVE_SPAN", 0.0)
    by_loop: list[int] = []

    def fsync(fd: int) -> None:
        if threading.current_thread().name == "zchat-sync":
            raise OSError(5, "Input/output error")
        by_loop.append(fd)
        os.fsync(fd)

    monkeypatch.setattr(sqlite_store.Syncer, "fsync", staticmethod(fsync))
    store = SqliteStore(tmp_path)
    try:
        for seq in range(1, 9):
            store.append(_msg(seq, prev=seq - 1))
        store.commit()
        assert by_loop, "nothing put the renewed reservation on disk"
        assert _seqs(store.since(0, 0, ANA, 100)) == list(range(1, 9))
    finally:
        store.close()


def test_sqlite_a_disk_that_cannot_sync_stops_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    monkeypatch.setattr(sqlite_store, "RESERVE_SPAN", 0.0)

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sqlite_store.Syncer, "fsync", staticmethod(broken))
    store = SqliteStore(tmp_path)
    try:
        for seq in range(1, 5):  # (within the reservation made at open: no sync needed)
            store.append(_msg(seq, prev=seq - 1))
        with pytest.raises(StoreError, match="cannot make the history durable"):
            store.append(_msg(5, prev=4))
    finally:
        store.close()


def _heads_on_disk(directory: Path) -> dict[str, int]:
    db = sqlite3.connect(directory / DB_NAME)
    try:
        return dict(db.execute("SELECT key, seq FROM heads"))
    finally:
        db.close()


def _crash(store: SqliteStore) -> None:
    """Die without committing: the open transaction is rolled back, the lock released."""
    store._db.close()
    store._release()


def test_sqlite_an_early_reservation_commit_writes_the_heads_of_what_it_commits(
        tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    store = SqliteStore(tmp_path)
    store.append(_joined(1, "ana"))                           # 1 < 4 - 2: no renewal
    store.append(_priv(2, "ana", "bob", ANA, BOB))            # renewed: 1 and 2 committed
    store.append(_msg(3, prev=1))                             # 3 < 6 - 2: not committed
    # The events the reservation committed are on disk with their heads, which a crash
    # would otherwise lose: the stream would reopen one event behind and the next event
    # would link back past it.
    assert _heads_on_disk(tmp_path) == {PUBLIC: 1, ANA: 2, BOB: 2}
    _crash(store)
    again = SqliteStore(tmp_path)
    try:
        assert _seqs(again.since(0, 0, ANA, 100)) == [1, 2]
        assert again.head(PUBLIC) == 1  # 3 was never committed
        assert again.last_seq() >= 3
    finally:
        again.close()


def test_sqlite_an_early_reservation_commit_writes_the_heads_of_the_event_that_triggered_it(
        tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    store = SqliteStore(tmp_path)
    store.append(_joined(1, "ana"))
    store.append(_priv(2, "ana", "bob", ANA, BOB))            # triggers the renewal
    assert _heads_on_disk(tmp_path) == {PUBLIC: 1, ANA: 2, BOB: 2}
    _crash(store)
    again = SqliteStore(tmp_path)
    try:
        assert _seqs(again.since(0, 0, ANA, 100)) == [1, 2]
        assert (again.head(PUBLIC), again.head(ANA), again.head(BOB)) == (1, 2, 2)
    finally:
        again.close()


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def test_sqlite_blocks_renewed_in_quick_succession_double_and_shrink_when_quiet(
        tmp_path, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(sqlite_store, "time", clock)
    monkeypatch.setattr(sqlite_store, "RESERVE", 4)
    monkeypatch.setattr(sqlite_store, "RESERVE_MAX", 16)
    store = SqliteStore(tmp_path)  # the first block, 4, reserved as it opened
    try:
        reservations = []
        for seq in range(1, 31):
            store.append(_msg(seq, prev=seq - 1))
            reservations.append(_reservation(tmp_path))
        # Renewed at 2 (to 2+8), 6 (to 6+16), 14, 22 and 30 (capped at 16): each renewal
        # within RESERVE_SPAN of the last, so each block twice the last, up to RESERVE_MAX.
        assert sorted(set(reservations)) == [4, 10, 22, 30, 38, 46]
        clock.now += sqlite_store.RESERVE_SPAN + 1  # quiet: the next block is 4 again
        for seq in range(31, 39):
            store.append(_msg(seq, prev=seq - 1))
        assert _reservation(tmp_path) == 38 + 4  # renewed at 38 = 46 - 16 // 2
        store.commit()
    finally:
        store.close()


def test_sqlite_heads_of_commits_between_writes_of_the_heads_table_survive_a_crash(tmp_path):
    store = SqliteStore(tmp_path)
    store.append(_joined(1, "ana"))
    store.append(_priv(2, "ana", "bob", ANA, BOB))
    store.append(StoredEvent(3, c.MSG, 1003.0, "ana", "hi", origin=ANA, prev=0,
                             room="#sala"))
    store.commit()  # the rows, not the heads table (HEADS_EVERY events apart)
    assert _heads_on_disk(tmp_path) == {}
    _crash(store)
    again = SqliteStore(tmp_path)
    try:
        # Read back from the events above the table's mark, and written at the next
        # write of the table.
        assert (again.head(PUBLIC), again.head(ANA), again.head(BOB),
                again.head("#sala")) == (1, 2, 2, 3)
        again.close()
        assert _heads_on_disk(tmp_path) == {PUBLIC: 1, ANA: 2, BOB: 2, "#sala": 3}
    finally:
        again.close()


def test_sqlite_pruning_writes_the_heads_whose_events_it_takes(tmp_path):
    store = SqliteStore(tmp_path, retain=10)  # (no pruning in the commits themselves)
    store.append(_joined(1, "ana"))
    store.append(StoredEvent(2, c.MSG, 1002.0, "ana", "hi", origin=ANA, room="#sala"))
    for seq in range(3, 6):
        store.append(_msg(seq, prev=seq - 1 if seq > 3 else 1))
    store.commit()
    store.prune(2)  # #sala's only event goes: its head can no longer be read back from it
    store.commit()
    _crash(store)
    again = SqliteStore(tmp_path)
    try:
        assert (again.head(PUBLIC), again.head("#sala")) == (5, 2)
    finally:
        again.close()


def test_sqlite_a_file_without_the_heads_mark_is_taken_as_complete(tmp_path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    with db:  # as a file written before the mark (its heads written at every commit)
        db.execute("DELETE FROM meta WHERE key = 'heads_upto'")
        db.execute("UPDATE heads SET seq = 3 WHERE key = ?", (ANA,))
    db.close()
    again = SqliteStore(tmp_path)
    try:
        assert again.head(ANA) == 3  # the table, not the events (ana's newest is 10)
    finally:
        again.close()


def test_sqlite_numbering_survives_pruning_everything(tmp_path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.prune(0)
    store.close()
    again = SqliteStore(tmp_path)
    try:
        assert (again.last_seq(), again.pruned_upto()) == (RESERVE, 10)
        assert again.since(0, 0, ANA, 100) == []
    finally:
        again.close()


@pytest.mark.parametrize("where", ["events", "pruned", "heads"])
def test_sqlite_store_without_a_reservation_resumes_past_every_number_it_holds(tmp_path,
                                                                              where):
    """A database written before reservations (or with the row lost): numbering resumes
    past the last event, the pruned mark and every head, whichever is highest."""
    store = SqliteStore(tmp_path)
    _fill(store)
    if where == "pruned":
        store.prune(0)  # no events left; pruned_upto 10
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    with db:
        db.execute("DELETE FROM meta WHERE key = 'reserved'")
        if where == "heads":
            db.execute("DELETE FROM events WHERE seq = 10")  # ana's head stays at 10
    db.close()
    again = SqliteStore(tmp_path)
    try:
        assert again.last_seq() == 10
        assert _reservation(tmp_path) == 10 + RESERVE
        # (Pruning everything took the private heads with it: the pruned mark covers them.)
        assert again.head(ANA) == (0 if where == "pruned" else 10)
    finally:
        again.close()


def test_sqlite_restarts_do_not_make_pruning_drop_more_than_retain(tmp_path):
    # Every restart skips up to RESERVE numbers; retention is a count of events, so the
    # gaps cost nothing: the newest `retain` events stay, however they are numbered.
    store = SqliteStore(tmp_path, retain=10)
    for seq in range(1, 9):
        store.append(_msg(seq, prev=seq - 1))
    store.commit()
    store.close()
    store = SqliteStore(tmp_path, retain=10)
    try:
        base = store.last_seq()
        assert base == RESERVE  # a gap of RESERVE - 8 numbers, far more than retain
        for n in range(1, 4):
            store.append(_msg(base + n, prev=store.head(PUBLIC)))
        store.commit()  # 11 events: within 10 * 1.1
        assert store.pruned_upto() == 0
        assert len(store.since(0, 0, DAVE, 100)) == 11
        store.append(_msg(base + 4, prev=base + 3))
        store.commit()  # 12 events: back to the newest 10
        assert store.pruned_upto() == 2
        assert _seqs(store.since(0, 0, DAVE, 100)) == [
            3, 4, 5, 6, 7, 8, base + 1, base + 2, base + 3, base + 4]
    finally:
        store.close()
    store = SqliteStore(tmp_path, retain=10)  # another restart, another gap
    try:
        base2 = store.last_seq()
        assert base2 == 2 * RESERVE
        store.append(_msg(base2 + 1, prev=base + 4))
        store.commit()  # 11: kept
        assert store.pruned_upto() == 2
        store.append(_msg(base2 + 2, prev=base2 + 1))
        store.commit()  # 12: back to 10, across both gaps
        assert store.pruned_upto() == 4
        assert _seqs(store.since(0, 0, DAVE, 100)) == [
            5, 6, 7, 8, base + 1, base + 2, base + 3, base + 4, base2 + 1, base2 + 2]
    finally:
        store.close()
    store = SqliteStore(tmp_path, retain=10)
    try:  # the count of stored events is read back on open
        assert store.pruned_upto() == 4
        assert len(store.since(0, 0, DAVE, 100)) == 10
        store.prune(10)
        assert store.pruned_upto() == 4
    finally:
        store.close()


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
    from zchat.broker.store import StoredEvent, stream_key
    ana, bob = stream_key("tok-a"), stream_key("tok-b")
    store = SqliteStore(Path(sys.argv[1]))
    print(store.epoch)
    store.append(StoredEvent(1, "JOINED", 1.0, "ana"))
    store.append(StoredEvent(2, "MSG", 2.0, "ana", "kept", origin=ana, cid=1, prev=1))
    store.commit()
    store.append(StoredEvent(3, "MSG", 3.0, "ana", "lost", origin=ana, cid=2, prev=2))
    store.append(StoredEvent(4, "PRIV", 4.0, "ana", "lost", "bob", origin=ana, to_key=bob))
    sys.stdout.flush()
    os._exit(0)  # a crash: no commit, no close
""")


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sqlite_uncommitted_events_are_gone_after_a_crash(tmp_path):
    epoch = _run(_CRASH, str(tmp_path)).strip()
    store = SqliteStore(tmp_path)  # the lock died with the process
    try:
        assert store.epoch == epoch
        assert store.last_seq() == RESERVE  # the reservation, past the lost 3 and 4
        assert _reservation(tmp_path) == 2 * RESERVE
        assert (store.head(PUBLIC), store.head(ANA), store.head(BOB)) == (2, 0, 0)
        assert _seqs(store.since(0, 0, BOB, 100)) == [1, 2]
        assert store.find(ANA, 1) == StoredEvent(2, c.MSG, 2.0, "ana", "kept", origin=ANA,
                                                 cid=1, prev=1)
        assert store.find(ANA, 2) is None
        # The next event is numbered past the reservation: 3 and 4 are never given again.
        nxt = store.last_seq() + 1
        store.append(_msg(nxt, prev=2))
        store.commit()
        assert _seqs(store.since(0, 0, BOB, 100)) == [1, 2, nxt]
        assert nxt == RESERVE + 1
    finally:
        store.close()


# A commit the broker made (and then delivered and acknowledged) can still be lost, by a
# power cut (synchronous=NORMAL) or a restored copy of the data. The child commits 1-2,
# snapshots the committed database (the state such a loss rolls back to), commits 3-4,
# appends 5-6 and dies without committing them.
_LOST_COMMIT = textwrap.dedent("""
    import os, sqlite3, sys
    from pathlib import Path
    from zchat.broker.sqlite_store import DB_NAME, SqliteStore
    from zchat.broker.store import StoredEvent, stream_key
    data, snap = Path(sys.argv[1]), Path(sys.argv[2])
    ana = stream_key("tok-a")
    store = SqliteStore(data)
    store.append(StoredEvent(1, "JOINED", 1.0, "ana"))
    store.append(StoredEvent(2, "MSG", 2.0, "ana", "m2", origin=ana, cid=1, prev=1))
    store.commit()
    snap.mkdir()
    src, dst = sqlite3.connect(data / DB_NAME), sqlite3.connect(snap / DB_NAME)
    src.backup(dst)
    src.close()
    dst.close()
    store.append(StoredEvent(3, "MSG", 3.0, "ana", "m3", origin=ana, cid=2, prev=2))
    store.append(StoredEvent(4, "MSG", 4.0, "ana", "m4", origin=ana, cid=3, prev=3))
    store.commit()
    store.append(StoredEvent(5, "MSG", 5.0, "ana", "m5", origin=ana, cid=4, prev=4))
    store.append(StoredEvent(6, "MSG", 6.0, "ana", "m6", origin=ana, cid=5, prev=5))
    sys.stdout.flush()
    os._exit(0)  # no commit, no close
""")


def test_sqlite_numbers_of_lost_events_are_never_given_again(tmp_path):
    data, snap = tmp_path / "data", tmp_path / "snapshot"
    _run(_LOST_COMMIT, str(data), str(snap))
    # The snapshot lost the commit of 3 and 4, and the uncommitted 5 and 6: its numbering
    # still resumes past them, at the reservation made when the store was opened.
    # The crashed directory kept 3 and 4 and lost 5 and 6: the same reservation covers them.
    for directory, kept in ((snap, [1, 2]), (data, [1, 2, 3, 4])):
        store = SqliteStore(directory)
        try:
            assert _seqs(store.since(0, 0, ANA, 100)) == kept
            assert store.head(PUBLIC) == kept[-1]
            assert store.last_seq() == RESERVE
            assert store.last_seq() >= 6
            nxt = store.last_seq() + 1
            store.append(_msg(nxt, prev=kept[-1], origin=ANA, cid=9))
            store.commit()
            assert _seqs(store.since(0, 0, ANA, 100)) == [*kept, nxt]
            assert store.find(ANA, 9).seq == nxt > 6
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
            store.since(0, 0, ANA, 10)
    finally:
        store.close()


def test_close_commits(tmp_path: Path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.close()
    again = SqliteStore(tmp_path)
    try:
        assert again.last_seq() == RESERVE
        assert again.head(PUBLIC) == 9
        assert again.head(ANA) == 10
        assert again.since(0, 0, ANA, 100) == [HISTORY[i - 1] for i in (1, 2, 3, 4, 5, 7, 8, 9, 10)]
    finally:
        again.close()


def test_recent_public_skips_a_crowd_of_joins(store):
    """Newcomers after a room joined at once still get the last messages."""
    store.append(_msg(1))
    for seq in range(2, 3002):
        store.append(_joined(seq, f"u{seq}"))
    store.append(_msg(3002))
    assert _seqs(store.recent_public(5)) == [1, 3002]
    assert _seqs(store.recent_public(1)) == [3002]
    assert store.recent_public(0) == []


# ---- the write-ahead log stays bounded under steady writes ------------------------------

def test_the_wal_starts_over_under_steady_writes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite restarts its WAL only when a write begins with all of it copied: with a
    commit every cycle that never happened, and the WAL grew ~17 KB a commit forever."""
    monkeypatch.setattr(sqlite_store.Checkpointer, "INTERVAL", 0.02)
    limit = 256 * 1024
    store = SqliteStore(tmp_path, wal_limit=limit)
    wal = tmp_path / (DB_NAME + "-wal")
    restarts = commits = 0
    size = 0
    try:
        while restarts < 3 and commits < 20_000 and size < 100 * 2**20:
            commits += 1
            store.add(StoredEvent(0, c.MSG, 1.0, "ana", "x" * 100, origin="s", cid=commits))
            store.commit()
            before, size = size, wal.stat().st_size
            restarts += before > limit >= size  # started over, cut back to the limit
        assert restarts == 3, f"the WAL never started over ({size} bytes)"
    finally:
        store.close()
    again = SqliteStore(tmp_path)
    try:
        assert len(again.since(0, 0, "s", 100_000)) == commits  # nothing lost on the way
    finally:
        again.close()


def test_sqlite_drops_the_index_recent_messages_no_longer_need(tmp_path):
    store = SqliteStore(tmp_path)
    _fill(store)
    store.commit()
    store.close()
    # A file from before: it had an index on public messages, which costs every write.
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("CREATE INDEX events_msg ON events (seq) WHERE kind = 'MSG'")
    again = SqliteStore(tmp_path)
    try:
        assert again.recent_public(10) == [HISTORY[2], HISTORY[4]]
        with sqlite3.connect(tmp_path / DB_NAME) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'index'")}
        assert "events_msg" not in names and "events_origin" in names
    finally:
        again.close()


def test_sqlite_makes_new_files_with_small_pages_and_keeps_old_files_pages(tmp_path):
    def page_size(folder: Path) -> int:
        with sqlite3.connect(folder / DB_NAME) as db:
            return int(db.execute("PRAGMA page_size").fetchone()[0])
    SqliteStore(tmp_path / "new").close()
    assert page_size(tmp_path / "new") == sqlite_store.PAGE_SIZE == 2048
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / DB_NAME) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute("CREATE TABLE t (x)")
    store = SqliteStore(old)
    _fill(store)
    store.commit()
    store.close()
    assert page_size(old) == 4096
    again = SqliteStore(old)
    try:
        assert again.recent_public(10) == [HISTORY[2], HISTORY[4]]
    finally:
        again.close()
